"""Metrics from per-item scores: accuracy per item class, attraction effects, intervals over items and seeds.

Pure functions, DataFrame in -> DataFrame out. Every item belongs to one class (records.item_classes):

none                    no attractor
matched                 every attractor has the head's number
conflict                the noun nearest before the verb differs in number from the head: here a syntactic
                        (head) and a sequential (nearest-noun) choice disagree, so accuracy on conflict items
                        IS the syntactic choice rate and 1 - accuracy the sequential one
mismatched_no_conflict  an attractor has the other number but the nearest noun agrees with the head
                        (interference without recency; never pooled with conflict)

Items whose attractors mix numbers ('SSP', 'SPS': :func:`mixed_patterns`) belong to a class too, but count
only in their condition's cell: every pool of items (levels overall, match and effect; 'all' and named pools)
leaves them out.

``summarize`` (per model) and ``aggregate_seeds`` (pooled over training seeds) write the same long-format
cells, one row per cell x metric:

level      condition                      n_attractors        distance   metrics
overall    all (every item, of any class, -1                  -1         accuracy
           unknown included, but mixed
           attractor patterns)
condition  a condition code ('SP')        attractor slots     -1         accuracy, margin
match      an item class (above)          attractor slots     -1         accuracy, margin
attractors matched | conflict: items      attractors, all of  -1         accuracy
           whose attractors all have      one number (Linzen
           one number                     et al.'s count)
distance   none (items without            0                   tokens     accuracy
           attractors)                                        between
                                                              head and verb
effect     all | sg_head | pl_head        attractor slots     -1         attraction_effect = acc(matched) - acc(conflict)
effect     sg_head-pl_head                attractor slots     -1         markedness_asymmetry = effect(sg) - effect(pl)

Each row carries ``construction`` ('all' pools the constructions), ``n_items`` (items behind the value),
``n_excluded`` (items of the cell not scored), ``accuracy`` (the cell's accuracy, repeated on its rows;
NaN on effect rows) and ``value`` with its interval ``ci_low``/``ci_high``.

Intervals (:func:`crossed_interval`): items and training seeds are crossed (every seed scores the same
items), so a seed-pooled value varies with both. Its variance is estimated from the seed x item table as
in a two-way random-effects design (seed part + item part - the interaction counted twice), and the
interval uses Cochran & Cox's critical value, the variance-weighted mean of the parts' t quantiles
(seeds: S - 1 degrees of freedom, items: N - 1). ``bench/ci_coverage.py`` measures its coverage against
the t-interval over seeds alone and over one seed's items, on simulated tables with normal and bimodal seed
effects and a corpus effect (bench/README.md quotes the table). With one seed (one model) it is the
t-interval over items. Models trained on several corpora (a ``corpus`` label) nest the seeds in the corpora
(``crossed_interval``'s groups); a model per corpus needs no nesting: corpus and seed vary together.
"""
from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from probe.core.stats import t_quantile, wilson_interval
from probe.data.records import mixed_patterns

MODEL_KEYS = ("model", "arch", "seed", "method", "data")
CELL_KEYS = ("construction", "condition", "n_attractors", "distance", "level")
VALUE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "n_items", "n_excluded", "accuracy")
SEED_VALUE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "sd", "n_seeds", "n_items", "n_excluded",
                      "accuracy", "ci_method")
# The range each bounded metric can take: intervals are clipped to it (with few seeds they can reach past).
METRIC_RANGES = {"accuracy": (0.0, 1.0), "syntactic_rate": (0.0, 1.0), "attraction_effect": (-1.0, 1.0),
                 "markedness_asymmetry": (-2.0, 2.0)}


# ---------------------------------------------------------------------------------------------------
# Intervals


