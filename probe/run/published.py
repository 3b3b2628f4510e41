"""Published test sets inside ``probe run``: import, score in two coverage regimes, and the overview table."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from probe.core.config import config_to_dict
from probe.core.errors import MissingParser
from probe.core.io import write_text_atomic
from probe.run.config import RunConfig
from probe.run.stages import run_stage


def critical_in_vocab(items, vocab) -> Any:
    """Per item: True if the words that decide the pair are in ``vocab``: every word that differs between
    sentence_good and sentence_bad (the verbs, for agreement pairs), the head noun, and the attractors (or,
    where the item lists none, its nearest noun), when the item names them. A pair whose verbs are ``<unk>``
    carries no evidence either way; one whose head is ``<unk>`` tests no agreement with that head; and one
    whose attractor is ``<unk>`` is no conflict item for the model, which cannot see that noun's number."""
    import numpy as np

    def column(name: str) -> list:
        return items[name].tolist() if name in items.columns else [None] * len(items)

    heads, attractors, nearest = column("head"), column("attractors"), column("nearest_noun")
    out = np.zeros(len(items), dtype=bool)
    for i, (g, b) in enumerate(zip(items["sentence_good"], items["sentence_bad"])):
        gt, bt = str(g).split(), str(b).split()
        diff = ({x for x, y in zip(gt, bt) if x != y} | {y for x, y in zip(gt, bt) if x != y}) \
            if len(gt) == len(bt) else set(gt) ^ set(bt)
        nouns = {w for w in str(heads[i] or "").split() if w}
        listed = attractors[i] if attractors[i] is not None and len(attractors[i]) else None
        nouns |= {w for a in listed for w in str(a).split()} if listed is not None else \
            {w for w in str(nearest[i] or "").split() if w}
        out[i] = bool(diff) and all(map(vocab.is_known, diff | nouns))
    return out


def sample_items(folder: Path, k: int, log: Callable[[str], None], *, redo: bool = False) -> Path:
    """At most ``k`` items per construction, the ones with the smallest id hashes (stable, seed-free); a sample
    already drawn is kept unless ``redo`` (its source was imported again)."""
    import hashlib

    from probe.data.items import load_items, write_item_folder

    out = folder.with_name(folder.name + f"-{k}")
    if (out / "items.jsonl").is_file() and not redo:
        return out
    ds = load_items(folder)
    ids, cons = list(ds["id"]), list(ds["construction"])
    order = sorted(range(len(ds)), key=lambda i: (cons[i], hashlib.blake2b(ids[i].encode(), digest_size=8).digest()))
    count: dict = {}
    keep = []
    for i in order:
        count[cons[i]] = count.get(cons[i], 0) + 1
        if count[cons[i]] <= k:
            keep.append(i)
    rows = ds.select(sorted(keep)).to_list()
    write_item_folder(rows, out, config={"sampled_from": str(folder), "per_construction": k},
                      card_title=f"{folder.name}: {k} pairs per construction", overwrite=True)
    log(f"sampled {len(rows)} of the imported pairs ({k} per construction) into {out}")
    return out


