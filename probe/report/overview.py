"""The real-English track's first table: per test set, each cell's accuracy over seeds and items, the n-gram,
the published numbers with their training data, and coverage."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from probe.core.style import arch_order
from probe.core.tables import markdown_table
from probe.metrics import NEST_KEY, corpus_groups, crossed_interval
from probe.models.cells import recurrent_cells

# Published results shipped with the third-party data (see each source's SOURCE.md), and what they were trained on.
OVERVIEW_CSV = "overview.csv"   # the overview's numbers in a results folder: test set, arch, value, interval
BLIMP_TRAINING = "BLiMP's LSTM (Gulordava et al. 2018: Wikipedia, ~90M tokens)"


def pooled_accuracy(scores: pd.DataFrame, arch: str, *, level: float = 0.95) -> tuple[float, float, float, int]:
    """Share correct of ``arch``'s kept items (all constructions pooled: each item counts once), with a crossed
    seeds x items interval -> (value, low, high, items). Only items that every seed kept count; the items
    are one block, so a construction with a single item (a rare attractor bucket) does not void the interval.
    Models trained on several corpora (a ``corpus`` column) nest their seeds in the corpora, a random factor of
    the interval (a baseline, one per corpus, varies by corpus alone)."""
    wide = _seed_item_table(scores, arch)
    if wide is None:
        return float("nan"), float("nan"), float("nan"), 0
    groups = _corpora(scores, arch, wide.index)
    value, low, high = crossed_interval([wide.to_numpy()], [1.0], level=level, groups=groups)
    return value, max(low, 0.0), min(high, 1.0), int(wide.shape[1])     # a share: the interval stays in [0, 1]


def _seed_item_table(scores: pd.DataFrame, arch: str) -> pd.DataFrame | None:
    """``arch``'s kept items as a models (rows, one per seed and corpus) x items 0/1 table (items every model
    kept), or None when there are none. Raises ValueError when several models share a seed within one corpus
    (other attractor rates mixed in: one model per seed and corpus is meant)."""
    g = scores[(scores["arch"] == arch) & ~scores["excluded"].astype(bool)]
    row = "model" if "model" in g.columns else "seed"
    keys = [k for k in (NEST_KEY, "seed") if k in g.columns]
    if row == "model" and g.groupby(keys, dropna=False)["model"].nunique().gt(1).any():
        raise ValueError(f"{arch}: several models share a seed in one corpus (other attractor rates?); give one "
                         "model per seed and corpus")
    if g.empty:
        return None
    wide = g.pivot_table(index=row, columns="id", values="correct", aggfunc="first").dropna(axis=1).astype(float)
    return wide if wide.shape[1] else None


def _corpora(scores: pd.DataFrame, arch: str, rows: pd.Index):
    """The training corpus of each of ``arch``'s table ``rows`` (as ``_seed_item_table`` keys them), for
    ``crossed_interval``'s groups; None unless the models come from several corpora."""
    g = scores[scores["arch"] == arch]
    return corpus_groups(g, rows, key="model" if "model" in g.columns else "seed")


def pooled_effect(matched: pd.DataFrame, conflict: pd.DataFrame, arch: str, *, level: float = 0.95
                  ) -> tuple[float, float, float, int]:
    """The attraction effect, accuracy on matched minus conflict items, of ``arch`` (crossed seeds x items
    interval over both blocks, on the models both classes have, row for row; seeds nested in corpora as in
    ``pooled_accuracy``) -> (value, low, high, items). The caller passes both classes from the same
    constructions, so that a prior for one verb form cannot pass for attraction."""
    m, c = _seed_item_table(matched, arch), _seed_item_table(conflict, arch)
    if m is None or c is None:
        return float("nan"), float("nan"), float("nan"), 0
    rows = m.index.intersection(c.index)
    if not len(rows):
        return float("nan"), float("nan"), float("nan"), 0
    value, low, high = crossed_interval([m.loc[rows].to_numpy(), c.loc[rows].to_numpy()], [1.0, -1.0], level=level,
                                        groups=_corpora(matched, arch, rows))
    return value, max(low, -1.0), min(high, 1.0), int(m.shape[1] + c.shape[1])


def _cell(v: float, lo: float, hi: float) -> str:
    if not np.isfinite(v):
        return "-"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{v:.3f}"