def crossed_interval(blocks: Sequence[np.ndarray], weights: Sequence[float], *, level: float = 0.95,
                     groups: Sequence | None = None) -> tuple[float, float, float]:
    """(value, low, high) of theta = sum_k weights[k] * mean(blocks[k]) over seeds x items tables.

    ``blocks[k]`` [S, N_k]: row s holds seed s's values on the N_k items of cell k (the same S seeds in
    every block, in the same order; no NaN). The variance of theta is estimated unbiasedly for a crossed
    seeds x items design: the variance over seeds of each seed's theta, divided by S, plus per block the
    variance over items of the items' seed means, divided by N_k, minus the interaction that both of
    those contain (its residual mean square / (S N_k)), clipped at 0 per block. The critical value is
    Cochran & Cox's: the parts' t quantiles (S - 1 and N_k - 1 degrees of freedom) weighted by the
    parts' variances. With S = 1 only item parts remain (a t-interval over items). NaN bounds where a
    part cannot be estimated (a block of one item); NaN everything for an empty block.

    ``groups`` [S] (optional): the training corpus of each row when the models were trained on several
    independently drawn corpora (seeds nested in corpora, a random factor): the seeds' part is then split,
    as in a one-way random-effects ANOVA of the per-seed values, into a corpus part (mean square between
    corpora minus within, over S; C - 1 degrees of freedom) and a seed part (mean square within, over S;
    S - C degrees of freedom), each with its own t quantile in the critical value. A negative corpus part
    is set to 0 (the seed part alone is then larger than the pooled estimate: conservative).
    """
    return _estimate(blocks, weights, level, groups)[:3]


@functools.lru_cache(maxsize=4096)
def _t(p: float, df: int) -> float:
    return t_quantile(p, df)


def _model_parts(per_seed: np.ndarray, groups: Sequence | None, p: float) -> tuple[list[float], list[float]]:
    """The variance parts of the mean of the per-seed values and their t quantiles (see crossed_interval)."""
    S = len(per_seed)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel() if groups is not None else np.zeros(S, int)
    C = int(codes.max()) + 1
    if C < 2 or C >= S:
        sd = float(per_seed.std(ddof=1))
        return [sd * sd / S], [_t(p, S - 1)]
    counts = np.bincount(codes, minlength=C).astype(float)
    means = np.bincount(codes, weights=per_seed, minlength=C) / counts
    ms_between = float((counts * (means - per_seed.mean()) ** 2).sum()) / (C - 1)
    ms_within = float(((per_seed - means[codes]) ** 2).sum()) / (S - C)
    return [max(ms_between - ms_within, 0.0) / S, ms_within / S], [_t(p, C - 1), _t(p, S - C)]


def _estimate(blocks: Sequence[np.ndarray], weights: Sequence[float], level: float, groups: Sequence | None = None
              ) -> tuple[float, float, float, float]:
    """:func:`crossed_interval` plus the standard deviation of the per-seed values (NaN with one seed)."""
    nan = float("nan")
    blocks = [np.asarray(b, dtype=np.float64) for b in blocks]
    if not blocks or any(b.ndim != 2 or b.shape[1] == 0 for b in blocks):
        return nan, nan, nan, nan
    S = blocks[0].shape[0]
    per_seed = sum(w * b.mean(axis=1) for w, b in zip(weights, blocks))        # [S]
    value = float(per_seed.mean())
    sd = float(per_seed.std(ddof=1)) if S > 1 else nan
    p = (1 + level) / 2
    parts, quantiles = [], []
    if S > 1:
        model_parts, model_quantiles = _model_parts(per_seed, groups, p)
        parts += model_parts
        quantiles += model_quantiles
    for w, b in zip(weights, blocks):
        n = b.shape[1]
        if n < 2:
            return value, nan, nan, sd
        item_means = b.mean(axis=0)
        if b.min() == b.max() and b.flat[0] in (0.0, 1.0):
            # every seed right (or wrong) on every item: no variance to estimate, yet 80 items are no proof of
            # a rate of exactly 1; the Agresti-Coull variance of x = n (or 0) out of n items stands in
            z2 = NormalDist().inv_cdf(p) ** 2
            adjusted = (b.flat[0] * n + z2 / 2) / (n + z2)
            parts.append(w * w * adjusted * (1 - adjusted) / (n + z2))
            quantiles.append(_t(p, n - 1))
            continue
        item_var = float(item_means.var(ddof=1))
        if S > 1:
            resid = b - b.mean(axis=1, keepdims=True) - item_means[None, :] + b.mean()
            interaction = float(np.einsum("ij,ij->", resid, resid)) / ((S - 1) * (n - 1))
            item_var = max(item_var - interaction / S, 0.0)
        parts.append(w * w * item_var / n)
        quantiles.append(_t(p, n - 1))
    var = sum(parts)
    if var <= 0:
        return value, value, value, sd
    half = sum(v * q for v, q in zip(parts, quantiles)) / var * math.sqrt(var)
    return value, value - half, value + half, sd