def score_extra_data(cfg: RunConfig, *, work: Path, model_dirs: list, labels: dict,
                     log: Callable[[str], None] = print, frames: dict | None = None) -> dict:
    """Import each ``cfg.extra_data`` set, score it in two regimes, and return report sections.

    fully in-vocabulary: pairs with any out-of-vocabulary word are excluded (probe's default);
    critical words in vocabulary: other words are read as ``<unk>``, pairs whose differing words or head
    noun are out of vocabulary are excluded (they would tie, compare ``<unk>`` with a word, or ask for
    agreement with a head the model cannot see). ``frames``, if given, receives {format: the per-item
    scores of the critical-words regime} for the overview table.
    """
    import pandas as pd

    from probe.data.corpus import Vocab
    from probe.evaluate import EvalConfig, evaluate, write_results
    from probe.data.importers import ImportConfig, import_dataset
    from probe.data.items import load_items

    if not cfg.extra_data:
        return {}
    vocab = Vocab.load(next(iter((work / "corpora").glob("*/vocab.json"))))
    rows = []
    for extra in cfg.extra_data:
        folder = work / "data" / extra.format
        icfg = ImportConfig(format=extra.format, paths=(str(extra.path),))
        try:
            imported = run_stage(folder, {"format": extra.format, "paths": [str(Path(extra.path).resolve())]},
                                 lambda f=folder, c=icfg: import_dataset(c, f), log, f"import {extra.format}")
        except MissingParser as exc:  # an optional parser is not installed: score the other sets
            log(f"skipped: extra_data {extra.format} ({extra.path}): {exc}")
            continue
        if extra.per_construction:
            folder = sample_items(folder, extra.per_construction, log, redo=imported)
        items = load_items(folder).to_pandas()
        critical = pd.Series(critical_in_vocab(items, vocab), index=items["id"])
        models = [str(m) for m in model_dirs]
        t0 = time.perf_counter()
        # one pass through <unk>; the fully-in-vocabulary regime is the subset without any <unk>
        scored = evaluate(models, [str(folder)], None, method=extra.method, unk=True, labels=labels,
                          progress=False)
        log(f"scored {extra.format}: {time.perf_counter() - t0:.1f} s")
        for regime, tag in (("fully in vocabulary", "full"), ("critical words in vocabulary", "critical")):
            scores = scored.copy()
            drop = scores["has_unk"].fillna(False).to_numpy(bool) if tag == "full" else \
                ~scores["id"].map(critical).fillna(False).to_numpy(bool)
            newly = drop & ~scores["excluded"].to_numpy(bool)
            scores.loc[newly, "excluded"] = True
            scores.loc[newly, "exclude_reason"] = "oov" if tag == "full" else "oov_critical"
            for col in ("correct", "choice_syntactic", "choice_sequential"):
                scores[col] = scores[col].astype(object)
                scores.loc[newly, col] = None
            if tag == "full":
                scores["has_unk"] = False
            elif frames is not None:
                frames[extra.format] = scores
            ecfg = EvalConfig(models=tuple(models), data=(str(folder),), method=extra.method, unk=tag == "critical")
            info = [{"model": m, **labels.get(m, {})} for m in models]
            write_results(scores, work / f"eval-{extra.format}-{tag}", config=ecfg, models=info, labels=labels,
                          overwrite=True)
            for (con, arch), g in scores.groupby(["construction", "arch"], sort=True):
                kept = g[~g["excluded"].astype(bool)]
                per_seed = kept.groupby("seed")["correct"].apply(lambda c: c.astype(float).mean())
                n_models = max(g["model"].nunique(), 1)
                rows.append({"data": extra.format, "regime": regime, "paradigm": con, "arch": arch,
                             "pairs": len(g) // n_models, "kept": len(kept) // n_models,
                             "coverage": round(len(kept) / max(len(g), 1), 3),
                             "accuracy": round(float(per_seed.mean()), 3) if len(per_seed) else None,
                             "seeds": int(per_seed.size)})
    if not rows:  # every set was skipped
        return {}
    table = pd.DataFrame(rows)
    write_text_atomic(work.parent / "extra_data.csv", table.to_csv(index=False))
    return {"Published test sets: coverage and accuracy": extra_markdown(cfg, table)}


def set_label(fmt: str) -> str:
    """What reports call a set imported in format ``fmt`` (its importer's label)."""
    from probe.data.importers import IMPORTERS

    return IMPORTERS[fmt].title if fmt in IMPORTERS else fmt


