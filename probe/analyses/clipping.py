"""Exploding gradients and clipping: the same small LM trained at a large SGD learning rate, clipping off and on.

Each run is an ordinary ``probe.train.train`` run (into a temporary folder) with ``log_every=1``, so
``metrics.jsonl`` holds every step: a ``train`` line (loss, gradient norm before clipping, clipped) for
each finite step and a ``skip`` line for each non-finite one (the update is skipped). A run whose
non-finite streak reaches ``max_nonfinite`` stops with a ProbeError: it is recorded as ``stopped`` and
the analysis goes on. Per run: steps, non-finite steps, clipped share (clipped steps / steps), the
largest and median finite gradient norm, the final validation perplexity and the agreement accuracy
of the final weights (``last.pt``; both NaN for stopped runs).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import json
import os
from pathlib import Path
import tempfile
import time

from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from probe.analyses.base import (
    Analysis, AnalysisInputs, one_thread, register_analysis, richest_corpus, working_corpus, write_outputs
)
from probe.analyses.taps import parse_variant, variant_name
from probe.core.config import CheckedConfig, NonNegativeFloat, NonNegativeInt, config_to_dict, nest_keys
from probe.core.errors import ProbeError
from probe.core.io import check_output_dir
from probe.core.style import figure_style, fmt_num, log_axis, suptitle
from probe.core.tables import markdown_table
from probe.train import TrainConfig, check_train_config, train


STEM = "clipping"


# How every clipping run trains (its cell, threshold and seed come from archs, clips and seed): a fixed number of
# plain-SGD steps at a deliberately large learning rate that never decays, every step logged
TRAIN = TrainConfig(layers=1, hidden=64, emb=64, optimizer="sgd", lr=5.0, lr_decay=1.0, batch_size=32, bptt=35,
                    epochs=10**6, max_steps=300, max_nonfinite=20, log_every=1, eval_every=0, device="cpu")


@dataclass(frozen=True)
class ClippingConfig(CheckedConfig):
    """Options of ``probe clipping`` (the defaults are the full size; PRESETS has smaller ones)."""

    archs: tuple[str, ...] = ("srn", "srn:nonlinearity=relu", "lstm")  # cells, as arch[:option=value]
    clips: tuple[NonNegativeFloat, ...] = (0.0, 0.25, 1.0, 5.0)   # gradient-norm thresholds (0 = clipping off)
    train: TrainConfig = TRAIN         # how each run trains (arch, clip and seed: per run); the same lr for all
    valid_tokens: NonNegativeInt = 0   # validate on the first N tokens of the valid split (0: all of it)
    n_items: NonNegativeInt = 1000     # benchmark items sampled for the agreement accuracy (0: all)
    seed: int = 0                      # model init, item sample

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """Configs written before ``train`` held the training options had them at the top level."""
        return nest_keys(data, cls, "train")


# Presets: 'full' (CLI defaults), 'small' (inside ``probe run``, <= ~40 s) or 'quick' (toy run).
PRESETS = {
    "full": ClippingConfig(),
    "small": ClippingConfig(archs=("srn", "srn:nonlinearity=relu"),
                            train=replace(TRAIN, hidden=32, emb=32, max_steps=60), valid_tokens=4000, n_items=300),
    "quick": ClippingConfig(archs=("srn:nonlinearity=relu",), clips=(0.0, 1.0),
                            train=replace(TRAIN, hidden=16, emb=16, batch_size=16, bptt=20, max_steps=15,
                                          max_nonfinite=5),
                            valid_tokens=500, n_items=50),
}


def check_config(cfg: ClippingConfig) -> None:
    """One-line ProbeErrors for impossible options (before anything is trained or written)."""
    if not cfg.archs or not cfg.clips:
        raise ProbeError("give at least one cell (archs) and one clipping threshold (clips)")
    for spec in cfg.archs:
        check_train_config(_train_config(cfg, spec, cfg.clips[0]))


def _train_config(cfg: ClippingConfig, spec: str, clip: float) -> TrainConfig:
    v = parse_variant(spec)
    return replace(cfg.train, arch=v["arch"], nonlinearity=v.get("nonlinearity", "tanh"),
                   forget_bias=v.get("forget_bias"), clip=clip, seed=cfg.seed)


def read_trace(train_dir: str | os.PathLike) -> pd.DataFrame:
    """A training folder's metrics.jsonl -> one row per step: step, loss, grad_norm, clipped, finite."""
    rows = []
    path = Path(train_dir) / "metrics.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line) if line.strip() else {}
        if r.get("kind") in ("train", "skip"):
            finite = r["kind"] == "train"
            rows.append({"step": int(r["step"]), "loss": _num(r.get("loss")),
                         "grad_norm": _num(r.get("grad_norm")), "clipped": bool(r.get("clipped", False)),
                         "finite": finite})
    return pd.DataFrame(rows, columns=["step", "loss", "grad_norm", "clipped", "finite"])