# ---------------------------------------------------------------------------------------------------
# Cells


def label_columns(frame: pd.DataFrame, known: Sequence[str]) -> list[str]:
    """Columns a run added to label its models (e.g. attractor_rate): everything not in ``known``."""
    return [c for c in frame.columns if c not in known]


def _label_keys(scores: pd.DataFrame) -> list[str]:
    from probe.data.records import SCORE_COLUMNS

    return label_columns(scores, SCORE_COLUMNS)


NEST_KEY = "corpus"   # the label column naming each model's training corpus, when a run draws several per cell
# ``ci_method`` of a seed summary's pooled rows: seeds x items, or seeds nested in several corpora x items
CROSSED_METHOD = "seeds x items (crossed)"
NESTED_METHOD = "corpora > seeds x items (nested, crossed)"


def several_corpora(frame: pd.DataFrame, nest: str = NEST_KEY) -> bool:
    """Whether the models of ``frame`` were trained on several corpora (column ``nest``), in which their seeds are
    nested (with one, or none named, corpus and seed vary together)."""
    return nest in frame.columns and frame[nest].nunique(dropna=False) > 1


def corpus_groups(frame: pd.DataFrame, rows: Sequence, *, key: str = "model", nest: str = NEST_KEY
                  ) -> np.ndarray | None:
    """The training corpus (column ``nest``) of each of ``rows`` (values of column ``key``: the models, one row
    each of a seeds x items table), ``crossed_interval``'s groups; None unless ``several_corpora``."""
    if not several_corpora(frame, nest):
        return None
    return frame.drop_duplicates(key).set_index(key)[nest].reindex(rows).to_numpy()


class _Group:
    """One group's scores as seeds x items tables, ``correct`` and ``margin`` [S, U] (NaN where a model
    did not score an item; S = the group's models, one per training seed), and ``items``: per item id
    (U rows) the attributes that cells select on."""

    def __init__(self, frame: pd.DataFrame, nest: str | None = None):
        self.models = sorted(frame["model"].unique())
        self.groups = corpus_groups(frame, self.models, nest=nest) if nest else None
        items = frame.drop_duplicates("id")
        self.ids = items["id"].to_numpy()
        col = pd.Index(self.ids).get_indexer(frame["id"])
        row = pd.Index(self.models).get_indexer(frame["model"])
        self.correct = np.full((len(self.models), len(self.ids)), np.nan)
        self.margin = np.full_like(self.correct, np.nan)
        scored = ~frame["excluded"].to_numpy(bool)
        self.correct[row[scored], col[scored]] = frame["correct"].to_numpy(dtype=float, na_value=np.nan)[scored]
        self.margin[row[scored], col[scored]] = frame["margin"].to_numpy(dtype=float)[scored]
        self.items = items.reset_index(drop=True)