def overview_section(cfg: RunConfig, work: Path, frames: dict, suite_summary, root: Path | None = None) -> str:
    """The report's first section for runs that score published sets: probe's benchmark and every set, split
    into items without an attractor and conflict items, beside the baselines and published numbers, with the
    attraction effect (matched - conflict) over each set's constructions that have both. probe's benchmark
    is split by construction where coverage skews its mix (a construction's share of the kept items differs
    from its share of all items by more than 10 points)."""
    import pandas as pd

    from probe.metrics import several_corpora
    from probe.report.overview import OVERVIEW_CSV, overview_markdown, overview_table, published_blimp, published_suites

    sets, published, effects, rules = {}, {}, {}, {}
    from probe.data.records import mixed_patterns

    bench = pd.read_parquet(work / "eval" / "scores.parquet")
    for name, scores in [("probe benchmark", bench)] + [(set_label(k), v) for k, v in frames.items()]:
        # items whose attractors mix numbers are in no pool (probe.data.records.mixed_patterns)
        scores = scores[~mixed_patterns(scores)]
        if "attractor_rate" in scores.columns and scores["attractor_rate"].nunique() > 1:
            # one model per cell and seed: a sweep's overview reads the corpus with the most attractors
            scores = scores[scores["attractor_rate"] == scores["attractor_rate"].max()]
        rule = "fully in vocabulary" if name == "probe benchmark" else "critical words in vocabulary"
        for cls, what in (("none", "no attractor"), ("conflict", "conflict (attractor nearest the verb)")):
            part = scores[scores["match"] == cls]
            if part["id"].nunique() < 10:
                continue
            for label, piece in _by_construction(f"{name}: {what}", part, split=name == "probe benchmark"):
                sets[label], rules[label] = piece, rule
                if name == "BLiMP":
                    published[label] = published_blimp(cfg.published_blimp, sorted(piece["construction"].unique()))
        both = set(scores.loc[scores["match"] == "conflict", "construction"]) \
            & set(scores.loc[scores["match"] == "matched", "construction"])
        same = scores[scores["construction"].isin(both)]
        if same["id"].nunique() >= 10:
            label = f"{name}: attraction effect (matched - conflict, {len(both)} construction(s))"
            effects[label] = (same[same["match"] == "matched"], same[same["match"] == "conflict"])
            rules[label] = rule
    published.update(published_suites())
    if suite_summary is not None and "attractor_rate" in suite_summary.columns \
            and suite_summary["attractor_rate"].nunique() > 1:      # the same corpus as the benchmark's rows
        suite_summary = suite_summary[suite_summary["attractor_rate"] == suite_summary["attractor_rate"].max()]
    table = overview_table(sets, suites=suite_summary, published=published, effects=effects, rules=rules)
    if root is not None:        # the numbers behind the table: its claims (probe.report.claims) read them
        write_text_atomic(root / OVERVIEW_CSV, table.attrs["values"].to_csv(index=False))
    tokens = None
    stats = next(iter((work / "corpora").glob("*/stats.json")), None)
    if stats is not None:
        tokens = json.loads(stats.read_text()).get("tokens", {}).get("train")
    return overview_markdown(table, tokens=tokens if isinstance(tokens, int) else None,
                             corpora=several_corpora(bench))


def _by_construction(label: str, part, *, split: bool, skew: float = 0.10) -> list:
    """[(label, scores)]: the whole part, or (``split``) one per construction when the kept items' mix of
    constructions differs from all items' by more than ``skew`` for some construction (coverage skews it)."""
    if not split or part["construction"].nunique() < 2:
        return [(label, part)]
    one = part[part["model"] == part["model"].iloc[0]]
    everything = one["construction"].value_counts(normalize=True)
    kept = one.loc[~one["excluded"].astype(bool), "construction"].value_counts(normalize=True)
    shift = (kept.reindex(everything.index, fill_value=0.0) - everything).abs().max() if len(kept) else 0.0
    if shift <= skew:
        return [(label, part)]
    return [(f"{label}, {con}", g) for con, g in part.groupby("construction", sort=True)]


