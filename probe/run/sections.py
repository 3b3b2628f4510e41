"""The run's report sections: its introduction, the corpora and training sections, the evidence table and the
reproducibility verdicts (probe.report.report writes report.md from them)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from probe.core.environment import cpu_model
from probe.run.config import RunConfig, rate_tag, sweep_rates


def intro_markdown(cfg: RunConfig, elapsed: float, reused: int = 0) -> str:
    """The report's opening paragraph; ``reused``: models trained by an earlier invocation and kept."""
    t = cfg.train
    corpora = len(cfg.corpus_seeds)
    if cfg.attractor_rates:
        held = (f"; {cfg.corpus.modifier_rate:g} of the subjects carry a modifier in every corpus, so only the share "
                "of modifiers whose nouns have the other number varies" if cfg.corpus.modifier_rate is not None else "")
        drawn = "synthetic corpora" if corpora == 1 else f"{corpora} independently drawn synthetic corpora per rate"
        data = (f"{drawn}"
                f" of {cfg.corpus.n_sentences:,} sentences at {len(cfg.attractor_rates)} attractor rates "
                f"({', '.join(f'{r:g}' for r in cfg.attractor_rates)}: the share of subjects whose modifier puts nouns "
                f"of the other number between head and verb{held})")
    else:
        files = cfg.corpus.train_files or cfg.corpus.text_files or (cfg.corpus.hf_name,)
        data = f"the real-text corpus {', '.join(map(str, files))} (tokenizer: {cfg.corpus.tokenizer})"
    state = ("each training sentence on its own from a zero state after `<eos>`, as every item is scored, "
             f"{t.batch_size} sentences a batch" if t.state == "sentence" else
             f"one token stream with the state carried across sentences, batch {t.batch_size} x BPTT {t.bptt}")
    stop = ((f"until neither validation perplexity (by {t.min_delta:.1%}) nor agreement on held-out items (by "
             f"{t.agreement_delta:g}) has improved in {t.stop_after} validations (at most {t.epochs} epochs)")
            if t.stop_after and t.stop_on == "ppl+agreement" else
            f"until validation perplexity stops improving (at most {t.epochs} epochs)" if t.stop_after else
            f"{t.epochs} epochs")
    sensitivity = (f" For the first {cfg.sensitivity_seeds} (corpus, seed) replicate(s), each cell is also trained "
                   "on one carried stream, the other state convention (see State convention: sensitivity)."
                   if cfg.sensitivity_seeds else "")
    return (
        f"{len(cfg.archs)} recurrent cells ({', '.join(cfg.archs)}) x {len(cfg.seeds)} training seeds"
        + (" per corpus" if corpora > 1 else "") + f", trained on {data}, plus a {cfg.ngram_order}-gram Kneser-Ney "
        f"and a unigram baseline per corpus. Models: {t.layers}x{t.hidden} units, embeddings {t.emb}, {t.optimizer} "
        f"lr {t.lr}, dropout {t.dropout}, {state}, {stop}"
        + (f" (at most {t.max_steps} steps)" if t.max_steps else "")
        + ("; per cell: " + "; ".join(f"{a}: " + ", ".join(f"{k} {v}" for k, v in ch.items())
                                      for a, ch in cfg.arch_train.items()) if cfg.arch_train else "")
        + "." + sensitivity
        + (f" The whole run took {elapsed:.0f} s on {os.cpu_count()} CPU cores ({cpu_model()})." if not reused else
           f" This invocation took {elapsed:.0f} s on {os.cpu_count()} CPU cores ({cpu_model()}); {reused} of the "
           f"{n_models(cfg)} language models were finished by an earlier "
           "invocation of the same command and reused (their training times are in the Training table)."))


def n_models(cfg: RunConfig) -> int:
    """The language models a run trains: cells x rates x (corpora x seeds + the sensitivity models)."""
    return len(cfg.archs) * len(sweep_rates(cfg)) * (len(cfg.corpus_seeds) * len(cfg.seeds) + cfg.sensitivity_seeds)


def rounded(x: Any, digits: int = 4) -> Any:
    """Round floats to a few significant digits for report tables (the JSON files keep full precision)."""
    return float(f"{x:.{digits}g}") if isinstance(x, float) else x


def training_summaries(model_dirs: list[Path], labels: dict) -> list[dict]:
    """This run's trained language models' summary.json, with their names and attractor rates (``labels``:
    {folder: {"attractor_rate": rate}}); folders of earlier configs in ``work/models`` are not this run's."""
    rows = []
    for d in model_dirs:
        f = Path(d) / "summary.json"
        if f.is_file():
            summary = json.loads(f.read_text(encoding="utf-8"))
            rows.append({"model": Path(d).name, "attractor_rate": labels.get(str(d), {}).get("attractor_rate"),
                         **summary})
    return rows


