"""Diagnostic classifiers (probes) for the head's number in hidden states, and ablation of "number units".

Probes (Hupkes et al. 2018; Giulianelli et al. 2018)
    For every layer's hidden state ``h`` (and the LSTM's cell state ``c``) at a few positions of each
    item -- the head, each attractor, the word before the verb (and, with ``along``, every offset from
    the head) -- a logistic-regression probe (scikit-learn, standardised features, L2, ``folds``-fold
    stratified cross-validation) decodes the head's number. States come from one batched forward pass
    per model over ``<eos>`` + prefix (``return_states=True``), cached; every probe reads the cache.
Control task and selectivity (Hewitt & Liang 2019)
    The control label of an item is a random but fixed bit per head *lemma* (the noun's singular form;
    seeded hash), so it carries no number information: a probe can only solve it by memorising which
    lemma the state encodes. selectivity = probe accuracy - control accuracy, with the same probe,
    features and folds. High accuracy with low selectivity would mean the probe reads word identity
    rather than a number feature.
Ablation (Lakretz et al. 2019; ``probe.analyses.ablation``)
    The items are split in two seeded halves. On the first, every unit is ranked by how well it alone
    separates the head's number at the word before the verb on items whose nearest noun has the other
    number (midpoint-of-class-means rule; LSTM: the cell state, the long-range carrier; SRN/GRU: ``h``).
    On the second half, agreement accuracy (the prefix method of ``probe.evaluate``) is measured with
    the top ``ablate`` units zeroed and with ``random_draws`` sets of as many random units (same layers)
    zeroed. A zeroed unit is zero at every time step *inside the recurrence*: the ablated layer runs
    step by step with its own ``nn.RNN/GRU/LSTM`` weights and the unit's ``h`` (and LSTM ``c``) is set
    to 0 after each step, so it reaches neither the next step, nor the next layer, nor the softmax.

Outputs: ``diagnose.csv`` (arch, seed, attractor_rate, layer, kind, position, accuracy, control_accuracy,
selectivity, n), ``ablation.csv``, ``figures/diagnose.{png,pdf}``, ``figures/ablation.{png,pdf}`` and
``diagnose.json`` (config, chosen units, seconds).
"""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
import os
import time
from typing import Annotated, Any, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from probe.core.config import CheckedConfig, NonNegativeInt, PositiveFloat, PositiveInt, Range, config_to_dict
from probe.core.errors import ProbeError
from probe.models.cells import CELLS, get_cell, recurrent_cells
from probe.models.config import archs
from probe.analyses.ablation import (
    ablation_accuracy, ablation_summary, plot_ablation, rank_units, units_dict, units_text
)
from probe.analyses.base import Analysis, AnalysisInputs, one_thread, register_analysis, select_models, write_outputs


MAX_ATTRACTORS = 4


Folds = Annotated[int, Range(2, text="at least 2 (cross-validation)")]


@dataclass(frozen=True)
class DiagnoseConfig(CheckedConfig):
    """Options of ``probe diagnose``: what it probes and ablates."""

    attractor_rate: float | None = None   # models trained at this corpus rate (None: the largest in the run)
    max_seeds: PositiveInt = 3                    # training seeds per arch (the run's first ones)
    constructions: tuple[str, ...] = ("pp", "src", "orc", "orc_nothat")  # items whose attractors follow the head
    max_items: PositiveInt = 2000         # items per model (a seeded sample when there are more)
    folds: Folds = 5                      # cross-validation folds per probe
    C: PositiveFloat = 1.0                        # inverse L2 strength of the logistic regression
    max_iter: PositiveInt = 500                   # solver iterations per probe
    along: bool = False                   # also probe at every offset from the head (head+0 .. head+max_offset)
    max_offset: NonNegativeInt = 12                  # the furthest offset probed with ``along``
    ablate: NonNegativeInt = 2            # number units zeroed (0: no ablation)
    random_draws: NonNegativeInt = 10     # random-unit ablations per model
    batch_size: PositiveInt = 256                 # sequences per forward pass
    n_boot: PositiveInt = 1000                    # bootstrap resamples for accuracy CIs
    seed: int = 0                         # item sample, folds, control labels, halves, random units