def overview_table(sets: Mapping[str, pd.DataFrame], *, suites: pd.DataFrame | None = None,
                   published: Mapping[str, str] | None = None, level: float = 0.95,
                   effects: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
                   rules: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per test set. ``sets``: {label: per-item scores of every model (``probe evaluate`` rows:
    arch, seed, id, construction, correct, excluded)}; ``suites``: ``score_suites``' seed-pooled summary
    (its item-criterion rows become one row per suite); ``published``: {label: text}; ``effects``: {label:
    (matched scores, conflict scores) of the same constructions}, rows of the attraction effect (matched -
    conflict); ``rules``: {label: the coverage rule its kept items meet}. ``table.attrs["values"]``: the numbers
    behind the cells (test set, arch, value, ci_low, ci_high, n_items), one row per cell with a value."""
    published = published or {}
    # a column per recurrent cell (a missing one shows "-") and per other model kind scored, in the usual order
    present = [a for scores in sets.values() for a in scores["arch"].unique()]
    present += list(suites["arch"].unique()) if suites is not None and len(suites) else []
    columns = arch_order(dict.fromkeys([*recurrent_cells(), *present]))
    rules = rules or {}
    rows, values = [], []     # values: the numbers behind the cells, for overview.csv and the claims

    def cell(label: str, arch: str, v: float, lo: float, hi: float, n: int | None = None) -> str:
        if np.isfinite(v):
            values.append({"test set": label, "arch": arch, "value": v, "ci_low": lo, "ci_high": hi, "n_items": n})
        return _cell(v, lo, hi)

    for label, scores in sets.items():
        row = {"test set": label}
        n_pairs = scores.groupby("model")["id"].nunique().max() if len(scores) else 0
        kept = 0
        for arch in columns:
            v, lo, hi, n = pooled_accuracy(scores, arch, level=level)
            row[arch] = cell(label, arch, v, lo, hi, n)
            kept = max(kept, n)
        row["published"] = published.get(label, "-")
        row["coverage"] = f"{kept}/{n_pairs} ({kept / n_pairs:.0%})" if n_pairs else "-"
        row["kept when"] = rules.get(label, "-")
        rows.append(row)
    for label, (matched, conflict) in (effects or {}).items():
        row = {"test set": label}
        for arch in columns:
            row[arch] = cell(label, arch, *pooled_effect(matched, conflict, arch, level=level))
        row["published"], row["coverage"], row["kept when"] = "-", "-", rules.get(label, "-")
        rows.append(row)
    if suites is not None and len(suites):
        item = suites[suites["metric"] == "item"]
        for suite, g in item.groupby("suite", sort=True):
            row = {"test set": f"SyntaxGym {suite} (item criterion)"}
            for arch in columns:
                r = g[g["arch"] == arch]
                row[arch] = cell(row["test set"], arch, *r[["value", "ci_low", "ci_high"]].iloc[0].tolist()) \
                    if len(r) else "-"
            row["published"] = published.get(suite, "-")
            r = g.iloc[0]
            n, x = int(r.get("n_items", 0)), int(r.get("n_excluded", 0))
            row["coverage"] = f"{n}/{n + x} items" if n + x else "-"
            row["kept when"] = "critical words in vocabulary (the suite's own criterion)"
            rows.append(row)
    table = pd.DataFrame(rows, columns=["test set", *columns, "published", "coverage", "kept when"])
    table.attrs["values"] = pd.DataFrame(values, columns=["test set", "arch", "value", "ci_low", "ci_high", "n_items"])
    return table


def published_blimp(path: str | Path | None, paradigms: list[str]) -> str:
    """BLiMP's published LSTM accuracy, mean over ``paradigms``, as a cell of the overview."""
    if not path or not Path(path).is_file():
        return "-"
    pub = pd.read_json(path, lines=True)
    pub = pub[pub["UID"].isin(paradigms)]
    return f"{pub['lstm'].mean():.3f} ({BLIMP_TRAINING})" if len(pub) else "-"


def published_suites() -> dict[str, str]:
    """{suite: the published models' item accuracies with their training data} from probe/resources/published.json."""
    path = Path(__file__).resolve().parents[1] / "resources" / "published.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for suite in data.get("n_items", {}):
        parts = [f"{m['model']} ({m['training']}): {np.mean(m['results'][suite]):.2f}"
                 for m in data["models"] if suite in m.get("results", {})]
        out[suite] = "; ".join(parts)
    return out


def overview_markdown(table: pd.DataFrame, *, tokens: int | None = None, corpora: bool = False) -> str:
    """The overview section: the table and what a PTB-sized corpus can be expected to show. ``corpora``: the models
    of a cell were trained on several independently drawn corpora (their seeds nested in them)."""
    size = f"{tokens:,} training tokens" if tokens else "PTB's ~0.9M training tokens"
    over = "seeds (nested in the corpora drawn), corpora and items" if corpora else "seeds and items"
    return ("Per test set: each cell's accuracy (share of kept pairs where the agreeing form is preferred; "
            f"mean over training seeds, 95% interval over {over}, `probe.metrics.crossed_interval`) beside "
            "the 3-gram and the unigram (which sees no context: its accuracy is a prior for one verb form), the "
            "published numbers with the data their models saw, coverage, and the rule a kept pair meets (*fully in "
            "vocabulary*: every word; *critical words*: the two verb forms, the head and the attractors, other "
            "words read as `<unk>`: a pair whose attractor is `<unk>` is no conflict pair for the model). "
            "*attraction effect* rows: accuracy on matched minus conflict pairs of the same constructions, which a "
            "verb-form prior cannot produce. SyntaxGym rows give the suite's own criterion (every prediction of "
            "an item holds).\n\n"
            + markdown_table(table)
            + f"\n\nThese models saw {size}; the published LSTMs saw about 90M tokens (Gulordava et al.), GPT-2 "
              "billions, and only the BLLIP-XS LSTM (~1M tokens) is of PTB's size. Agreement across an "
              "attractor needs sentences with a noun of the other number between subject and verb, which a "
              "corpus of PTB's size holds few of, so the published small-data row is the fair comparison.")
