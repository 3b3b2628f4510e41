"""The suite stage (``probe suite``): SyntaxGym suites' own prediction formulas on summed region surprisals."""
from __future__ import annotations

from importlib import resources
import json
import os
from pathlib import Path
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from probe.core.environment import environment
from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir, save_config, write_text_atomic
from probe.core.stats import t_quantile, wilson_interval
from probe.core.tables import fmt_ci, markdown_table
from probe.data.importers.syntaxgym import load_suite
from probe.metrics import CROSSED_METHOD, NESTED_METHOD, NEST_KEY, corpus_groups, crossed_interval, several_corpora
from probe.scoring.registry import load_scorer, unique_names
from probe.scoring.suites import (evaluate_predictions, formula_parts, region_coverage, region_surprisals,
                                  suite_formulas, token_surprisals)


SUITE_METRICS = ("item", "pairwise")


def _suite_rows(scorer: Any, suite_name: str, suite: dict, *, unk: bool) -> tuple[list[dict], list[dict]]:
    """One model on one suite -> (prediction rows: item x prediction x part, coverage rows: item x
    condition x region). Every item is scored (out-of-vocabulary words as ``<unk>``); items whose
    critical regions hold such a word are marked excluded unless ``unk``."""
    wanted: list[list[str]] = []
    region_surprisals(suite, lambda toks: wanted.append(list(toks)) or np.zeros(len(toks)))
    unique = list(dict.fromkeys(map(tuple, wanted)))
    values = dict(zip(unique, token_surprisals(scorer, [list(u) for u in unique])))
    sums = region_surprisals(suite, lambda toks: values[tuple(toks)])
    formulas = suite_formulas(suite)
    parts = [formula_parts(f) for f in formulas]
    whole = evaluate_predictions(suite, sums, formulas)
    alone = evaluate_predictions(suite, sums, [p for ps in parts for p in ps])
    cover = pd.DataFrame(region_coverage(suite, scorer.vocab, formulas))
    per_item = cover.assign(c_tokens=cover["n_tokens"].where(cover["critical"], 0),
                            c_oov=cover["n_oov"].where(cover["critical"], 0),
                            c_words=cover["oov"].where(cover["critical"], "")).groupby("item", sort=False)
    model = {"model": scorer.info["model"], "arch": scorer.info.get("arch", ""), "seed": scorer.info.get("seed", 0)}
    rows = []
    for item, results in whole.items():
        g = per_item.get_group(item)
        n_oov_critical = int(g["c_oov"].sum())
        oov_words = sorted({w for ws in g["c_words"] for w in ws.split()})
        excluded = n_oov_critical > 0 and not unk
        flat, k = alone[item], 0
        for j, (formula, ps) in enumerate(zip(formulas, parts)):
            for q, part in enumerate(ps):
                rows.append({**model, "suite": suite_name, "item": item, "prediction": j, "formula": formula,
                             "part": q, "comparison": part,
                             "part_result": None if excluded else bool(flat[k]),
                             "result": None if excluded else bool(results[j]),
                             "item_result": None if excluded else all(results),
                             "excluded": excluded, "exclude_reason": "oov_critical" if excluded else "",
                             "has_unk": bool(n_oov_critical) and not excluded,
                             "n_tokens": int(g["n_tokens"].sum()), "n_oov": int(g["n_oov"].sum()),
                             "n_critical_tokens": int(g["c_tokens"].sum()), "n_oov_critical": n_oov_critical,
                             "oov_critical": " ".join(oov_words)})
                k += 1
    cover.insert(0, "suite", suite_name)
    for key, value in reversed(model.items()):
        cover.insert(0, key, value)
    return rows, cover.to_dict("records")


def _item_values(preds: pd.DataFrame, metric: str) -> pd.Series:
    """Per scored item: 1/0 whether all its predictions hold (``item``), or the share of its comparisons
    that hold alone (``pairwise``)."""
    kept = preds[~preds["excluded"].astype(bool)]
    col = "item_result" if metric == "item" else "part_result"
    return kept.groupby("item", sort=True)[col].apply(lambda c: float(np.mean(c.astype(bool))))