SMALL_DIAGNOSE = DiagnoseConfig(max_seeds=1, max_items=800, folds=5, ablate=2, random_draws=5, n_boot=200)
# The quick preset's toy sizes (a smoke test, not a result).
QUICK_DIAGNOSE = DiagnoseConfig(max_seeds=1, max_items=300, folds=3, ablate=2, random_draws=3, n_boot=100)
PRESETS = {"full": DiagnoseConfig(), "small": SMALL_DIAGNOSE, "quick": QUICK_DIAGNOSE}


# ---------------------------------------------------------------------------------------------------
# States, computed once per model


class StateCache(NamedTuple):
    """Every layer's states over ``<eos>`` + prefix for a set of items (index t+1 = the item's token t)."""

    states: dict           # (layer, kind) -> float32 [N, T_max, H] (zeros past each row's length)
    lengths: np.ndarray    # int64 [N]: <eos> + prefix tokens


def encode_prefixes(items: pd.DataFrame, vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items -> (ids int64 [N, T_max] = <eos> + prefix, right-padded; lengths [N]; in-vocabulary mask [N])."""
    from probe.train_number import item_examples

    data, in_vocab = item_examples(items, vocab)
    return data.ids, data.lengths, in_vocab


def compute_states(model: nn.Module, ids: np.ndarray, lengths: np.ndarray, *, batch_size: int = 256) -> StateCache:
    """One batched forward pass per length-sorted batch with ``return_states=True`` -> StateCache.

    ``model``: a causal LanguageModel (right padding cannot change earlier states); only its encoder runs.
    ids [N, T], lengths [N].
    """
    from probe.scoring.base import length_batches

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    states: dict = {}
    try:
        with torch.no_grad():
            cfg = model.config
            # the batch bound counts the floats held per token: every layer's h (and LSTM c)
            per_token = cfg.hidden * cfg.layers * (get_cell(cfg.arch).state_size if cfg.arch in CELLS else 1)
            for b in length_batches(lengths, batch_size, per_token):
                width = int(lengths[b].max())
                # the encoder alone: the states are all we read, the softmax layer's logits are not
                out = model.encoder(torch.as_tensor(ids[b, :width], device=device), return_states=True)
                for key, value in out.states.items():
                    if key not in states:
                        states[key] = np.zeros((len(ids), ids.shape[1], value.shape[-1]), dtype=np.float32)
                    states[key][b, :width] = value.float().cpu().numpy()
    finally:
        model.train(was)
    for key, arr in states.items():   # padding positions read as zeros, never as another item's state
        arr[np.arange(ids.shape[1])[None, :] >= lengths[:, None]] = 0.0
    return StateCache(states, np.asarray(lengths))


def position_indices(items: pd.DataFrame, *, along: bool = False, max_offset: int = 12) -> dict[str, np.ndarray]:
    """Position name -> sequence index per item [N] (-1 where the item has no such position).

    Sequence index = token index + 1 (the leading <eos>). Positions: head, attractor1..4 (the k-th
    attractor after the head), before_verb (the prefix's last word); with ``along``: head+d.
    """
    n = len(items)
    head = items["head_index"].to_numpy(np.int64)
    verb = items["verb_index"].to_numpy(np.int64)
    pos = {"head": head + 1}
    attr = items["attractor_indices"].map(lambda a: sorted(int(i) for i in (a if a is not None else ())))
    for k in range(MAX_ATTRACTORS):
        idx = np.fromiter((a[k] if len(a) > k else -2 for a in attr), dtype=np.int64, count=n)
        pos[f"attractor{k + 1}"] = idx + 1
    pos["before_verb"] = verb          # token verb_index - 1, +1 for <eos>
    if along:
        for d in range(max_offset + 1):
            t = head + d
            pos[f"head+{d}"] = np.where(t < verb, t + 1, -1)
    for name, idx in pos.items():
        pos[name] = np.where((idx >= 1) & (idx <= verb) & (head >= 0), idx, -1)
    return pos


def control_labels(items: pd.DataFrame, *, seed: int = 0, lexicon=None) -> np.ndarray:
    """Hewitt & Liang's control task: a random but fixed bit per head lemma (seeded hash) -> int64 [N]."""
    from probe.data.lexicon import load_lexicon

    lex = lexicon or load_lexicon()
    lemma = {n.pl: n.sg for n in lex.nouns} | {n.sg: n.sg for n in lex.nouns}
    heads = items["head"].astype(str).map(lambda w: lemma.get(w, w))

    def bit(word: str) -> int:
        return hashlib.blake2b(f"{seed}:{word}".encode(), digest_size=1).digest()[0] & 1

    return heads.map(bit).to_numpy(np.int64)


# ---------------------------------------------------------------------------------------------------
# Probes


def probe_accuracy(X: np.ndarray, y: np.ndarray, *, folds: int = 5, C: float = 1.0, max_iter: int = 500,
                   seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic-regression probe: X [N, D] float, y [N] int -> mean over folds.

    Standardised features, L2 penalty ``C``, Newton-Cholesky solver (a few exact steps: hidden sizes are
    small next to the item counts; L-BFGS took several times longer here), stratified folds (fewer when
    a class is rare); NaN when a class has fewer than 2 examples.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    counts = np.bincount(y, minlength=2)
    k = min(folds, int(counts.min()))
    if k < 2:
        return float("nan")
    X = np.asarray(X, dtype=np.float64)
    correct = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y):
            mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
            clf = LogisticRegression(C=C, max_iter=max_iter, solver="newton-cholesky").fit((X[tr] - mu) / sd, y[tr])
            correct += int((clf.predict((X[te] - mu) / sd) == y[te]).sum())
    return correct / len(y)


def probe_states(cache: StateCache, positions: dict[str, np.ndarray], labels: np.ndarray, control: np.ndarray,
                 cfg: DiagnoseConfig) -> list[dict]:
    """Probe every (layer, kind) x position of a cached model -> rows (layer, kind, position, accuracy,
    control_accuracy, selectivity, n)."""
    rows = []
    for (layer, kind), states in sorted(cache.states.items()):
        for name, idx in positions.items():
            keep = np.flatnonzero(idx >= 0)
            if len(keep) < 2 * cfg.folds:
                continue
            X = states[keep, idx[keep]]
            acc = probe_accuracy(X, labels[keep], folds=cfg.folds, C=cfg.C, max_iter=cfg.max_iter, seed=cfg.seed)
            ctl = probe_accuracy(X, control[keep], folds=cfg.folds, C=cfg.C, max_iter=cfg.max_iter, seed=cfg.seed)
            rows.append({"layer": int(layer), "kind": kind, "position": name, "accuracy": acc,
                         "control_accuracy": ctl, "selectivity": acc - ctl, "n": int(len(keep))})
    return rows


# ---------------------------------------------------------------------------------------------------
# The analysis


def load_probe_items(items: str | os.PathLike, cfg: DiagnoseConfig) -> pd.DataFrame:
    """The items probed: the configured constructions, head position known, a seeded sample of max_items."""
    from probe.data.items import load_items, prepare_items

    df = prepare_items(load_items(items))
    if cfg.constructions:
        df = df[df["construction"].isin(list(cfg.constructions))]
    for col in ("head_index", "verb_index", "attractor_indices", "head"):
        if col not in df.columns:
            raise ProbeError(f"{items} lacks the column {col}; probes need items built by `probe build`")
    df = df[(df["head_index"] >= 0) & df["head_number"].isin(["sg", "pl"])]
    if len(df) < 4 * cfg.folds:
        raise ProbeError(f"{items} has {len(df)} usable items of {', '.join(cfg.constructions) or 'any construction'}; "
                         f"probes need at least {4 * cfg.folds}: build more items")
    if len(df) > cfg.max_items:
        df = df.sample(n=cfg.max_items, random_state=cfg.seed)
    return df.reset_index(drop=True)


def diagnose_model(model_info: dict, items: pd.DataFrame, cfg: DiagnoseConfig, *, lexicon=None) -> tuple[list, list, dict]:
    """Probe (and ablate) one model -> (diagnose rows, ablation rows, facts)."""
    from probe.metrics import bootstrap_ci
    from probe.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(model_info["path"])
    arch, seed = ckpt.model_config.arch, int(model_info.get("seed", 0) or 0)
    key = {"arch": arch, "seed": seed, "attractor_rate": model_info.get("attractor_rate")}
    ids, lengths, in_vocab = encode_prefixes(items, ckpt.vocab)
    items = items[in_vocab].reset_index(drop=True)
    ids, lengths = ids[in_vocab], lengths[in_vocab]
    labels = (items["head_number"] == "pl").to_numpy(np.int64)
    control = control_labels(items, seed=cfg.seed, lexicon=lexicon)
    t0 = time.perf_counter()
    cache = compute_states(ckpt.model, ids, lengths, batch_size=cfg.batch_size)
    t_states = time.perf_counter() - t0
    positions = position_indices(items, along=cfg.along, max_offset=cfg.max_offset)
    diag = [{**key, **r} for r in probe_states(cache, positions, labels, control, cfg)]
    t_probes = time.perf_counter() - t0 - t_states
    facts = {"model": str(model_info["path"]), **key, "items": int(len(items)), "states_seconds": round(t_states, 3),
             "probe_seconds": round(t_probes, 3)}
    abl: list[dict] = []
    if cfg.ablate and arch in recurrent_cells():
        t1 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, seed, 17])
        half = rng.permutation(len(items)) < len(items) // 2      # True: unit selection, False: measurement
        attracted = (items["nearest_number"] != items["head_number"]).to_numpy()
        sel = np.flatnonzero(half & attracted)
        if len(sel) < 10:
            sel = np.flatnonzero(half)
        ranked = rank_units(cache.states, positions["before_verb"], labels, sel, arch)
        top = units_dict([(layer, u) for layer, u, _ in ranked[: cfg.ablate]])
        test = items[~half].reset_index(drop=True)
        hidden = ckpt.model_config.hidden
        sets = [("none", 0, {}), ("number", 0, top)]
        for d in range(cfg.random_draws):
            draw = {}
            for layer, us in top.items():
                pool = np.setdiff1d(np.arange(hidden), us)
                draw[layer] = sorted(int(u) for u in rng.choice(pool, size=min(len(us), len(pool)), replace=False))
            sets.append(("random", d + 1, draw))
        for name, draw, units in sets:
            res = ablation_accuracy(ckpt.model, ckpt.vocab, test, units, batch_size=cfg.batch_size)
            for match, g in [("all", res), *((m, res[res["match"] == m]) for m in ("none", "matched", "conflict"))]:
                if not len(g):
                    continue
                v = g["correct"].to_numpy(dtype=float)
                lo, hi = bootstrap_ci(v, n_boot=cfg.n_boot, seed=cfg.seed)
                abl.append({**key, "ablation": name, "draw": draw, "units": units_text(units),
                            "k": sum(len(u) for u in units.values()), "match": match, "n_items": int(len(v)),
                            "accuracy": float(v.mean()), "ci_low": lo, "ci_high": hi})
        facts["number_units"] = [{"layer": layer, "unit": u, "single_unit_accuracy": a}
                                 for layer, u, a in ranked[: max(cfg.ablate, 5)]]
        facts["selection_items"] = int(len(sel))
        facts["ablation_items"] = int(len(test))
        facts["ablation_seconds"] = round(time.perf_counter() - t1, 3)
    return diag, abl, facts


