"""Metrics from per-item scores: accuracy, sequential choice, attraction effects, bootstrap and seed CIs.

Pure functions, DataFrame in -> DataFrame out. ``summarize`` works per model (and per label columns
such as ``attractor_rate``) and writes long-format rows, one per cell x metric:

level      condition                         metrics
condition  a condition code ('SP', 'SPP')    accuracy, sequential_rate (nearest noun != head), margin
match      none | matched | mismatched |     accuracy, sequential_rate, margin
           mixed (attractors vs head, pooled over head numbers)
effect     all | sg_head | pl_head           attraction_effect = accuracy(matched) - accuracy(mismatched)
effect     sg_head-pl_head                   markedness_asymmetry = effect(sg head) - effect(pl head)

Each row also carries ``construction`` ('all' pools the constructions), ``n_attractors``, ``n_items``
(items behind the value), ``n_excluded`` (items of the cell not scored), ``accuracy`` (the cell's
accuracy, repeated on its rows; NaN on effect rows), ``value`` with its 95% percentile-bootstrap
interval ``ci_low``/``ci_high`` over items (seeded; independent resamples per cell, so differences
resample both cells). ``aggregate_seeds`` then gives mean and t-interval over training seeds.
``sequential_rate`` counts only items whose nearest noun differs from the head in number; its
complement (``syntactic_rates``) is what the attractor-rate figure and ``syntactic_onset`` read.
"""
from __future__ import annotations

import hashlib
import math
from statistics import NormalDist
from typing import Sequence

import numpy as np
import pandas as pd

MODEL_KEYS = ("model", "arch", "seed", "method", "data")
CELL_KEYS = ("construction", "condition", "n_attractors", "level")
VALUE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "n_items", "n_excluded", "accuracy")
SUMMARY_COLUMNS = MODEL_KEYS + CELL_KEYS + VALUE_COLUMNS
SEED_VALUE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "sd", "n_seeds", "n_items", "n_excluded",
                      "accuracy", "ci_method")
# The range each bounded metric can take: seed t-intervals are clipped to it (with few seeds they can
# otherwise reach past 0 or 1).
METRIC_RANGES = {"accuracy": (0.0, 1.0), "sequential_rate": (0.0, 1.0), "attraction_effect": (-1.0, 1.0),
                 "markedness_asymmetry": (-2.0, 2.0)}
# Bound on resampled indices held at once by the continuous bootstrap (int64: 8 bytes each).
_MAX_DRAWS = 2**22


def _t_abs_cdf(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4, exact)."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:
        term, total = 1.0, 0.0
        if df > 1:
            term = math.cos(theta)
            total = term
            for k in range(3, df - 1, 2):     # cos^(k) terms with coefficients 2/3, 2.4/3.5, ...
                term *= c2 * (k - 1) / k
                total += term
        return 2 / math.pi * (theta + (s * total if df > 1 else 0.0))
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):
        term *= c2 * (k - 1) / k
        total += term
    return s * total


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (p > 0.5) of Student's t with integer ``df`` >= 1, to ~1e-12.

    Cornish-Fisher start (A&S 26.7.5), then Newton steps on the exact CDF: no scipy import (it costs
    seconds) for a handful of numbers.
    """
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    z = NormalDist().inv_cdf(p)
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2) \
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(50):
        f = (1 + _t_abs_cdf(t, df)) / 2 - p
        dens = math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))
        step = f / dens
        t -= step
        if abs(step) < 1e-12 * max(1.0, abs(t)):
            break
    return t


def label_columns(frame: pd.DataFrame, known: Sequence[str]) -> list[str]:
    """Columns a run added to label its models (e.g. attractor_rate): everything not in ``known``."""
    return [c for c in frame.columns if c not in known]


def cell_rng(seed: int, key: str) -> np.random.Generator:
    """A generator per cell from (seed, cell key): a cell's CI does not change when other cells are added."""
    digest = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, digest])


