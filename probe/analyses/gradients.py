"""Vanishing gradients: ||dJ(t)/dh(t-l)|| by distance per recurrent cell (init and trained), and on agreement items.

The estimator (``decay_norms``)
    A window is ``burn_in + L + 1`` consecutive corpus tokens (seeded random offsets in the valid split,
    so the final position falls anywhere in a sentence) plus the token after it. The model reads the
    window from the zero state; J is the cross-entropy of the next token at the window's final position
    t (natural log). One backward pass per batch of windows gives, for every distance l = 0..L at once,
    the Euclidean norm of the total derivative dJ/dh(t-l) of the top layer's hidden state (LSTM: the
    output h, the cell state c(t-l) held fixed), through every later step. J is summed over the
    windows of a batch; windows do not interact, so each window's gradients are its own. Reported:
    the mean of the per-window norms over windows (and models of the same cell), ``grad_norm``, and
    the mean of the per-window ratios to the norm at distance 0, ``grad_norm_rel`` (the decay alone,
    independent of the softmax layer's scale).

    To reach intermediate hidden states, the model is re-run step by step from its own weights
    (``forward_with_taps``), in float64, with a zero "tap" tensor added to the embedding and to every
    layer's hidden state at every position: dJ/dtap = dJ/dh. The step-by-step forward equals the
    model's fused forward (tested), and the one-pass norms equal a per-distance autograd loop and
    finite differences (tested).

Agreement items (``item_gradients``)
    The margin log P(verb_good | <eos> prefix) - log P(verb_bad | <eos> prefix) is differentiated with
    respect to the head noun's and each attractor's embedding and top-layer hidden state, for a padded
    batch of items in one backward pass (the summed margin has per-item gradients: items do not
    interact and the model is causal). Distance = verb position - noun position (1 = adjacent).
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import os
from pathlib import Path
import time
from typing import Annotated, Sequence

from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import torch

from probe.analyses.base import (
    Analysis, AnalysisInputs, analysis_copy, corpus_for, one_thread, register_analysis, select_models,
    training_corpus, write_outputs
)
from probe.analyses.taps import (
    tapped_layer, decay_norms, fit_decay, forward_with_taps, parse_variant, random_windows, sample_windows,
    summarize_norms, variant_name
)
from probe.core.config import CheckedConfig, NonNegativeFloat, NonNegativeInt, PositiveInt, Range, config_to_dict
from probe.core.errors import ProbeError
from probe.core.io import check_output_dir
from probe.core.style import arch_order, arch_style, figure_style, fmt_num, log_axis, suptitle
from probe.core.tables import markdown_table
from probe.data.corpus import Vocab, load_corpus
from probe.data.items import prepare_items, read_items
from probe.models.cells import recurrent_cells
from probe.models.checkpoint import load_checkpoint
from probe.models.config import ModelConfig
from probe.models.lm import LanguageModel, build_model


STEM = "gradients"


VocabSize = Annotated[int, Range(2, text="at least 2 (<unk>, <eos>)")]


@dataclass(frozen=True)
class GradientsConfig(CheckedConfig):
    """Options of ``probe gradients`` (the defaults are the full size; PRESETS has smaller ones)."""

    max_distance: PositiveInt = 60    # L: distances 0..L from the target position
    burn_in: NonNegativeInt = 20                 # tokens read before the window's first measured position
    n_sequences: PositiveInt = 512    # windows averaged per model
    batch_size: PositiveInt = 128             # windows (or items) per backward pass
    fit_min: NonNegativeInt = 5                  # the exponential fit uses distances fit_min..max_distance
    variants: tuple[str, ...] = ("srn", "gru", "lstm", "lstm:forget_bias=1")  # fresh cells measured at init,
                                      #   as arch[:nonlinearity=relu|forget_bias=X]
    emb: PositiveInt = 64                     # sizes of fresh models when no trained model of the cell is given
    hidden: PositiveInt = 64                  # units per layer of fresh models
    layers: PositiveInt = 1                   # stacked layers of fresh models
    vocab_size: VocabSize = 1000                 # fresh models without corpus or trained models: random tokens
    split: str = "valid"              # corpus split the windows come from
    n_items: NonNegativeInt = 2000    # agreement items for the item gradients (0: skip them)
    attractor_rate: float | None = None  # trained models of this corpus rate (None: the largest given)
    models_per_cell: NonNegativeInt = 0          # trained models used per cell, the first seeds (0: all)
    n_boot: PositiveInt = 200                 # bootstrap resamples of windows for the CIs
    sim_models: NonNegativeInt = 8               # the bare-cell simulation: initialisations per variant (0: skip)
    sim_sequences: NonNegativeInt = 8            # its input sequences per initialisation
    sim_hidden: PositiveInt = 64              # its units
    sim_input_scale: NonNegativeFloat = 1.0      # its inputs: N(0, scale^2) per unit
    seed: int = 0                     # windows, item sample, fresh-model init


# Presets: 'full' (CLI defaults), 'small' (inside ``probe run``, <= ~40 s) or 'quick' (toy run, <= ~5 s).
PRESETS = {
    "full": GradientsConfig(),
    "small": GradientsConfig(n_sequences=128, batch_size=128, burn_in=10, n_items=400, models_per_cell=1,
                             n_boot=100, sim_models=4, sim_sequences=4),
    "quick": GradientsConfig(max_distance=50, n_sequences=32, batch_size=32, burn_in=5, n_items=60,
                             models_per_cell=1, n_boot=50, emb=16, hidden=16, sim_models=2, sim_sequences=2),
}


def check_config(cfg: GradientsConfig) -> None:
    """One-line ProbeErrors for impossible combinations of options (each field's range is checked where the config
    is made)."""
    if cfg.fit_min >= cfg.max_distance - 1:
        raise ProbeError(f"fit_min ({cfg.fit_min}) must lie below max_distance - 1 ({cfg.max_distance - 1})")
    for spec in cfg.variants:
        parse_variant(spec)


# ---------------------------------------------------------------------------------------------------
# Gradient norm by distance


def cell_jacobian_norms(spec: dict, *, hidden: int = 64, input_scale: float = 1.0, max_distance: int = 20,
                        n_sequences: int = 16, seed: int = 0) -> np.ndarray:
    """A quick simulation: a bare cell at PyTorch init read inputs N(0, input_scale^2) from the zero state.

    Returns the Frobenius norms ||dh(t)/dh(t-l)||_F of the full Jacobian (all hidden units), float64
    [n_sequences, max_distance + 1], column l = distance l. The H rows of each Jacobian come from one
    backward pass over the sequence repeated H times with one-hot output weights.
    """
    torch.manual_seed(seed)
    mcfg = ModelConfig(**{**spec, "vocab_size": 2, "emb": hidden, "hidden": hidden, "layers": 1})
    layer = build_model(mcfg).encoder.layers[0].to(torch.float64)
    for p in layer.parameters():
        p.requires_grad_(False)
    T, H = max_distance + 1, hidden
    gen = torch.Generator().manual_seed(10_000 + seed)   # inputs: a stream apart from the weights
    x = torch.randn(n_sequences, T, H, generator=gen, dtype=torch.float64) * input_scale
    x = x.repeat_interleave(H, 0)                                  # [n * H, T, H]
    tap = torch.zeros(n_sequences * H, T, H, dtype=torch.float64, requires_grad=True)
    h = tapped_layer(layer, x, tap)
    onehot = torch.eye(H, dtype=torch.float64).repeat(n_sequences, 1)
    (grad,) = torch.autograd.grad((h[:, -1] * onehot).sum(), tap)
    jac = grad.reshape(n_sequences, H, T, H)                        # [n, output unit, step, input unit]
    return jac.norm(dim=(1, 3)).flip(1).numpy()


# ---------------------------------------------------------------------------------------------------
# Gradient of the agreement margin on items


def item_gradients(model: LanguageModel, vocab: Vocab, items: pd.DataFrame, *, batch_size: int = 128) -> pd.DataFrame:
    """One row per item x noun (head, each attractor): ||d margin / d embedding|| and ||d margin / d h_top||.

    ``items``: item rows (``head_index``, ``attractor_indices``, ``verb_index``, ``prefix``, verbs). Items
    whose words are not all in ``vocab``, whose noun positions are unknown (-1) or whose ``verb_index``
    disagrees with the prefix are left out. ``model``: as returned by ``analysis_copy``.
    Columns: item, condition, n_attractors, match, role (head|attractor), rank (0 head, 1.. attractors in
    order), noun_number, distance (verb position - noun position), grad_emb, grad_h, margin.
    """
    from probe.scoring.base import length_batches, pad_right

    df = prepare_items(items) if "match" not in items.columns else items
    toks = df["prefix"].astype(str).str.split()
    stoi, known = vocab.stoi, vocab.is_known
    ok = (df["head_index"].fillna(-1).astype(int) >= 0) & (toks.str.len() == df["verb_index"].fillna(-1).astype(int))
    ok &= toks.map(lambda ts: all(map(known, ts))) & df["verb_good"].map(known) & df["verb_bad"].map(known)
    ok &= df["verb_good"] != df["verb_bad"]
    df = df[ok.to_numpy()].reset_index(drop=True)
    cols = ["item", "condition", "n_attractors", "match", "role", "rank", "noun_number", "distance", "grad_emb",
            "grad_h", "margin"]
    if not len(df):
        return pd.DataFrame(columns=cols)
    seqs = [[vocab.eos_id, *vocab.encode(ts)] for ts in df["prefix"].astype(str).str.split()]
    ids, lengths = pad_right(seqs)
    good = df["verb_good"].map(stoi).to_numpy(np.int64)
    bad = df["verb_bad"].map(stoi).to_numpy(np.int64)
    g_emb = np.zeros(ids.shape)
    g_h = np.zeros(ids.shape)
    margin = np.zeros(len(df))
    top = (model.config.layers - 1, "h")
    for batch in length_batches(lengths, batch_size, len(vocab)):
        width = int(lengths[batch].max())
        x = torch.as_tensor(ids[batch, :width])
        last, taps = forward_with_taps(model, x, at=torch.as_tensor(lengths[batch] - 1))
        logp = torch.log_softmax(last, dim=-1)
        m = logp.gather(1, torch.as_tensor(good[batch])[:, None]) - logp.gather(1, torch.as_tensor(bad[batch])[:, None])
        ge, gh = torch.autograd.grad(m.sum(), [taps["emb"], taps[top]])
        g_emb[batch, :width] = ge.norm(dim=-1).numpy()
        g_h[batch, :width] = gh.norm(dim=-1).numpy()
        margin[batch] = m.detach().squeeze(1).numpy()
    # one row per (item, noun): the head, then every attractor, gathered with fancy indexing
    att = df["attractor_indices"].map(lambda a: [int(v) for v in (a if a is not None else ())])
    att_num = df["attractor_numbers"].map(lambda a: [str(v) for v in (a if a is not None else ())])
    n_att = att.str.len().to_numpy()
    row = np.concatenate([np.arange(len(df)), np.repeat(np.arange(len(df)), n_att)])
    pos = np.concatenate([df["head_index"].to_numpy(np.int64),
                          np.fromiter((v for a in att for v in a), dtype=np.int64, count=int(n_att.sum()))])
    rank = np.concatenate([np.zeros(len(df), dtype=np.int64),
                           np.fromiter((k + 1 for a in att for k in range(len(a))), dtype=np.int64,
                                       count=int(n_att.sum()))])
    numbers = np.concatenate([df["head_number"].astype(str).to_numpy(),
                              np.array([v for a in att_num for v in a], dtype=object)])
    col = pos + 1                                     # ids start with <eos>
    valid = (pos >= 0) & (col < lengths[row])
    verb = df["verb_index"].to_numpy(np.int64)
    out = pd.DataFrame({
        "item": df["id"].astype(str).to_numpy()[row], "condition": df["condition"].astype(str).to_numpy()[row],
        "n_attractors": df["n_attractors"].to_numpy(np.int64)[row], "match": df["match"].to_numpy()[row],
        "role": np.where(rank == 0, "head", "attractor"), "rank": rank, "noun_number": numbers,
        "distance": verb[row] - pos, "grad_emb": g_emb[row, np.clip(col, 0, ids.shape[1] - 1)],
        "grad_h": g_h[row, np.clip(col, 0, ids.shape[1] - 1)], "margin": margin[row],
    })
    return out[valid].reset_index(drop=True)[cols]


def summarize_items(rows: pd.DataFrame) -> pd.DataFrame:
    """Item-gradient rows (with arch, variant) -> mean and s.e.m. per arch, variant, role, distance."""
    keys = ["arch", "variant", "role", "distance"]
    if not len(rows):
        return pd.DataFrame(columns=keys + ["grad_emb", "grad_emb_sem", "grad_h", "grad_h_sem", "n", "n_models"])
    g = rows.groupby(keys, sort=True)
    out = g.agg(grad_emb=("grad_emb", "mean"), grad_emb_sem=("grad_emb", "sem"), grad_h=("grad_h", "mean"),
                grad_h_sem=("grad_h", "sem"), n=("grad_h", "size"), n_models=("model", "nunique")).reset_index()
    return out


# ---------------------------------------------------------------------------------------------------
# Output helpers (shared by the clipping and depth analyses)


def line_style(arch: str, variant: str, archs: Sequence[str]) -> dict:
    """matplotlib kwargs for an (arch, variant): the arch's marker/line/colour; other variants open, dotted."""
    marker, ls, colour = arch_style(arch, archs)
    default = variant in ("default", "tanh")
    return {"marker": marker, "ls": ls if default else ":", "color": colour, "mfc": colour if default else "white",
            "mec": colour}