def _interval(values: np.ndarray, level: float) -> tuple[float, float, float, str]:
    """(mean, low, high, method) over one model's items, each item one unit: the Wilson interval of
    sum(values) out of len(values). For the item criterion (0/1 per item) that is the exact setting; for
    pairwise each value is an item's share of comparisons that hold, and since a share in [0, 1] varies at
    most as much as a 0/1 outcome with the same mean, the interval is conservative. An item's comparisons
    share its words, so counting them as independent draws would be too narrow; a t-interval over the
    shares collapses to a point when a model prefers one verb form everywhere (every share 0.5)."""
    return (*wilson_interval(float(values.sum()), len(values), level=level), "Wilson (items)")


def suite_summary(preds: pd.DataFrame, *, level: float = 0.95, label_cols: Sequence[str] = ()) -> pd.DataFrame:
    """predictions.csv -> one row per model x suite x metric (``item``: all predictions of an item hold,
    SyntaxGym's accuracy; ``pairwise``: each comparison alone), with interval and coverage columns."""
    rows = []
    for (model, suite), g in preds.groupby(["model", "suite"], sort=False):
        first = g.iloc[0]
        items = g.drop_duplicates("item")
        n_total, n_excl = len(items), int(items["excluded"].astype(bool).sum())
        base = {"model": model, "arch": first["arch"], "seed": first["seed"],
                **{c: first[c] for c in label_cols}, "suite": suite}
        cover = {"n_total": n_total, "n_excluded": n_excl,
                 "token_coverage": round(1 - items["n_oov"].sum() / max(items["n_tokens"].sum(), 1), 4),
                 "critical_coverage": round(1 - items["n_oov_critical"].sum()
                                            / max(items["n_critical_tokens"].sum(), 1), 4),
                 "oov_critical": " ".join(sorted({w for ws in items["oov_critical"].fillna("") for w in ws.split()}))}
        for metric in SUITE_METRICS:
            vals = _item_values(g, metric).to_numpy(float)
            v, lo, hi, how = _interval(vals, level)
            rows.append({**base, "metric": metric, "value": v, "ci_low": lo, "ci_high": hi, "ci_method": how,
                         "n_items": len(vals), "n_comparisons": int((~g["excluded"].astype(bool)).sum())
                         if metric == "pairwise" else len(vals), **cover})
    return pd.DataFrame(rows)


