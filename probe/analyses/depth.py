"""Stacked and skip-connected models: agreement accuracy and gradient decay by depth, for each way to connect layers.

For each recurrent cell x number of layers x skip connection (``probe.models.SKIPS``: none, residual,
dense, highway; one layer has none), a model is trained to convergence on one corpus (``probe.train.train``
with early stopping, into ``OUT/work/depth/``, removed afterwards) and then, at initialisation (the same seed's
initial weights) and after training, measured by
  * after training, agreement accuracy on benchmark items (prefix method, ``probe.evaluate``): all scored
    items, conflict items (nearest noun of the other number) and matched items with 1+ attractors;
  * gradient norms from ``probe.analyses.taps.decay_norms`` (windows of the corpus' valid split, J = the
    cross-entropy at the final position, one backward pass per batch): ||dJ(t)/d x(t - l)|| for the
    embedding x at l = 0 (the path up through every layer) and l = ``distance`` (up and back in time),
    the same for the first layer's hidden state, and for the top layer's at l = ``distance``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
import json
from pathlib import Path
import shutil
import time

from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import torch

from probe.analyses.base import (
    Analysis, AnalysisInputs, analysis_copy, one_thread, register_analysis, richest_corpus, train_models,
    working_corpus, write_outputs
)
from probe.analyses.taps import decay_norms, parse_variant, sample_windows, variant_name
from probe.core.config import CheckedConfig, NonNegativeInt, PositiveInt, config_to_dict, nest_keys
from probe.core.errors import ProbeError
from probe.core.io import check_output_dir
from probe.jobs import TrainJob
from probe.core.style import arch_order, figure_style, fmt_num, log_axis, suptitle
from probe.core.tables import markdown_table
from probe.models.config import SKIPS
from probe.train import STALL_RATIO, TrainConfig, check_train_config, model_config_for


STEM = "depth"


# How every depth model trains (its cell, layers, skip connection and seed come from the sweep): to convergence
# on validation perplexity, lr x 0.25 at each plateau
TRAIN = TrainConfig(hidden=64, emb=64, optimizer="adam", lr=5e-3, clip=1.0, batch_size=64, bptt=35, epochs=30,
                    min_delta=0.005, evals_per_epoch=2, stop_after=2, patience=0, lr_decay=0.25, log_every=10**6,
                    device="cpu")


@dataclass(frozen=True)
class DepthConfig(CheckedConfig):
    """Options of ``probe depth`` (the defaults are the full size; PRESETS has smaller ones)."""

    archs: tuple[str, ...] = ("srn", "gru", "lstm")   # cells, as arch[:option=value]
    layers: tuple[PositiveInt, ...] = (1, 2, 4, 6)    # depths to sweep
    skips: tuple[str, ...] = ("none", "residual", "dense", "highway")   # how layers connect (depth >= 2)
    train: TrainConfig = TRAIN         # how each model trains (arch, layers, skip, seed and stop_on: per model)
    valid_tokens: NonNegativeInt = 0   # validate on the first N tokens of the valid split (0: all of it)
    distance: PositiveInt = 10         # l for the gradient norms back in time
    burn_in: NonNegativeInt = 10       # tokens read before the measured positions
    n_sequences: PositiveInt = 64      # gradient windows per model
    n_items: NonNegativeInt = 1000     # benchmark items sampled for the accuracies (0: all)
    seed: int = 0                      # gradient windows and the item sample
    train_seeds: tuple[NonNegativeInt, ...] = (0,)   # training seeds per variant (a finding needs 5 or more)

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """Configs written before ``train`` held the training options had them at the top level."""
        return nest_keys(data, cls, "train")


# Presets: 'full' (CLI defaults), 'small' (inside ``probe run``, <= ~40 s) or 'quick' (toy run).
PRESETS = {
    "full": DepthConfig(),
    # one cell keeps probe run within its budget (all ten models took 290 s on 2 cores); `--size full`
    # runs srn, gru and lstm at 1, 2, 4 and 6 layers
    "small": DepthConfig(archs=("lstm",), layers=(1, 4), train=replace(TRAIN, hidden=32, emb=32, lr=1e-2),
                         n_sequences=32, n_items=600),
    "quick": DepthConfig(archs=("srn", "lstm"), layers=(1, 2), skips=("none", "highway"),
                         train=replace(TRAIN, hidden=8, emb=8, batch_size=8, bptt=10, stop_after=0, max_steps=3),
                         valid_tokens=300, n_sequences=8, n_items=30),
}


def check_config(cfg: DepthConfig) -> None:
    """One-line ProbeErrors for impossible options (before anything is trained or written)."""
    if not cfg.archs or not cfg.layers or not cfg.skips:
        raise ProbeError("give at least one cell (archs), one depth (layers) and one skip connection (skips)")
    bad = [k for k in cfg.skips if k not in SKIPS]
    if bad:
        raise ProbeError(f"unknown skip connection {bad[0]!r}: choose from {', '.join(SKIPS)}")
    if not cfg.train.stop_after and not cfg.train.max_steps:
        raise ProbeError("give train.stop_after (train to convergence) or train.max_steps (a fixed budget), or both")
    if cfg.valid_tokens and cfg.valid_tokens < 2 * cfg.train.bptt:
        raise ProbeError(f"valid_tokens {cfg.valid_tokens} is too few to validate; use 0 (all) or at least "
                         f"{2 * cfg.train.bptt}")
    if not cfg.train_seeds or len(set(cfg.train_seeds)) != len(cfg.train_seeds):
        raise ProbeError("train_seeds must list one or more distinct seeds")
    for spec in cfg.archs:
        check_train_config(_train_config(cfg, spec, 1, "none"))


def models_to_train(cfg: DepthConfig) -> list[tuple[str, int, str, int]]:
    """(cell spec, layers, skip, seed) for every model: a one-layer model has no skip connection, so it is trained
    once per seed."""
    jobs = []
    for spec in cfg.archs:
        for n in sorted(set(int(x) for x in cfg.layers)):
            for skip in (("none",) if n == 1 else dict.fromkeys(cfg.skips)):
                jobs.extend((spec, n, skip, int(seed)) for seed in cfg.train_seeds)
    return jobs


def _train_config(cfg: DepthConfig, spec: str, layers: int, skip: str, seed: int = 0, *, watch: bool = False
                  ) -> TrainConfig:
    """A depth model's training config; ``watch``: held-out items are given, so it stops on perplexity and on
    agreement (stop_on ppl+agreement), as the run's models do."""
    v = parse_variant(spec)
    return replace(cfg.train, arch=v["arch"], nonlinearity=v.get("nonlinearity", "tanh"),
                   forget_bias=v.get("forget_bias"), layers=layers, skip=skip, seed=seed,
                   stop_on="ppl+agreement" if watch else "ppl")