DIAG_COLUMNS = ["arch", "seed", "attractor_rate", "layer", "kind", "position", "accuracy", "control_accuracy",
                "selectivity", "n"]
ABL_COLUMNS = ["arch", "seed", "attractor_rate", "ablation", "draw", "units", "k", "match", "n_items", "accuracy",
               "ci_low", "ci_high"]


def run(inputs: AnalysisInputs, cfg: DiagnoseConfig) -> dict:
    """Probe the head's number in every layer's states, with control task and selectivity; ablate number units.

    ``models``: [{"path", "arch", "attractor_rate", "seed"}] (training folders); ``items``: an item
    dataset (folder or .jsonl); ``corpus_dirs`` is not used.
    Writes ``out/diagnose.csv``, ``out/ablation.csv`` (when ``ablate`` > 0), ``out/diagnose.json`` and
    ``out/figures/{diagnose,ablation}.{png,pdf}``. Returns {"files", "markdown", "seconds", ...}.
    """
    models, items, out, progress = list(inputs.models), inputs.items, inputs.out, inputs.progress
    from tqdm.auto import tqdm

    from probe.data.lexicon import load_lexicon
    from probe.scoring.registry import check_model_path

    t0 = time.perf_counter()
    rate, chosen = select_models(models, cfg.attractor_rate, archs=archs(), max_seeds=cfg.max_seeds)
    for m in chosen:
        check_model_path(m["path"])
    df = load_probe_items(items, cfg)
    lex = load_lexicon()
    diag, abl, facts = [], [], []
    with one_thread():
        for m in tqdm(chosen, desc="diagnose", unit="model", disable=not progress):
            d, a, f = diagnose_model(m, df, cfg, lexicon=lex)
            diag += d
            abl += a
            facts.append(f)
        diag_t = pd.DataFrame(diag, columns=DIAG_COLUMNS)
        abl_t = pd.DataFrame(abl, columns=ABL_COLUMNS)
        figs = {"diagnose": plot_diagnose(diag_t), "ablation": plot_ablation(abl_t) if len(abl_t) else None}
    seconds = time.perf_counter() - t0
    info = {"config": config_to_dict(cfg), "attractor_rate": rate, "items": str(items), "n_items": int(len(df)),
            "models": facts, "seconds": round(seconds, 2)}
    ablated = figs["ablation"] is not None
    files = write_outputs(out, tables={"diagnose": diag_t, **({"ablation": abl_t} if ablated else {})},
                          figures={"diagnose": figs["diagnose"], **({"ablation": figs["ablation"]} if ablated else {})},
                          records={"diagnose": info})
    md = diagnose_markdown(diag_t, abl_t, cfg=cfg, rate=rate, n_items=len(df))
    return {"files": files, "markdown": md, "seconds": round(time.perf_counter() - t0, 2),
            "before_verb": _headline(diag_t), "ablation": ablation_summary(abl_t).to_dict("records")}