def report_sections(cfg: RunConfig, corpora: dict, trained: list[dict]) -> dict:
    """Report sections read from the run's own outputs: what each corpus holds (and how often it shows each
    construction), how each model trained. ``corpora``: {(rate, corpus seed): folder}."""
    import pandas as pd

    from probe.core.tables import markdown_table

    rows, stats_by = [], {}
    several = len(cfg.corpus_seeds) > 1
    for (rate, c), folder in corpora.items():
        f = Path(folder) / "stats.json"
        if not f.is_file():
            continue
        s = json.loads(f.read_text())
        stats_by[rate, c] = s
        if rate is None:  # real text: what the corpus is, not what the grammar was asked for
            rows.append({"corpus": rate_tag(rate), "train tokens": s.get("tokens", {}).get("train"),
                         "vocabulary": s.get("vocab_size") or s.get("types"),
                         "<unk> rate (valid)": rounded(s.get("unk_rate", {}).get("valid")),
                         "OOV rate (valid)": rounded(s.get("oov_rate", {}).get("valid"))})
            continue
        floor = (s.get("entropy_floor") or {}).get("valid") or {}
        modified = s.get("modifier_rate")
        rows.append({"attractor_rate (asked)": rate, **({"corpus seed": c} if several else {}),
                     "sentences": sum(s.get("sentences", {}).values()),
                     "train tokens": s.get("tokens", {}).get("train"),
                     "modified subjects (asked)": rounded(modified),
                     "subjects crossing any noun": rounded(s.get("subject_noun_rate")),
                     "subjects crossing a noun of the other number": rounded(s.get("attractor_rate")),
                     "designed share of other-number nouns": rounded(s.get("designed_share")),
                     "entropy floor (valid ppl)": rounded(floor.get("ppl")),
                     "benchmark sentences removed": s.get("removed_benchmark_sentences")})
    sections = {}
    if rows:
        what = ("Measured on each generated corpus (stats.json of `probe corpus`). The corpora of the sweep hold the "
                "share of modified subjects, the modifier kinds and the length fixed and vary only the share of "
                "modifiers whose noun has the other number; the entropy floor is the grammar's own per-token "
                "entropy on the valid split, the perplexity of the best possible model."
                if cfg.attractor_rates else "The corpus (stats.json of `probe corpus`):")
        sections["Corpora"] = what + "\n\n" + markdown_table(pd.DataFrame(rows))
        evidence = evidence_table(stats_by)
        if len(evidence):
            sections["Corpora"] += (
                "\n\n**Training evidence per construction.** How many training dependencies of each corpus have the "
                "shape of each benchmark construction (`probe.data.evidence`: the dependency's kind and what lies "
                "between and before head and verb, from the corpus' own records), and among them how many have its "
                "conflict configuration (every attractor of the other number) and its matched one; the share is "
                "conflict / all of that shape, pooled over the rate's corpora with its 99.9% Wilson interval, "
                "designed to equal the corpus' share of other-number nouns (the grammar draws every such noun's "
                "number independently, so a corpus' count scatters around it). *attested*: the configuration "
                "occurs in every corpus of the rate, with a share that agrees with the designed one within 25% "
                "(relative) as far as that corpus' count can tell (its 99.9% interval overlaps the band, as a run "
                "makes some 25 checks per corpus), and the share of the rate's corpora pooled lies itself within "
                "25% of the designed one. The headline pools the constructions attested at every rate (one "
                "attractor; a construction NOT attested is scored and reported on its own); configurations no "
                "corpus shows are reported apart, under generalization beyond the training grammar.\n\n" + markdown_table(evidence))
    if trained:
        t = cfg.train
        watch = (f"neither validation perplexity (by {t.min_delta:.1%}) nor agreement on the held-out items (by "
                 f"{t.agreement_delta:g}; the mean over item classes) had improved"
                 if t.stop_on == "ppl+agreement" else f"validation perplexity had not improved by {t.min_delta:.1%}")
        rule = (f"until {watch} in {t.stop_after} validations in a row ({t.evals_per_epoch} per epoch; lr x "
                f"{t.lr_decay} at each perplexity plateau; at most {t.epochs} epochs)" if t.stop_after
                else f"for {t.epochs} epochs (no early stopping)")
        def status(r: dict) -> str:
            s = r.get("status", "converged" if r.get("converged") else "not converged")
            return s if s == "converged" else f"{s}: {r.get('stop_reason', r.get('stopped'))}"

        table = pd.DataFrame([{
            "model": r["model"], "status": status(r), "epochs": rounded(r.get("epochs")),
            "best valid ppl": rounded(r.get("best_valid_ppl")),
            "ppl / floor": rounded(r["valid_ppl_ratio"]) if r.get("valid_ppl_ratio") is not None else "-",
            "test ppl": rounded(r.get("test_ppl")), "train seconds": rounded(r.get("train_seconds"), 3),
            "held-out agreement": rounded(r.get("agreement_at_best"), 3) if r.get("agreement_at_best") is not None
            else "-",
            "tokens/s": f"{r['tokens_per_s']:,.0f}" if r.get("tokens_per_s") else "-"} for r in trained])
        ratios = [r["valid_ppl_ratio"] for r in trained if r.get("valid_ppl_ratio")]
        n_conv = sum(r.get("status") == "converged" for r in trained)
        close = sum(x <= cfg.floor_ratio for x in ratios)
        both = ("validation perplexity and held-out agreement stopped improving" if t.stop_on == "ppl+agreement"
                else "validation perplexity stopped improving; held-out agreement was not watched, so *converged* "
                     "says nothing of agreement here")
        summary = (f"{n_conv} of {len(trained)} models converged ({both})"
                   + (f"; {close} of {len(ratios)} reached {cfg.floor_ratio} x the entropy floor or better "
                      f"(valid ppl / floor {min(ratios):.3f}-{max(ratios):.3f})" if ratios else "")
                   + ". Rows of the headline from cells with a model that did not converge (or stalled: stopped "
                     "improving far from the floor) are marked and not interpreted.")
        sections["Training"] = (f"Each language model trained {rule}; the checkpoint with the best validation "
                                f"perplexity is scored. {summary} Learning curves (the speed of learning, itself a "
                                "result) are in `figures/learning_curves.png`.\n\n" + markdown_table(table))
    return sections