def extra_markdown(cfg: RunConfig, table) -> str:
    """The report section for imported sets, with BLiMP's published accuracies where given."""
    import pandas as pd

    from probe.core.tables import markdown_table

    wide = table.pivot_table(index=["data", "paradigm", "regime", "pairs", "kept", "coverage"], columns="arch",
                             values="accuracy", aggfunc="first").reset_index()
    text = ("Accuracy = share of kept pairs where the model gives the good sentence the higher probability "
            "(mean over training seeds); coverage = kept / pairs. *fully in vocabulary*: every word of the pair "
            "is in the vocabulary; *critical words in vocabulary*: other words are read as `<unk>`. Full tables: "
            "`extra_data.csv`.\n\n" + markdown_table(wide))
    if cfg.published_blimp and (table["data"] == "blimp").any():
        pub = pd.read_json(cfg.published_blimp, lines=True)
        pub = pub[pub["UID"].isin(set(table.loc[table["data"] == "blimp", "paradigm"]))]
        pub = pub.rename(columns={"UID": "paradigm", "ngram": "published 5-gram", "lstm": "published LSTM",
                                  "txl": "published Transformer-XL", "gpt2": "published GPT-2"})
        text += ("\n\nPublished BLiMP accuracies for the same paradigms (Warstadt et al. 2020, from the source's "
                 "`models_summary.jsonl`; their LSTM and n-gram were trained on far more text than PTB's ~1M "
                 "tokens — about 80M+ tokens of Wikipedia for the LSTM —, and scored every pair, with no "
                 "vocabulary limit):\n\n"
                 + markdown_table(pub.drop(columns=["linguistics_term"], errors="ignore").round(3)))
    return text


def real_on_synthetic(cfg: RunConfig, *, work: Path, root: Path, log: Callable[[str], None] = print) -> str:
    """The attractor rates of ``cfg.rate_corpora`` (measured with a parser, kept in work/rates), and, with a
    ``synthetic_reference``, this run's cells on its attractor-rate axis (figures/real_on_synthetic.png): the
    report section, or '' when there is nothing to measure or no parser (one 'skipped' line)."""
    import pandas as pd

    from probe.core.style import save_figure
    from probe.data.rates import (attractor_rate_stage, measured_with_another_parser, rates_by_corpus,
                                  rates_config)
    from probe.report.axis import axis_markdown, plot_real_on_synthetic, synthetic_counts
    from probe.report.plots import read_seed_summary

    if not cfg.rate_corpora:
        return ""
    folder = work / "rates"
    corpora = {k: [str(Path(f).resolve()) for f in v] for k, v in cfg.rate_corpora.items()}
    # the stage's config.json is the RatesConfig it ran: the key is that same config, every field of it
    key = config_to_dict(rates_config(corpora))
    changed = measured_with_another_parser(folder)      # 'auto' may pick another pipeline than it did
    if changed:
        log(f"attractor rates of real text: {changed}: measuring again")
    run_stage(folder, key, lambda: attractor_rate_stage(corpora, folder, log=log), log, "attractor rates of real text",
              force=bool(changed))
    table = folder / "attractor_rates.csv"
    if not table.is_file():
        return ""
    write_text_atomic(root / "attractor_rates.csv", table.read_text(encoding="utf-8"))
    rates = rates_by_corpus(pd.read_csv(table).to_dict("records"))
    corpus = next(iter(cfg.rate_corpora))
    if not cfg.synthetic_reference:
        return axis_markdown(pd.DataFrame(), read_seed_summary(root), rates, pd.DataFrame(), corpus=corpus,
                             synthetic_name="")
    synthetic = Path(cfg.synthetic_reference)
    syn_seeds, real_seeds = read_seed_summary(synthetic), read_seed_summary(root)
    name = synthetic.name
    if corpus in rates and "attractor_rate" in rates[corpus]:
        fig = plot_real_on_synthetic(syn_seeds, real_seeds, rates[corpus]["attractor_rate"], corpus=corpus,
                                     synthetic_name=name)
        save_figure(fig, root / "figures", "real_on_synthetic")
    return axis_markdown(syn_seeds, real_seeds, rates, synthetic_counts(synthetic), corpus=corpus,
                         synthetic_name=name)
