"""Figures: DataFrames in, matplotlib Figures out (no pyplot state, so any backend, Agg included, works).

Every figure reads the seed-aggregated summary (``summary_seeds.csv``: one row per arch x cell x
metric with ``value``, ``ci_low``, ``ci_high``, ``n_seeds``, ``n_items``), except the learning curves,
which read training folders' ``metrics.jsonl``. Architectures are told apart by marker and line style
as well as colour, so every figure reads in black and white.

One job, a little over 600 lines: the benchmark's figures (headline, attractors, attractor rate, preference,
asymmetry, learning curves) and ``make_figures``, which redraws them all for a results folder; they share
the styles, the interval bands and the per-class panels, which a split would have to pass back and forth.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from probe.core.errors import ProbeError
from probe.core.style import (
    HATCHES, arch_order, arch_style, figure_style, is_baseline, log_axis, rate_styles, reference_style, save_figure,
    shade as _shade, suptitle,
)

# The standard columns of summary_seeds.csv; anything else is a run's label column (e.g. attractor_rate).
SEED_COLUMNS = ("arch", "method", "data", "construction", "condition", "n_attractors", "distance", "level", "metric", "value",
                "ci_low", "ci_high", "sd", "n_seeds", "n_items", "n_excluded", "accuracy", "ci_method")


def _select(frame: pd.DataFrame, **eq) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for col, val in eq.items():
        mask &= (frame[col] == val).to_numpy()
    return frame[mask]


def headline_constructions(seeds: pd.DataFrame) -> tuple[str, str]:
    """(the pool, its constructions with conflict items): the construction labels the headline reads. A run's
    summaries pool the constructions its corpora attest ('pooled', 'pooled_conflict'); other results folders
    have 'all' (every construction; with 'pooled_conflict' over those with conflict items where some have
    none), or a single construction."""
    from probe.evaluate import POOL, POOL_CONFLICT

    cons = set(seeds["construction"])
    if POOL in cons:
        return POOL, POOL_CONFLICT if POOL_CONFLICT in cons else POOL
    pooled = "all" if "all" in cons else sorted(cons)[0]
    return pooled, POOL_CONFLICT if pooled == "all" and POOL_CONFLICT in cons else pooled


def _n_text(sub: pd.DataFrame) -> str:
    """'n = 40-50 items per point, 3 seeds' from a selection of seed-summary rows (n_items counts each
    item once: items are paired across seeds)."""
    if not len(sub):
        return "n = 0"
    lo, hi = int(sub["n_items"].min()), int(sub["n_items"].max())
    s_lo, s_hi = int(sub["n_seeds"].min()), int(sub["n_seeds"].max())
    items = f"{lo}" if lo == hi else f"{lo}-{hi}"
    seeds = f"{s_lo}" if s_lo == s_hi else f"{s_lo}-{s_hi}"
    return f"n = {items} item{'s' if hi > 1 else ''} per point, {seeds} seed{'s' if s_hi > 1 else ''}"


def _ci_note(sub: pd.DataFrame) -> str:
    """What the bands show: corpora x seeds x items intervals (models trained on several corpora per rate), seeds x
    items intervals, or item intervals where there is one seed (``summary_seeds.csv``'s ci_method says which)."""
    from probe.metrics import NESTED_METHOD

    many = (sub["n_seeds"] > 1).any() if len(sub) else False
    if not many:
        return "bands: 95% CI over items"
    nested = "ci_method" in sub.columns and sub["ci_method"].eq(NESTED_METHOD).any()
    return "bands: 95% CI over corpora, seeds and items" if nested else "bands: 95% CI over seeds and items"


def _chance(ax, y: float = 0.5) -> None:
    ax.axhline(y, color="0.5", lw=0.8, ls=":", zorder=0)


def _empty(fig: Figure, text: str) -> Figure:
    """``fig`` as a placeholder that says why there is nothing to draw (at a size its text fits)."""
    fig.set_size_inches(6.0, 1.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _line(ax, x, d: pd.DataFrame, *, marker: str, ls, colour: str, label: str | None, fill: str | None = None,
          band: bool = True, alpha: float = 0.18) -> None:
    """One line with its interval band (the band is drawn under the line, in the line's colour)."""
    ax.plot(x, d["value"], ls=ls, marker=marker, color=colour, mfc=fill or colour, mec=colour, label=label, lw=1.3,
            ms=4)
    if band:
        ax.fill_between(x, d["ci_low"], d["ci_high"], color=colour, alpha=alpha, lw=0)


def _panels(fig: Figure, n: int, *, ncols: int | None = None, sharey: bool = True) -> list:
    ncols = ncols or min(n, 3)
    nrows = (n + ncols - 1) // ncols
    axes = fig.subplots(nrows, ncols, sharey=sharey, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    return list(axes[:n])


def _title(fig: Figure, *lines: str, width: int | None = None, fontsize: float = 9) -> None:
    """A figure title wrapped to the figure's width (long ones were cut at the figure's edge)."""
    suptitle(fig, *lines, width=width, fontsize=fontsize)


RateLine = tuple[float | None, pd.DataFrame, float, object]      # rate, its rows, shade, line style


def _rate_lines(frame: pd.DataFrame, x: str = "attractor_rate") -> list[RateLine]:
    """(rate, rows, shade, line style) per attractor rate of ``frame``, lowest rate first (style.rate_styles:
    lighter and more finely dashed for lower rates). One (None, frame, 1.0, '-') when the frame has no rates."""
    if x not in frame.columns or frame[x].isna().all():
        return [(None, frame, 1.0, "-")]
    rates = sorted(frame[x].dropna().unique())
    return [(float(r), frame[frame[x] == r], a, ls) for r, (a, ls) in zip(rates, rate_styles(len(rates)))]


def _rates(frame: pd.DataFrame, x: str = "attractor_rate") -> list[float | None]:
    """The attractor rates of ``frame``, lowest first; [None] when it has none."""
    if x not in frame.columns or frame[x].isna().all():
        return [None]
    return [float(r) for r in sorted(frame[x].dropna().unique())]


def _at_rate(frame: pd.DataFrame, rate: float | None, x: str = "attractor_rate") -> pd.DataFrame:
    """The rows of ``frame`` at ``rate`` (rows without a rate, such as imported data, belong to every rate)."""
    if rate is None or x not in frame.columns:
        return frame
    return frame[(frame[x] == rate) | frame[x].isna()]


def _n_neural(sub: pd.DataFrame) -> str:
    """_n_text for the neural cells only (baselines have one 'seed' and would widen the range)."""
    neural = sub[~sub["arch"].map(is_baseline)] if len(sub) else sub
    return _n_text(neural if len(neural) else sub)


def plot_attractors(seeds: pd.DataFrame, *, construction: str | None = None, note: str = "") -> Figure:
    """(a) The Linzen figure, one panel per architecture: accuracy against the number of attractors.

    Per panel (level ``attractors``): items whose attractors all have the other number, the nearest noun
    among them (conflict: one line per corpus attractor rate, darker and solid for higher rates, lighter and
    dashed for lower ones), and items whose attractors all have the head's number (matched: dash-dot, open
    markers, at the highest rate); one legend for every panel below them. ``construction``: default pp, else
    the first one with more than one attractor count.
    """
    acc = _select(seeds, metric="accuracy", level="attractors")
    if construction is None:
        counts = acc.groupby("construction")["n_attractors"].nunique()
        multi = [c for c in counts.index if counts[c] > 1 and c != "all"]
        construction = "pp" if "pp" in multi else (multi[0] if multi else (counts.index[0] if len(counts) else ""))
    acc = acc[acc["construction"] == construction]
    archs = arch_order(acc["arch"])
    fig = Figure(figsize=(3.2 * min(len(archs), 3) + 0.6, 2.8 * ((len(archs) + 2) // 3) + 1.0), layout="constrained")
    if not len(acc):
        return _empty(fig, "no items whose attractors all share one number")
    lines_at = _rate_lines(acc)
    for ax, arch in zip(_panels(fig, len(archs)), archs):
        marker, _, colour = arch_style(arch, archs)
        mine = acc[acc["arch"] == arch]
        for rate, _, shade, ls in lines_at:
            rows = _at_rate(mine, rate)
            d = rows[rows["condition"] == "conflict"].sort_values("n_attractors")
            if len(d):
                _line(ax, d["n_attractors"].to_numpy(), d, marker=marker, ls=ls, colour=_shade(colour, shade),
                      label=_rate_label("conflict", rate), alpha=0.15)
        rate = lines_at[-1][0]
        d = _at_rate(mine, rate)
        d = d[d["condition"] == "matched"].sort_values("n_attractors")
        if len(d):
            _line(ax, d["n_attractors"].to_numpy(), d, marker=marker, ls=MATCHED_LS, colour=colour, fill="white",
                  label=_rate_label("matched", rate), band=False)
        _chance(ax)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(sorted(acc["n_attractors"].unique()))
        ax.set_title(arch, fontsize=9)
        ax.set_xlabel("number of attractors")
        ax.set_ylabel("accuracy (agrees with head)")
    _rate_legend(fig, [(_rate_label("conflict", r), sh, ls, None) for r, _, sh, ls in lines_at]
                 + [(_rate_label("matched", lines_at[-1][0]), 1.0, MATCHED_LS, "white")])
    _title(fig, f"Agreement accuracy against the number of attractors ({construction}{'; ' + note if note else ''})",
           "conflict: every attractor has the other number (one line per corpus attractor rate, darker = higher); "
           f"matched: every attractor has the head's number; {_n_neural(acc)}; {_ci_note(acc)}")
    return fig


MATCHED_LS = "-."     # matched items, beside the conflict lines of every rate


def _rate_label(what: str, rate: float | None) -> str:
    return what + (f", rate {rate:g}" if rate is not None else "")


def _rate_legend(fig: Figure, entries: Sequence[tuple[str, float, object, str | None]], *, marker: str = "o",
                 ncols: int | None = None) -> None:
    """One legend below the panels for lines that differ by rate (and class) only: (label, shade, line style,
    marker fill or None), drawn in shades of black, as the panels' own colours differ by cell."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=_shade("black", sh), ls=ls, marker=marker, ms=4,
                      mfc=fill or _shade("black", sh), mec=_shade("black", sh)) for _, sh, ls, fill in entries]
    fig.legend(handles, [e[0] for e in entries], loc="outside lower center", ncols=ncols or min(len(entries), 4),
               fontsize=7, frameon=False)


def _bars(ax, groups: list[str], archs: list[str], get) -> None:
    """Grouped bars with CI error bars: groups on x, one hatched bar per arch; ``get(group, arch)`` -> row."""
    width = 0.8 / max(1, len(archs))
    for k, arch in enumerate(archs):
        _, _, colour = arch_style(arch, archs)
        xs, ys, lo, hi = [], [], [], []
        for i, g in enumerate(groups):
            row = get(g, arch)
            if row is None:
                continue
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(row["value"])
            lo.append(row["value"] - row["ci_low"])
            hi.append(row["ci_high"] - row["value"])
        ax.bar(xs, ys, width=width, color=colour, alpha=0.75, edgecolor="black", lw=0.6,
               hatch=HATCHES[k % len(HATCHES)], label=arch,
               yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(range(len(groups)))


def _first_row(sub: pd.DataFrame):
    return None if not len(sub) else sub.iloc[0]


# construction labels of the summaries that pool several constructions, in the order figures show them
POOL_LABELS = {"pooled_conflict": "pooled", "pooled": "pooled", "all": "all"}


def _construction_groups(constructions: Iterable[str]) -> list[str]:
    """Single constructions (sorted), then the pools: the headline's pool (on conflict items 'pooled_conflict'
    and 'pooled' hold the same items, so only the first is drawn) and 'all'."""
    cons = set(constructions)
    singles = sorted(c for c in cons if c not in POOL_LABELS)
    pool = next((c for c in ("pooled_conflict", "pooled") if c in cons), None)
    return singles + ([pool] if pool else []) + (["all"] if "all" in cons else [])


def _rate_rows(fig: Figure, rates: Sequence[float | None], ncols: int, **kw) -> np.ndarray:
    """A grid with one row of panels per attractor rate (shared axes)."""
    return fig.subplots(len(rates), ncols, squeeze=False, **kw)


def _rate_title(rate: float | None) -> str:
    return f"corpus attractor rate {rate:g}" if rate is not None else ""


def _figure_legend(fig: Figure, axes: Iterable, *, loc: str = "outside right center", **kw) -> None:
    """One legend for the figure (default: right of the panels, clear of the title) from every panel's labelled
    artists (the first of each label)."""
    handles: dict = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc=loc, fontsize=7, frameon=False, **kw)


def plot_preference(seeds: pd.DataFrame, *, n_attractors: int = 1, note: str = "") -> Figure:
    """(b) Syntactic choice rate per construction, on conflict items with ``n_attractors`` attractor slots, one
    row of bars per corpus attractor rate (at a high rate every cell may be at ceiling; lower rates tell
    them apart).

    On conflict items the nearest noun differs from the head in number, so the accuracy there is the
    syntactic choice rate (metrics.syntactic_rates) and its complement the sequential one.
    """
    from probe.metrics import syntactic_rates

    acc = _select(syntactic_rates(seeds), n_attractors=n_attractors)
    groups = _construction_groups(acc["construction"])
    rates = _rates(acc)
    fig = Figure(figsize=(max(5.5, 0.9 * len(groups) + 3.0), 2.2 * len(rates) + 1.3), layout="constrained")
    if not len(acc):
        return _empty(fig, "no conflict items (nearest noun of the other number)")
    archs = arch_order(acc["arch"])
    axes = _rate_rows(fig, rates, 1, sharex=True)[:, 0]
    for ax, rate in zip(axes, rates):
        here = _at_rate(acc, rate)
        _bars(ax, groups, archs, lambda g, a: _first_row(here[(here["construction"] == g) & (here["arch"] == a)]))
        _chance(ax)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("syntactic choice rate")
        if rate is not None:
            ax.set_title(_rate_title(rate), fontsize=8.5)
    axes[-1].set_xticks(range(len(groups)))
    axes[-1].set_xticklabels([POOL_LABELS.get(g, g) for g in groups], rotation=30, ha="right")
    axes[-1].set_xlabel("construction" + ("  (pooled: the headline's constructions)"
                                          if any(g in ("pooled", "pooled_conflict") for g in groups) else ""))
    _figure_legend(fig, axes)
    _title(fig, f"Head vs nearest noun on conflict items ({n_attractors} attractor slot"
                f"{'s' if n_attractors != 1 else ''}{'; ' + note if note else ''}); below 0.5: the model follows the "
                "nearest noun", f"{_n_neural(acc)}; error bars: {_ci_note(acc).split(': ', 1)[1]}")
    return fig


def plot_asymmetry(seeds: pd.DataFrame, *, construction: str | None = None, n_attractors: int = 1,
                   note: str = "") -> Figure:
    """(c) Markedness asymmetry: accuracy on SP vs PS items per arch, and the attraction effect per head number,
    one row per corpus attractor rate.

    ``construction``: default pp (its SP/PS items are all conflict items), else 'all'. The attraction
    effects (matched - conflict) come from the item classes, so they never pool conflict items with
    items whose nearest noun agrees with the head. A bar whose interval is unknown (one item, one seed) has
    no error bar; a panel with nothing to show says so.
    """
    cons = set(seeds["construction"])
    construction = construction or ("pp" if "pp" in cons else "all" if "all" in cons else (sorted(cons)[0] if cons else ""))
    base = _select(seeds, construction=construction, n_attractors=n_attractors)
    acc = base[(base["metric"] == "accuracy") & (base["level"] == "condition") & base["condition"].isin(["SP", "PS"])]
    eff = base[(base["metric"] == "attraction_effect") & base["condition"].isin(["sg_head", "pl_head"])]
    rates = _rates(acc)
    archs = arch_order(acc["arch"])
    fig = Figure(figsize=(min(9.0, 1.4 * len(archs) + 4.0), 2.3 * len(rates) + 1.2), layout="constrained")
    if not len(acc):
        return _empty(fig, "no SP/PS items")
    few = acc["n_items"].max() < 10       # a handful of items: say how few under each bar
    grid = _rate_rows(fig, rates, 2, sharex=True)
    for (ax1, ax2), rate in zip(grid, rates):
        for ax, frame, labels in ((ax1, _at_rate(acc, rate), ("SP", "PS")),
                                  (ax2, _at_rate(eff, rate), ("sg_head", "pl_head"))):
            width = 0.38
            for k, (lab, hatch, colour) in enumerate(zip(labels, ("//", ""), ("white", "0.6"))):
                rows = [_first_row(frame[(frame["arch"] == a) & (frame["condition"] == lab)]) for a in archs]
                xs = [i - 0.2 + width * k for i, r in enumerate(rows) if r is not None]
                ok = [r for r in rows if r is not None]
                if not ok:
                    continue
                v = np.array([r["value"] for r in ok], dtype=float)
                err = np.array([v - np.array([r["ci_low"] for r in ok], dtype=float),
                                np.array([r["ci_high"] for r in ok], dtype=float) - v])
                ax.bar(xs, v, width=width, color=colour, edgecolor="black", hatch=hatch, lw=0.6,
                       yerr=np.clip(np.nan_to_num(err), 0, None), capsize=2,
                       label=("singular head (SP; sg_head)", "plural head (PS; pl_head)")[k])
                if few:
                    for x_, v_, r in zip(xs, v, ok):
                        ax.annotate(f"{v_:.2f}, n={int(r['n_items'])}", (x_, 0), xytext=(0, 2),
                                    textcoords="offset points", ha="center", va="bottom", fontsize=6, rotation=90)
            if not len(frame):
                ax.text(0.5, 0.5, "no items", ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_xlim(-0.7, len(archs) - 0.3)
            ax.set_xticks(range(len(archs)))
            ax.set_xticklabels(archs, rotation=30, ha="right")
        _chance(ax1)
        ax1.set_ylim(0, 1.05)
        ax1.set_ylabel("accuracy (agrees with head)")
        ax2.axhline(0, color="black", lw=0.6)
        ax2.set_ylabel("attraction effect\nacc(matched) - acc(conflict)")
        title = _rate_title(rate)
        ax1.set_title(("SP vs PS" + (f", {title}" if title else "")), fontsize=8.5)
        ax2.set_title(("attraction effect by head number" + (f", {title}" if title else "")), fontsize=8.5)
    for ax in grid[-1]:
        ax.set_xlabel("architecture")
    _figure_legend(fig, grid.ravel(), loc="outside lower center", ncols=2)
    _title(fig, f"Markedness asymmetry ({construction}, {n_attractors} attractor{'s' if n_attractors != 1 else ''}"
                f"{'; ' + note if note else ''}): SP = singular head, plural attractor; PS = the reverse",
           f"left: {_n_neural(acc)}; right: {_n_neural(eff)}; error bars: {_ci_note(acc).split(': ', 1)[1]}")
    return fig


def _references(ax, frame: pd.DataFrame, refs: Sequence[str], archs: Sequence[str], xcol: str) -> None:
    """The baselines as grey reference lines (at the frame's highest rate), each with its own marker and dashes."""
    for ref in refs:
        rows = _at_rate(frame[frame["arch"] == ref], _rates(frame)[-1]).sort_values(xcol)
        if len(rows):
            marker, ls, colour = reference_style(ref, archs)
            ax.plot(rows[xcol], rows["value"], color=colour, ls=ls, lw=0.9, marker=marker, ms=4, label=ref)


def plot_headline(seeds: pd.DataFrame, *, distance_construction: str = "control", attractor_construction: str = "pp",
                  note: str = "") -> Figure:
    """(f) The lecture's claim, one row per neural architecture: the syntactic choice rate against (a) the
    distance between head and verb with no noun in between (level ``distance``) and (b) the number of
    attractors, all of the other number (level ``attractors``, conflict items); one line per corpus
    attractor rate (darker and solid for higher rates, lighter and dashed for lower ones).

    Where vanishing gradients limit a cell, (a) falls with distance; where attraction does, (b) falls with
    the attractors while (a) stays up. The baselines (at the highest rate) are drawn in grey for reference.
    """
    dist = _select(seeds, metric="accuracy", level="distance", construction=distance_construction)
    att = _select(seeds, metric="accuracy", level="attractors", construction=attractor_construction,
                  condition="conflict")
    both = pd.concat([dist, att])
    all_archs = arch_order(both["arch"])
    archs = [a for a in all_archs if not is_baseline(a)]
    refs = [a for a in all_archs if a not in archs]
    fig = Figure(figsize=(7.6, 2.3 * max(1, len(archs)) + 1.3), layout="constrained")
    if not archs:
        return _empty(fig, "no neural models with distance or attractor items")
    lines_at = _rate_lines(both)
    axes = fig.subplots(len(archs), 2, sharey=True, squeeze=False)
    for row, arch in zip(axes, archs):
        marker, _, colour = arch_style(arch, archs)
        for ax, frame, xcol, xlabel in ((row[0], dist, "distance", "tokens between head and verb (no attractor)"),
                                        (row[1], att, "n_attractors", "attractors, all of the other number")):
            _references(ax, frame, refs, all_archs, xcol)
            for rate, _, shade, ls in lines_at:
                d = _at_rate(frame[frame["arch"] == arch], rate).sort_values(xcol)
                if len(d):
                    _line(ax, d[xcol].to_numpy(), d, marker=marker, ls=ls, colour=_shade(colour, shade), alpha=0.12,
                          label=_rate_label(arch, rate))
                    ax.set_xticks(d[xcol].to_numpy())
            _chance(ax)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(xlabel)
        row[0].set_ylabel(f"{arch}\nsyntactic choice rate")
        handles, labels = row[1].get_legend_handles_labels()
        if handles:
            row[1].legend(handles, labels, fontsize=6.5, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _title(fig, f"Distance alone (left, {distance_construction}: adverbs between head and verb) vs attractors of the "
                f"other number (right, {attractor_construction}){'; ' + note if note else ''}",
           f"{_n_neural(both)}; {_ci_note(both)}; one line per corpus attractor rate (darker, solid = higher); grey: "
           "baselines at the highest rate")
    return fig


def _pick(columns: Iterable[str], names: Sequence[str]) -> str | None:
    cols = list(columns)
    return next((n for n in names if n in cols), None)


X_NAMES = ("step", "tokens", "epoch")
PPL_NAMES = ("valid_ppl", "val_ppl", "valid_perplexity", "ppl")
# held-out agreement (the mean over item classes, what training stops on) first; older runs' accuracy after it
AGR_NAMES = ("agreement", "agreement_accuracy", "agreement_acc", "agr_acc")


def _corpus_facts(cfg: dict) -> tuple[float, float]:
    """(valid-split entropy floor, attractor rate) of the corpus a training folder's config.json names (NaN
    where unknown: no corpus folder, real text)."""
    corpus = cfg.get("corpus") if isinstance(cfg, dict) else None
    floor = rate = float("nan")
    if not isinstance(corpus, str) or not corpus:
        return floor, rate
    try:
        stats = Path(corpus) / "stats.json"
        if stats.is_file():
            floor = float((json.loads(stats.read_text(encoding="utf-8")).get("entropy_floor") or {})["valid"]["ppl"])
    except (ValueError, KeyError, TypeError):
        pass
    try:
        made = Path(corpus) / "config.json"
        if made.is_file():
            made_cfg = json.loads(made.read_text(encoding="utf-8"))
            given = made_cfg.get("attractor_rate")
            # a real-text corpus' config keeps the synthetic-only fields at their defaults: it has no rate
            if given is not None and made_cfg.get("source", "synthetic") == "synthetic":
                rate = float(given)
    except (ValueError, TypeError, AttributeError):
        pass
    return floor, rate


def load_learning_curves(train_dirs: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Training folders -> long frame: run, arch, seed, attractor_rate (of the training corpus; NaN if unknown),
    x (step|tokens|epoch), x_name, valid_ppl, agreement, agreement_name (the metrics.jsonl column it came from:
    ``agreement``, the held-out agreement training stops on, where present), floor_ppl (the corpus' entropy
    floor on the valid split, NaN if unknown) and converged (1.0 / 0.0 from summary.json; NaN while training
    or for other folders).

    Reads ``metrics.jsonl`` (one JSON object per evaluation) and ``config.json`` (arch, seed, corpus);
    folders without metrics.jsonl are skipped.
    """
    frames = []
    for d in train_dirs:
        d = Path(d)
        d = d.parent if d.suffix == ".pt" else d
        f = d / "metrics.jsonl"
        if not f.is_file():
            continue
        rows = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        df = pd.DataFrame(rows)
        x, ppl, agr = _pick(df.columns, X_NAMES), _pick(df.columns, PPL_NAMES), _pick(df.columns, AGR_NAMES)
        if x is None or ppl is None:
            continue
        cfg = {}
        if (d / "config.json").is_file():
            cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        model_cfg = cfg.get("model", cfg.get("model_config", {})) if isinstance(cfg, dict) else {}
        arch = (model_cfg.get("arch") if isinstance(model_cfg, dict) else None) or cfg.get("arch", "lm")
        seed = cfg.get("seed", cfg.get("train", {}).get("seed", 0) if isinstance(cfg.get("train"), dict) else 0)
        converged = np.nan
        if (d / "summary.json").is_file():
            converged = float(bool(json.loads((d / "summary.json").read_text(encoding="utf-8")).get("converged")))
        floor, rate = _corpus_facts(cfg)
        out = pd.DataFrame({"run": d.name, "arch": arch, "seed": seed, "attractor_rate": rate, "x_name": x,
                            "x": df[x], "valid_ppl": df[ppl], "agreement": df[agr] if agr else np.nan,
                            "agreement_name": agr or "", "floor_ppl": floor, "converged": converged})
        frames.append(out[out["valid_ppl"].notna() | out["agreement"].notna()])
    cols = ["run", "arch", "seed", "attractor_rate", "x_name", "x", "valid_ppl", "agreement", "agreement_name",
            "floor_ppl", "converged"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def plot_learning_curves(curves: pd.DataFrame) -> Figure:
    """(d) Validation perplexity (top row) and held-out agreement (bottom row) during training: one column per
    corpus attractor rate, one colour per cell, one thin line per run (seed, corpus).

    Where every run's corpus has an entropy floor, perplexity is shown as ppl / floor (1 = the best
    possible model). The agreement row shows what training watched: the held-out agreement (mean accuracy
    over item classes on held-out items, metrics.jsonl ``agreement``) where the runs logged it. A run that
    stopped without converging ends in a cross.
    """
    from matplotlib.lines import Line2D

    if not len(curves):
        return _empty(Figure(figsize=(9.0, 3.6), layout="constrained"), "no training metrics (metrics.jsonl) found")
    curves = curves.copy()
    if "attractor_rate" not in curves.columns:
        curves["attractor_rate"] = np.nan
    rates = _rates(curves)
    fig = Figure(figsize=(max(5.5, 2.7 * len(rates) + 1.6), 5.6), layout="constrained")
    archs = arch_order(curves["arch"])
    grid = fig.subplots(2, len(rates), sharex=True, sharey="row", squeeze=False)
    relative = bool(curves["floor_ppl"].notna().all()) if "floor_ppl" in curves.columns else False
    unconverged = False
    for k, rate in enumerate(rates):
        top, bottom = grid[0, k], grid[1, k]
        here = curves if rate is None else curves[curves["attractor_rate"] == rate]
        for _, d in here.groupby("run", sort=True):
            marker, ls, colour = arch_style(d["arch"].iloc[0], archs)
            d = d.sort_values("x")
            p = d[d["valid_ppl"].notna()]
            y = p["valid_ppl"] / p["floor_ppl"] if relative else p["valid_ppl"]
            top.plot(p["x"], y, ls=ls, color=colour, lw=0.8, alpha=0.75, marker=marker, ms=2.2)
            if "converged" in d.columns and d["converged"].iloc[0] == 0 and len(p):
                unconverged = True
                top.plot(p["x"].iloc[-1], y.iloc[-1], marker="x", color="black", ms=5, mew=1.0, ls="none")
            a = d[d["agreement"].notna()]
            if len(a):
                bottom.plot(a["x"], a["agreement"], ls=ls, color=colour, lw=0.8, alpha=0.75, marker=marker, ms=2.2)
        n_runs = here["run"].nunique()
        runs = f"{n_runs} run{'s' if n_runs != 1 else ''}"
        top.set_title(f"{_rate_title(rate)}\n{runs}" if rate is not None else runs, fontsize=8.5)
        if relative:
            top.axhline(1.0, color="0.4", lw=0.8, ls=":")
        bottom.set_ylim(-0.02, 1.02)
        _chance(bottom)
        bottom.set_xlabel(f"training {curves['x_name'].iloc[0]}")
    log_axis(grid[0, 0])        # plain numbers (1, 2, 5 where the axis spans less than two decades)
    grid[0, 0].set_ylabel("validation perplexity / entropy floor\n(log; 1 = the best possible model)" if relative
                          else "validation perplexity (log scale)")
    held_out = (curves["agreement_name"] == "agreement").any() if "agreement_name" in curves.columns else False
    grid[1, 0].set_ylabel("held-out agreement\n(mean accuracy over item classes)" if held_out
                          else "agreement accuracy\n(learning-curve items)")
    handles = [Line2D([], [], color=arch_style(a, archs)[2], ls=arch_style(a, archs)[1], marker=arch_style(a, archs)[0],
                      ms=3, lw=1.2) for a in archs]
    labels = list(archs)
    if unconverged:
        handles.append(Line2D([], [], marker="x", color="black", ls="none", ms=5))
        labels.append("stopped, not converged")
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False)
    _title(fig, "Learning curves: validation perplexity (top) and "
                + ("held-out agreement (bottom)" if held_out else "agreement accuracy (bottom)"),
           ("held-out agreement: mean accuracy over item classes on held-out items, which training watches besides "
            "perplexity to stop; " if held_out else "") + "one line per trained model (seed and corpus); colour: cell")
    return fig


def plot_attractor_rate(seeds: pd.DataFrame, *, x: str = "attractor_rate", construction: str | None = None,
                        n_attractors: int = 1) -> Figure:
    """(e) Syntactic choice rate on conflict items against the corpus attractor rate, one panel per neural
    architecture (baselines in grey in each), with interval bands and the turning-point verdict.

    Below 0.5 the model follows the nearest noun (sequential), above it the head (syntactic); filled
    markers: the interval excludes chance. The x axis is logarithmic with a tick at every rate of the sweep.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    from probe.metrics import syntactic_onset, syntactic_rates

    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    if x not in seeds.columns:
        return _empty(fig, f"no {x} column in the results")
    if construction is None:
        construction = headline_constructions(seeds)[1]
    sel = _select(syntactic_rates(seeds), construction=construction, n_attractors=n_attractors)
    sel = sel[sel[x].notna()]
    if not len(sel):
        return _empty(fig, f"no conflict items with {n_attractors} attractor(s)")
    all_archs = arch_order(sel["arch"])
    archs = [a for a in all_archs if not is_baseline(a)] or all_archs
    refs = [a for a in all_archs if a not in archs]
    onset = syntactic_onset(seeds, x=x, construction=construction, n_attractors=n_attractors).set_index("arch")
    rates = np.sort(sel[x].astype(float).unique())
    log_x = (rates > 0).all() and rates.max() / rates.min() >= 10
    for ax, arch in zip(_panels(fig, len(archs), ncols=len(archs)), archs):
        for ref in refs:
            d = sel[sel["arch"] == ref].groupby(x, sort=True)[["value"]].mean().reset_index()
            r_marker, r_ls, r_colour = reference_style(ref, all_archs)
            ax.plot(d[x], d["value"], color=r_colour, ls=r_ls, lw=0.9, marker=r_marker, ms=4, label=ref)
        marker, _, colour = arch_style(arch, archs)
        d = sel[sel["arch"] == arch].groupby(x, sort=True)[["value", "ci_low", "ci_high"]].mean().reset_index()
        _line(ax, d[x].to_numpy(), d, marker=marker, ls="-", colour=colour, label=arch, fill="white")
        decided = (d["ci_low"] > 0.5) | (d["ci_high"] < 0.5)
        ax.plot(d[x][decided], d["value"][decided], ls="none", marker=marker, color=colour, ms=4)
        if log_x:
            ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(rates))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{r:g}" for r in rates])
        _chance(ax)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(x.replace("_", " ") + " of the training corpus")
        verdict = onset.loc[arch, "verdict"] if arch in onset.index else ""
        if verdict == "turns":
            verdict = (f"turns syntactic between {onset.loc[arch, 'sequential_until']:g} and "
                       f"{onset.loc[arch, 'syntactic_from']:g}")
        ax.set_title(f"{arch}: {verdict}", fontsize=8.5)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.axes[0].set_ylabel("syntactic choice rate, conflict items\n(< 0.5 sequential, > 0.5 syntactic)")
    what = {"pooled_conflict": "the headline's pooled constructions", "pooled": "the headline's pooled constructions",
            "all": "all constructions"}.get(construction, construction)
    _title(fig, f"Where agreement turns syntactic ({what}, {n_attractors} attractor slot)",
           f"{_n_neural(sel)}; {_ci_note(sel)}; filled markers: the interval excludes 0.5; grey: baselines")
    return fig


CORPUS_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<"]


def seed_spread_rows(per_model: pd.DataFrame, seeds: pd.DataFrame, *, n_attractors: int = 1) -> tuple[pd.DataFrame,
                                                                                                       pd.DataFrame]:
    """(per-model rows, pooled rows) of the conflict accuracy (the syntactic choice rate) of the headline's
    conflict pool with ``n_attractors`` attractor slots, neural cells only: ``per_model`` from summary.csv (one
    row per trained model, with its seed and, where a rate has several corpora, its corpus), the pooled
    estimate and interval from summary_seeds.csv."""
    from probe.metrics import syntactic_rates

    construction = headline_constructions(seeds)[1]
    neural = [a for a in set(seeds["arch"]) if not is_baseline(a)]
    pick = dict(construction=construction, n_attractors=n_attractors)
    one = _select(syntactic_rates(per_model), **pick)
    pooled = _select(syntactic_rates(seeds), **pick)
    return one[one["arch"].isin(neural)], pooled[pooled["arch"].isin(neural)]


def plot_seed_spread(per_model: pd.DataFrame, seeds: pd.DataFrame, *, n_attractors: int = 1,
                     note: str = "") -> Figure | None:
    """(g) Per-seed conflict accuracy: one panel per neural cell, one strip per corpus attractor rate with a
    point per trained model (jittered sideways; marker by corpus where a rate has several) and, beside it,
    the pooled estimate with its interval (summary_seeds.csv: over seeds and items, and corpora where a rate has
    several), so that a split between seeds (some learn agreement, some do not) is visible where the interval
    alone would hide it.

    Reads the headline's conflict pool (``pooled_conflict`` where the summaries have it). Returns None when
    no cell has two models at one rate (nothing to spread).
    """
    one, pooled = seed_spread_rows(per_model, seeds, n_attractors=n_attractors)
    if "attractor_rate" not in one.columns:
        one = one.assign(attractor_rate=np.nan)
    keys = ["arch", "attractor_rate"]
    if not len(one) or one.groupby(keys, dropna=False)["value"].size().max() < 2:
        return None
    archs = arch_order(one["arch"])
    rates = _rates(one)
    corpora = sorted(one["corpus"].dropna().unique()) if "corpus" in one.columns else []
    corpora = corpora if len(corpora) > 1 else []
    width = min(10.0, max(5.0, min(len(archs), 3) * (0.75 * len(rates) + 1.3) + 0.5))
    # the legend: a row of entries as wide as the figure allows (ten corpora do not fit in one), and room for it
    n_entries = (len(corpora) or 1) + 1
    ncols = min(n_entries, max(1, int(width // 2.5)))
    legend_rows = -(-n_entries // ncols)
    fig = Figure(figsize=(width, 3.0 * ((len(archs) + 2) // 3) + 1.1 + 0.2 * legend_rows), layout="constrained")
    axes = _panels(fig, len(archs))
    rng = np.random.default_rng(0)
    for ax, arch in zip(axes, archs):
        marker_, _, colour = arch_style(arch, archs)
        for i, rate in enumerate(rates):
            mine = one[one["arch"] == arch]
            mine = mine if rate is None else mine[mine["attractor_rate"] == rate]
            for k, corpus in enumerate(corpora or [None]):
                d = mine if corpus is None else mine[mine["corpus"] == corpus]
                xs = i - 0.12 + rng.uniform(-0.1, 0.1, len(d))
                m = CORPUS_MARKERS[k % len(CORPUS_MARKERS)] if corpora else marker_
                ax.plot(xs, d["value"], ls="none", marker=m, ms=4.5, color=colour, mec=colour,
                        mfc=colour if k % 2 == 0 else "white", alpha=0.85)
            p = pooled[pooled["arch"] == arch]
            p = p if rate is None else p[p["attractor_rate"] == rate]
            if len(p):
                r = p.iloc[0]
                err = np.clip([[r["value"] - r["ci_low"]], [r["ci_high"] - r["value"]]], 0, None)
                ax.errorbar([i + 0.2], [r["value"]], yerr=np.nan_to_num(err), fmt="D", color="black", ms=4,
                            capsize=3, lw=1.1)
        _chance(ax)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(-0.6, len(rates) - 0.4)
        ax.set_xticks(range(len(rates)))
        ax.set_xticklabels(["every model" if r is None else f"{r:g}" for r in rates])
        ax.set_xlabel("attractor rate of the training corpus" if rates != [None] else "")
        if archs.index(arch) % 3 == 0:          # the first panel of each row
            ax.set_ylabel("conflict accuracy (syntactic choice rate)")
        counts = one[one["arch"] == arch].groupby("attractor_rate", dropna=False)["value"].size()
        n = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
        ax.set_title(f"{arch} ({n} models{' per rate' if rates != [None] else ''})", fontsize=9)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="none", marker=CORPUS_MARKERS[k % len(CORPUS_MARKERS)], color="0.3", mec="0.3",
                      mfc="0.3" if k % 2 == 0 else "white", ms=4.5) for k in range(len(corpora) or 1)]
    labels = [f"one model, corpus {c}" for c in corpora] or ["one model (training seed)"]
    handles.append(Line2D([], [], ls="-", marker="D", color="black", ms=4))
    labels.append("pooled estimate, " + _ci_note(pooled).split(": ", 1)[1] if len(pooled) else "pooled estimate")
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=7, frameon=False)
    what = {"pooled_conflict": "the headline's pooled constructions", "all": "all constructions"}.get(
        str(one["construction"].iloc[0]), str(one["construction"].iloc[0]))
    _title(fig, f"Conflict accuracy of each trained model ({what}, {n_attractors} attractor slot"
                f"{'s' if n_attractors != 1 else ''}{'; ' + note if note else ''})",
           "left: one point per model (seed" + (", marker: corpus" if corpora else "") + "); right: the "
           "pooled estimate with its interval; a gap between the points is a split the interval does not show")
    return fig


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")


def read_seed_summary(results: str | os.PathLike) -> pd.DataFrame:
    """``results/summary_seeds.csv`` (what figures and the report read), checked for its standard columns."""
    f = Path(results) / "summary_seeds.csv"
    if not f.is_file():
        raise ProbeError(f"{results} has no summary_seeds.csv; write one with `probe evaluate --out {results}`")
    seeds = pd.read_csv(f, keep_default_na=False, na_values=[""])
    missing = [c for c in ("arch", "construction", "condition", "n_attractors", "level", "metric", "value",
                           "ci_low", "ci_high", "n_seeds", "n_items") if c not in seeds.columns]
    if missing:
        raise ProbeError(f"{f} lacks the column(s) {', '.join(missing)}; regenerate it with `probe evaluate`")
    # imported items of unknown numbers have the empty condition code: a value of its own, not a missing one
    seeds["condition"] = seeds["condition"].fillna("")
    return seeds


def group_keys(seeds: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The columns that split a seed summary into groups: method, data and the run's label columns, those
    with more than one value (minus ``exclude``)."""
    keys = [c for c in ("method", "data") if c in seeds.columns] + [c for c in seeds.columns if c not in SEED_COLUMNS]
    return [k for k in keys if k not in exclude and seeds[k].nunique(dropna=False) > 1]


def figure_groups(seeds: pd.DataFrame, *, max_groups: int = 6) -> list[tuple[str, pd.DataFrame]]:
    """Split the seed summary by method, data and label columns other than attractor_rate.

    Returns (suffix, frame) pairs; the suffix is '' when there is one group. Beyond ``max_groups``
    only the last group (in sorted order) is drawn.
    """
    keys = group_keys(seeds, exclude=("attractor_rate",))
    if not keys:
        return [("", seeds)]
    groups = [(("__" + "_".join(_safe(f"{k}={v}") for k, v in zip(keys, vals if isinstance(vals, tuple) else (vals,)))), g)
              for vals, g in seeds.groupby(keys, sort=True, dropna=False)]
    return groups[-max_groups:]


def resolve_model_path(given: str, results: str | os.PathLike, stored: dict | None = None) -> Path | None:
    """Find a model path recorded in a results folder's config.json, wherever the command is run from.

    Tried in order: ``given`` as written (relative paths: from the working directory), then the
    folder-relative and absolute forms ``probe evaluate`` stores beside it (``stored``: its
    ``model_paths`` entry), then -- for a relative ``given`` -- under each folder above the results
    folder (the command that wrote them ran in one of those). Returns None when none exists.
    """
    res = Path(results)
    candidates = [Path(given)]
    if isinstance(stored, dict):
        if stored.get("from_results"):
            candidates.append(res / stored["from_results"])
        if stored.get("absolute"):
            candidates.append(Path(stored["absolute"]))
    if not Path(given).is_absolute():
        candidates += [parent / given for parent in res.resolve().parents]
    return next((c for c in candidates if c.exists()), None)


def recorded_train_dirs(results: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """The model paths a results folder's config.json lists, resolved -> (found, not found).

    Reads ``models`` (written by ``probe evaluate``, with ``model_paths``) or, failing that, the paths
    in ``models_info`` (a ``probe run`` folder); n-gram baselines trained on the fly are left out.
    """
    cfg_f = Path(results) / "config.json"
    try:
        cfg = json.loads(cfg_f.read_text(encoding="utf-8")) if cfg_f.is_file() else {}
    except ValueError as exc:
        raise ProbeError(f"{cfg_f} is not valid JSON ({exc}); pass the training folders with --train-dir") from exc
    cfg = cfg if isinstance(cfg, dict) else {}
    given = cfg["models"] if isinstance(cfg.get("models"), list) else \
        [m.get("path") for m in cfg.get("models_info", []) if isinstance(m, dict)]
    stored = cfg.get("model_paths") if isinstance(cfg.get("model_paths"), dict) else {}
    found, missing = [], []
    for m in given:
        if not isinstance(m, str) or m.startswith("baseline:"):
            continue
        path = resolve_model_path(m, results, stored.get(m))
        if path is None:
            missing.append(m)
        else:
            found.append(path)
    return found, missing


# The figures make_figures draws: file stems by family (a group suffix '__...' may follow the first four).
OWN_FIGURE = re.compile(r"^(?:(?:attractors|headline|preference|asymmetry|attractor_rate|seed_spread)(?:__.+)?"
                        r"|learning_curves)"
                        r"\.(?:png|pdf|svg)$")


def make_figures(results: str | os.PathLike, *, train_dirs: Sequence[str | os.PathLike] | None = None,
                 formats: Sequence[str] = ("png", "pdf"), log: Callable[[str], None] = print) -> list[Path]:
    """Draw every figure of a results folder into ``results/figures/``; returns the paths written.

    attractors*.png (a), preference*.png (b), asymmetry*.png (c), learning_curves.png (d, when training
    folders with metrics.jsonl are found), attractor_rate*.png (e, when the summary has attractor_rate),
    headline*.png (f), seed_spread*.png (g, when summary.csv has two or more models of one cell at one rate).
    When ``attractor_rate`` is present, (a), (b), (c) and (f) show every rate. ``formats``: file types per figure.
    ``train_dirs``: training folders for (d); default: the models the results' config.json lists (see
    :func:`recorded_train_dirs`).

    Every figure is drawn into a temporary folder first, then each replaces its old file; other files
    in figures/ (an analysis' figures) are left alone. A figure of these kinds that exists but is not
    redrawn (no training folders found, a group or format no longer drawn) is kept, and ``log`` gets one
    line saying which and why: a figure is never deleted silently.
    """
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise ProbeError(f"figure format {bad[0] if bad else '(none)'!r} is not supported; choose from png, pdf, svg")
    res = Path(results)
    seeds = read_seed_summary(res)
    missing: list[str] = []
    if train_dirs is None:
        train_dirs, missing = recorded_train_dirs(res)
    curves = load_learning_curves(train_dirs)
    per_model = (pd.read_csv(res / "summary.csv", keep_default_na=False, na_values=[""])
                 if (res / "summary.csv").is_file() else None)

    figures = res / "figures"
    if figures.exists() and not figures.is_dir():
        raise ProbeError(f"{figures} exists and is not a folder; move it away to draw the figures")
    tmp = Path(tempfile.mkdtemp(prefix=".figures.", suffix=".partial", dir=res))
    try:
        written = []
        with figure_style():
            keys = group_keys(seeds, exclude=("attractor_rate",))
            for suffix, g in figure_groups(seeds):
                if "attractor_rate" in g.columns and g["attractor_rate"].notna().any():
                    written += save_figure(plot_attractor_rate(g), tmp, "attractor_rate" + suffix, formats)
                written += save_figure(plot_attractors(g), tmp, "attractors" + suffix, formats)
                written += save_figure(plot_headline(g), tmp, "headline" + suffix, formats)
                written += save_figure(plot_preference(g), tmp, "preference" + suffix, formats)
                written += save_figure(plot_asymmetry(g), tmp, "asymmetry" + suffix, formats)
                if per_model is not None:
                    mine = per_model
                    for k in keys:
                        if k in mine.columns:
                            mine = mine[mine[k].isin(g[k].unique())]
                    spread = plot_seed_spread(mine, g)
                    if spread is not None:
                        written += save_figure(spread, tmp, "seed_spread" + suffix, formats)
            if len(curves):
                written += save_figure(plot_learning_curves(curves), tmp, "learning_curves", formats)
        figures.mkdir(exist_ok=True)
        for path in written:
            os.replace(path, figures / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = {p.name for p in written}
    drawn_stems = {Path(n).stem for n in names}
    kept: dict[str, list[str]] = {}
    other_formats = []
    for old in sorted(figures.iterdir()):
        if OWN_FIGURE.match(old.name) and old.name not in names:
            if old.stem in drawn_stems:
                other_formats.append(old.name)
            else:
                kept.setdefault(old.stem, []).append(old.name)
    for stem, files in kept.items():
        if stem == "learning_curves":
            why = ("no training folder with metrics.jsonl was found"
                   + (f" ({len(missing)} listed in config.json do not exist, e.g. {missing[0]})" if missing else "")
                   + "; give the training folders with --train-dir")
        else:
            why = "summary_seeds.csv no longer gives this figure (group or column gone); delete it if it is stale"
        log(f"kept {', '.join(f'figures/{f}' for f in files)} as {'it was' if len(files) == 1 else 'they were'}: {why}")
    if other_formats:
        log(f"kept {len(other_formats)} figure file(s) in formats not drawn this time, now possibly out of date: "
            f"{', '.join(other_formats)}")
    if missing and len(curves):
        log(f"learning curves drawn without {len(missing)} training folder(s) listed in config.json that do not "
            f"exist, e.g. {missing[0]}; give them with --train-dir")
    return [figures / p.name for p in written]


