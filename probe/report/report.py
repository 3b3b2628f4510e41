"""report.md for a results folder: summary tables, figures, the exact commands and the environment.

Every number in the report is read from the folder's summary files (summary_seeds.csv, summary.json,
config.json); nothing is computed from scores here or typed by hand.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from probe.core.io import write_text_atomic
from probe.core.environment import environment_facts
from probe.core.tables import code_tokens, fmt_ci, markdown_table

# one caption per figure (file stem before any '__' group suffix), in the order the Figures section lists them
FIGURE_CAPTIONS = {
    "attractor_rate": "Syntactic choice rate on conflict items (the headline's pooled constructions) against the "
                      "corpus attractor rate, one panel per architecture (95% interval bands over seeds and items, and "
                      "over the corpus draws where a rate has several corpora; "
                      "filled markers: the interval excludes 0.5; grey: the baselines, each with its own marker).",
    "seed_spread": "Conflict accuracy of every trained model (one point per training seed; marker by corpus where a "
                   "rate has several) beside the pooled estimate and its interval, per architecture and corpus "
                   "attractor rate: seeds that split into learners and non-learners show as separate clusters.",
    "attractors": "Accuracy against the number of attractors (pp), one panel per architecture: conflict items (every "
                  "attractor of the other number), one line per corpus attractor rate (darker and solid = higher), "
                  "and matched items (every attractor of the head's number; dash-dot, open markers) at the highest "
                  "rate.",
    "headline": "Syntactic choice rate against the head-verb distance with no attractor (left) and against the number "
                "of attractors of the other number (right), one row per architecture and one line per corpus "
                "attractor rate (darker and solid = higher); grey: the baselines at the highest rate.",
    "preference": "Syntactic choice rate per construction on conflict items with one attractor, one row of bars per "
                  "corpus attractor rate (error bars: 95% intervals); 'pooled': the headline's constructions.",
    "asymmetry": "Markedness asymmetry on pp items, one row per corpus attractor rate: accuracy on SP and PS items "
                 "(left) and the attraction effect, accuracy(matched) - accuracy(conflict), for singular and plural "
                 "heads (right).",
    "learning_curves": "Learning curves: validation perplexity (relative to the corpus' entropy floor where known; "
                       "top) and held-out agreement (mean accuracy over item classes on held-out items, which "
                       "training watches besides perplexity to stop; bottom), one column per corpus attractor rate, "
                       "one colour per architecture, one thin line per trained model; x: stopped without converging.",
    "gradients": "Vanishing gradients: mean norm of the gradient of the next-word loss with respect to the hidden "
                 "state l steps back, per cell, at initialisation and after training (95% bootstrap bands).",
    "gradients_items": "Gradient of the verb's agreement margin with respect to the head (solid) and to every "
                       "attractor (dashed) by their distance from the verb, on items with attractors (trained "
                       "models; the rate and n are in the figure's title).",
    "clipping": "Exploding gradients: the gradient norm before clipping at each training step, one row per cell and "
                "one panel per clipping threshold (dotted: the threshold; triangles: norms beyond the axis, drawn "
                "at its edge; crosses: non-finite steps, skipped).",
    "depth": "Depth and skip connections: conflict accuracy after training, the input gradient through the layers at "
             "initialisation and the input gradient some steps back in time after training (their number is in the "
             "panel's title), against the number of layers; one colour per skip connection, a point per training "
             "seed and a line through their mean.",
    "number_prediction": "Number prediction: supervised classifiers (unidirectional and bidirectional) against the "
                         "language-model objective on the same items, by number of attractors (conflict and "
                         "matched), with the published supervised LSTM of Linzen et al. (2016) for reference.",
    "diagnose": "Diagnostic classifiers: accuracy of a linear probe decoding the head's number from the hidden state "
                "(h) and, in LSTMs, the cell state (c) at each position of the sentence, beside a control task.",
    "ablation": "Agreement accuracy with the units most predictive of the head's number zeroed, against as many "
                "random units zeroed (95% range over draws) and the intact model, on all items and on conflict "
                "items.",
}


def figure_caption(png: Path) -> str:
    """The italic caption line of a figure file: its FIGURE_CAPTIONS text (the group a '__' suffix names in
    brackets), with a link to the PDF beside it where there is one."""
    stem = png.stem.split("__")[0]
    caption = FIGURE_CAPTIONS.get(stem, f"Figure {png.stem}.")
    extra = png.stem[len(stem):].lstrip("_").replace("_", " ")
    pdf = png.with_suffix(".pdf")
    return (f"*{caption}{' (' + extra + ')' if extra else ''}*"
            + (f" [PDF](figures/{pdf.name})" if pdf.is_file() else ""))


def embed_figures(out: list[str], figures: Path) -> list[str]:
    """Every PNG in ``figures`` shown once: a figure a section of ``out`` already embeds gets its caption there;
    the others follow in a Figures section (in FIGURE_CAPTIONS order). Returns ``out`` with both."""
    import re

    order = list(FIGURE_CAPTIONS)
    pngs = sorted(figures.glob("*.png"), key=lambda p: (order.index(p.stem.split("__")[0])
                                                          if p.stem.split("__")[0] in order else len(order), p.name))
    rest = []
    for png in pngs:
        embed = re.compile(r"!\[[^\]]*\]\(figures/" + re.escape(png.name) + r"\)")
        at = next((i for i, block in enumerate(out) if embed.search(block)), None)
        if at is None:
            rest.append(png)
        else:
            out[at] = embed.sub(lambda m: m.group(0) + "\n\n" + figure_caption(png), out[at], count=1)
    if rest:
        out += ["## Figures", ""]
        for png in rest:
            out += [f"![{png.stem}](figures/{png.name})", "", figure_caption(png), ""]
    return out


def _with_ci(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([fmt_ci(v, lo, hi) for v, lo, hi in zip(frame["value"], frame["ci_low"], frame["ci_high"])],
                     index=frame.index, dtype=object)


def _group_keys(seeds: pd.DataFrame) -> list[str]:
    from probe.report.plots import group_keys

    return group_keys(seeds)


HEADLINE_CLASSES = (("matched", "matched accuracy"), ("conflict", "conflict: syntactic choice rate"),
                    ("mismatched_no_conflict", "mismatched, no conflict: accuracy"))


def headline_constructions(seeds: pd.DataFrame) -> tuple[str, str]:
    """(the pool, its constructions with conflict items): :func:`probe.report.plots.headline_constructions`,
    which the figures read too (it lives there: the figures cannot import this module, which imports them)."""
    from probe.report.plots import headline_constructions as pools

    return pools(seeds)


def headline_table(seeds: pd.DataFrame, *, n_attractors: int = 1, convergence: Mapping | None = None) -> pd.DataFrame:
    """Per arch (x labels), all constructions pooled, items with ``n_attractors`` attractor slots: accuracy on
    matched items, the syntactic choice rate on conflict items (= their accuracy), accuracy on mismatched
    items whose nearest noun agrees with the head, and the attraction effect matched - conflict.

    ``convergence``: {(arch, attractor rate or None): True when every model of that cell converged}; with
    it, a column says so per row ('no: not interpreted' where any did not; '-' for models not trained
    to convergence, such as the baselines). No conclusion should be drawn from unconverged rows.
    """
    pooled, frames = headline_constructions(seeds)
    here = seeds[(seeds["construction"] == frames) & (seeds["n_attractors"] == n_attractors)]
    sel = seeds[seeds["construction"].isin([pooled, frames]) & (seeds["n_attractors"] == n_attractors)
                & (seeds["level"] == "match") & (seeds["metric"] == "accuracy")]
    keys = ["arch"] + _group_keys(seeds)
    rows = []
    for vals, g in sel.groupby(keys, sort=True, dropna=False):
        vals = vals if isinstance(vals, tuple) else (vals,)
        row = dict(zip(keys, vals))
        for cls, title in HEADLINE_CLASSES:
            # matched and conflict items of the same constructions; mismatched-without-conflict ones of the pool
            r = g[(g["condition"] == cls) & (g["construction"] == (pooled if cls == "mismatched_no_conflict"
                                                                    else frames))]
            row[title] = fmt_ci(*r[["value", "ci_low", "ci_high"]].iloc[0]) if len(r) else "-"
        same = here
        for k, v in zip(keys, vals):
            same = same[same[k] == v]
        eff = same[(same["metric"] == "attraction_effect") & (same["condition"] == "all")]
        row["attraction effect (matched - conflict)"] = fmt_ci(*eff[["value", "ci_low", "ci_high"]].iloc[0]) \
            if len(eff) else "-"
        conflict = g[(g["condition"] == "conflict") & (g["construction"] == frames)]
        row["seeds"] = int(g["n_seeds"].max())
        row["conflict items"] = int(conflict["n_items"].iloc[0]) if len(conflict) else 0
        if convergence is not None:
            # a sweep of one rate drops the column from the keys; its models are still keyed by that rate
            one_rate = seeds["attractor_rate"].dropna().unique() if "attractor_rate" in seeds.columns else ()
            rate = row.get("attractor_rate", float(one_rate[0]) if len(one_rate) == 1 else None)
            ok = convergence.get((row["arch"], rate))
            row["converged"] = "-" if ok is None else "yes" if ok else "no: not interpreted"
        rows.append(row)
    from probe.core.style import arch_order

    out = pd.DataFrame(rows)
    if len(out):
        rank = {a: i for i, a in enumerate(arch_order(out["arch"]))}
        out = out.sort_values(["arch"] + keys[1:], key=lambda c: c.map(rank) if c.name == "arch" else c, kind="stable")
    return out


def training_count(evidence: pd.DataFrame | None, rate, construction: str, variant: int, what: str) -> str:
    """' (n in training)': how many training dependencies (summed over the rate's corpora) have a construction's
    variant in configuration ``what`` ('conflict' or 'structure'); '' without evidence."""
    if evidence is None or not len(evidence):
        return ""
    sel = evidence[(evidence["construction"] == construction) & (evidence["variant"] == variant)]
    if "attractor_rate" in evidence.columns and rate is not None:
        sel = sel[sel["attractor_rate"] == rate]
    n = int(pd.to_numeric(sel[what], errors="coerce").fillna(0).sum())
    return f" (n = {n:,} in training)"


def conflict_by_construction(seeds: pd.DataFrame, constructions: Sequence[str], *, n_attractors: int = 1
                             ) -> pd.DataFrame:
    """The syntactic choice rate [CI] on each construction's conflict items (rows) per cell (x rate) (columns):
    what a pooled conflict rate is made of."""
    sel = seeds[seeds["construction"].isin(list(constructions)) & (seeds["level"] == "match")
                & (seeds["metric"] == "accuracy") & (seeds["condition"] == "conflict")
                & (seeds["n_attractors"] == n_attractors)]
    if not len(sel):
        return pd.DataFrame()
    keys = _group_keys(seeds)
    from probe.core.style import arch_order

    short = {"attractor_rate": "r"}
    rank = {a: i for i, a in enumerate(arch_order(sel["arch"]))}
    # columns in cell order, then by the other keys' values (a rate, a data set), sorted before they become text
    sel = sel.assign(_rank=sel["arch"].map(rank)).sort_values(["_rank", *keys], kind="stable")
    def text(v) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else str(v)

    sel = sel.assign(cell=_with_ci(sel), column=[a + "".join(f" {short.get(k, k + ' ')}{text(r[k])}" for k in keys
                                                             if pd.notna(r[k]))
                                                  for a, (_, r) in zip(sel["arch"], sel.iterrows())])
    wide = sel.pivot_table(index="construction", columns="column", values="cell", aggfunc="first").reset_index()
    return wide[["construction"] + list(dict.fromkeys(sel["column"]))]


def distance_vs_attraction(seeds: pd.DataFrame, *, distance_construction: str = "control",
                           attractor_construction: str = "pp", evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per neural cell (x labels): the syntactic choice rate at the shortest and longest head-verb distance with
    no attractor, and with one and with the most attractors of the other number, and which of the two
    lowers it (the interval at the far end lies wholly below the one at the near end). ``evidence`` (a run's
    evidence.csv): each end also says how many training dependencies had that configuration."""
    keys = ["arch"] + _group_keys(seeds)
    dist = seeds[(seeds["level"] == "distance") & (seeds["metric"] == "accuracy")
                 & (seeds["construction"] == distance_construction)]
    att = seeds[(seeds["level"] == "attractors") & (seeds["metric"] == "accuracy") & (seeds["condition"] == "conflict")
                & (seeds["construction"] == attractor_construction)]
    from probe.core.style import arch_order, is_baseline

    rows = []
    for vals, d in dist.groupby(keys, sort=True, dropna=False):
        vals = vals if isinstance(vals, tuple) else (vals,)
        if is_baseline(vals[0]):
            continue
        a = att
        for k, v in zip(keys, vals):
            a = a[a[k] == v]
        row = dict(zip(keys, vals))
        drops = {}
        for name, frame, col in (("distance", d, "distance"), ("attractors", a, "n_attractors")):
            if len(frame) < 2:
                row[name] = "-"
                continue
            near, far = frame.sort_values(col).iloc[0], frame.sort_values(col).iloc[-1]
            con, what = ((distance_construction, "structure") if name == "distance"
                         else (attractor_construction, "conflict"))
            rate = row.get("attractor_rate")
            ends = [f"{int(e[col])}: {fmt_ci(e['value'], e['ci_low'], e['ci_high'])}"
                    + training_count(evidence, rate, con, int(e[col]), what) for e in (near, far)]
            row[name] = " -> ".join(ends)
            drops[name] = far["ci_high"] < near["ci_low"]
        hurt = [n for n, dropped in drops.items() if dropped]
        row["what lowers it"] = " and ".join(hurt) if hurt else "neither (within the intervals)"
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        rank = {a: i for i, a in enumerate(arch_order(out["arch"]))}
        out = out.sort_values(keys, key=lambda c: c.map(rank) if c.name == "arch" else c, kind="stable")
    return out


def relation_of(condition: str) -> str:
    """The attractors' numbers relative to the head's ('SPS' -> 'OS'), as ``probe.data.evidence`` counts them."""
    return "".join("S" if c == condition[0] else "O" for c in condition[1:])


def generalization_table(seeds: pd.DataFrame, evidence: pd.DataFrame | None) -> pd.DataFrame:
    """Accuracy [CI] per arch on the item cells (construction x condition) whose configuration no training corpus
    of their rate shows (a PP chain of mixed numbers, a construction the grammar never produces): tested
    beyond the training grammar, never pooled. Needs a run's evidence.csv; empty when every cell is attested."""
    if evidence is None or not len(evidence) or "attractor_rate" not in seeds.columns:
        return pd.DataFrame()
    seen: dict = {}
    for r in evidence.itertuples():
        patterns = json.loads(r.patterns) if isinstance(r.patterns, str) else {}
        seen.setdefault(r.attractor_rate, set()).update((r.construction, int(r.variant), p)
                                                        for p, n in patterns.items() if n > 0)
    known = set(evidence["construction"])
    sel = seeds[(seeds["level"] == "condition") & (seeds["metric"] == "accuracy") & seeds["construction"].isin(known)
                & (seeds["n_attractors"] > 0)].copy()
    if not len(sel):
        return pd.DataFrame()
    variant = [int(k) if c == "pp" else 0 for c, k in zip(sel["construction"], sel["n_attractors"])]
    key = list(zip(sel["construction"], variant, sel["condition"].map(relation_of)))
    sel = sel[[k not in seen.get(rate, set()) for k, rate in zip(key, sel["attractor_rate"])]]
    if not len(sel):
        return pd.DataFrame()
    keys = _group_keys(seeds)
    sel = sel.assign(cell=_with_ci(sel), relation=sel["condition"].map(relation_of))
    index = keys + ["construction", "condition"]
    wide = sel.pivot_table(index=index, columns="arch", values="cell", aggfunc="first").reset_index()
    from probe.core.style import arch_order

    return wide[index + arch_order(sel["arch"])]


def attractor_count_table(seeds: pd.DataFrame, evidence: pd.DataFrame | None = None, *,
                          construction: str = "pp") -> pd.DataFrame:
    """Accuracy [CI] per arch (x labels) on ``construction``'s items with k attractors all of the other number
    (conflict) and all of the head's (matched), k = 1.. : like with like (one construction at every k), with
    the training dependencies of each conflict configuration where the run counted them."""
    sel = seeds[(seeds["construction"] == construction) & (seeds["level"] == "attractors")
                & (seeds["metric"] == "accuracy")]
    if not len(sel):
        return pd.DataFrame()
    keys = ["arch"] + _group_keys(seeds)
    sel = sel.assign(cell=_with_ci(sel), column=sel["condition"] + " k=" + sel["n_attractors"].astype(str))
    wide = sel.pivot_table(index=keys, columns="column", values="cell", aggfunc="first").reset_index()
    ks = sorted(sel["n_attractors"].unique())
    out = wide[keys + [c for k in ks for c in (f"matched k={k}", f"conflict k={k}") if c in wide.columns]]
    if evidence is not None and len(evidence) and "attractor_rate" in out.columns:
        counts = [{"arch": "(training: conflict dependencies)", "attractor_rate": rate,
                   **{f"conflict k={k}": training_count(evidence, rate, construction, int(k), "conflict")
                      .strip(" ()").removeprefix("n = ").removesuffix(" in training") for k in ks}}
                  for rate in sorted(out["attractor_rate"].dropna().unique())]
        out = pd.concat([out, pd.DataFrame(counts)], ignore_index=True).fillna("")
    return out


def class_table(seeds: pd.DataFrame, *, construction: str | None = None) -> pd.DataFrame:
    """Accuracy [CI] per arch (x labels: data set, method, ...) on all items, then per item class x attractor
    slots: the compact table ``probe evaluate`` prints. Every group has its ``all items`` cell, so a data set
    whose items are all of unknown class still gets its line. ``construction``: default 'all' (pooled) when
    present."""
    cons = set(seeds["construction"])
    construction = construction or ("all" if "all" in cons else sorted(cons)[0])
    here = seeds[(seeds["construction"] == construction) & (seeds["metric"] == "accuracy")]
    sel = here[here["level"] == "match"]
    sel = sel.assign(column=sel["condition"] + " k=" + sel["n_attractors"].astype(str))
    overall = here[here["level"] == "overall"]
    sel = pd.concat([overall.assign(column="all items"), sel])
    if not len(sel):
        return pd.DataFrame()
    keys = ["arch"] + _group_keys(seeds)
    sel = sel.assign(cell=_with_ci(sel).where(sel["n_items"] > 0, "-"))
    order = ["all items"] + [f"{c} k={k}" for c in ("none", "matched", "conflict", "mismatched_no_conflict")
                             for k in sorted(sel.loc[sel["level"] == "match", "n_attractors"].unique())]
    wide = sel.pivot_table(index=keys, columns="column", values="cell", aggfunc="first").reset_index()
    columns = [c for c in order if c in wide.columns]
    # a group without items of a class (e.g. a data set all of unknown class) shows '-' there
    return wide[keys + columns].fillna({c: "-" for c in columns})


def condition_table(seeds: pd.DataFrame) -> pd.DataFrame:
    """Accuracy [CI] per construction x condition (rows) and arch (columns), condition-level cells."""
    sel = seeds[(seeds["level"] == "condition") & (seeds["metric"] == "accuracy") & (seeds["construction"] != "all")]
    if not len(sel):
        return pd.DataFrame()
    keys = _group_keys(seeds)
    sel = sel.assign(cell=_with_ci(sel))
    index = keys + ["construction", "condition"]
    wide = sel.pivot_table(index=index, columns="arch", values="cell", aggfunc="first")
    n = sel.groupby(index)["n_items"].max().rename("items (all seeds, max per arch)")
    wide = wide.join(n).reset_index()
    from probe.core.style import arch_order

    archs = arch_order(sel["arch"])
    return wide[index + archs + ["items (all seeds, max per arch)"]]


def no_conflict_table(seeds: pd.DataFrame) -> pd.DataFrame:
    """Accuracy [CI] on mismatched items without conflict, per construction (rows) x arch (columns)."""
    sel = seeds[(seeds["level"] == "match") & (seeds["metric"] == "accuracy")
                & (seeds["condition"] == "mismatched_no_conflict") & (seeds["construction"] != "all")]
    if not len(sel):
        return pd.DataFrame()
    keys = _group_keys(seeds)
    sel = sel.assign(cell=_with_ci(sel))
    wide = sel.pivot_table(index=keys + ["construction", "n_attractors"], columns="arch", values="cell",
                           aggfunc="first").reset_index()
    from probe.core.style import arch_order

    return wide[keys + ["construction", "n_attractors"] + arch_order(sel["arch"])]


def effect_table(seeds: pd.DataFrame, *, n_attractors: int = 1) -> pd.DataFrame:
    """Attraction effects (all, sg head, pl head) and the markedness asymmetry per arch x construction."""
    sel = seeds[(seeds["level"] == "effect") & (seeds["n_attractors"] == n_attractors)]
    if not len(sel):
        return pd.DataFrame()
    keys = ["arch"] + _group_keys(seeds) + ["construction"]
    sel = sel.assign(cell=_with_ci(sel), col=sel["metric"] + " " + sel["condition"])
    wide = sel.pivot_table(index=keys, columns="col", values="cell", aggfunc="first").reset_index()
    order = ["attraction_effect all", "attraction_effect sg_head", "attraction_effect pl_head",
             "markedness_asymmetry sg_head-pl_head"]
    return wide[keys + [c for c in order if c in wide.columns]]


def exclusion_table(summary_json: dict) -> pd.DataFrame:
    """Excluded items per data x construction x condition x reason, summed over models (from summary.json)."""
    exc = pd.DataFrame(summary_json.get("excluded", []))
    if not len(exc):
        return pd.DataFrame()
    return exc.groupby(["data", "construction", "condition", "reason"], sort=True)["n"].sum().reset_index()


def write_report(results_dir: str | os.PathLike, *, title: str = "probe results", commands: Sequence[str] = (),
                 sections: Mapping[str, str] | None = None, intro: str = "", n_attractors: int = 1,
                 convergence: Mapping | None = None, closing: Mapping[str, str] | None = None,
                 commit: str | None = None, lead: Mapping[str, str] | None = None) -> Path:
    """Write ``results_dir/report.md`` from its summary files and figures; returns the path.

    ``commands``: the exact commands that produced the folder (shown verbatim). ``sections``: extra
    markdown sections (heading -> text) placed after the headline table, e.g. why the default sizes
    were chosen; ``lead``: sections placed before the headline (the real-English overview);
    ``closing``: sections placed at the end (before the environment). ``convergence``: see
    :func:`headline_table`. Figures are those in ``results_dir/figures`` (PNG shown, PDF linked).
    """
    from probe.report.plots import read_seed_summary

    res = Path(results_dir)
    seeds = read_seed_summary(res)
    summary_json = json.loads((res / "summary.json").read_text()) if (res / "summary.json").is_file() else {}
    config = json.loads((res / "config.json").read_text()) if (res / "config.json").is_file() else {}
    evidence = pd.read_csv(res / "evidence.csv") if (res / "evidence.csv").is_file() else None
    out = [f"# {title}", ""]
    if intro:
        out += [intro.strip(), ""]
    out += _method_lines(summary_json, config)
    if commands:
        out += ["## Commands", "", "```sh", *commands, "```", ""]
    out += _sections(lead)
    out += _headline_lines(seeds, summary_json, n_attractors=n_attractors, convergence=convergence)
    out += _distance_lines(res, seeds, evidence)
    out += _sections(sections)
    out += _onset_lines(seeds, n_attractors=n_attractors)
    out += _class_lines(seeds, summary_json, evidence, n_attractors=n_attractors)
    out += _exclusion_lines(summary_json)
    if (res / "figures").is_dir():
        out = embed_figures(out, res / "figures")
    out += _provenance_lines(config) + _sections(closing)
    out += ["## Environment", "", *[f"- {k}: {v}" for k, v in environment_facts(commit).items()], ""]
    path = res / "report.md"
    write_text_atomic(path, "\n".join(out).rstrip() + "\n")
    return path


def _sections(sections: Mapping[str, str] | None) -> list[str]:
    out = []
    for heading, text in (sections or {}).items():
        out += [f"## {heading}", "", text.strip(), ""]
    return out


def _method_lines(summary_json: dict, config: dict) -> list[str]:
    """The scoring method and what the intervals are over."""
    method = summary_json.get("method", config.get("method", "?"))
    return [f"Scoring method: **{method}**"
            + (f" (final `<eos>` {'included' if summary_json.get('final_eos', True) else 'not included'})"
               if method == "sentence" else " (log P(verb | `<eos>` prefix))")
            + f"; intervals: {int(100 * float(summary_json.get('ci_level', 0.95)))}% over items and training seeds "
            "(a crossed seeds x items design: every seed scores the same items; `probe.metrics.crossed_interval`); "
            "with one seed, over items.", ""]


def _headline_lines(seeds: pd.DataFrame, summary_json: dict, *, n_attractors: int,
                    convergence: Mapping | None) -> list[str]:
    """The headline: accuracy per item class with ``n_attractors`` attractors over the pooled constructions, and
    what the pooled conflict rate is made of."""
    pooled, frames = headline_constructions(seeds)
    pools = summary_json.get("pools") or {}
    if pooled in pools:
        scope = (f"the constructions whose configurations every training corpus, and each rate's corpora pooled, "
                 f"attest at the designed share "
                 f"({', '.join(f'`{c}`' for c in pools[pooled])}; see Corpora); matched and conflict accuracy and "
                 f"their difference over those with conflict items "
                 f"({', '.join(f'`{c}`' for c in pools.get(frames, pools[pooled]))}), so that both classes come from "
                 "the same constructions")
    elif frames in pools:
        scope = (f"all constructions pooled; matched and conflict accuracy and their difference over those with "
                 f"conflict items ({', '.join(f'`{c}`' for c in pools[frames])}), so that both classes come from the "
                 "same constructions")
    else:
        scope = "all constructions pooled" if pooled == "all" else f"construction `{pooled}`"
    out = [f"## Headline: agreement with {n_attractors} attractor", "",
            f"Accuracy = share of items where the model prefers the verb agreeing with the head; {scope}. Three "
            "classes of items with an attractor, never pooled: *matched* (every attractor has the head's number), "
            "*conflict* (the noun nearest the verb has the other number: there a syntactic choice agrees with the "
            "head and a sequential one with that noun, so the accuracy is the syntactic choice rate, below 0.5 for "
            "a sequential model) and *mismatched, no conflict* (an attractor has the other number but the noun "
            "nearest the verb agrees with the head: interference without recency; the attractor stands before the "
            "head). Items whose attractors mix numbers (`pp` SPS, SSP) are in no pool"
            + (": see Generalization beyond the training grammar." if pooled in pools
               else "; they are reported per condition."),
            "", markdown_table(headline_table(seeds, n_attractors=n_attractors, convergence=convergence))]
    if frames in pools and (len(pools[frames]) > 1 or pooled in pools):
        # the constructions with conflict items that the pool leaves out come last, marked, so that what the pool
        # leaves out stays in view
        members = set(pools[frames])
        left_out = sorted(set(seeds.loc[(seeds["level"] == "match") & (seeds["condition"] == "conflict")
                                        & (seeds["n_attractors"] == n_attractors), "construction"])
                          - members - {"all", pooled, frames}) if pooled in pools else []
        per = conflict_by_construction(seeds, [*pools[frames], *left_out], n_attractors=n_attractors)
        if len(per):
            per = pd.concat([per[per["construction"].isin(members)], per[per["construction"].isin(left_out)]
                             .assign(construction=lambda d: d["construction"] + " (not pooled)")], ignore_index=True)
            out += ["What the pooled conflict rate is made of: each construction's conflict items."
                    + (" A construction whose conflict configuration is rarer in training in absolute numbers (the "
                       "Corpora section's evidence table counts them) can lag behind at low rates although its share "
                       "is the designed one." if pooled in pools else "")
                    + (" Constructions marked *not pooled* have conflict items but are left out of the pool (the "
                       "Corpora section says why)." if left_out else ""),
                    "", markdown_table(per)]
    return out


def _distance_lines(res: Path, seeds: pd.DataFrame, evidence: pd.DataFrame | None) -> list[str]:
    """Distance or attraction: control items at the shortest and longest distance vs pp with one and the most
    attractors."""
    out = []
    claims = distance_vs_attraction(seeds, evidence=evidence)
    if len(claims):
        attested = ("Both manipulations occur in the training corpora (n: training dependencies with that "
                    "configuration, summed over the rate's corpora: adverb runs of that length; PP chains of that "
                    "length whose nouns all have the other number), so neither end asks the model for something it "
                    "never saw." if evidence is not None else
                    "The training corpora's evidence for either manipulation is not known here.")
        out += ["## Distance or attraction?", "",
                "The lecture's claim, measured: does agreement fail with the distance between head and verb (what "
                "vanishing gradients would do), or with attractors of the other number? Syntactic choice rate on "
                "`control` items (adverbs between head and verb, no noun) at the shortest and longest distance, and "
                "on `pp` items with one and with the most attractors, all of the other number; *what lowers it*: the "
                f"far end's interval lies wholly below the near end's. {attested}", "",
                markdown_table(claims)]
        if (res / "figures" / "headline.png").is_file():
            out += ["![headline](figures/headline.png)", ""]
    return out


def _onset_lines(seeds: pd.DataFrame, *, n_attractors: int) -> list[str]:
    """Where agreement turns syntactic along the corpora's attractor rates (with the unigram's check)."""
    out = []
    _, frames = headline_constructions(seeds)
    if "attractor_rate" in seeds.columns:
        from probe.metrics import syntactic_onset

        onset = syntactic_onset(seeds, n_attractors=n_attractors, construction=frames)
        table = onset.drop(columns=["n_points"]).astype(object).where(onset.drop(columns=["n_points"]).notna(), "-")
        out += ["## Where agreement turns syntactic", "",
                "Per architecture, the syntactic choice rate on conflict items (the headline's constructions, "
                f"{n_attractors} attractor) at each corpus attractor rate: *sequential* where its interval lies "
                "wholly below 0.5, *syntactic* wholly above, `~` otherwise. A cell *turns* syntactic only if every "
                "lower rate is sequential and every higher rate syntactic (undecided rates may lie between); a "
                "single point cannot make a turning point. The unigram, which cannot see any noun, is the rule's "
                "false-positive check: it must not turn.", "",
                markdown_table(table.rename(columns={"verdicts": "verdict per rate",
                                                     "sequential_until": "last sequential rate",
                                                     "syntactic_from": "first syntactic rate"}))]
        unigram = onset[onset["arch"] == "unigram"]
        if len(unigram):
            ok = unigram["verdict"].iloc[0] != "turns"
            out += [f"False-positive check: the unigram's verdict is *{unigram['verdict'].iloc[0]}*"
                    + (" (as it must be)." if ok else ": the rule fires on a model that cannot see the nearest noun, "
                       "so "
                       "the turning points above cannot be trusted."), ""]
    return out


def _class_lines(seeds: pd.DataFrame, summary_json: dict, evidence: pd.DataFrame | None, *,
                 n_attractors: int) -> list[str]:
    """Attraction effects, accuracy by attractor count or item class, unseen configurations, mismatched items
    without conflict, and every construction x condition."""
    pooled, _ = headline_constructions(seeds)
    pools = summary_json.get("pools") or {}
    unseen = generalization_table(seeds, evidence)
    return ["## Attraction effects and markedness asymmetry", "",
            "attraction_effect = accuracy(matched) - accuracy(conflict), per construction and attractor count; per "
            "head number (sg_head: singular heads; pl_head: plural heads); markedness_asymmetry = effect(sg head) - "
            "effect(pl head), positive when plural attractors disrupt singular heads more than the reverse (as in "
            "humans).", "",
            markdown_table(effect_table(seeds, n_attractors=n_attractors)),
            *(["## Accuracy by number of attractors", "",
               "`pp` items only, at every count k, so that each column compares the same construction: *conflict* "
               "(all k attractors of the other number) and *matched* (all of the head's number). The last rows give "
               "the training dependencies with each conflict configuration (summed over the rate's corpora).", "",
               markdown_table(attractor_count_table(seeds, evidence))] if pooled in pools else
              ["## Accuracy per item class and attractor count", "",
               "All constructions pooled; k = attractor slots. *all items*: every item, those of unknown class "
               "(imported data that does not say the numbers) included, those whose attractors mix numbers not. "
               "*none*: no attractor.", "",
               markdown_table(class_table(seeds)),]),
            *(["## Generalization beyond the training grammar", "",
               "Item cells whose configuration none of the training corpora of their rate shows (for `pp`, "
               "attractors of mixed numbers; the grammar makes every noun between a subject and its verb one "
               "number): what the models do with an unseen configuration. Never pooled into any row above.", "",
               markdown_table(unseen)]
              if len(unseen) else []),
            "## Mismatched items without conflict, per construction", "",
            "Items with an attractor of the other number whose nearest noun agrees with the head (the attractor "
            "stands before the head: `within_orc*`, `sent_comp`), reported on their own: interference without "
            "recency. Items whose attractors mix numbers (`pp` SPS and its kind) are in no pool and appear per "
            "condition only.", "",
            markdown_table(no_conflict_table(seeds)),
            "## Accuracy per construction and condition", "",
            "Condition codes: S/P per noun, head first (SP = singular head, plural attractor).", "",
            markdown_table(condition_table(seeds))]


def _exclusion_lines(summary_json: dict) -> list[str]:
    exc = exclusion_table(summary_json)
    out = ["## Excluded items", ""]
    if len(exc):
        out += ["Items not scored (out-of-vocabulary words, or a pair the vocabulary cannot tell apart), summed over "
                "models:", "", markdown_table(exc)]
    else:
        out += [f"None: all {summary_json.get('n_scores', 'the')} item scores are in the models' vocabularies.", ""]
    return out


def _provenance_lines(config: dict) -> list[str]:
    """The scoring conventions and the models scored."""
    out = []
    conventions = config.get("conventions", {})
    if conventions:
        out += ["## Scoring conventions", "", *[f"- **{k}**: {code_tokens(v)}" for k, v in conventions.items()], ""]
    models = config.get("models_info", [])
    if models:
        out += ["## Models", "", markdown_table(pd.DataFrame(models)[[c for c in ("model", "arch", "seed", "vocab_size",
                                                                                  "path") if c in models[0]]])]
    return out


def report_evaluation(results_dir: str | os.PathLike, *, command: str = "", figures: bool = True) -> str:
    """Figures (unless ``figures`` is False) and report.md for an evaluation folder written by ``probe
    evaluate``; returns the compact table of accuracy per item class that the command prints."""
    from probe.report.plots import make_figures, read_seed_summary

    res = Path(results_dir)
    if figures:
        make_figures(res, formats=("png", "pdf"), log=lambda line: None)
    write_report(res, title=f"probe evaluate: {res.name}", commands=[command] if command else [])
    table = class_table(read_seed_summary(res))
    if not len(table):
        return "no scored items"
    return ("accuracy [95% CI] on all items (unknown-class ones included, mixed attractor patterns not), then per "
            "item class and attractor "
            "slots k (all constructions pooled):\n" + table.to_string(index=False))