def resolve_reference(cfg: RunConfig, root: Path) -> Path | None:
    """The committed run to compare with: ``cfg.reference``, or results/<name> for 'auto' (None if absent,
    or if it is this run's own folder)."""
    if not cfg.reference:
        return None
    ref = Path("results") / cfg.name if cfg.reference == "auto" else Path(cfg.reference)
    if not (ref / "summary_seeds.csv").is_file() or ref.resolve() == root.resolve():
        return None
    return ref


def reproducibility(cfg: RunConfig, root: Path, *, log: Callable[[str], None] = print) -> str:
    """Write this run's claims.json, and check every claim of the reference run (its claims.json, or the claims
    its files state) against this run's: a value claim holds when this run's value lies inside the reference's
    interval, a verdict when it reads the same. Returns the report section (and logs the verdict, naming this
    machine's CPU); '' without a reference."""
    from probe.core.tables import markdown_table
    from probe.report.claims import check_claims, collect_claims, read_claims, write_claims

    claims = write_claims(root)
    ref = resolve_reference(cfg, root)
    if ref is None:
        return ""
    reference = read_claims(ref)
    if reference is None:
        reference = collect_claims(ref)
    table = check_claims(claims, reference)
    if not len(table):
        text = f"The reference {ref} states no claims comparable with this run's (another design or config)."
        log(f"reproducibility: {text}")
        return text
    counts = table["holds"].value_counts()
    hold, total = int(counts.get("yes", 0)), len(table)
    verdict = (f"on this machine ({cpu_model()}) {hold} of the {total} claims of the reference {ref} hold"
               + (f"; {int(counts.get('no', 0))} do not" if counts.get("no", 0) else "")
               + (f"; {int(counts.get('missing', 0))} have no counterpart here" if counts.get("missing", 0) else "")
               + (f"; {int(counts.get('no interval', 0))} carry no interval to check (one seed)"
                  if counts.get("no interval", 0) else ""))
    log(f"reproducibility: {verdict}")
    text = (f"Every finding of the committed reference `{ref}` is a claim in its `claims.json` (a value with its "
            "interval, or a verdict read from intervals); this run's own are in this folder's `claims.json`. A value "
            "claim holds when this run's value lies inside the reference's 95% interval, a verdict when it reads the "
            f"same. **{verdict[0].upper() + verdict[1:]}.** Results depend on the CPU's floating-point kernels "
            "(MKL picks kernels by CPU, thread count and shape): a last-bit difference early in training grows like "
            "a change of seed, so single models differ between machines, while claims over seeds and items should "
            "hold within their intervals.")
    failed = table[table["holds"] != "yes"]
    if len(failed):
        text += "\n\nClaims that do not hold here (or cannot be checked):\n\n" + markdown_table(
            failed[["claim", "reference", "this run", "holds"]])
    return text