def bootstrap_means(values: np.ndarray, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot bootstrap resample means of ``values`` [n] -> [n_boot].

    0/1 data are drawn exactly and cheaply as Binomial(n, mean) / n (what resampling 0/1 items gives);
    other data by resampling indices in chunks.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return np.full(n_boot, np.nan)
    if ((v == 0.0) | (v == 1.0)).all():
        return rng.binomial(n, v.mean(), size=n_boot) / n
    chunk = max(1, _MAX_DRAWS // n)
    parts = [v[rng.integers(0, n, size=(min(chunk, n_boot - s), n))].mean(axis=1) for s in range(0, n_boot, chunk)]
    return np.concatenate(parts)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap samples (NaN when there are none)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[~np.isnan(s)]
    if not len(s):
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap ``level`` interval of the mean of ``values`` [n] (seeded)."""
    return percentile_ci(bootstrap_means(values, n_boot=n_boot, rng=np.random.default_rng(seed)), level)


def _keys(scores: pd.DataFrame) -> list[str]:
    from .records import SCORE_COLUMNS

    return list(MODEL_KEYS) + label_columns(scores, SCORE_COLUMNS)


def _row(base: dict, metric: str, value: float, boot: np.ndarray | None, n_items: int, n_excluded: int,
         accuracy: float) -> dict:
    """One summary row; ``boot`` holds its bootstrap samples [n_boot] (None: no interval), turned into
    ci_low/ci_high for all rows at once by ``_add_intervals``."""
    return {**base, "metric": metric, "value": float(value), "boot": boot,
            "n_items": int(n_items), "n_excluded": int(n_excluded), "accuracy": float(accuracy)}


def _add_intervals(rows: list[dict], level: float) -> None:
    """Replace each row's ``boot`` samples by its percentile interval, with one quantile call for the rows
    whose samples are all finite (the rest, e.g. differences of empty cells, one by one)."""
    if not rows:
        return
    width = max((len(r["boot"]) for r in rows if r["boot"] is not None), default=0)
    samples = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        if r["boot"] is not None:
            samples[i] = r["boot"]
    finite = np.isfinite(samples).all(axis=1) if width else np.zeros(len(rows), bool)
    ci = np.full((len(rows), 2), np.nan)
    if finite.any():
        ci[finite] = np.quantile(samples[finite], [(1 - level) / 2, (1 + level) / 2], axis=1).T
    for i in np.flatnonzero(~finite):
        ci[i] = percentile_ci(samples[i], level)
    for r, (lo, hi) in zip(rows, ci):
        del r["boot"]
        r["ci_low"], r["ci_high"] = float(lo), float(hi)


class _Columns:
    """The score columns metrics need, as numpy arrays (NaN where a value is missing)."""

    def __init__(self, data: pd.DataFrame):
        self.excluded = data["excluded"].to_numpy(bool)
        self.correct = data["correct"].to_numpy(dtype=float, na_value=np.nan)
        self.sequential = data["choice_sequential"].to_numpy(dtype=float, na_value=np.nan)
        self.margin = data["margin"].to_numpy(dtype=float)
        self.match = data["match"].to_numpy(str)
        self.head = data["head_number"].to_numpy(str)
        # where the two choices conflict: the nearest noun's number differs from the head's
        self.conflict = (data["nearest_number"] != data["head_number"]).to_numpy() & ~np.isnan(self.sequential)


def _groups(data: pd.DataFrame, keys: list[str]):
    """(key values, row indices) per group of ``keys``, in sorted key order, without per-group pandas work."""
    codes = data.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    firsts = order[np.concatenate([[0], bounds])] if len(order) else order
    values = data[keys].to_numpy(object)[firsts]
    return zip(map(tuple, values), np.split(order, bounds) if len(order) else [])


def _cell_metrics(base: dict, cols: _Columns, idx: np.ndarray, *, n_boot: int, seed: int) -> list[dict]:
    """accuracy, sequential_rate (where the nearest noun differs from the head) and margin of one cell."""
    key = "|".join(map(str, base.values()))
    kept = idx[~cols.excluded[idx]]
    n_exc = len(idx) - len(kept)
    if not len(kept):
        return [_row(base, "accuracy", np.nan, None, 0, n_exc, np.nan)]
    correct = cols.correct[kept]
    acc = float(correct.mean())
    rows = [_row(base, "accuracy", acc, bootstrap_means(correct, n_boot=n_boot, rng=cell_rng(seed, key + "|acc")),
                 len(kept), n_exc, acc)]
    conflict = kept[cols.conflict[kept]]
    if len(conflict):
        seq = cols.sequential[conflict]
        rows.append(_row(base, "sequential_rate", seq.mean(),
                         bootstrap_means(seq, n_boot=n_boot, rng=cell_rng(seed, key + "|seq")), len(seq), n_exc, acc))
    margin = cols.margin[kept]
    rows.append(_row(base, "margin", margin.mean(),
                     bootstrap_means(margin, n_boot=n_boot, rng=cell_rng(seed, key + "|margin")), len(kept), n_exc, acc))
    return rows


def _effect_metrics(base: dict, cols: _Columns, idx: np.ndarray, *, n_boot: int, seed: int) -> list[dict]:
    """Attraction effects (overall and per head number) and the markedness asymmetry of one group."""
    key = "|".join(map(str, base.values()))
    n_exc = int(cols.excluded[idx].sum())
    kept = idx[~cols.excluded[idx]]
    correct, match, head = cols.correct[kept], cols.match[kept], cols.head[kept]

    def boot(mask: np.ndarray, tag: str) -> tuple[float, np.ndarray]:
        v = correct[mask]
        return float(v.mean()), bootstrap_means(v, n_boot=n_boot, rng=cell_rng(seed, f"{key}|{tag}"))

    rows = []
    effects = {}
    for label, sel in (("all", np.ones(len(kept), bool)), ("sg_head", head == "sg"), ("pl_head", head == "pl")):
        m, mm = sel & (match == "matched"), sel & (match == "mismatched")
        if not m.any() or not mm.any():
            continue
        (a, sa), (b, sb) = boot(m, f"{label}|m"), boot(mm, f"{label}|mm")
        effects[label] = (a - b, sa - sb, int(m.sum() + mm.sum()))
        rows.append(_row({**base, "condition": label}, "attraction_effect", a - b, sa - sb,
                         m.sum() + mm.sum(), n_exc, np.nan))
    if "sg_head" in effects and "pl_head" in effects:
        (es, ss, ns), (ep, sp, n_p) = effects["sg_head"], effects["pl_head"]
        rows.append(_row({**base, "condition": "sg_head-pl_head"}, "markedness_asymmetry", es - ep,
                         ss - sp, ns + n_p, n_exc, np.nan))
    return rows


def summarize(scores: pd.DataFrame, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per-item scores -> long-format summary (see the module docstring for the rows and columns).

    Groups by model keys (model, arch, seed, method, data) and any label columns the run added.
    """
    keys = _keys(scores)
    frames = [scores]
    multi = scores.groupby(keys, dropna=False)["construction"].nunique()
    if (multi > 1).any():
        pooled = scores.copy()
        pooled["construction"] = "all"
        frames.append(pooled)
    data = pd.concat(frames, ignore_index=True)
    cols = _Columns(data)
    rows: list[dict] = []
    opts = dict(n_boot=n_boot, seed=seed)
    cell = keys + ["construction", "condition", "n_attractors"]
    for vals, idx in _groups(data, cell):
        rows += _cell_metrics(dict(zip(cell, vals)) | {"level": "condition"}, cols, idx, **opts)
    for vals, idx in _groups(data, keys + ["construction", "match", "n_attractors"]):
        base = dict(zip(cell, vals)) | {"level": "match"}
        if base["condition"] != "unknown":
            rows += _cell_metrics(base, cols, idx, **opts)
    group = keys + ["construction", "n_attractors"]
    for vals, idx in _groups(data, group):
        rows += _effect_metrics(dict(zip(group, vals)) | {"condition": "all", "level": "effect"}, cols, idx, **opts)
    _add_intervals(rows, level)
    columns = keys + list(CELL_KEYS) + list(VALUE_COLUMNS)
    out = pd.DataFrame(rows, columns=columns)
    out["n_attractors"] = out["n_attractors"].astype(np.int64)
    return out


def exclusion_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Items not scored, per model x data x construction x condition x reason (columns ..., reason, n)."""
    cols = ["model", "data", "construction", "condition", "exclude_reason"]
    exc = scores[scores["excluded"].to_numpy(bool)]
    out = exc.groupby(cols, sort=True).size().reset_index(name="n")
    return out.rename(columns={"exclude_reason": "reason"})


def aggregate_seeds(summary: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Per-model summary -> mean over training seeds with a t-interval over the seed values.

    Groups by everything except model and seed (arch, method, data, labels, cell, metric). With one
    seed the item-bootstrap interval is kept and ``ci_method`` says so ('items (1 seed)'). Intervals of
    bounded metrics are clipped to their range (METRIC_RANGES). ``n_items``/``n_excluded`` sum over seeds.
    """
    known = set(SUMMARY_COLUMNS)
    keys = [c for c in summary.columns if c not in known or c in ("arch", "method", "data")]
    keys = [k for k in keys if k not in ("model", "seed")] + list(CELL_KEYS) + ["metric"]
    g = summary.groupby(keys, sort=True, dropna=False)
    out = g.agg(value=("value", "mean"), sd=("value", "std"), n_seeds=("value", "count"),
                n_items=("n_items", "sum"), n_excluded=("n_excluded", "sum"), accuracy=("accuracy", "mean"),
                ci_low=("ci_low", "first"), ci_high=("ci_high", "first")).reset_index()
    n = out["n_seeds"].to_numpy()
    many = n > 1  # cells with no value anywhere keep n_seeds 0 and NaN intervals
    quantiles = {k: t_quantile((1 + level) / 2, int(k) - 1) for k in np.unique(n[many])}
    t = np.array([quantiles.get(k, np.nan) for k in n])
    half = t * out["sd"].to_numpy() / np.sqrt(n)
    out.loc[many, "ci_low"] = (out["value"] - half)[many]
    out.loc[many, "ci_high"] = (out["value"] + half)[many]
    lo = out["metric"].map(lambda m: METRIC_RANGES.get(m, (-np.inf, np.inf))[0]).astype(float)
    hi = out["metric"].map(lambda m: METRIC_RANGES.get(m, (-np.inf, np.inf))[1]).astype(float)
    out["ci_low"] = out["ci_low"].clip(lower=lo)
    out["ci_high"] = out["ci_high"].clip(upper=hi)
    out["ci_method"] = np.where(many, "t over seeds", "items (1 seed)")
    return out[keys[:-1] + list(SEED_VALUE_COLUMNS)]


def syntactic_rates(summary: pd.DataFrame) -> pd.DataFrame:
    """The ``sequential_rate`` rows turned into ``syntactic_rate`` = 1 - sequential, intervals mirrored.

    That is the share of head-agreeing choices among the items where head and nearest noun differ in
    number, the items that tell the two strategies apart (unlike ``accuracy`` on mismatched cells
    pooled over constructions, which also holds items whose nearest noun is the head).
    """
    out = summary[summary["metric"] == "sequential_rate"].copy()
    out["metric"] = "syntactic_rate"
    lo, hi = 1 - out["ci_high"], 1 - out["ci_low"]
    out["value"], out["ci_low"], out["ci_high"] = 1 - out["value"], lo, hi
    return out


def syntactic_onset(seed_summary: pd.DataFrame, *, x: str = "attractor_rate", construction: str = "all",
                    condition: str = "mismatched", n_attractors: int = 1, chance: float = 0.5) -> pd.DataFrame:
    """Where each architecture turns from sequential to syntactic agreement along ``x``.

    Reads the syntactic choice rate (:func:`syntactic_rates`) on ``condition`` items; per arch:
    ``sequential_until`` = the largest x whose interval lies wholly below chance, ``syntactic_from`` =
    the smallest x from which on every interval lies wholly above chance (NaN where none).
    """
    syn = syntactic_rates(seed_summary)
    sel = syn[(syn["construction"] == construction) & (syn["condition"] == condition)
              & (syn["n_attractors"] == n_attractors)]
    if x not in sel.columns:
        return pd.DataFrame(columns=["arch", "sequential_until", "syntactic_from", "n_points"])
    rows = []
    for arch, g in sel.groupby("arch", sort=True):
        g = g.groupby(x, sort=True)[["value", "ci_low", "ci_high"]].mean().reset_index()
        xs, lo, hi = g[x].to_numpy(float), g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float)
        below = xs[hi < chance]
        above = lo > chance
        tail = np.flatnonzero(~above)
        first = 0 if not len(tail) else tail[-1] + 1
        rows.append({"arch": arch, "sequential_until": float(below.max()) if len(below) else np.nan,
                     "syntactic_from": float(xs[first]) if first < len(xs) else np.nan, "n_points": len(xs)})
    return pd.DataFrame(rows)