# ---------------------------------------------------------------------------------------------------
# Figures


def plot_gradients(table: pd.DataFrame) -> Figure:
    """Mean ||dJ(t)/dh(t-l)|| by distance (log y), one line per cell variant, panels init | trained."""
    fig = Figure(figsize=(9.5, 4.0), layout="constrained")
    states = [s for s in ("init", "trained") if s in set(table["state"])]
    if not states:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no gradient measurements", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig

    archs = arch_order(table["arch"])
    axes = [fig.add_subplot(1, len(states), i + 1) for i in range(len(states))]
    for ax, state in zip(axes, states):
        sub = table[table["state"] == state]
        for (arch, variant), d in sorted(sub.groupby(["arch", "variant"]),
                                         key=lambda kv: (archs.index(kv[0][0]), kv[0][1])):
            d = d.sort_values("distance")
            y = d["grad_norm"].where(d["grad_norm"] > 0)
            ax.plot(d["distance"], y, markevery=max(1, len(d) // 10), ms=4, lw=1.2,
                    label=f"{arch} ({variant}), n={int(d['n'].iloc[0])}", **line_style(arch, variant, archs))
            ax.fill_between(d["distance"], d["ci_low"].where(d["ci_low"] > 0), d["ci_high"],
                            color=line_style(arch, variant, archs)["color"], alpha=0.12, lw=0)
        log_axis(ax)
        ax.set_xlabel("distance l (steps back from the target position t)")
        ax.set_ylabel("mean ||dJ(t)/dh(t-l)|| (log scale)")
        rate = _rate_of(sub) if state == "trained" else None
        ax.set_title("at initialisation" if state == "init" else
                     "after training" + (f" (corpus attractor rate {rate:g})" if rate is not None else ""), fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    suptitle(fig, "Vanishing gradients: J = cross-entropy at position t, h = top-layer hidden state; "
                  "n = windows per line, bands: 95% bootstrap CI")
    return fig


def _rate_of(frame: pd.DataFrame) -> float | None:
    """The corpus attractor rate of a table's trained models (its ``attractor_rate`` column), None if unknown."""
    if "attractor_rate" not in frame.columns:
        return None
    rates = pd.to_numeric(frame["attractor_rate"], errors="coerce").dropna().unique()
    return float(rates[0]) if len(rates) == 1 else None


def plot_item_gradients(summary: pd.DataFrame) -> Figure:
    """Gradient of the verb margin w.r.t. head and attractor embedding / hidden state, by distance (log y)."""
    fig = Figure(figsize=(9.5, 4.0), layout="constrained")
    if not len(summary):
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no scorable agreement items", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig

    archs = arch_order(summary["arch"])
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    for ax, col, what in zip(axes, ("grad_emb", "grad_h"), ("embedding", "top-layer hidden state")):
        for (arch, variant), d in sorted(summary.groupby(["arch", "variant"]),
                                         key=lambda kv: (archs.index(kv[0][0]), kv[0][1])):
            marker, _, colour = arch_style(arch, archs)
            for role, ls, fill in (("head", "-", colour), ("attractor", "--", "white")):
                r = d[d["role"] == role].sort_values("distance")
                if not len(r):
                    continue
                n = int(r["n"].sum())
                ax.plot(r["distance"], r[col].where(r[col] > 0), ls=ls, marker=marker, color=colour, mfc=fill,
                        mec=colour, ms=4, lw=1.2,
                        label=f"{arch} {role}" + (f" ({n} items)" if role == "head" else f" ({n} nouns)"))
        log_axis(ax)
        ax.set_xlabel("distance from the verb (tokens; 1 = adjacent)")
        ax.set_ylabel(f"mean ||d margin / d {what}|| (log)")
        ax.set_title(f"w.r.t. the noun's {what}", fontsize=9)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=7, frameon=False)
    rate = _rate_of(summary)
    models = int(summary["n_models"].max()) if "n_models" in summary.columns else 1
    suptitle(fig, "How much of the verb's agreement margin reaches the head (solid, filled) and every attractor of "
                  "the same items (dashed, open)",
             f"items with attractors; trained models{f' of corpus attractor rate {rate:g}' if rate is not None else ''}"
             f" ({models} per cell); n: items and attractor nouns, over every distance and model")
    return fig


# ---------------------------------------------------------------------------------------------------
# The analysis


@dataclass
class _Model:
    model: LanguageModel      # analysis copy (float64, eval)
    cfg: ModelConfig
    vocab: Vocab
    state: str                # init | trained
    name: str
    corpus: str | None       # corpus the windows come from (None: random tokens)
    seed: int = 0
    attractor_rate: float | None = None


def _windows_for(m: _Model, cfg: GradientsConfig, cache: dict) -> tuple[np.ndarray, str]:
    length = cfg.burn_in + cfg.max_distance + 2
    if m.corpus is None:
        return random_windows(len(m.vocab), n=cfg.n_sequences, length=length, seed=cfg.seed), "random tokens"
    key = (m.corpus, length)
    if key not in cache:
        corpus = load_corpus(m.corpus)
        if cfg.split not in corpus.splits:
            raise ProbeError(f"corpus {m.corpus} has no {cfg.split} split; rebuild it or choose another split")
        windows = sample_windows(corpus.splits[cfg.split], n=cfg.n_sequences, length=length, seed=cfg.seed)
        cache[key] = (windows, corpus.vocab.itos)
    windows, itos = cache[key]
    if itos != m.vocab.itos:        # every model, not only the first to read the corpus
        raise ProbeError(f"model {m.name} was not trained on corpus {m.corpus} (vocabularies differ); "
                         "give the corpus it was trained on with --corpus")
    return windows, f"{m.corpus} ({cfg.split})"


def _fresh_model(spec: dict, *, vocab: Vocab, like: ModelConfig | None, cfg: GradientsConfig, seed: int) -> _Model:
    base = dict(emb=cfg.emb, hidden=cfg.hidden, layers=cfg.layers) if like is None else \
        dict(emb=like.emb, hidden=like.hidden, layers=like.layers, skip=like.skip, tied=like.tied)
    mcfg = ModelConfig(**{**base, **spec, "vocab_size": len(vocab)})
    torch.manual_seed(seed)
    model = build_model(mcfg)
    return _Model(analysis_copy(model), mcfg, vocab, "init", f"init-{spec['arch']}-{variant_name(mcfg)}", None, seed)


@one_thread()
def run(inputs: AnalysisInputs, cfg: GradientsConfig) -> dict:
    """Measure gradient decay (fresh models at init, trained ones) and item gradients; write tables, figures, json.

    ``inputs.models``: trained checkpoints [{"path", "arch", "attractor_rate", "seed"}]; the recurrent ones of
    attractor rate ``cfg.attractor_rate`` (None: the largest) are measured, the first ``models_per_cell`` seeds
    per cell (0: all). Each reads windows of its corpus (``corpus_dirs[rate]``, else the corpus its training
    folder records, else any given corpus). Fresh models for ``cfg.variants`` are built at the trained models'
    sizes (per cell, else any trained model's, else the config's) and read the trained models' corpus (else
    the first given, else random tokens). ``inputs.items``: item
    gradients of the trained models. Writes into ``inputs.out``: gradients.csv, gradients_fit.csv,
    gradients_sim.csv, gradients_items.csv (items and trained models given), gradients.json,
    figures/gradients.{png,pdf}, figures/gradients_items.{png,pdf}.
    Returns {"files", "markdown", "seconds", "d20": {...}, "fits": [...]} .
    """
    check_config(cfg)
    started = time.perf_counter()
    out = check_output_dir(inputs.out, overwrite=True)     # a file there is refused; a folder is added to
    if inputs.items and not inputs.models:
        raise ProbeError("item gradients need at least one trained model (--model DIR); drop --items for fresh "
                         "models only")
    # load everything first: bad input fails before anything is written
    rate, trained, base_corpus, vocab = _trained_models(inputs, cfg)
    fresh = _fresh_models(trained, base_corpus, vocab, cfg)
    item_df = None
    if inputs.items is not None and trained and cfg.n_items:
        item_df = read_items(inputs.items, n=cfg.n_items, seed=cfg.seed)
    table, sources = _decay_table(fresh + trained, cfg, progress=inputs.progress, rate=rate)
    sim = _simulate(cfg)
    fits = _fits(table, sim, cfg)
    item_rows, item_summary = pd.DataFrame(), None
    if item_df is not None:
        item_rows = _item_rows(trained, item_df, cfg)
        # the items with attractors, as in the report's table: the head's n is theirs, not every item's
        item_summary = summarize_items(item_rows[item_rows["n_attractors"] > 0] if len(item_rows) else item_rows)
        item_summary["attractor_rate"] = rate
    return _write(out, cfg, started=started, rate=rate, table=table, fits=fits, sim=sim, item_rows=item_rows,
                  item_summary=item_summary,
                  models=[{"name": m.name, "arch": m.cfg.arch, "variant": variant_name(m.cfg), "state": m.state,
                           "seed": m.seed, "attractor_rate": m.attractor_rate, "windows": sources.get(m.name)}
                          for m in fresh + trained])


def _trained_models(inputs: AnalysisInputs, cfg: GradientsConfig
                    ) -> tuple[float | None, list[_Model], str | None, Vocab]:
    """(their corpus attractor rate, the trained models measured (analysis copies, in the order given), the
    corpus and vocabulary of the fresh models: the trained models' corpus, else any corpus given, else None:
    random tokens)."""
    corpus_dirs = dict(inputs.corpus_dirs)
    rate, chosen = (select_models(inputs.models, cfg.attractor_rate, max_seeds=cfg.models_per_cell or None)
                    if inputs.models else (None, []))
    kept = {m["path"] for m in chosen}
    corpus = corpus_for(corpus_dirs, rate) or next(iter(corpus_dirs.values()), None)
    trained: list[_Model] = []
    for m in (m for m in inputs.models if m["path"] in kept):     # in the order given (the table's row order)
        d = m["path"]
        ck = load_checkpoint(d)
        if ck.model_config.arch not in recurrent_cells():
            raise ProbeError(f"{d}: gradients by distance need a recurrent model (srn, gru, lstm), not "
                             f"{ck.model_config.arch}")
        c = corpus_for(corpus_dirs, rate) or training_corpus(d) or corpus
        trained.append(_Model(analysis_copy(ck.model), ck.model_config, ck.vocab, "trained", _model_name(d),
                              str(c) if c else None, int(m.get("seed", ck.train_config.get("seed", 0)) or 0),
                              m.get("attractor_rate")))
    if corpus is not None:
        return rate, trained, str(corpus), load_corpus(corpus).vocab
    if trained:
        return rate, trained, trained[0].corpus, trained[0].vocab
    return rate, trained, None, Vocab(("<unk>", "<eos>", *(f"w{i}" for i in range(cfg.vocab_size - 2))))


def _fresh_models(trained: list[_Model], base_corpus: str | None, vocab: Vocab, cfg: GradientsConfig
                  ) -> list[_Model]:
    """Fresh models at init: one per variant of ``cfg.variants`` (at a trained model's sizes), and the initial
    weights of every trained model's seed too (init vs trained per model)."""
    fresh = []
    for spec in map(parse_variant, cfg.variants):
        like = next((m.cfg for m in trained if m.cfg.arch == spec["arch"]), trained[0].cfg if trained else None)
        m = _fresh_model(spec, vocab=vocab, like=like, cfg=cfg, seed=cfg.seed)
        m.corpus = base_corpus
        fresh.append(m)
    for m in trained:
        spec = {"arch": m.cfg.arch, "nonlinearity": m.cfg.nonlinearity, "forget_bias": m.cfg.forget_bias}
        if not any(f.cfg.arch == m.cfg.arch and variant_name(f.cfg) == variant_name(m.cfg) for f in fresh):
            f = _fresh_model({k: v for k, v in spec.items() if v is not None}, vocab=m.vocab, like=m.cfg, cfg=cfg,
                             seed=m.seed)
            f.corpus = m.corpus
            fresh.append(f)
    return fresh
def _decay_table(models: list[_Model], cfg: GradientsConfig, *, progress: bool, rate: float | None
                 ) -> tuple[pd.DataFrame, dict]:
    """Gradient norms by distance per (cell, variant, init | trained), pooled over its models (trained ones: of
    corpus attractor rate ``rate``) -> (table, {model: where its windows came from})."""
    from tqdm.auto import tqdm

    cache: dict = {}
    frames, sources, groups = [], {}, {}
    for m in models:
        groups.setdefault((m.cfg.arch, variant_name(m.cfg), m.state), []).append(m)
    for (arch, variant, state), ms in tqdm(groups.items(), desc="gradients", disable=not progress):
        norms = []
        for m in ms:
            windows, src = _windows_for(m, cfg, cache)
            sources[m.name] = src
            norms.append(decay_norms(m.model, windows, max_distance=cfg.max_distance,
                                     batch_size=cfg.batch_size)[(m.cfg.layers - 1, "h")])
        summary = summarize_norms(np.concatenate(norms), n_boot=cfg.n_boot, seed=cfg.seed)
        summary.insert(0, "state", state)
        summary.insert(0, "variant", variant)
        summary.insert(0, "arch", arch)
        summary["n_models"] = len(ms)
        summary["attractor_rate"] = rate if state == "trained" else None
        summary["hidden"] = ms[0].cfg.hidden
        summary["layers"] = ms[0].cfg.layers
        frames.append(summary)
    return pd.concat(frames, ignore_index=True), sources


def _fits(table: pd.DataFrame, sim: pd.DataFrame, cfg: GradientsConfig) -> list[dict]:
    """The decay fit per line of ``table``, its norms at distances 0 and 20, and the bare cell's at 20."""
    fits = []
    for (arch, variant, state), d in table.groupby(["arch", "variant", "state"], sort=False):
        f = fit_decay(d["distance"].to_numpy(), d["grad_norm"].to_numpy(), fit_min=cfg.fit_min)
        at = d.set_index("distance")
        has20 = 20 in at.index        # the comparison distance (NaN when --max-distance is below it)
        fits.append({"arch": arch, "variant": variant, "state": state, **f,
                     "grad_norm_d20": float(at.loc[20, "grad_norm"]) if has20 else float("nan"),
                     "grad_norm_rel_d20": float(at.loc[20, "grad_norm_rel"]) if has20 else float("nan"),
                     "grad_norm_d0": float(at.loc[0, "grad_norm"])})
    for f in fits:
        at = sim[(sim["arch"] == f["arch"]) & (sim["variant"] == f["variant"]) & (sim["distance"] == 20)]
        f["bare_cell_fro_d20"] = float(at["jacobian_fro"].iloc[0]) if f["state"] == "init" and len(at) else float("nan")
    return fits


def _item_rows(trained: list[_Model], item_df: pd.DataFrame, cfg: GradientsConfig) -> pd.DataFrame:
    """Item gradients of every trained model, one frame."""
    parts = []
    for m in trained:
        r = item_gradients(m.model, m.vocab, item_df, batch_size=cfg.batch_size)
        r.insert(0, "model", m.name)
        r.insert(0, "variant", variant_name(m.cfg))
        r.insert(0, "arch", m.cfg.arch)
        parts.append(r)
    return pd.concat(parts, ignore_index=True)


def _write(out: Path, cfg: GradientsConfig, *, started: float, rate: float | None, table: pd.DataFrame,
           fits: list[dict], sim: pd.DataFrame, item_rows: pd.DataFrame, item_summary: pd.DataFrame | None,
           models: list[dict]) -> dict:
    """Write the tables, figures and gradients.json; return the analysis' result."""

    fit_table = pd.DataFrame(fits)
    tables = {STEM: table, f"{STEM}_fit": fit_table, **({f"{STEM}_sim": sim} if len(sim) else {})}
    with figure_style():
        figures = {STEM: plot_gradients(table)}
        if item_summary is not None:
            tables[f"{STEM}_items"] = item_summary
            figures[f"{STEM}_items"] = plot_item_gradients(item_summary)
    markdown = _markdown(table, fit_table, item_rows, cfg, rate=rate)
    seconds = time.perf_counter() - started
    info = {"config": config_to_dict(cfg), "models": models, "fits": _jsonable(fits), "seconds": seconds}
    files = write_outputs(out, tables=tables, figures=figures, records={STEM: info})
    return {"files": files, "markdown": markdown, "seconds": seconds,
            "d20": {f"{r['arch']}/{r['variant']}/{r['state']}": r["grad_norm_d20"] if math.isfinite(r["grad_norm_d20"])
                    else None for r in fits},
            "fits": _jsonable(fits)}


def _simulate(cfg: GradientsConfig) -> pd.DataFrame:
    """The bare-cell simulation for every variant: mean ||dh(t)/dh(t-l)||_F by distance (gradients_sim.csv)."""
    frames = []
    if not (cfg.sim_models and cfg.sim_sequences):
        return pd.DataFrame(columns=["arch", "variant", "distance", "jacobian_fro", "jacobian_fro_per_unit", "n",
                                     "n_models", "hidden", "input_scale"])
    for spec in map(parse_variant, dict.fromkeys(cfg.variants)):
        norms = np.concatenate([
            cell_jacobian_norms(spec, hidden=cfg.sim_hidden, input_scale=cfg.sim_input_scale, max_distance=20,
                                n_sequences=cfg.sim_sequences, seed=seed)
            for seed in range(cfg.seed, cfg.seed + cfg.sim_models)])
        mcfg = ModelConfig(**{**spec, "vocab_size": 2})
        frames.append(pd.DataFrame({"arch": spec["arch"], "variant": variant_name(mcfg),
                                    "distance": np.arange(norms.shape[1]), "jacobian_fro": norms.mean(axis=0),
                                    "jacobian_fro_per_unit": norms.mean(axis=0) / math.sqrt(cfg.sim_hidden),
                                    "n": len(norms), "n_models": cfg.sim_models, "hidden": cfg.sim_hidden,
                                    "input_scale": cfg.sim_input_scale}))
    return pd.concat(frames, ignore_index=True)


def _jsonable(rows: list[dict]) -> list[dict]:
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


def _model_name(path: str | os.PathLike) -> str:
    p = Path(path)
    return (p.parent.name if p.suffix == ".pt" else p.name) or str(p)


def _markdown(table: pd.DataFrame, fits: pd.DataFrame, item_rows: pd.DataFrame, cfg: GradientsConfig,
              rate: float | None = None) -> str:
    n = int(table["n"].max()) if len(table) else 0
    lines = ["## Vanishing gradients", "",
             f"Mean norm of dJ(t)/dh(t-l), J = cross-entropy at the final position of a window, h = the top layer's "
             f"hidden state, over {n} windows per line (burn-in {cfg.burn_in} tokens; one backward pass per batch). "
             f"Decay fit: log-linear over distances {cfg.fit_min}-{cfg.max_distance}; `per step` is the fitted factor "
             "per step back, `tau` the steps per e-fold. `rel` divides by the norm at distance 0 (the decay alone). "
             f"`bare cell` is a quick simulation of one cell of {cfg.sim_hidden} units at "
             f"PyTorch init, inputs N(0, {cfg.sim_input_scale:g}^2), Frobenius norm of the Jacobian dh(t)/dh(t-20) "
             f"({cfg.sim_models} initialisations x {cfg.sim_sequences} sequences). The language-model numbers differ "
             "from the bare cell's by construction: J's gradient at h(t) is one direction (its norm is `grad_norm_d0` "
             "in gradients_fit.csv), not the whole Jacobian, whose Frobenius norm is about sqrt(H) times a random "
             "direction's; and the inputs are embeddings initialised in U(-0.1, 0.1), not N(0, 1) vectors, "
             "so the gates and the tanh sit nearer their linear range. The windows run across sentence "
             "boundaries with the state carried, which a model trained on sentences (state 'sentence') never did: "
             "read these curves as the trained recurrence's dynamics over long inputs; the agreement-item numbers "
             "below are read from the zero state the items are scored in.", ""]
    t = pd.DataFrame({
        "cell": fits["arch"] + " (" + fits["variant"] + ")", "state": fits["state"],
        "at 20": fits["grad_norm_d20"].map(fmt_num), "rel at 20": fits["grad_norm_rel_d20"].map(fmt_num),
        "bare cell at 20": fits["bare_cell_fro_d20"].map(fmt_num),
        "per step": fits["per_step"].map(lambda v: fmt_num(v, 3)), "tau": fits["tau"].map(lambda v: fmt_num(v, 3)),
        "R^2": fits["r2"].map(lambda v: fmt_num(v, 3))})
    lines += [markdown_table(t), "", "![gradients](figures/gradients.png)", ""]
    if len(item_rows):
        lines += ["On agreement items: `grad` is the mean norm of the gradient of the verb's log-prob margin "
                  "(log P(good) - log P(bad)) w.r.t. the noun's top-layer hidden state, for the head and the "
                  "attractor nearest the verb (trained models"
                  + (f" of corpus attractor rate {rate:g}" if rate is not None else "") + "; items with attractors, "
                  "counted once per model); `dist` is the mean "
                  "distance from the verb in tokens.", ""]
        att = item_rows[item_rows["n_attractors"] > 0]
        recs = []
        for (arch, variant), d in att.groupby(["arch", "variant"], sort=False):
            head = d[d["role"] == "head"]
            near = d[d["role"] == "attractor"].sort_values("rank").groupby(["model", "item"]).tail(1)
            j = head.merge(near, on=["model", "item"], suffixes=("_head", "_att"), how="inner")
            recs.append({"cell": f"{arch} ({variant})", "items": len(j),
                         "head dist": fmt_num(float(j["distance_head"].mean()), 3),
                         "head grad": fmt_num(float(j["grad_h_head"].mean())),
                         "nearest attractor dist": fmt_num(float(j["distance_att"].mean()), 3),
                         "attractor grad": fmt_num(float(j["grad_h_att"].mean())),
                         "share attractor > head": fmt_num(float((j["grad_h_att"] > j["grad_h_head"]).mean()), 3)})
        if recs:
            lines += [markdown_table(pd.DataFrame(recs)), "", "![item gradients](figures/gradients_items.png)", ""]
    return "\n".join(lines)


ANALYSIS = register_analysis(Analysis("gradients", "Vanishing gradients", GradientsConfig, PRESETS, run))