def seeds_confirmation(cfg: RunConfig, root: Path, seeds_root: Path = Path("results") / "seeds") -> str:
    """The verdicts of this run (few seeds) beside those of the many-seed sweep ``seeds_root`` (``configs/
    seeds.json``): the report section, or '' when this run is that sweep or the sweep is not there."""
    from probe.core.tables import markdown_table
    from probe.report.claims import read_claims

    sweep = read_claims(seeds_root)
    if sweep is None or Path(root).resolve() == seeds_root.resolve():
        return ""
    own = read_claims(root) or []
    theirs = {c["id"]: c for c in sweep}
    rows = []
    for c in own:
        if c["kind"] != "verdict" or not c["id"].startswith(("headline/", "turning_point/", "distance_or_attraction/",
                                                             "depth/")):
            continue
        other = theirs.get(c["id"])
        rows.append({"claim": c["statement"], "seeds here": c.get("n_seeds") or "-",
                     str(seeds_root): "-" if other is None
                     else f"{other['verdict']} ({other.get('n_seeds') or '-'} seeds)",
                     "confirmed": "-" if other is None else "yes" if other["verdict"] == c["verdict"] else "NO"})
    if not rows:
        return ""
    import pandas as pd

    table = pd.DataFrame(rows)
    n_no = int((table["confirmed"] == "NO").sum())
    return (f"This run's verdicts rest on {len(cfg.seeds)} seed(s) per cell and rate (column *seeds here*: the "
            "models behind each); "
            f"`{seeds_root}` "
            "(`probe run --config configs/seeds.json`) measures the same cells with many seeds and several corpora "
            f"per rate. {n_no} of this run's {len(table)} verdicts are not confirmed there (marked NO): read those "
            "as unsettled.\n\n" + markdown_table(table))


def evidence_table(stats_by: dict) -> "Any":
    """Per construction (pp per PP count, control per distance) x rate: conflict and matched training
    dependencies, summed over the rate's corpora, their share with its 99.9% interval, and whether every
    corpus, and the rate's corpora pooled, attest it (``probe.data.evidence``)."""
    import pandas as pd

    from probe.data.evidence import LEVEL, pooled_evidence

    cells: dict = {}
    by_rate: dict = {}
    for (rate, _), s in sorted(stats_by.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or 0, kv[0][1])):
        by_rate.setdefault(rate, []).append(s)
        for r in s.get("constructions") or []:
            key = (r["construction"], r["variant"])
            cell = cells.setdefault(key, {}).setdefault(rate, {"structure": 0, "conflict": 0, "matched": 0,
                                                               "attested": True, "attractors": r["attractors"]})
            cell["structure"] += r["structure"]
            cell["conflict"] += r["conflict"] or 0
            cell["matched"] += r["matched"] or 0
            cell["attested"] = cell["attested"] and bool(r["attested"])
    pooled = {(rate, p["construction"], p["variant"]): p for rate, group in by_rate.items()
              for p in pooled_evidence(group)}
    rows = []
    for (name, variant), by in sorted(cells.items()):
        row = {"construction": name, "variant": (f"{variant} PPs" if name == "pp" else f"distance {variant}"
                                                 if name == "control" else "-")}
        for rate, c in by.items():
            p = pooled.get((rate, name, variant))
            if c["attractors"] and p is not None:
                text = (f"{c['conflict']:,} / {c['matched']:,} of {c['structure']:,} "
                        f"({p['share']:.3f} [{p['share_low']:.3f}, {p['share_high']:.3f}])")
                flags = [w for w, ok in (("a corpus", c["attested"]), ("pooled", p["attested"])) if not ok]
            else:
                text = f"{c['structure']:,} ({'no designed share' if c['attractors'] else 'no attractor'})"
                flags = [] if c["attested"] else ["a corpus"]
            row[f"r={rate:g}: conflict / matched of all (share [{LEVEL:.1%}])"] = (
                text + (f" NOT attested ({', '.join(flags)})" if flags else ""))
        rows.append(row)
    return pd.DataFrame(rows)


def write_evidence(root: Path, corpora: dict) -> None:
    """``root/evidence.csv``: every corpus' per-construction training evidence (stats.json's ``constructions``,
    with the attractor rate, the corpus seed and the relation patterns as JSON), which the report reads for
    its distance-versus-attraction counts and its generalization table."""
    import pandas as pd

    from probe.core.io import write_text_atomic

    rows = []
    for (rate, c), folder in corpora.items():
        f = Path(folder) / "stats.json"
        stats = json.loads(f.read_text()) if f.is_file() else {}
        for r in stats.get("constructions") or []:
            rows.append({"attractor_rate": rate, "corpus": c, **{k: v for k, v in r.items() if k != "patterns"},
                         "patterns": json.dumps(r.get("patterns", {}), sort_keys=True)})
    if rows:
        write_text_atomic(root / "evidence.csv", pd.DataFrame(rows).to_csv(index=False))