def accuracies(model, vocab, items: pd.DataFrame) -> dict:
    """Agreement accuracy (prefix method) overall and on 1+-attractor items, conflict vs matched; items whose
    attractors mix numbers (``probe.data.records.mixed_patterns``) are in neither."""
    from probe.data.records import mixed_patterns
    from probe.scoring.items import score_items
    from probe.scoring.neural import LMScorer

    scores = score_items(LMScorer(model, vocab), items, method="prefix")
    kept = scores[~scores["excluded"].to_numpy(bool) & ~mixed_patterns(scores)]
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


@one_thread()
def run(inputs: AnalysisInputs, cfg: DepthConfig) -> dict:
    """Train and measure every (cell, layers, skip) model on the corpus with the largest attractor rate
    (``inputs.models`` is not used: the sweep trains its own, on ``inputs.executor`` or in ``inputs.workers``
    processes, one thread each; the results do not depend on it); accuracies on ``inputs.items`` when given.
    Writes depth.csv, depth.json and figures/depth.{png,pdf} into ``inputs.out``. Returns {"files", "markdown",
    "seconds", "rows"}.
    """
    from probe.data.corpus import load_corpus
    from probe.models.checkpoint import load_checkpoint
    from probe.models.lm import build_model
    check_config(cfg)
    started = time.perf_counter()
    corpus, items = richest_corpus(inputs.corpus_dirs, "depth"), inputs.items
    out = check_output_dir(inputs.out, overwrite=True)     # a file there is refused; a folder is added to
    corp = load_corpus(corpus)
    if "valid" not in corp.splits:
        raise ProbeError(f"corpus {corpus} has no valid split; rebuild it with `probe corpus`")
    windows = sample_windows(corp.splits["valid"], n=cfg.n_sequences, length=cfg.burn_in + cfg.distance + 2,
                             seed=cfg.seed)
    item_df = None
    if items is not None:
        from probe.data.items import read_items

        item_df = read_items(items, n=cfg.n_items, seed=cfg.seed)
    rows = []
    jobs = models_to_train(cfg)
    # the models go to a folder under the output (not a temporary one), so that cluster nodes reach it and a
    # restarted run finds the jobs already submitted; removed once they are measured
    work = Path(out) / "work" / STEM
    shutil.rmtree(work / "corpus", ignore_errors=True)     # a killed run's copy: written again, the same
    work_corpus = working_corpus(corpus, work / "corpus", valid_tokens=cfg.valid_tokens)
    folders = [work / f"{spec.replace(':', '-').replace('=', '')}-L{n}-{skip}-s{seed}" for spec, n, skip, seed in jobs]
    watch = bool(inputs.dev_items) and bool(cfg.train.stop_after)
    train_jobs = [TrainJob(config=config_to_dict(_train_config(cfg, *job, watch=watch)), corpus=str(work_corpus),
                           out=str(f), items=inputs.dev_items if watch else None, threads=1)
                  for job, f in zip(jobs, folders)]
    summaries = train_models(inputs, train_jobs, what="depth")
    for (spec, n_layers, skip, seed), folder, summary in zip(jobs, folders, summaries):
        tcfg = _train_config(cfg, spec, n_layers, skip, seed)
        train_seconds = summary["train_seconds"]
        torch.manual_seed(seed)        # the initial weights the run started from (train seeds the same way)
        mcfg = model_config_for(tcfg, len(corp.vocab))
        states = {"init": build_model(mcfg).eval(), "trained": load_checkpoint(folder / "model.pt").model}
        for state, model in states.items():
            row = {"arch": parse_variant(spec)["arch"], "variant": variant_name(mcfg), "layers": n_layers,
                   "skip": skip, "seed": seed, "state": state, "hidden": cfg.train.hidden, "steps": summary["steps"],
                   "epochs": summary["epochs"], "converged": bool(summary.get("converged")),
                   "status": summary.get("status", ""),
                   "valid_ppl": summary["best_valid_ppl"] if state == "trained" else float("nan"),
                   "valid_ppl_ratio": summary.get("valid_ppl_ratio", float("nan")) if state == "trained"
                   else float("nan"),
                   "train_seconds": train_seconds if state == "trained" else 0.0, "distance": cfg.distance,
                   "n_sequences": cfg.n_sequences}
            if item_df is not None and state == "trained":     # at init: chance, not worth the time
                row.update(accuracies(model, corp.vocab, item_df))
            row.update(depth_gradients(model, windows, distance=cfg.distance))
            rows.append(row)
    shutil.rmtree(work)
    with contextlib.suppress(OSError):
        work.parent.rmdir()         # the output's work/ folder, unless something else keeps files there
    table = pd.DataFrame(rows)

    with figure_style():
        figure = plot_depth(table)
    markdown = _markdown(table, cfg, corpus, watch=watch)
    seconds = time.perf_counter() - started
    info = {"config": config_to_dict(cfg), "corpus": str(corpus), "items": str(items) if items else None,
            "seconds": seconds}
    files = write_outputs(out, tables={STEM: table}, figures={STEM: figure}, records={STEM: info})
    return {"files": files, "markdown": markdown, "seconds": seconds,
            "rows": json.loads(table.to_json(orient="records"))}


