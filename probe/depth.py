"""Stacked and skip-connected models: agreement accuracy and gradient decay by depth, with and without residuals.

For each recurrent cell x number of layers x residual connections (from the second layer on; one layer
has none), a model is trained on one corpus (``probe.train.train`` into a temporary folder) and then,
at initialisation (the same seed's initial weights) and after training, measured by
  * after training, agreement accuracy on benchmark items (prefix method, ``probe.evaluate``): all scored
    items, and items with 1+ attractors whose attractors all mismatch / all match the head;
  * gradient norms from ``probe.gradients.decay_norms`` (windows of the corpus' valid split, J = the
    cross-entropy at the final position, one backward pass per batch): ||dJ(t)/d x(t - l)|| for the
    embedding x at l = 0 (the path up through every layer) and l = ``distance`` (up and back in time),
    the same for the first layer's hidden state, and for the top layer's at l = ``distance``.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .clipping import richest_corpus, working_corpus
from .config import ProbeError, check_output_dir, config_to_dict, write_text_atomic
from .gradients import (analysis_copy, decay_norms, fmt_num, log_axis, one_thread, parse_variant, sample_windows,
                        save_figure_atomic, variant_name, write_csv_atomic)
from .report import markdown_table

STEM = "depth"


@dataclass(frozen=True)
class DepthConfig:
    """Options of ``probe depth`` (defaults: the full size; ``preset`` has smaller ones)."""

    archs: tuple[str, ...] = ("srn", "gru", "lstm")   # cells, as arch[:option=value]
    layers: tuple[int, ...] = (1, 2, 3, 4)            # depths to sweep
    residual: tuple[bool, ...] = (False, True)        # with / without residual connections (depth >= 2)
    hidden: int = 64                   # units per layer
    emb: int = 64                      # embedding size
    optimizer: str = "adam"
    lr: float = 3e-3
    clip: float = 1.0
    batch_size: int = 32
    bptt: int = 35
    max_steps: int = 600               # updates per model
    valid_tokens: int = 0              # validate on the first N tokens of the valid split (0: all of it)
    distance: int = 10                 # l for the gradient norms back in time
    burn_in: int = 10                  # tokens read before the measured positions
    n_sequences: int = 64              # gradient windows per model
    n_items: int = 1000                # benchmark items sampled for the accuracies (0: all)
    seed: int = 0                      # init, windows, item sample


def preset(name: str) -> DepthConfig:
    """'full' (CLI defaults), 'small' (inside ``probe run``, <= ~40 s) or 'quick' (toy run)."""
    presets = {
        "full": DepthConfig(),
        "small": DepthConfig(layers=(1, 2, 4), hidden=32, emb=32, bptt=25, max_steps=50, valid_tokens=3000,
                             n_sequences=32, n_items=200),
        "quick": DepthConfig(archs=("srn", "lstm"), layers=(1, 2), hidden=8, emb=8, batch_size=8, bptt=10, max_steps=3,
                             valid_tokens=300, n_sequences=8, n_items=30),
    }
    if name not in presets:
        raise ProbeError(f"unknown analysis size {name!r}; choose from {', '.join(presets)}")
    return presets[name]


def check_config(cfg: DepthConfig) -> None:
    """One-line ProbeErrors for impossible options (before anything is trained or written)."""
    from .train import check_train_config

    if not cfg.archs or not cfg.layers or not cfg.residual:
        raise ProbeError("give at least one cell (--archs), one depth (--layers) and one residual setting")
    if any(int(n) <= 0 for n in cfg.layers):
        raise ProbeError(f"--layers must be positive integers, got {list(cfg.layers)}")
    for name in ("distance", "n_sequences", "max_steps"):
        if getattr(cfg, name) <= 0:
            raise ProbeError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(cfg, name)}")
    if cfg.burn_in < 0 or cfg.n_items < 0 or cfg.valid_tokens < 0:
        raise ProbeError("burn_in, n_items and valid_tokens must be 0 or more")
    if cfg.valid_tokens and cfg.valid_tokens < 2 * cfg.bptt:
        raise ProbeError(f"valid_tokens {cfg.valid_tokens} is too few to validate; use 0 (all) or at least "
                         f"{2 * cfg.bptt}")
    for spec in cfg.archs:
        check_train_config(_train_config(cfg, spec, 1, False))


def models_to_train(cfg: DepthConfig) -> list[tuple[str, int, bool]]:
    """(cell spec, layers, residual) for every model: one-layer models have no residual variant."""
    jobs = []
    for spec in cfg.archs:
        for n in sorted(set(int(x) for x in cfg.layers)):
            for res in dict.fromkeys(bool(r) for r in cfg.residual):
                if n == 1 and res and (False in cfg.residual):
                    continue        # identical to the plain one-layer model
                jobs.append((spec, n, res and n > 1))
    return jobs


def _train_config(cfg: DepthConfig, spec: str, layers: int, residual: bool):
    from .train import TrainConfig

    v = parse_variant(spec)
    return TrainConfig(arch=v["arch"], nonlinearity=v.get("nonlinearity", "tanh"), forget_bias=v.get("forget_bias"),
                       layers=layers, residual=residual, hidden=cfg.hidden, emb=cfg.emb, optimizer=cfg.optimizer,
                       lr=cfg.lr, clip=cfg.clip, batch_size=cfg.batch_size, bptt=cfg.bptt, epochs=10**6,
                       max_steps=cfg.max_steps, seed=cfg.seed, log_every=max(1, cfg.max_steps), device="cpu")


def accuracies(model, vocab, items: pd.DataFrame) -> dict:
    """Agreement accuracy (prefix method) overall and on 1+-attractor items, mismatched vs matched."""
    from .evaluate import LMScorer, score_items

    scores = score_items(LMScorer(model, vocab), items, method="prefix")
    kept = scores[~scores["excluded"]]
    out = {"accuracy": float(kept["correct"].astype(float).mean()) if len(kept) else float("nan"),
           "n_items": int(len(kept))}
    for match in ("conflict", "matched"):
        sel = kept[(kept["match"] == match) & (kept["n_attractors"] >= 1)]
        out[f"acc_{match}"] = float(sel["correct"].astype(float).mean()) if len(sel) else float("nan")
        out[f"n_{match}"] = int(len(sel))
    return out


def depth_gradients(model, windows: np.ndarray, *, distance: int, batch_size: int = 64) -> dict:
    """Mean gradient norms of J(t) w.r.t. the embedding, first and top layer at distance 0 and ``distance``."""
    top = model.config.layers - 1
    taps = ["emb", (0, "h")] + ([(top, "h")] if top else [])
    norms = decay_norms(analysis_copy(model), windows, max_distance=distance, batch_size=batch_size, taps=taps)
    top_norms = norms[(top, "h")]
    return {"grad_emb_d0": float(norms["emb"][:, 0].mean()), "grad_emb_dk": float(norms["emb"][:, distance].mean()),
            "grad_first_d0": float(norms[(0, "h")][:, 0].mean()),
            "grad_first_dk": float(norms[(0, "h")][:, distance].mean()),
            "grad_top_dk": float(top_norms[:, distance].mean())}


def depth_analysis(*, corpus: str | os.PathLike, items: str | os.PathLike | None, out: str | os.PathLike,
                   config: DepthConfig | None = None, progress: bool = False) -> dict:
    """Train and measure every (cell, layers, residual) model; write depth.csv, depth.json, figures/depth.*.

    Returns {"files", "markdown", "seconds", "rows": [...]}.
    """
    with one_thread():
        return _depth_analysis(corpus=corpus, items=items, out=out, config=config, progress=progress)


def _depth_analysis(*, corpus, items, out, config, progress) -> dict:
    from .corpus import load_corpus
    from .models import build_model, load_checkpoint
    from .train import model_config_for, train

    cfg = config or DepthConfig()
    check_config(cfg)
    started = time.perf_counter()
    out = check_output_dir(out, overwrite=True)     # a file there is refused; a folder is added to
    corp = load_corpus(corpus)
    if "valid" not in corp.splits:
        raise ProbeError(f"corpus {corpus} has no valid split; rebuild it with `probe corpus`")
    windows = sample_windows(corp.splits["valid"], n=cfg.n_sequences, length=cfg.burn_in + cfg.distance + 2,
                             seed=cfg.seed)
    item_df = None
    if items is not None:
        from .evaluate import read_items

        item_df = read_items(items, n=cfg.n_items, seed=cfg.seed)
    rows = []
    from tqdm.auto import tqdm

    jobs = models_to_train(cfg)
    with tempfile.TemporaryDirectory(prefix="probe-depth-") as work:
        work_corpus = working_corpus(corpus, Path(work) / "corpus", valid_tokens=cfg.valid_tokens)
        for spec, n_layers, residual in tqdm(jobs, desc="depth", unit="model", disable=not progress):
            tcfg = _train_config(cfg, spec, n_layers, residual)
            t0 = time.perf_counter()
            folder = Path(work) / f"{spec.replace(':', '-').replace('=', '')}-L{n_layers}{'-res' if residual else ''}"
            summary = train(tcfg, corpus_dir=work_corpus, out=folder, overwrite=True, progress=False)
            train_seconds = time.perf_counter() - t0
            torch.manual_seed(cfg.seed)        # the initial weights the run started from (train seeds the same way)
            mcfg = model_config_for(tcfg, len(corp.vocab))
            states = {"init": build_model(mcfg).eval(), "trained": load_checkpoint(folder / "model.pt").model}
            for state, model in states.items():
                row = {"arch": parse_variant(spec)["arch"], "variant": variant_name(mcfg), "layers": n_layers,
                       "residual": residual, "state": state, "hidden": cfg.hidden, "steps": summary["steps"],
                       "valid_ppl": summary["best_valid_ppl"] if state == "trained" else float("nan"),
                       "train_seconds": train_seconds if state == "trained" else 0.0, "distance": cfg.distance,
                       "n_sequences": cfg.n_sequences}
                if item_df is not None and state == "trained":     # at init: chance, not worth the time
                    row.update(accuracies(model, corp.vocab, item_df))
                row.update(depth_gradients(model, windows, distance=cfg.distance))
                rows.append(row)
    table = pd.DataFrame(rows)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files = [write_csv_atomic(table, out / f"{STEM}.csv")]
    import matplotlib

    with matplotlib.rc_context({"font.size": 8}):
        files += save_figure_atomic(plot_depth(table), out / "figures", STEM)
    markdown = _markdown(table, cfg, corpus)
    seconds = time.perf_counter() - started
    info = {"config": config_to_dict(cfg), "corpus": str(corpus), "items": str(items) if items else None,
            "seconds": seconds, "definitions": __doc__.strip()}
    write_text_atomic(out / f"{STEM}.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    files.append(out / f"{STEM}.json")
    return {"files": [str(f) for f in files], "markdown": markdown, "seconds": seconds,
            "rows": json.loads(table.to_json(orient="records"))}


def plot_depth(table: pd.DataFrame) -> Figure:
    """Four panels vs number of layers: accuracy and perplexity after training, the gradient from J(t) to
    the input at t (init) and ``distance`` steps back (trained). Residual stacks dashed with open markers."""
    from .plots import arch_order, arch_style

    fig = Figure(figsize=(10.0, 7.2), layout="constrained")
    archs = arch_order(table["arch"])
    k = int(table["distance"].iloc[0]) if len(table) else 0
    mism = "acc_conflict" in table.columns and table["acc_conflict"].notna().any()
    acc_col = "acc_conflict" if mism else ("accuracy" if "accuracy" in table.columns else None)
    panels = [("trained", acc_col, "agreement accuracy" + ("\n(mismatched, 1+ attractors)" if mism else ""),
               "agreement accuracy after training", "accuracy"),
              ("trained", "valid_ppl", "validation perplexity", "perplexity after training", "linear"),
              ("init", "grad_emb_d0", "mean ||dJ(t)/d emb(t)|| (log)", "gradient down to the input, at init", "log"),
              ("trained", "grad_emb_dk", f"mean ||dJ(t)/d emb(t-{k})|| (log)",
               f"gradient to the input {k} steps back, trained", "log")]
    panels = [p for p in panels if p[1] is not None and p[1] in table.columns]
    for i, (state, col, ylabel, title, scale) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        sub = table[table["state"] == state]
        for arch in archs:
            marker, _, colour = arch_style(arch, archs)
            mine = sub[sub["arch"] == arch]
            for residual, ls, fill in ((False, "-", colour), (True, "--", "white")):
                if not (mine["residual"] == residual).any():
                    continue
                d = mine[(mine["residual"] == residual) | (mine["layers"] == 1)].sort_values("layers")
                y = d[col].where(d[col] > 0) if scale == "log" else d[col]
                n = f", n={int(d['n_conflict'].max())}" if col == "acc_conflict" else ""
                ax.plot(d["layers"], y, ls=ls, marker=marker, color=colour, mfc=fill, mec=colour, ms=5,
                        label=f"{arch}{' residual' if residual else ''}{n}")
        ax.set_xlabel("layers")
        ax.set_xticks(sorted(table["layers"].unique()))
        if scale == "log":
            log_axis(ax)
        elif scale == "accuracy":
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6.5, frameon=False)
    n_seq = int(table["n_sequences"].iloc[0]) if len(table) else 0
    fig.suptitle("Depth: solid, filled: plain stacks; dashed, open: residual connections (they start from the "
                 f"one-layer model); gradients: mean over n = {n_seq} windows", fontsize=9)
    return fig


def _markdown(table: pd.DataFrame, cfg: DepthConfig, corpus) -> str:
    tr = table[table["state"] == "trained"].reset_index(drop=True)
    init = table[table["state"] == "init"].reset_index(drop=True)
    t = pd.DataFrame({
        "cell": tr["arch"] + " (" + tr["variant"] + ")", "layers": tr["layers"],
        "residual": tr["residual"].map({True: "yes", False: "no"}),
        "valid ppl": tr["valid_ppl"].map(lambda v: fmt_num(v, 4)),
        "acc conflict": tr["acc_conflict"].map(lambda v: fmt_num(v, 3)) if "acc_conflict" in tr else "n/a",
        "acc matched": tr["acc_matched"].map(lambda v: fmt_num(v, 3)) if "acc_matched" in tr else "n/a",
        "emb grad d0 (init)": init["grad_emb_d0"].map(fmt_num),
        f"emb grad d{cfg.distance} (init)": init["grad_emb_dk"].map(fmt_num),
        f"emb grad d{cfg.distance} (trained)": tr["grad_emb_dk"].map(fmt_num),
        f"top grad d{cfg.distance} (trained)": tr["grad_top_dk"].map(fmt_num),
    })
    n_items = int(tr["n_items"].max()) if "n_items" in tr and len(tr) else 0
    return "\n".join([
        "## Depth and residual connections", "",
        f"{cfg.hidden}-unit stacks trained with {cfg.optimizer} lr {cfg.lr:g} for {cfg.max_steps} steps each "
        f"(batch {cfg.batch_size}, BPTT {cfg.bptt}) on `{Path(str(corpus)).name}`; valid ppl on "
        f"{f'the first {cfg.valid_tokens} tokens of' if cfg.valid_tokens else 'all of'} the valid split. "
        f"Accuracy: prefix method on {n_items} benchmark items (mismatched / matched: "
        f"items with 1+ attractors). `emb grad dL`: mean ||dJ(t)/d emb(t-L)||, J = cross-entropy at the final "
        f"position of {cfg.n_sequences} valid-split windows (L = 0: straight up through every layer); "
        "`top grad`: the same for the top layer's hidden state.", "",
        markdown_table(t), "", "![depth](figures/depth.png)", ""])


def run_depth_analysis(*, models: Sequence[dict], corpus_dirs: dict, items: str | os.PathLike | None,
                       out: str | os.PathLike, small: bool = True, config: DepthConfig | None = None) -> dict:
    """``probe run``'s entry: train the depth sweep on the corpus with the largest attractor rate.

    ``models`` is not used (the sweep trains its own); ``config`` default: ``preset("small")`` when
    ``small`` else the full defaults (pass ``preset("quick")`` for the quick preset).
    """
    cfg = config or preset("small" if small else "full")
    return depth_analysis(corpus=richest_corpus(corpus_dirs, "depth"), items=items, out=out, config=cfg)