def _num(value) -> float:
    """metrics.jsonl writes non-finite floats as strings ('nan', 'inf')."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def trace_counts(trace: pd.DataFrame) -> dict:
    """steps, nonfinite_steps, clipped_steps, clipped_share (of all steps), max/median finite grad norm."""
    steps = len(trace)
    fin = trace[trace["finite"]]
    g = fin["grad_norm"].to_numpy(dtype=float)
    g = g[np.isfinite(g)]
    clipped = int(fin["clipped"].sum())
    return {"steps": steps, "nonfinite_steps": int((~trace["finite"]).sum()), "clipped_steps": clipped,
            "clipped_share": clipped / steps if steps else float("nan"),
            "max_grad_norm": float(g.max()) if len(g) else float("nan"),
            "median_grad_norm": float(np.median(g)) if len(g) else float("nan")}


def train_clipping_run(cfg: ClippingConfig, spec: str, clip: float, *, corpus_dir: str | os.PathLike,
                       workdir: str | os.PathLike, items=None) -> tuple[dict, pd.DataFrame]:
    """Train one run; never raises for a non-finite stop. Returns (row for clipping.csv, per-step trace).

    ``items``: prepared items (DataFrame) for the agreement accuracy of the final weights, or None.
    """
    from probe.models.checkpoint import load_checkpoint

    v = parse_variant(spec)
    out = Path(workdir) / f"{spec.replace(':', '-').replace('=', '')}-clip{clip:g}"
    started = time.perf_counter()
    status, summary = "completed", {}
    try:
        summary = train(_train_config(cfg, spec, clip), corpus_dir=corpus_dir, out=out, overwrite=True,
                        progress=False)
    except ProbeError:
        stop = _last_line(out / "metrics.jsonl")
        if stop.get("kind") != "stop":
            raise       # not a non-finite stop: a real input problem
        status = "stopped"
    trace = read_trace(out)
    row = {"arch": v["arch"], "variant": _variant(v), "optimizer": cfg.train.optimizer, "lr": cfg.train.lr,
           "clip": clip, "status": status, **trace_counts(trace),
           "final_valid_ppl": float(summary.get("last_valid_ppl", float("nan"))),
           "best_valid_ppl": float(summary.get("best_valid_ppl", float("nan"))),
           "agreement_accuracy": float("nan"), "n_items": 0}
    if status == "completed" and items is not None and len(items):
        from probe.scoring.items import agreement_accuracy

        ck = load_checkpoint(out / "last.pt")
        row["agreement_accuracy"] = agreement_accuracy(ck.model, ck.vocab, items)
        row["n_items"] = len(items)
    row["seconds"] = time.perf_counter() - started
    trace.insert(0, "clip", clip)
    trace.insert(0, "variant", row["variant"])
    trace.insert(0, "arch", v["arch"])
    return row, trace


def _variant(v: dict) -> str:
    from probe.models.config import ModelConfig

    return variant_name(ModelConfig(**{**v, "vocab_size": 2}))


def _last_line(path: Path) -> dict:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


def plot_clipping(traces: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Gradient norm (before clipping) per step, log y: one row of panels per cell, one panel per threshold (a
    shared y axis per row), so that no trace hides another.

    The y axis stops at 100 x the larger of the largest threshold and the row's median norm: larger finite
    norms (an explosion on its way to overflow) are drawn at that ceiling as triangles, with the largest
    one written beside them; non-finite steps (skipped) are crosses in a band above it. Thresholds are
    dotted lines.
    """
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    cells = list(dict.fromkeys(zip(runs["arch"], runs["variant"])))
    clips = sorted(runs["clip"].unique())
    fig = Figure(figsize=(max(5.0, 2.25 * len(clips) + 0.8), 2.3 * max(1, len(cells)) + 1.2), layout="constrained")
    if not len(traces):
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no training steps", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    grid = fig.subplots(len(cells), len(clips), sharex=True, sharey="row", squeeze=False)
    off_scale = nonfinite = False
    for row, (arch, variant) in zip(grid, cells):
        mine = traces[(traces["arch"] == arch) & (traces["variant"] == variant)]
        g = mine["grad_norm"].to_numpy(dtype=float)
        g = g[np.isfinite(g) & (g > 0)]
        median = float(np.median(g)) if len(g) else 1.0
        ceiling = 100 * max(max(clips), median)
        low = float(g.min()) / 2 if len(g) else 0.1
        crowded = (len(g) and g.max() > ceiling) or (~mine["finite"].astype(bool)).any()
        top = ceiling * 30 if crowded else 2 * (float(g.max()) if len(g) else 1.0)   # room for the marks above
        for ax, clip in zip(row, clips):
            t = mine[mine["clip"] == clip]
            r = runs[(runs["arch"] == arch) & (runs["variant"] == variant) & (runs["clip"] == clip)]
            fin = t[t["finite"] & np.isfinite(t["grad_norm"]) & (t["grad_norm"] > 0)]
            ax.plot(fin["step"], fin["grad_norm"].clip(upper=ceiling), color="black", lw=0.9)
            above = fin[fin["grad_norm"] > ceiling]
            if len(above):
                off_scale = True
                ax.plot(above["step"], np.full(len(above), ceiling), ls="none", marker="^", color="#d95f02", ms=4)
                ax.annotate(f"max {fmt_num(float(above['grad_norm'].max()))}", (float(above["step"].iloc[0]), ceiling),
                            xytext=(3, -10), textcoords="offset points", fontsize=6.5, color="#d95f02")
            bad = t[~t["finite"]]
            if len(bad):
                nonfinite = True
                band = blended_transform_factory(ax.transData, ax.transAxes)
                ax.plot(bad["step"], np.full(len(bad), 0.95), transform=band, ls="none", marker="x", color="#d62728",
                        ms=4)
            if clip:
                ax.axhline(clip, color="0.45", ls=":", lw=0.9)
            if crowded:
                ax.axhline(ceiling, color="0.8", lw=0.6)
            log_axis(ax)
            ax.set_ylim(low, top)
            if len(r):
                r = r.iloc[0]
                state = (f"stopped, {int(r['nonfinite_steps'])} non-finite" if r["status"] == "stopped" else
                         f"{int(r['nonfinite_steps'])} non-finite, {r['clipped_share']:.0%} clipped")
                ax.set_title(f"{'clip ' + format(clip, 'g') if clip else 'no clipping'}: {state}", fontsize=7.5)
        row[0].set_ylabel(f"{arch} ({variant})\ngradient norm (log)")
    for ax in grid[-1]:
        ax.set_xlabel("training step")
    handles = [Line2D([], [], color="black", lw=0.9), Line2D([], [], color="0.45", ls=":", lw=0.9)]
    labels = ["gradient norm before clipping", "clipping threshold"]
    if off_scale:
        handles.append(Line2D([], [], ls="none", marker="^", color="#d95f02", ms=4))
        labels.append("beyond 100 x the threshold or median (drawn at that line)")
    if nonfinite:
        handles.append(Line2D([], [], ls="none", marker="x", color="#d62728", ms=4))
        labels.append("non-finite step (skipped)")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(handles) if fig.get_figwidth() >= 8 else 2,
               fontsize=7, frameon=False)
    r0 = runs.iloc[0]
    suptitle(fig, f"Exploding gradients: {r0['optimizer']} at learning rate {r0['lr']:g}, up to "
                  f"{int(runs['steps'].max())} steps per run, clipping off and at each threshold")
    return fig