SKIP_STYLES = {"none": ("-", "o"), "residual": ("--", "s"), "dense": (":", "^"), "highway": ("-.", "D")}
SKIP_COLOURS = {"none": "black", "residual": "#1b9e77", "dense": "#d95f02", "highway": "#7570b3"}


def _depth_lines(sub: pd.DataFrame, col: str, log: bool) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Per skip connection (plain last, on top): (skip, its models' rows from one layer up, the mean per depth).
    Every line starts from the one-layer model (it has no skip connection); the mean over training seeds is
    geometric on a log axis."""
    one = sub[sub["layers"] == 1]
    out = []
    for skip in [k for k in SKIP_STYLES if k in set(sub["skip"]) and k != "none"] + ["none"]:
        d = pd.concat([one, sub[(sub["skip"] == skip) & (sub["layers"] > 1)]])
        if d["layers"].nunique() < 2 and skip != "none":
            continue
        v = d[["layers", col]].copy()
        v[col] = v[col].where(v[col] > 0) if log else v[col]
        if log:
            mean = np.exp(np.log(v[col]).groupby(v["layers"]).mean())
        else:
            mean = v.groupby("layers")[col].mean()
        out.append((skip, d, mean.reset_index().rename(columns={col: "mean"})))
    return out


def plot_depth(table: pd.DataFrame) -> Figure:
    """One row per cell, side by side: conflict accuracy after training, the input gradient through depth at
    initialisation (||dJ(t)/d emb(t)||) and ``distance`` steps back after training, against the number of
    layers; per skip connection one colour, a point per training seed and a line through their mean (all
    lines start from the same one-layer models). Lines are set slightly apart sideways so that equal values
    stay visible; a red cross marks a model that stalled or did not converge."""
    from matplotlib.lines import Line2D

    n_archs = max(1, table["arch"].nunique()) if len(table) else 1
    fig = Figure(figsize=(9.0, 2.6 * n_archs + 1.3), layout="constrained")
    if not len(table):
        return fig
    archs = arch_order(table["arch"])
    k = int(table["distance"].iloc[0])
    acc_col = "acc_conflict" if "acc_conflict" in table.columns and table["acc_conflict"].notna().any() else None
    panels = [p for p in (("trained", acc_col, "conflict accuracy", "conflict accuracy, trained", False),
                          ("init", "grad_emb_d0", "||dJ(t)/d emb(t)||", "gradient through the layers, init", True),
                          ("trained", "grad_emb_dk", f"||dJ(t)/d emb(t-{k})||", f"gradient {k} steps back, trained",
                           True)) if p[1] is not None]
    depths = sorted(int(n) for n in table["layers"].unique())
    pos = {n: i for i, n in enumerate(depths)}          # depths evenly spaced, labelled with their number
    skips = [s_ for s_ in SKIP_STYLES if s_ in set(table["skip"])]
    dodge = {s_: 0.07 * (i - (len(skips) - 1) / 2) for i, s_ in enumerate(skips)}
    seeds = table["seed"].nunique() if "seed" in table.columns else 1
    axes = fig.subplots(len(archs), len(panels), squeeze=False)
    for row, arch in zip(axes, archs):
        for ax, (state, col, ylabel, title, log) in zip(row, panels):
            sub = table[(table["state"] == state) & (table["arch"] == arch)]
            for skip, d, mean in _depth_lines(sub, col, log):
                ls, marker = SKIP_STYLES[skip]
                colour = SKIP_COLOURS[skip]
                x = mean["layers"].map(pos) + dodge[skip]
                ax.plot(x, mean["mean"], ls=ls, marker=marker, color=colour, ms=4.5, lw=1.3, zorder=3)
                d = d if skip == "none" else d[d["layers"] > 1]     # the one-layer models once, with plain
                if seeds > 1:
                    y = d[col].where(d[col] > 0) if log else d[col]
                    ax.plot(d["layers"].map(pos) + dodge[skip], y, ls="none", marker=marker, color=colour, ms=3,
                            alpha=0.45, mfc="white", zorder=2)
                bad = d[(d["state"] == "trained") & (d["status"] != "converged")] if state == "trained" else d[:0]
                if len(bad):
                    ax.plot(bad["layers"].map(pos) + dodge[skip], bad[col], ls="none", marker="x", color="red", ms=4,
                            mew=0.9, zorder=4)
            ax.set_xticks(range(len(depths)))
            ax.set_xticklabels([str(n) for n in depths])
            ax.set_xlim(-0.4, len(depths) - 0.6)
            ax.set_xlabel("layers")
            if log:
                log_axis(ax)
            else:
                ax.set_ylim(-0.02, 1.02)
                ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=8.5)
        row[0].set_ylabel(f"{arch}: {row[0].get_ylabel()}")
    handles = [Line2D([], [], ls=SKIP_STYLES[s_][0], marker=SKIP_STYLES[s_][1], color=SKIP_COLOURS[s_], ms=4.5)
               for s_ in skips[1:] + skips[:1]]
    labels = [s_ if s_ != "none" else "plain (no skip)" for s_ in skips[1:] + skips[:1]]
    if (table["status"] != "converged").any():
        handles.append(Line2D([], [], ls="none", marker="x", color="red", ms=4, mew=0.9))
        labels.append("stalled or not converged")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=7, frameon=False)
    n_seq = int(table["n_sequences"].iloc[0])
    suptitle(fig, "Depth and skip connections: every line starts from the one-layer model",
             (f"lines: mean over {seeds} training seeds (points: each seed; geometric mean on log axes); " if seeds > 1
              else "one training seed; ") + f"gradients: mean over {n_seq} windows of the validation text")
    return fig


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per trained variant (cell, layers, skip) over its training seeds: how many converged, and the mean of the
    perplexity ratio and of the conflict accuracy with a 95% t-interval over seeds and the sorted per-seed
    values (a split between seeds stays visible)."""
    from probe.core.stats import t_quantile

    tr = table[table["state"] == "trained"]
    rows = []
    for (arch, variant, layers, skip), g in tr.groupby(["arch", "variant", "layers", "skip"], sort=False):
        row = {"arch": arch, "variant": variant, "layers": layers, "skip": skip, "seeds": len(g),
               "converged": int((g["status"] == "converged").sum()),
               "stalled": int((g["status"] == "stalled").sum())}
        for col in ("valid_ppl_ratio", "acc_conflict", "acc_matched"):
            v = g[col].to_numpy(float) if col in g else np.full(len(g), np.nan)
            v = v[np.isfinite(v)]
            half = t_quantile(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            low, high = (0.0, 1.0) if col.startswith("acc_") else (1.0, np.inf)   # a share; a ratio to the floor
            row.update({col: v.mean() if len(v) else np.nan,
                        f"{col}_low": max(v.mean() - half, low) if len(v) else np.nan,
                        f"{col}_high": min(v.mean() + half, high) if len(v) else np.nan,
                        f"{col}_seeds": ", ".join(f"{x:.3g}" for x in np.sort(v))})
        rows.append(row)
    return pd.DataFrame(rows)


def _stop_words(tc: TrainConfig, watch: bool) -> str:
    """How the depth models stopped, as the report says it: ``watch``, held-out agreement was watched too."""
    if not tc.stop_after:
        return f"for {tc.max_steps} steps each (not to convergence)"
    what = ("neither validation perplexity (by {d:.1%}) nor held-out agreement had improved" if watch
            else "validation perplexity had not improved by {d:.1%}").format(d=tc.min_delta)
    return (f"until {what} in {tc.stop_after} evaluations in a row (lr x {tc.lr_decay:g} at each plateau; at most "
            f"{tc.epochs} epochs" + (f", {tc.max_steps} steps" if tc.max_steps else "") + ")")


def _markdown(table: pd.DataFrame, cfg: DepthConfig, corpus, *, watch: bool) -> str:
    tr = table[table["state"] == "trained"].reset_index(drop=True)
    init = table[table["state"] == "init"].reset_index(drop=True)
    if len(cfg.train_seeds) > 1:
        return _seeds_markdown(table, cfg, corpus, watch=watch)
    t = pd.DataFrame({
        "cell": tr["arch"] + " (" + tr["variant"] + ")", "layers": tr["layers"], "skip": tr["skip"],
        "status": tr["status"], "epochs": tr["epochs"],
        "valid ppl": tr["valid_ppl"].map(lambda v: fmt_num(v, 4)),
        "ppl / floor": tr["valid_ppl_ratio"].map(lambda v: fmt_num(v, 4)),
        "acc conflict": tr["acc_conflict"].map(lambda v: fmt_num(v, 3)) if "acc_conflict" in tr else "n/a",
        "acc matched": tr["acc_matched"].map(lambda v: fmt_num(v, 3)) if "acc_matched" in tr else "n/a",
        "emb grad d0 (init)": init["grad_emb_d0"].map(fmt_num),
        f"emb grad d{cfg.distance} (init)": init["grad_emb_dk"].map(fmt_num),
        f"emb grad d{cfg.distance} (trained)": tr["grad_emb_dk"].map(fmt_num),
        f"top grad d{cfg.distance} (trained)": tr["grad_top_dk"].map(fmt_num),
    })
    n_items = int(tr["n_items"].max()) if "n_items" in tr and len(tr) else 0
    tc = cfg.train
    budget = _stop_words(tc, watch)
    return "\n".join([
        "## Depth and skip connections", "",
        f"{tc.hidden}-unit stacks trained with {tc.optimizer} lr {tc.lr:g} {budget} (batch {tc.batch_size}, "
        f"BPTT {tc.bptt}) on `{Path(str(corpus)).name}`; valid ppl on "
        f"{f'the first {cfg.valid_tokens} tokens of' if cfg.valid_tokens else 'all of'} the valid split "
        "(ppl / floor: relative to the grammar's entropy floor; *stalled*: stopped improving above "
        f"{STALL_RATIO} x the floor, i.e. the model did not learn). Skip connections: *residual* adds a layer's input "
        "to its output, *dense* feeds every layer all earlier outputs (the embedding included), *highway* mixes "
        "output and input through a learned gate (bias -1: carry at first); one layer has none. "
        f"Accuracy: prefix method on {n_items} benchmark items (conflict: nearest noun of the other number; "
        f"matched: 1+ attractors, all of the head's number). `emb grad dL`: mean ||dJ(t)/d emb(t-L)||, J = "
        f"cross-entropy at the final position of {cfg.n_sequences} valid-split windows (L = 0: straight up "
        "through every layer); `top grad`: the same for the top layer's hidden state.", "",
        markdown_table(t), "", "![depth](figures/depth.png)", ""])


def _seeds_markdown(table: pd.DataFrame, cfg: DepthConfig, corpus, *, watch: bool) -> str:
    """The report section with several training seeds per variant: means with intervals over seeds, the
    per-seed values, and the gradients at initialisation and after training (means over seeds)."""
    agg = seed_summary(table)
    grads = table.groupby(["arch", "variant", "layers", "skip", "state"], sort=False)[
        ["grad_emb_d0", "grad_emb_dk", "grad_top_dk"]].mean().reset_index()
    init, trained = (grads[grads["state"] == st].reset_index(drop=True) for st in ("init", "trained"))
    fmt = lambda r, c: f"{r[c]:.3f} [{r[c + '_low']:.3f}, {r[c + '_high']:.3f}]"     # noqa: E731
    t = pd.DataFrame({
        "cell": agg["arch"] + " (" + agg["variant"] + ")", "layers": agg["layers"], "skip": agg["skip"],
        "seeds": agg["seeds"], "converged / stalled": [f"{c} / {s}" for c, s in zip(agg["converged"], agg["stalled"])],
        "ppl / floor": [fmt(r, "valid_ppl_ratio") for _, r in agg.iterrows()],
        "acc conflict": [fmt(r, "acc_conflict") for _, r in agg.iterrows()],
        "acc conflict per seed": agg["acc_conflict_seeds"],
        "emb grad d0 (init)": init["grad_emb_d0"].map(fmt_num),
        f"emb grad d{cfg.distance} (trained)": trained["grad_emb_dk"].map(fmt_num),
    })
    tc = cfg.train
    return "\n".join([
        "## Depth and skip connections", "",
        f"{tc.hidden}-unit stacks, {len(cfg.train_seeds)} training seeds per variant, trained with {tc.optimizer} "
        f"lr {tc.lr:g} {_stop_words(tc, watch)} on "
        f"`{Path(str(corpus)).name}`. Means over the seeds with 95% t-intervals over seeds; *per seed*: each seed's "
        "value, sorted, so that seeds that split show. ppl / floor: validation perplexity over the grammar's "
        f"entropy floor (*stalled*: stopped improving above {STALL_RATIO} x the floor). Skip connections: *residual* "
        "adds a layer's input to its output, *dense* feeds every layer all earlier outputs (the embedding "
        "included), *highway* mixes output and input through a learned gate; one layer has none. `emb grad dL`: "
        "mean ||dJ(t)/d emb(t-L)|| over the seeds' models, J = cross-entropy at the final position of "
        f"{cfg.n_sequences} valid-split windows.", "",
        markdown_table(t), "", "![depth](figures/depth.png)", ""])


ANALYSIS = register_analysis(Analysis("depth", "Stacked and skip-connected models", DepthConfig, PRESETS, run,
                                      needs=("corpus_dirs",)))