def pure_classes(items: pd.DataFrame) -> np.ndarray:
    """Per item: 'matched' when it has attractors all of the head's number, 'conflict' when all have the
    other number and the nearest noun is one of them (Linzen et al.'s k-attractor items), else ''."""
    match = items["match"].to_numpy(str)
    n_att = items["n_attractors"].to_numpy(np.int64)
    n_mis = items["n_mismatched"].to_numpy(np.int64) if "n_mismatched" in items.columns else np.full(len(items), -1)
    out = np.full(len(items), "", dtype=object)
    out[(match == "matched") & (n_att > 0)] = "matched"
    out[(match == "conflict") & (n_att > 0) & (n_mis == n_att)] = "conflict"
    return out


def _split(mask: np.ndarray, *columns: np.ndarray):
    """(key tuple, item indices) for each distinct combination of ``columns`` among the ``mask``ed items."""
    rows = np.flatnonzero(mask)
    if not len(rows):
        return
    frame = pd.DataFrame({i: c[rows] for i, c in enumerate(columns)})
    for key, idx in frame.groupby(list(frame.columns), sort=True).indices.items():
        yield (key if isinstance(key, tuple) else (key,)), rows[idx]


def _cells(items: pd.DataFrame, constructions: list[str], pools: Mapping[str, Sequence[str]] | None = None):
    """(cell keys, item indices) for every level but 'effect', in a fixed order; ``pools`` names groups of
    constructions pooled like 'all'."""
    cons = items["construction"].to_numpy(str)
    cond = items["condition"].to_numpy(str)
    match = items["match"].to_numpy(str)
    n_att = items["n_attractors"].to_numpy(np.int64)
    dist = items["distance"].to_numpy(np.int64)
    pure = pure_classes(items)
    pooled = ~mixed_patterns(items)
    for con in constructions:
        here = (np.ones(len(items), bool) if con == "all" else np.isin(cons, list(pools[con]))
                if pools and con in pools else cons == con)
        # every item of the construction, whatever its class (unknown ones too), but mixed attractor patterns:
        # one cell per data set and model
        yield {"construction": con, "condition": "all", "n_attractors": -1, "distance": -1, "level": "overall"}, \
            np.flatnonzero(here & pooled)
        for level, label, mask in (("condition", cond, here), ("match", match, here & pooled & (match != "unknown")),
                                   ("attractors", pure, here & (pure != ""))):
            for (c, n), idx in _split(mask, label, n_att):
                yield {"construction": con, "condition": c, "n_attractors": int(n), "distance": -1,
                       "level": level}, idx
        for (d,), idx in _split(here & (match == "none") & (dist >= 0), dist):
            yield {"construction": con, "condition": "none", "n_attractors": 0, "distance": int(d),
                   "level": "distance"}, idx


def _complete(table: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, int]:
    """The cell's columns scored by every seed [S, n'], and how many of its items some seed did not score."""
    block = table[:, cols]
    keep = ~np.isnan(block).any(axis=0)
    return block[:, keep], int((~keep).sum())


def _row(base: dict, metric: str, est: tuple, n_items: int, n_excluded: int, accuracy: float, n_seeds: int) -> dict:
    lo_r, hi_r = METRIC_RANGES.get(metric, (-np.inf, np.inf))
    value, lo, hi, sd = est
    return {**base, "metric": metric, "value": value, "ci_low": max(lo, lo_r) if np.isfinite(lo) else lo,
            "ci_high": min(hi, hi_r) if np.isfinite(hi) else hi, "n_items": int(n_items),
            "n_excluded": int(n_excluded), "accuracy": accuracy, "n_seeds": n_seeds, "sd": sd}