def _headline(diag: pd.DataFrame) -> dict:
    sub = diag[diag["position"] == "before_verb"]
    g = sub.groupby(["arch", "layer", "kind"])[["accuracy", "selectivity"]].mean()
    return {f"{a}/{layer}/{k}": {"accuracy": float(r["accuracy"]), "selectivity": float(r["selectivity"])}
            for (a, layer, k), r in g.iterrows()}


# ---------------------------------------------------------------------------------------------------
# Figures and report


def _position_order(positions: Sequence[str]) -> list[str]:
    fixed = ["head", *(f"attractor{k}" for k in range(1, MAX_ATTRACTORS + 1)), "before_verb"]
    along = sorted((p for p in positions if p.startswith("head+")), key=lambda p: int(p.split("+")[1]))
    return [p for p in fixed if p in set(positions)] + along


def plot_diagnose(diag: pd.DataFrame):
    """Probe accuracy along the sentence: one panel per arch, one line per layer x kind (h black and solid, c
    orange and dashed, set a little to the right of h so that equal accuracies stay visible; marker by layer),
    control-task accuracy paler; mean over seeds. Offsets from the head (``along``) are drawn as a second,
    separate stretch right of the position classes."""
    from matplotlib.figure import Figure

    from probe.core.style import arch_order, figure_style, shade as _shade, suptitle

    with figure_style():
        archs = arch_order(diag["arch"]) if len(diag) else []
        order = _position_order(diag["position"].unique()) if len(diag) else []
        classes = [p for p in order if not p.startswith("head+")]
        offsets = [p for p in order if p.startswith("head+")]
        # x: the classes, a one-slot gap, then the offsets
        xpos = {p: i for i, p in enumerate(classes)} | {p: len(classes) + 1 + i for i, p in enumerate(offsets)}
        width = max(3.6, 0.3 * len(xpos) + 1.8)
        fig = Figure(figsize=(max(6.0, width * max(1, len(archs))), 4.2), layout="constrained")
        if not len(diag):
            ax = fig.add_subplot(1, 1, 1)
            ax.text(0.5, 0.5, "no probes", ha="center", va="center")
            ax.set_axis_off()
            return fig
        markers = ["o", "s", "^", "D", "v", "P"]
        axes = [fig.add_subplot(1, len(archs), i + 1) for i in range(len(archs))]
        for ax, arch in zip(axes, archs):
            sub = diag[diag["arch"] == arch].groupby(["layer", "kind", "position"], as_index=False)[
                ["accuracy", "control_accuracy"]].mean()
            # c beside h (set a little to the right, in its own colour, drawn over h): equal accuracies, often
            # both at 1.0, must not hide one line under the other
            for (layer, kind), g in sorted(sub.groupby(["layer", "kind"]), key=lambda kv: (kv[0][1] == "c", kv[0])):
                g = g.set_index("position")
                ls, colour, shift = ("-", "black", -0.08) if kind == "h" else ("--", "#d95f02", 0.08)
                mk = markers[int(layer) % len(markers)]
                for k, stretch in enumerate((classes, offsets)):
                    d = g.reindex(stretch)
                    if not len(stretch):
                        continue
                    x = [xpos[p] + shift for p in stretch]
                    ax.plot(x, d["accuracy"], ls=ls, marker=mk, color=colour, mfc="white" if kind == "c" else colour,
                            ms=5, lw=1.3, label=f"layer {layer} {kind}" if k == 0 else None)
                    ax.plot(x, d["control_accuracy"], ls=ls, marker=mk, color=_shade(colour, 0.45), ms=3, lw=0.8,
                            mfc="white" if kind == "c" else _shade(colour, 0.45),
                            label=f"layer {layer} {kind}: control task" if k == 0 else None)
            if offsets:
                ax.axvline(len(classes), color="0.7", lw=0.8)
            ax.axhline(0.5, color="0.5", lw=0.8, ls=":", zorder=0)
            ax.set_xticks([xpos[p] for p in order])
            ax.set_xticklabels(order, rotation=45, ha="right")
            ax.set_ylim(-0.02, 1.02)
            n = diag.loc[diag["arch"] == arch, "n"]
            ax.set_title(f"{arch} (n = {int(n.min())}-{int(n.max())} items per point)", fontsize=9)
            ax.set_ylabel("probe accuracy (head number)")
            ax.legend(fontsize=6, frameon=False, loc="lower left")
        suptitle(fig, "Decoding the head's number from the hidden state (h: black, solid) and, in LSTMs, the cell "
                      "state (c: orange, dashed, drawn beside h)",
                 "pale: control task (a random bit per head lemma); each position holds the items that have it")
    return fig