@one_thread()
def run(inputs: AnalysisInputs, cfg: ClippingConfig) -> dict:
    """Train every cell x threshold run on the corpus with the largest attractor rate (``inputs.models`` is not
    used: the runs are short and trained here, in order); agreement accuracy on ``inputs.items`` when given.
    Writes clipping.csv, clipping_traces.csv, clipping.json and figures/clipping.{png,pdf} into ``inputs.out``.
    Returns {"files", "markdown", "seconds", "runs": [...]}.
    """
    from probe.data.corpus import load_corpus

    check_config(cfg)
    started = time.perf_counter()
    corpus, items, progress = richest_corpus(inputs.corpus_dirs, "clipping"), inputs.items, inputs.progress
    out = check_output_dir(inputs.out, overwrite=True)     # a file there is refused; a folder is added to
    load_corpus(corpus)        # a bad corpus fails here, before any training
    if cfg.valid_tokens and cfg.valid_tokens < 2 * cfg.train.bptt:
        raise ProbeError(f"valid_tokens {cfg.valid_tokens} is too few to validate; use 0 (all) or at least "
                         f"{2 * cfg.train.bptt}")
    item_df = None
    if items is not None:
        from probe.data.items import read_items

        item_df = read_items(items, n=cfg.n_items, seed=cfg.seed)
    rows, traces = [], []
    from tqdm.auto import tqdm

    jobs = [(spec, clip) for spec in cfg.archs for clip in cfg.clips]
    with tempfile.TemporaryDirectory(prefix="probe-clipping-") as work:
        work_corpus = working_corpus(corpus, Path(work) / "corpus", valid_tokens=cfg.valid_tokens)
        for spec, clip in tqdm(jobs, desc="clipping", unit="run", disable=not progress):
            row, trace = train_clipping_run(cfg, spec, clip, corpus_dir=work_corpus, workdir=work, items=item_df)
            rows.append(row)
            traces.append(trace)
    runs = pd.DataFrame(rows)
    trace_table = pd.concat(traces, ignore_index=True)

    with figure_style():
        figure = plot_clipping(trace_table, runs)
    markdown = _markdown(runs, cfg, corpus)
    seconds = time.perf_counter() - started
    info = {"config": config_to_dict(cfg), "corpus": str(corpus), "items": str(items) if items else None,
            "seconds": seconds}
    files = write_outputs(out, tables={STEM: runs, f"{STEM}_traces": trace_table}, figures={STEM: figure},
                          records={STEM: info})
    return {"files": files, "markdown": markdown, "seconds": seconds,
            "runs": json.loads(runs.to_json(orient="records"))}