def _group_rows(group: _Group, base: dict, level: float, pools: Mapping[str, Sequence[str]] | None = None
                ) -> list[dict]:
    """Every cell's rows for one group (one model, or one arch x labels pooled over seeds)."""
    S = len(group.models)
    cons = sorted(group.items["construction"].unique())
    constructions = cons + (["all"] if len(cons) > 1 else []) + [name for name in (pools or {})
                                                                if set(pools[name]) & set(cons)]
    rows: list[dict] = []
    match_cells: dict[tuple, np.ndarray] = {}
    nan4 = (np.nan,) * 4
    for keys, cols in _cells(group.items, constructions, pools):
        block, missing = _complete(group.correct, cols)
        if not block.shape[1]:
            rows.append(_row({**base, **keys}, "accuracy", nan4, 0, missing, np.nan, S))
            continue
        acc = _estimate([block], [1.0], level, group.groups)
        rows.append(_row({**base, **keys}, "accuracy", acc, block.shape[1], missing, acc[0], S))
        if keys["level"] in ("condition", "match"):
            mblock, _ = _complete(group.margin, cols)
            rows.append(_row({**base, **keys}, "margin", _estimate([mblock], [1.0], level, group.groups), mblock.shape[1],
                             missing, acc[0], S))
        if keys["level"] == "match":
            match_cells[(keys["construction"], keys["condition"], keys["n_attractors"])] = cols
    members = {"all": cons} | {name: [c for c in pools[name] if c in cons]
                               for name in (pools or {}) if name in constructions}
    return rows + _effect_rows(group, base, match_cells, constructions, level, members)


def _effect_rows(group: _Group, base: dict, match_cells: dict, constructions: list[str], level: float,
                 members: Mapping[str, Sequence[str]]) -> list[dict]:
    """Attraction effects, acc(matched) - acc(conflict), for all heads and per head number, and the
    markedness asymmetry effect(sg head) - effect(pl head), per construction x attractor count.

    A pool of constructions ('all', a named pool; ``members`` lists each one's constructions) compares like
    with like: its matched items are those of the constructions that have conflict items at that count too
    (a construction whose attractor stands before the head has matched items but no conflict ones)."""
    S = len(group.models)
    head = group.items["head_number"].to_numpy(str)
    rows = []
    for con in constructions:
        for n_att in sorted({k[2] for k in match_cells if k[0] == con and k[2] > 0}):
            m, c = match_cells.get((con, "matched", n_att)), match_cells.get((con, "conflict", n_att))
            if m is None or c is None:
                continue
            if con in members:
                both = [x for x in members[con] if (x, "matched", n_att) in match_cells
                        and (x, "conflict", n_att) in match_cells]
                m = np.concatenate([match_cells[x, "matched", n_att] for x in both]) if both else m
            key = {"construction": con, "n_attractors": n_att, "distance": -1, "level": "effect"}
            pairs = {}
            for label, number in (("all", None), ("sg_head", "sg"), ("pl_head", "pl")):
                (bm, xm), (bc, xc) = (_complete(group.correct, cells if number is None else cells[head[cells] == number])
                                      for cells in (m, c))
                if not bm.shape[1] or not bc.shape[1]:
                    continue
                pairs[label] = (bm, bc)
                rows.append(_row({**base, **key, "condition": label}, "attraction_effect",
                                 _estimate([bm, bc], [1.0, -1.0], level, group.groups), bm.shape[1] + bc.shape[1], xm + xc,
                                 np.nan, S))
            if "sg_head" in pairs and "pl_head" in pairs:
                blocks = [*pairs["sg_head"], *pairs["pl_head"]]
                rows.append(_row({**base, **key, "condition": "sg_head-pl_head"}, "markedness_asymmetry",
                                 _estimate(blocks, [1.0, -1.0, -1.0, 1.0], level, group.groups),
                                 sum(b.shape[1] for b in blocks), 0, np.nan, S))
    return rows