def diagnose_markdown(diag: pd.DataFrame, abl: pd.DataFrame, *, cfg: DiagnoseConfig, rate: Any, n_items: int) -> str:
    """The report section: probe accuracy / selectivity per position, and the ablation result."""
    from probe.core.tables import markdown_table

    if not len(diag):
        return "No probes could be fitted (too few items).\n"
    g = diag.groupby(["arch", "layer", "kind", "position"], as_index=False)[["accuracy", "selectivity"]].mean()
    order = _position_order(g["position"].unique())
    order = [p for p in order if not p.startswith("head+")]
    rows = []
    for (arch, layer, kind), s in g.groupby(["arch", "layer", "kind"], sort=False):
        s = s.set_index("position")
        rows.append({"arch": arch, "layer": int(layer), "kind": kind,
                     **{p: (f"{s.loc[p, 'accuracy']:.3f} ({s.loc[p, 'selectivity']:+.3f})" if p in s.index else "")
                        for p in order}})
    which = f"models trained at attractor rate {rate:g}" if rate is not None and np.isfinite(rate) else "the models given"
    text = (f"Logistic-regression probes ({cfg.folds}-fold CV, standardised states, C={cfg.C:g}) decoding the head's "
            f"number from each layer's states, on {n_items} items ({', '.join(cfg.constructions) or 'all'}; {which}); "
            "cells: accuracy (selectivity = accuracy - control-task accuracy, "
            "control = a random bit per head lemma, Hewitt & Liang 2019). Mean over seeds.\n\n"
            + markdown_table(pd.DataFrame(rows)))
    s = ablation_summary(abl)
    if len(s):
        fmt = s.assign(**{c: s[c].map(lambda v: f"{v:.3f}") for c in ("intact", "number_units", "random_mean")})
        fmt["random (95% range)"] = [f"{m} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                                     zip(fmt["random_mean"], s["random_low"], s["random_high"])]
        text += (f"\nAblation (Lakretz et al. 2019): agreement accuracy on held-out {s['match'].iloc[0]} items with the "
                 f"{cfg.ablate} units most predictive of the head's number (single-unit accuracy before the verb, "
                 f"on the other half of the items) zeroed at every step, vs {cfg.random_draws} draws of as many "
                 "random units (layer:unit listed).\n\n"
                 + markdown_table(fmt[["arch", "intact", "number_units", "random (95% range)", "n_items", "units"]]))
    return text


ANALYSIS = register_analysis(Analysis("diagnose", "Diagnostic classifiers and number units", DiagnoseConfig, PRESETS,
                                      run, needs=("models", "items")))
