"""Real English on the synthetic attractor-rate axis: a real-text run's cells drawn at their corpus' measured rate.

The synthetic sweep (a results folder such as results/seeds) gives, per cell, the syntactic choice rate on
conflict items against the share of subject-verb dependencies that cross a noun of the other number. A
real-text corpus has such a share too, measured with a parser (``probe.data.rates``: PTB's train split, say).
This module sets the real-text models' conflict accuracy at that measured share on the synthetic curves, says
whether the corpus sits below, inside or above the synthetic turning point, and how many attracted training
dependencies each corpus holds: the count the synthetic models learned from, against the real corpus'.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from probe.core.style import arch_order, arch_style, figure_style, is_baseline
from probe.core.tables import fmt_ci, markdown_table
from probe.metrics import interval_verdict


def conflict_rows(seeds: pd.DataFrame) -> pd.DataFrame:
    """The syntactic choice rate on the headline's conflict items with one attractor, per arch (x rate)."""
    from probe.report.report import headline_constructions

    frames = headline_constructions(seeds)[1]
    return seeds[(seeds["construction"] == frames) & (seeds["level"] == "match") & (seeds["metric"] == "accuracy")
                 & (seeds["condition"] == "conflict") & (seeds["n_attractors"] == 1)]


def synthetic_counts(synthetic: Path) -> pd.DataFrame:
    """Per synthetic rate: the measured share of subject dependencies crossing a noun of the other number and
    the training dependencies in conflict configuration (every construction's, from evidence.csv), per corpus."""
    rows = []
    config = json.loads((synthetic / "config.json").read_text(encoding="utf-8"))
    work = synthetic / "work" / "corpora"
    for stats in sorted(work.glob("*/stats.json")) if work.is_dir() else []:
        s = json.loads(stats.read_text(encoding="utf-8"))
        if s.get("attractor_rate_target") is None:
            continue
        conflict = sum(r["conflict"] or 0 for r in s.get("constructions") or [])
        rows.append({"attractor_rate": s["attractor_rate_target"], "measured": s.get("attractor_rate"),
                     "train_tokens": s.get("tokens", {}).get("train"), "conflict_dependencies": conflict})
    if not rows and (synthetic / "evidence.csv").is_file():     # the folder without its work/: counts only
        ev = pd.read_csv(synthetic / "evidence.csv")
        for (rate, corpus), g in ev.groupby(["attractor_rate", "corpus"]):
            rows.append({"attractor_rate": rate, "measured": np.nan, "train_tokens": np.nan,
                         "conflict_dependencies": int(pd.to_numeric(g["conflict"], errors="coerce").fillna(0).sum())})
    out = pd.DataFrame(rows)
    if len(out):
        out = out.groupby("attractor_rate", as_index=False).mean(numeric_only=True)
    out.attrs["name"] = config.get("name", synthetic.name)
    return out


def plot_real_on_synthetic(synthetic_seeds: pd.DataFrame, real_seeds: pd.DataFrame, rate: tuple,
                           *, corpus: str, synthetic_name: str) -> Figure:
    """One panel: each cell's synthetic curve (conflict accuracy vs attractor rate, 95% band) and the real-text
    models of the same cell as a marked point at the corpus' measured rate (bars: both intervals)."""
    with figure_style():     # drawn under the settings it is rendered under, as every figure of a run
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        ax = fig.subplots()
        syn, real = conflict_rows(synthetic_seeds), conflict_rows(real_seeds)
        value, low, high = rate
        for arch in arch_order(set(syn["arch"]) | set(real["arch"])):
            if is_baseline(arch):
                continue
            marker, ls, color = arch_style(arch)
            g = syn[syn["arch"] == arch].sort_values("attractor_rate")
            if len(g):
                ax.plot(g["attractor_rate"], g["value"], color=color, ls=ls, marker=marker, ms=4,
                        label=f"{arch} ({synthetic_name})")
                ax.fill_between(g["attractor_rate"], g["ci_low"], g["ci_high"], color=color, alpha=0.12, lw=0)
            r = real[real["arch"] == arch]
            if len(r):
                r = r.iloc[0]
                ax.errorbar([value], [r["value"]], xerr=[[value - low], [high - value]],
                            yerr=[[r["value"] - r["ci_low"]], [r["ci_high"] - r["value"]]], color=color,
                            marker="*", ms=13, mec="black", mew=0.6, ls="none", capsize=3, label=f"{arch} ({corpus})")
        ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
        ax.axvspan(low, high, color="0.85", alpha=0.6, lw=0)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("share of subject-verb dependencies crossing a noun of the other number")
        ax.set_ylabel("syntactic choice rate on conflict items")
        ax.set_title(f"{corpus} (stars, at its measured rate) on the synthetic sweep ({synthetic_name})", fontsize=9)
        ax.legend(fontsize=7, frameon=False, ncol=2, loc="lower right")
    return fig