def _summaries(scores: pd.DataFrame, group_keys: list[str], level: float, *, nest: str | None = None,
               pools: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    rows: list[dict] = []
    for vals, frame in scores.groupby(group_keys, sort=True, dropna=False):
        vals = vals if isinstance(vals, tuple) else (vals,)
        rows += _group_rows(_Group(frame, nest), dict(zip(group_keys, vals)), level, pools)
    out = pd.DataFrame(rows, columns=group_keys + list(CELL_KEYS) + list(VALUE_COLUMNS) + ["n_seeds", "sd"])
    for c in ("n_attractors", "distance"):
        out[c] = out[c].astype(np.int64)
    return out


def summarize(scores: pd.DataFrame, *, level: float = 0.95, pools: Mapping[str, Sequence[str]] | None = None
              ) -> pd.DataFrame:
    """Per-item scores -> one row per model x cell x metric (see the module docstring), t-intervals over items.

    Groups by the model keys (model, arch, seed, method, data) and any label columns the run added.
    ``pools``: named groups of constructions summarised together, like 'all' ({"pooled": ("pp", "src")}
    adds rows whose construction is 'pooled').
    """
    keys = list(MODEL_KEYS) + _label_keys(scores)
    out = _summaries(scores, keys, level, pools=pools)
    return out[keys + list(CELL_KEYS) + list(VALUE_COLUMNS)]


def aggregate_seeds(scores: pd.DataFrame, *, level: float = 0.95, pools: Mapping[str, Sequence[str]] | None = None
                    ) -> pd.DataFrame:
    """Per-item scores -> one row per arch x labels x cell x metric, pooled over the models (training seeds)
    of each arch and labels, with the crossed seeds x items interval (module docstring).

    Items are paired across seeds: a cell uses the items every seed scored (``n_items`` counts them once;
    ``n_excluded`` counts the cell's items some seed did not score). ``sd`` is the standard deviation of
    the per-seed values (NaN with one seed); ``ci_method`` says which interval a row carries. A label
    column ``corpus`` (models of one cell trained on several independently drawn corpora) is not a group
    key: the corpora are pooled as a random factor the seeds are nested in (``crossed_interval``'s groups).
    """
    keys = [k for k in MODEL_KEYS if k not in ("model", "seed")] + [k for k in _label_keys(scores) if k != NEST_KEY]
    out = _summaries(scores, keys, level, nest=NEST_KEY, pools=pools)
    method = NESTED_METHOD if several_corpora(scores) else CROSSED_METHOD
    out["ci_method"] = np.where(out["n_seeds"] > 1, method, "items (1 seed)")
    return out[keys + list(CELL_KEYS) + list(SEED_VALUE_COLUMNS)]


def exclusion_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Items not scored, per model x data x construction x condition x reason (columns ..., reason, n)."""
    cols = ["model", "data", "construction", "condition", "exclude_reason"]
    exc = scores[scores["excluded"].to_numpy(bool)]
    out = exc.groupby(cols, sort=True).size().reset_index(name="n")
    return out.rename(columns={"exclude_reason": "reason"})


# ---------------------------------------------------------------------------------------------------
# Reading summaries


def syntactic_rates(summary: pd.DataFrame) -> pd.DataFrame:
    """The syntactic choice rate: accuracy on conflict items (level match), relabelled ``syntactic_rate``.

    On conflict items the nearest noun and the head differ in number, so a head-agreeing choice is a
    syntactic one and every other choice a sequential one.
    """
    out = summary[(summary["metric"] == "accuracy") & (summary["level"] == "match")
                  & (summary["condition"] == "conflict")].copy()
    out["metric"] = "syntactic_rate"
    return out


VERDICTS = {"sequential": "sequential", "syntactic": "syntactic", "undecided": "~"}


def interval_verdict(low: float, high: float, chance: float = 0.5) -> str:
    """'sequential' (the interval wholly below chance), 'syntactic' (wholly above) or 'undecided'."""
    return "sequential" if high < chance else "syntactic" if low > chance else "undecided"


def rate_verdicts(values: np.ndarray, lows: np.ndarray, highs: np.ndarray, chance: float = 0.5) -> list[str]:
    """Per point: :func:`interval_verdict` of its interval."""
    return [interval_verdict(lo, h, chance) for lo, h in zip(lows, highs)]


def turning_point(xs: Sequence[float], verdicts: Sequence[str]) -> tuple[str, float, float]:
    """Where a sweep turns from sequential to syntactic, by a rule a single noisy point cannot fake.

    The verdicts must read: sequential points, then undecided ones, then syntactic ones (each part possibly
    empty). Returns (verdict, last sequential x, first syntactic x), the verdict one of: 'turns' (both
    sequential and syntactic points), 'syntactic from x' (undecided below), 'sequential up to x'
    (undecided above), 'syntactic throughout', 'sequential throughout', 'undecided throughout', or 'no
    clean transition' (any other order, e.g. a lone sequential point among undecided ones), NaN where a
    position does not exist.
    """
    v = list(verdicts)
    nan = float("nan")
    k = 0
    while k < len(v) and v[k] == "sequential":
        k += 1
    j = len(v)
    while j > k and v[j - 1] == "syntactic":
        j -= 1
    if not all(x == "undecided" for x in v[k:j]):
        return "no clean transition", nan, nan
    last_seq = float(xs[k - 1]) if k else nan
    first_syn = float(xs[j]) if j < len(v) else nan
    if k and j < len(v):
        return "turns", last_seq, first_syn
    if j < len(v):
        return ("syntactic throughout" if j == 0 else f"syntactic from {xs[j]:g}"), last_seq, first_syn
    if k:
        return ("sequential throughout" if k == len(v) else f"sequential up to {xs[k - 1]:g}"), last_seq, first_syn
    return "undecided throughout", nan, nan


def syntactic_onset(seed_summary: pd.DataFrame, *, x: str = "attractor_rate", construction: str = "all",
                    n_attractors: int = 1, chance: float = 0.5) -> pd.DataFrame:
    """Where each architecture turns from sequential to syntactic agreement along ``x``.

    Reads the syntactic choice rate on conflict items with ``n_attractors`` (:func:`syntactic_rates`); per
    arch: the verdict at each x ('sequential' / 'syntactic' / '~' from the interval against chance) and
    :func:`turning_point`'s verdict. A model that cannot see the nearest noun (the unigram) should get
    no turning point at all: its row is the rule's false-positive check.
    """
    syn = syntactic_rates(seed_summary)
    sel = syn[(syn["construction"] == construction) & (syn["n_attractors"] == n_attractors)]
    cols = ["arch", "verdicts", "verdict", "sequential_until", "syntactic_from", "n_points"]
    if x not in sel.columns or not len(sel):
        return pd.DataFrame(columns=cols)
    rows = []
    for arch, g in sel.groupby("arch", sort=True):
        g = g.sort_values(x)
        xs = g[x].to_numpy(float)
        verdicts = rate_verdicts(g["value"].to_numpy(float), g["ci_low"].to_numpy(float),
                                 g["ci_high"].to_numpy(float), chance)
        verdict, until, start = turning_point(xs, verdicts)
        rows.append({"arch": arch, "verdicts": ", ".join(f"{r:g}: {VERDICTS[v]}" for r, v in zip(xs, verdicts)),
                     "verdict": verdict, "sequential_until": until, "syntactic_from": start, "n_points": len(xs)})
    return pd.DataFrame(rows, columns=cols)


def bootstrap_means(values: np.ndarray, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot bootstrap resample means of ``values`` [n] -> [n_boot] (the analyses' item intervals).

    0/1 data are drawn exactly and cheaply as Binomial(n, mean) / n (what resampling 0/1 items gives);
    other data by resampling indices in chunks of at most 2**22 draws.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return np.full(n_boot, np.nan)
    if ((v == 0.0) | (v == 1.0)).all():
        return rng.binomial(n, v.mean(), size=n_boot) / n
    chunk = max(1, 2**22 // n)
    parts = [v[rng.integers(0, n, size=(min(chunk, n_boot - s), n))].mean(axis=1) for s in range(0, n_boot, chunk)]
    return np.concatenate(parts)


def bootstrap_ci(values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap ``level`` interval of the mean of ``values`` [n] (seeded)."""
    s = bootstrap_means(values, n_boot=n_boot, rng=np.random.default_rng(seed))
    s = s[~np.isnan(s)]
    if not len(s):
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