def suite_seed_summary(preds: pd.DataFrame, summary: pd.DataFrame, *, level: float = 0.95,
                       label_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Pooled over the models (training seeds) of each arch (and labels) x suite x metric: the mean over
    seeds with the crossed seeds x items interval (:func:`probe.metrics.crossed_interval`) on the items
    every seed scored; one seed keeps its own interval (:func:`suite_summary`). A ``corpus`` label (models of one
    cell trained on several independently drawn corpora) is no group of its own: the seeds are nested in the
    corpora, a random factor of the interval, as in :func:`probe.metrics.aggregate_seeds`."""
    keys = ["arch", *[c for c in label_cols if c != NEST_KEY], "suite"]
    rows = []
    for key, g in preds.groupby(keys, sort=False, dropna=False):
        base = dict(zip(keys, key))
        models = list(dict.fromkeys(g["model"]))
        groups = corpus_groups(g, models)
        for metric in SUITE_METRICS:
            per = {m: _item_values(g[g["model"] == m], metric) for m in models}
            common = sorted(set.intersection(*(set(v.index) for v in per.values())))
            table = np.array([[per[m][i] for i in common] for m in models], dtype=float).reshape(len(models), -1)
            srow = summary[(summary["model"].isin(models)) & (summary["suite"] == base["suite"])
                           & (summary["metric"] == metric)]
            if len(models) == 1:
                v, lo, hi, how = srow.iloc[0][["value", "ci_low", "ci_high", "ci_method"]]
                sd = float("nan")
            else:
                v, lo, hi = crossed_interval([table], [1.0], level=level, groups=groups) if common \
                    else (np.nan,) * 3
                lo, hi = max(lo, 0.0), min(hi, 1.0)
                how = CROSSED_METHOD if groups is None else NESTED_METHOD
                if common and hi - lo == 0:
                    # every seed gives every item the same share (say 0.5: one verb form preferred everywhere):
                    # no variance to estimate, yet few items are no proof; the items-as-units interval stands in
                    v, lo, hi, how = _interval(table.mean(axis=0), level)
                sd = float(table.mean(axis=1).std(ddof=1)) if common else float("nan")
            per_seed = " / ".join(f"{x:.3f}" for x in srow["value"]) if len(models) > 1 else ""
            rows.append({**base, "metric": metric, "value": v, "ci_low": lo, "ci_high": hi, "sd": sd,
                         "n_seeds": len(models), "per_seed": per_seed, "ci_method": how, "n_items": len(common),
                         "n_excluded": int(srow["n_total"].max()) - len(common),
                         "token_coverage": round(float(srow["token_coverage"].mean()), 4)})
    return pd.DataFrame(rows)


def load_published(path: str | os.PathLike | None = None) -> dict:
    """Published SyntaxGym results (``probe/resources/published.json``, Hu et al. 2020): source, citation
    and per model the share of items correct per suite, one value per seed."""
    path = Path(path) if path else Path(str(resources.files("probe") / "resources" / "published.json"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read published results {path}: {exc}") from exc
    if not isinstance(data.get("models"), list):
        raise ProbeError(f"{path}: field 'models' is missing or not a list")
    return data


def published_table(seed_summary: pd.DataFrame, published: dict | None = None,
                    suites: Sequence[str] = ("number_orc", "number_prep")) -> pd.DataFrame:
    """Our item-criterion accuracies beside the published ones: one row per arch (and labels, pooled over
    seeds) and per published model; per suite the columns SUITE (accuracy, mean over seeds), SUITE_low,
    SUITE_high (our interval; none for published rows), SUITE_n (items scored) and SUITE_seeds (per seed)."""
    published = load_published() if published is None else published
    rows = []
    ours = seed_summary[seed_summary["metric"] == "item"]
    extra = [c for c in ours.columns if c not in ("arch", "suite") and c not in set(SEED_SUMMARY_VALUES)]
    for key, g in ours.groupby(["arch", *extra], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        name = key[0] + "".join(f" ({c}={v})" for c, v in zip(extra, key[1:]))
        row = {"model": name, "training": "as trained here", "source": "probe", "n_seeds": int(g["n_seeds"].max())}
        for suite in suites:
            r = g[g["suite"] == suite]
            r = r.iloc[0] if len(r) else None
            row.update({suite: np.nan if r is None else r["value"], f"{suite}_low": np.nan if r is None else r["ci_low"],
                        f"{suite}_high": np.nan if r is None else r["ci_high"],
                        f"{suite}_n": np.nan if r is None else r["n_items"],
                        f"{suite}_seeds": "" if r is None else r["per_seed"]})
        rows.append(row)
    n_items = published.get("n_items", {})
    for m in published["models"]:
        row = {"model": m["model"], "training": m.get("training", ""), "source": "Hu et al. 2020",
               "n_seeds": m.get("n_seeds", 1)}
        for suite in suites:
            vals = m.get("results", {}).get(suite)
            row.update({suite: float(np.mean(vals)) if vals else np.nan, f"{suite}_low": np.nan,
                        f"{suite}_high": np.nan, f"{suite}_n": n_items.get(suite, np.nan),
                        f"{suite}_seeds": " / ".join(f"{v:.2f}" for v in vals) if vals and len(vals) > 1 else ""})
        rows.append(row)
    return pd.DataFrame(rows)


SEED_SUMMARY_VALUES = ("metric", "value", "ci_low", "ci_high", "sd", "n_seeds", "per_seed", "ci_method", "n_items",
                       "n_excluded", "token_coverage")


def published_markdown(table: pd.DataFrame, suites: Sequence[str] = ("number_orc", "number_prep")) -> str:
    """The :func:`published_table` as a markdown pipe table: accuracy [interval] (items), seeds listed."""
    out = table[["model", "training", "source", "n_seeds"]].copy()
    for suite in suites:
        cells = []
        for r in table.to_dict("records"):
            cell = fmt_ci(r[suite], r[f"{suite}_low"], r[f"{suite}_high"], digits=2 if "Hu" in r["source"] else 3)
            if cell != "-" and np.isfinite(r[f"{suite}_n"]):
                cell += f" (n={int(r[f'{suite}_n'])})"
            if r[f"{suite}_seeds"]:
                cell += f"; seeds {r[f'{suite}_seeds']}"
            cells.append(cell)
        out[suite] = cells
    return markdown_table(out)


def suite_markdown(summary: pd.DataFrame, seeds: pd.DataFrame, published: pd.DataFrame | None, *, unk: bool,
                   level: float = 0.95) -> str:
    """The suite results as markdown: coverage, both accuracies with intervals, seed-pooled figures, and the
    published comparison (the body of report.md, and the section ``probe run`` adds to its report)."""
    pct = f"{level:.0%}"
    item = summary[summary["metric"] == "item"]
    cov = pd.DataFrame({"model": item["model"], "suite": item["suite"],
                        "token coverage": item["token_coverage"].map(lambda x: f"{x:.3f}"),
                        "critical coverage": item["critical_coverage"].map(lambda x: f"{x:.3f}"),
                        "items scored": [f"{t - e} of {t}" for t, e in zip(item["n_total"], item["n_excluded"])],
                        "OOV critical words": item["oov_critical"].fillna("")})
    rows = []
    for (model, suite), g in summary.groupby(["model", "suite"], sort=False):
        m = g.set_index("metric")
        rows.append({"model": model, "suite": suite, "items": int(m.loc["item", "n_items"]),
                     "item criterion": fmt_ci(*m.loc["item", ["value", "ci_low", "ci_high"]]),
                     "comparisons": int(m.loc["pairwise", "n_comparisons"]),
                     "pairwise": fmt_ci(*m.loc["pairwise", ["value", "ci_low", "ci_high"]])})
    acc = pd.DataFrame(rows)
    regime = ("items whose critical regions hold an out-of-vocabulary word are scored through `<unk>` (`--unk`)"
              if unk else "items whose critical regions hold an out-of-vocabulary word are excluded and counted")
    text = ("Critical regions: those whose words differ between an item's conditions, and those the prediction "
            f"formulas read; {regime}. Token coverage: share of all the suite's tokens in the model's vocabulary "
            "(critical coverage: of the critical regions' tokens).\n\n" + markdown_table(cov)
            + f"\n*Item criterion*: share of items for which every prediction holds (SyntaxGym's accuracy), "
            f"{pct} Wilson interval over items. *Pairwise*: share of single comparisons that hold; its {pct} "
            "interval takes the item as the unit (Wilson on the items' shares: conservative, as an item's "
            "comparisons share its words and are no independent draws).\n\n"
            + markdown_table(acc))
    pooled = seeds[seeds["n_seeds"] > 1]
    if len(pooled):
        label = [c for c in pooled.columns if c not in ("arch", "suite") and c not in set(SEED_SUMMARY_VALUES)]
        tab = pooled[["arch", *label, "suite", "metric", "n_seeds", "n_items"]].copy()
        tab["mean over seeds"] = [fmt_ci(v, lo, hi) for v, lo, hi in
                                  zip(pooled["value"], pooled["ci_low"], pooled["ci_high"])]
        tab["per seed"] = pooled["per_seed"]
        # the models of a cell came from several corpora (the per-model summary keeps their label)
        nested = several_corpora(summary)
        over = "corpora > seeds x items (seeds nested in the corpora drawn)" if nested else "crossed seeds x items"
        text += (f"\nPooled over training seeds ({pct} {over} interval, on the items every seed "
                 "scored):\n\n" + markdown_table(tab))
        few = int(pooled["n_seeds"].min())
        if few < 4 and not nested:
            # the seed part's critical value is what makes these intervals wide, not the items
            text += (f"\nWith {few} seeds the seed part of the interval has {few - 1} degree(s) of freedom "
                     f"(t = {t_quantile((1 + level) / 2, few - 1):.1f}), which is what widens these intervals.\n")
    if published is not None and len(published):
        text += ("\nItem criterion beside the published SyntaxGym results (Hu et al. 2020, ACL; "
                 "`probe/resources/published.json`). The published models scored every item with no vocabulary "
                 "limit; ours score the items they cover (n).\n\n" + published_markdown(published))
    return text


def evaluate_suite(models: Sequence[str | os.PathLike], suites: Sequence[str | os.PathLike],
                   out: str | os.PathLike | None, *, unk: bool = False, batch_size: int = 256, device: str = "auto",
                   ci_level: float = 0.95, labels: Mapping[str, Mapping[str, Any]] | None = None,
                   overwrite: bool = False, command: str | None = None) -> pd.DataFrame:
    """Score SyntaxGym suites with each model and evaluate the suites' own prediction formulas.

    Surprisals are in nats, summed over each region's tokens (formulas compare sums, so the unit does not
    matter). An item whose critical regions (:func:`probe.scoring.suites.critical_regions`) hold a word
    outside the model's vocabulary is excluded and counted, unless ``unk`` (then scored through ``<unk>``
    and marked ``has_unk``). ``models``: paths or references as :func:`probe.scoring.registry.load_scorer`
    takes them, or scorer objects. ``labels``: model path (as given) -> extra columns, pooled separately
    over seeds (as in :func:`probe.evaluate.evaluate`), except ``corpus``, whose models pool together with
    the corpus as a random factor. ``out`` (if given) gets:

    predictions.csv     model x suite x item x prediction x part: the comparison alone (part_result), the
                        prediction (result), the item criterion (item_result), exclusion and coverage counts
    coverage.csv        model x suite x item x condition x region: tokens, OOV tokens and words, critical
    summary.csv         model x suite x metric (item | pairwise): value, interval, n_items, n_excluded,
                        token_coverage, critical_coverage (:func:`suite_summary`)
    summary_seeds.csv   the same pooled over seeds per arch (:func:`suite_seed_summary`)
    published.csv       item criterion beside Hu et al. (2020) (:func:`published_table`)
    report.md, config.json
    Returns the summary (summary.csv's rows).
    """
    return _suite_results(models, suites, out, unk=unk, batch_size=batch_size, device=device, ci_level=ci_level,
                          labels=labels, overwrite=overwrite, command=command)[0]


def _suite_results(models, suites, out, *, unk, batch_size, device, ci_level, labels, overwrite, command
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """:func:`evaluate_suite`'s work -> (summary, seed summary, published table, markdown body)."""
    if not models:
        raise ProbeError("no models given; pass --model DIR (a checkpoint or baseline folder)")
    if not suites:
        raise ProbeError("no suites given; pass --suite FILE (a SyntaxGym suite JSON)")
    if not 0 < ci_level < 1:
        raise ProbeError(f"--ci-level must lie between 0 and 1, got {ci_level}")
    if out is not None:
        check_output_dir(out, overwrite)
    loaded = [(Path(p).stem, load_suite(p)) for p in suites]
    labels = {str(k): dict(v) for k, v in (labels or {}).items()}
    label_cols = sorted({k for v in labels.values() for k in v})
    rows, cover = [], []
    paths = [m for m in models if isinstance(m, (str, os.PathLike))]
    names = iter(unique_names([str(m) for m in paths]))
    for path in models:
        # a scorer object (anything with ``info``, e.g. a baseline trained in memory) is used as it is
        scorer = load_scorer(path, batch_size=batch_size, device=device, name=next(names)) \
            if isinstance(path, (str, os.PathLike)) else path
        for suite_name, suite in loaded:
            p_rows, c_rows = _suite_rows(scorer, suite_name, suite, unk=unk)
            extra = {c: labels.get(str(path), {}).get(c) for c in label_cols}
            rows += [{**r, **extra} for r in p_rows]
            cover += c_rows
    preds = pd.DataFrame(rows)
    summary = suite_summary(preds, level=ci_level, label_cols=label_cols)
    seeds = suite_seed_summary(preds, summary, level=ci_level, label_cols=label_cols)
    published = published_table(seeds)
    text = suite_markdown(summary, seeds, published, unk=unk, level=ci_level)
    if out is None:
        return summary, seeds, published, text
    commands = [command] if command else []
    report = ("# probe suite: SyntaxGym suites scored with their own prediction formulas\n\n"
              + ("Command:\n\n" + "".join(f"    {c}\n" for c in commands) + "\n" if commands else "")
              + f"Models: {', '.join(dict.fromkeys(preds['model']))}. Suites: "
              + ", ".join(f"{n} ({len(s['items'])} items)" for n, s in loaded)
              + ". Surprisal: nats, -log P(w | `<eos>` preceding words), summed per region.\n\n"
              + text)
    with atomic_dir(out, overwrite) as tmp:
        write_text_atomic(tmp / "predictions.csv", preds.to_csv(index=False))
        write_text_atomic(tmp / "coverage.csv", pd.DataFrame(cover).to_csv(index=False))
        write_text_atomic(tmp / "summary.csv", summary.to_csv(index=False))
        write_text_atomic(tmp / "summary_seeds.csv", seeds.to_csv(index=False))
        write_text_atomic(tmp / "published.csv", published.to_csv(index=False))
        write_text_atomic(tmp / "report.md", report)
        save_config({"models": [str(m) if isinstance(m, (str, os.PathLike)) else m.info.get("model")
                                for m in models],
                     "suites": [str(s) for s in suites], "unk": unk, "ci_level": ci_level, "labels": labels,
                     "command": command,
                     "surprisal": "nats, -log P(w | <eos> preceding words), summed per region",
                     "oov": "items with an OOV word in a critical region scored through <unk> (has_unk)" if unk
                            else "items with an OOV word in a critical region excluded (exclude_reason oov_critical)",
                     "critical_regions": "regions whose words differ between an item's conditions, and regions the "
                                         "prediction formulas read",
                     "environment": environment()}, tmp)
    return summary, seeds, published, text


def score_suites(model_dirs: Sequence[str | os.PathLike], suites: Sequence[str | os.PathLike],
                 out: str | os.PathLike, *, labels: Mapping[str, Mapping[str, Any]] | None = None,
                 unk: bool = False, ci_level: float = 0.95, batch_size: int = 256, device: str = "auto",
                 log: Callable[[str], None] = print) -> tuple[pd.DataFrame, str]:
    """For ``probe run``: :func:`evaluate_suite` into ``out`` (replaced) -> (the seed-pooled summary, the
    report section in markdown)."""
    t0 = time.perf_counter()
    summary, seeds, _, text = _suite_results([str(m) for m in model_dirs], [str(s) for s in suites], out, unk=unk,
                                             batch_size=batch_size, device=device, ci_level=ci_level,
                                             labels={str(k): v for k, v in (labels or {}).items()},
                                             overwrite=True, command=None)
    log(f"SyntaxGym suites: {len(suites)} suites x {summary['model'].nunique()} models in "
        f"{time.perf_counter() - t0:.1f} s")
    return seeds, text + f"\nFull tables: `{Path(out).name}/` (predictions.csv, coverage.csv, summary.csv, " \
        "summary_seeds.csv, report.md).\n"