def axis_markdown(synthetic_seeds: pd.DataFrame, real_seeds: pd.DataFrame, rates: dict, counts: pd.DataFrame, *,
                  corpus: str, synthetic_name: str) -> str:
    """The report section: the measured rates, where the corpus sits relative to the synthetic turning points,
    and the attracted training dependencies of both."""
    from probe.metrics import syntactic_onset
    from probe.report.report import headline_constructions

    rows = [{"corpus": name, "subject-verb dependencies": r.get("dependencies"),
             "cross a noun of the other number": fmt_ci(*r["attractor_rate"]) if "attractor_rate" in r else "-",
             "cross any noun": fmt_ci(*r["noun_rate"]) if "noun_rate" in r else "-",
             "<unk> in the span": fmt_ci(*r["unk_rate"]) if "unk_rate" in r else "-"} for name, r in rates.items()]
    text = ["Measured with a dependency parser (`probe rates`; intervals: bootstrap over sentences, or articles): "
            "the share of subject-verb dependencies whose span holds a noun of the other number, the quantity the "
            "synthetic corpora's attractor rate sets (their 'subjects crossing a noun of the other number').", "",
            markdown_table(pd.DataFrame(rows)), ""]
    if corpus not in rates or "attractor_rate" not in rates[corpus] or not len(synthetic_seeds):
        return "\n".join(text)
    value, low, high = rates[corpus]["attractor_rate"]
    frames = headline_constructions(synthetic_seeds)[1]
    onset = syntactic_onset(synthetic_seeds, construction=frames)
    syn_rates = sorted(synthetic_seeds["attractor_rate"].dropna().unique())
    real = conflict_rows(real_seeds)
    lines, past = [], []    # past: cells whose first syntactic rate the corpus exceeds, with what they did
    for _, o in onset.iterrows():
        if is_baseline(o["arch"]):
            continue
        first_syn = o["syntactic_from"]
        if np.isfinite(first_syn):
            where = ("above" if low > first_syn else "below" if high < first_syn else "inside")
            pos = f"{where} its first syntactic rate {first_syn:g} ({o['verdict']})"
        else:
            pos = f"with no syntactic rate in the sweep ({o['verdict']})"
        r = real[real["arch"] == o["arch"]]
        got = fmt_ci(*r[["value", "ci_low", "ci_high"]].iloc[0]) if len(r) else "-"
        lines.append({"cell": o["arch"], "synthetic verdicts": o["verdicts"], f"{corpus} sits": pos,
                      f"{corpus}-trained conflict accuracy": got})
        if len(r) and np.isfinite(first_syn) and low > first_syn:
            observed = interval_verdict(r["ci_low"].iloc[0], r["ci_high"].iloc[0])
            past.append((o["arch"], first_syn, observed))
    if lines:
        text += [f"{corpus}'s rate, {value:.3f} [{low:.3f}, {high:.3f}], on each cell's synthetic sweep "
                 f"({synthetic_name}; rates {', '.join(f'{x:g}' for x in syn_rates)}):", "",
                 markdown_table(pd.DataFrame(lines)), ""]
    deps = rates[corpus].get("dependencies")
    if len(counts) and deps:
        attracted = value * deps
        smallest = counts.sort_values("attractor_rate").iloc[0]
        text += [f"Attracted training dependencies: {corpus} holds about {attracted:,.0f} ({value:.3f} of its "
                 f"{deps:,} measured subject-verb dependencies, those with a common-noun subject and a verb that shows "
                 f"number); the corpora of the smallest synthetic rate ({smallest['attractor_rate']:g}) held "
                 f"{smallest['conflict_dependencies']:,.0f} dependencies in a benchmark construction's conflict "
                 "configuration each.", ""]
        text += prediction_text(past, counts, attracted, corpus)
    return "\n".join(text)


def prediction_text(past: list[tuple[str, float, str]], counts: pd.DataFrame, attracted: float, corpus: str) -> list[str]:
    """What the synthetic sweep predicts for the cells ``past`` (arch, first syntactic rate, observed verdict)
    whose first syntactic rate the real corpus exceeds, given its ``attracted`` dependencies, against what the
    corpus-trained models did: the report's closing lines for the section (none when no cell is past)."""
    enough = []
    for arch, first_syn, observed in past:
        at = counts[np.isclose(counts["attractor_rate"], first_syn)]
        if len(at) and attracted >= float(at["conflict_dependencies"].iloc[0]):
            enough.append((arch, observed))
    if not enough:
        return []
    cells = ", ".join(a for a, _ in enough)
    seen = {obs for _, obs in enough}
    outcome = ("and the " + corpus + "-trained models are syntactic too: the synthetic axis predicts this corpus"
               if seen == {"syntactic"} else
               f"but the {corpus}-trained models are not syntactic ("
               + ", ".join(f"{a}: {obs}" for a, obs in enough) + "). So the synthetic axis does not predict this "
               "corpus, and it names no larger corpus size that would suffice: what differs is neither the rate nor "
               "the count of attracted dependencies but something this comparison cannot separate, what the "
               "grammar holds fixed (its small vocabulary, its few constructions) or how the models were trained "
               "(their size, optimiser and schedule)")
    return [f"**Prediction.** For {cells}, {corpus} lies above the rate at which the synthetic corpora turned "
            "syntactic and holds more attracted dependencies than a synthetic corpus at that rate did, so the "
            f"synthetic sweep predicts syntactic agreement without a larger corpus, {outcome}.", ""]