def _markdown(runs: pd.DataFrame, cfg: ClippingConfig, corpus) -> str:
    t = pd.DataFrame({
        "cell": runs["arch"] + " (" + runs["variant"] + ")",
        "clip": runs["clip"].map(lambda c: f"{c:g}" if c else "off"),
        "status": runs["status"], "steps": runs["steps"], "non-finite": runs["nonfinite_steps"],
        "clipped share": runs["clipped_share"].map(lambda v: fmt_num(v, 3)),
        "max grad norm": runs["max_grad_norm"].map(fmt_num),
        "median grad norm": runs["median_grad_norm"].map(fmt_num),
        "final valid ppl": runs["final_valid_ppl"].map(lambda v: fmt_num(v, 4)),
        "agreement acc": runs["agreement_accuracy"].map(lambda v: fmt_num(v, 3)),
    })
    n_items = int(runs["n_items"].max()) if len(runs) else 0
    tc = cfg.train
    return "\n".join([
        "## Exploding gradients and clipping", "",
        f"{tc.layers}x{tc.hidden}-unit models trained with {tc.optimizer} at a deliberately large learning rate "
        f"{tc.lr:g} (no decay) for up to {tc.max_steps} steps (batch {tc.batch_size}, BPTT {tc.bptt}) on "
        f"`{Path(str(corpus)).name}`, gradient-norm clipping off and at each threshold. Non-finite steps are skipped "
        f"and counted; {tc.max_nonfinite} in a row stop a run (`stopped`: no perplexity or accuracy). Clipped "
        f"share = clipped steps / steps. Validation perplexity of the final weights on "
        f"{f'the first {cfg.valid_tokens} tokens of' if cfg.valid_tokens else 'all of'} the valid split; "
        f"agreement accuracy on {n_items} benchmark items.", "",
        markdown_table(t), "", "![clipping](figures/clipping.png)", ""])


ANALYSIS = register_analysis(Analysis("clipping", "Exploding gradients and clipping", ClippingConfig, PRESETS, run,
                                      needs=("corpus_dirs",)))
