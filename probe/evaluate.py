"""The evaluate stage: score item sets with models, write per-item scores, summaries, a report and figures."""
from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from probe.core.environment import environment
from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir, save_config, write_text_atomic
from probe.data.items import load_data
from probe.scoring.base import METHODS
from probe.scoring.items import score_items
from probe.scoring.registry import check_model_path, load_scorer, unique_names
from probe.scoring.suites import token_surprisals


@dataclass(frozen=True)
class EvalConfig:
    """Options of ``probe evaluate``."""

    models: tuple[str, ...] = ()             # checkpoints (file or training folder) and baseline folders
    hf_models: tuple[str, ...] = ()          # Hugging Face causal LMs: local folders or hub names (probe.scoring.hf; or give --model hf:NAME)
    data: tuple[str, ...] = ()               # item datasets (folder written by `probe build`, or a .jsonl)
    method: str = "prefix"                   # prefix | sentence (see the module docstring)
    unk: bool = False                        # score OOV items through <unk> (marked has_unk) instead of excluding
    final_eos: bool = True                   # sentence method: include log P(<eos> | sentence)
    batch_size: int = 256                    # sequences per forward pass (results do not depend on it)
    device: str = "auto"                     # auto (cuda if available) | cpu | cuda | cuda:N
    split: str | None = None                 # only items of this split (None: all items)
    constructions: tuple[str, ...] = ()      # only these constructions (empty: all)
    baseline_corpus: str | None = None       # also train and score an n-gram and a unigram on this corpus
    ngram_order: int = 3                     # order of that n-gram baseline
    ci_level: float = 0.95                   # confidence level of every interval (items x seeds, metrics.py)


# ---------------------------------------------------------------------------------------------------
# The evaluate stage


def check_config(cfg: EvalConfig) -> None:
    """Reject impossible options with one-line errors before anything is loaded or written."""
    if cfg.method not in METHODS:
        raise ProbeError(f"unknown --method {cfg.method!r}; choose from {', '.join(METHODS)}")
    if not cfg.models and not cfg.hf_models and not cfg.baseline_corpus:
        raise ProbeError("no models to evaluate; give --model DIR, --hf-model NAME_OR_PATH or --baseline-corpus DIR")
    if not cfg.data:
        raise ProbeError("no item data; give --data DIR (a folder written by `probe build`)")
    if cfg.batch_size <= 0:
        raise ProbeError(f"--batch-size must be positive, got {cfg.batch_size}")
    if cfg.ngram_order < 1:
        raise ProbeError(f"--ngram-order must be at least 1, got {cfg.ngram_order}")
    if not 0 < cfg.ci_level < 1:
        raise ProbeError(f"--ci-level must lie between 0 and 1, got {cfg.ci_level}")


def evaluate(models: Sequence[str | os.PathLike] = (), data: Sequence[str | os.PathLike] = (),
             out: str | os.PathLike | None = None, *, method: str = "prefix", unk: bool = False,
             final_eos: bool = True, batch_size: int = 256, device: str = "auto", split: str | None = None,
             constructions: Sequence[str] = (), baseline_corpus: str | os.PathLike | None = None,
             ngram_order: int = 3, ci_level: float = 0.95,
             labels: Mapping[str, Mapping[str, Any]] | None = None, overwrite: bool = False,
             progress: bool = True, hf_models: Sequence[str | os.PathLike] = ()) -> pd.DataFrame:
    """Score every model on every dataset; write ``out`` (if given) and return the per-item scores.

    ``labels`` maps a model path (as given; for ``baseline_corpus`` baselines
    ``baseline:3-gram:CORPUS`` / ``baseline:unigram:CORPUS``) to extra columns for its rows, e.g.
    ``{"runs/lstm-r0.1-s0": {"attractor_rate": 0.1}}``; metrics group by such columns.
    ``hf_models``: Hugging Face causal LMs (local folders or hub names), scored through :mod:`probe.scoring.hf`.
    ``out`` gets: scores.jsonl, scores.parquet, summary.csv, summary_seeds.csv, summary.json,
    config.json (see :func:`write_results`). Nothing appears at ``out`` unless everything succeeded.
    """
    cfg = EvalConfig(models=tuple(map(str, models)), hf_models=tuple(map(str, hf_models)),
                     data=tuple(map(str, data)), method=method, unk=unk, final_eos=final_eos,
                     batch_size=batch_size, device=device, split=split, constructions=tuple(constructions),
                     baseline_corpus=str(baseline_corpus) if baseline_corpus else None,
                     ngram_order=ngram_order, ci_level=ci_level)
    check_config(cfg)
    if out is not None:
        check_output_dir(out, overwrite)
    for path in cfg.models:
        check_model_path(path)
    items = load_data(cfg.data, split=cfg.split, constructions=cfg.constructions)
    labels = {str(k): dict(v) for k, v in (labels or {}).items()}
    label_cols = sorted({k for v in labels.values() for k in v})
    scorers: list[tuple[str, Any]] = []
    names = unique_names(cfg.models + cfg.hf_models)
    for path, name in zip(cfg.models, names):
        scorers.append((path, lambda p=path, nm=name: load_scorer(p, batch_size=cfg.batch_size, device=cfg.device,
                                                                   name=nm)))
    for path, name in zip(cfg.hf_models, names[len(cfg.models):]):
        scorers.append((path, lambda p=path, nm=name: load_scorer(f"hf:{p}", batch_size=cfg.batch_size,
                                                                   device=cfg.device, name=nm)))
    if cfg.baseline_corpus:
        from probe.scoring.ngram import train_baselines

        for scorer in train_baselines(cfg.baseline_corpus, order=cfg.ngram_order):
            scorers.append((scorer.info["path"], lambda s=scorer: s))
    frames, infos = [], []
    from tqdm import tqdm

    for path, make in tqdm(scorers, desc="evaluate", unit="model", disable=not progress or None):
        scorer = make()
        frame = score_items(scorer, items, method=cfg.method, unk=cfg.unk, final_eos=cfg.final_eos)
        for col in label_cols:
            frame[col] = labels.get(path, {}).get(col)
        frames.append(frame)
        vocab_size = len(scorer.vocab) if scorer.vocab is not None else scorer.info.get("vocab_size")
        infos.append({k: scorer.info.get(k) for k in ("model", "arch", "seed", "path")} | {"vocab_size": vocab_size} |
                     {k: scorer.info[k] for k in ("dtype", "conventions") if k in scorer.info})
    scores = pd.concat(frames, ignore_index=True)
    if out is not None:
        write_results(scores, out, config=cfg, models=infos, labels=labels, overwrite=overwrite)
    return scores


def _records(df: pd.DataFrame) -> list[dict]:
    """DataFrame -> JSON-safe records (NaN/NA -> null)."""
    return json.loads(df.to_json(orient="records"))


def write_results(scores: pd.DataFrame, out: str | os.PathLike, *, config: EvalConfig, models: list[dict],
                  labels: Mapping[str, Mapping[str, Any]] | None = None, overwrite: bool = False) -> Path:
    """Write a results folder atomically.

    scores.jsonl / scores.parquet   one row per item x model (records.SCORE_FEATURES + label columns)
    summary.csv                     long format, one row per model x cell x metric (metrics.summarize)
    summary_seeds.csv               the same cells, mean and CI over training seeds (metrics.aggregate_seeds)
    summary.json                    the scoring options, counts, exclusion counts by reason (the tables are the CSVs)
    config.json                     the EvalConfig, the models' info, the scoring conventions, versions, and
                                    model_paths: each model also from the results folder and absolute
    """
    from probe.metrics import aggregate_seeds, exclusion_counts, summarize

    summary = summarize(scores, level=config.ci_level)
    seeds = aggregate_seeds(scores, level=config.ci_level)
    excl = exclusion_counts(scores)
    with atomic_dir(out, overwrite) as tmp:
        write_text_atomic(tmp / "scores.jsonl", scores.to_json(orient="records", lines=True))
        scores.to_parquet(tmp / "scores.parquet", index=False)
        write_text_atomic(tmp / "summary.csv", summary.to_csv(index=False))
        write_text_atomic(tmp / "summary_seeds.csv", seeds.to_csv(index=False))
        write_text_atomic(tmp / "summary.json", json.dumps({
            "method": config.method, "final_eos": config.final_eos, "unk": config.unk,
            "ci_level": config.ci_level,
            "n_scores": int(len(scores)), "n_excluded": int(scores["excluded"].sum()),
            "excluded": _records(excl), "tables": {"summary": "summary.csv", "over_seeds": "summary_seeds.csv"},
        }, indent=1) + "\n")
        conventions = {
            "logprob": "natural log",
            "context": "<eos> followed by the prefix tokens",
            "initial_state": "recurrent models start every item from a zero state (as the published evaluations score "
                             "sentences on their own), although training carries the state across sentences; "
                             "bench/warm_state.py measures what a state warmed on preceding text changes",
            "prefix_method": "log P(verb | <eos> prefix) for verb_good and verb_bad, one forward pass",
            "sentence_method": "sum of log P(w_t | <eos> w_<t) over the sentence"
                               + (" and the final <eos>" if config.final_eos else " (final <eos> not included)"),
            "correct": "logp_good > logp_bad (ties never count as correct; exact ties are excluded)",
            "oov": "scored through <unk> and marked has_unk" if config.unk else "excluded and counted per condition",
        }
        if config.hf_models:
            conventions["hf_models"] = ("subword models: the start token replaces <eos> as context, nothing is OOV, "
                                        "a multi-token word sums its tokens; see models_info[].conventions")
        # model paths as given are relative to the directory the command ran in; also store each one from the
        # results folder and absolutely, so that readers (probe plot) still find the models after a move
        home = Path(out).resolve()
        model_paths = {m: {"absolute": str(Path(m).resolve()), "from_results": os.path.relpath(Path(m).resolve(), home)}
                       for m in config.models}
        save_config(config, tmp, extra={"models_info": models, "labels": dict(labels or {}), "model_paths": model_paths,
                                        "conventions": conventions, "environment": environment()})
    return Path(out)


# ---------------------------------------------------------------------------------------------------
# SyntaxGym suites: the suite's own prediction formulas on summed region surprisals


def evaluate_suite(models: Sequence[str | os.PathLike], suites: Sequence[str | os.PathLike],
                   out: str | os.PathLike, *, batch_size: int = 256, device: str = "auto",
                   overwrite: bool = False) -> pd.DataFrame:
    """Score SyntaxGym suites with each model and evaluate the suites' own prediction formulas.

    Writes ``out/predictions.csv`` (one row per model x suite x item x prediction: result True/False),
    ``out/summary.csv`` (share of items meeting each prediction) and ``out/config.json``. Surprisals are
    in nats, summed over each region's tokens (formulas compare sums, so the unit does not matter).
    """
    from probe.data.importers.syntaxgym import load_suite
    from probe.scoring.suites import evaluate_predictions, region_surprisals, suite_formulas

    if not models:
        raise ProbeError("no models given; pass --model DIR (a checkpoint or baseline folder)")
    if not suites:
        raise ProbeError("no suites given; pass --suite FILE (a SyntaxGym suite JSON)")
    check_output_dir(out, overwrite)
    loaded = [(Path(p).stem, load_suite(p)) for p in suites]
    rows = []
    for path, name in zip(models, unique_names([str(m) for m in models])):
        scorer = load_scorer(path, batch_size=batch_size, device=device, name=name)
        for suite_name, suite in loaded:
            wanted: list[list[str]] = []
            region_surprisals(suite, lambda toks: wanted.append(list(toks)) or np.zeros(len(toks)))
            values = dict(zip(map(tuple, wanted), token_surprisals(scorer, wanted)))
            sums = region_surprisals(suite, lambda toks: values[tuple(toks)])
            formulas = suite_formulas(suite)
            for item, results in evaluate_predictions(suite, sums).items():
                for k, ok in enumerate(results):
                    rows.append({"model": scorer.info["model"], "arch": scorer.info.get("arch", ""),
                                 "seed": scorer.info.get("seed", 0), "suite": suite_name, "item": item,
                                 "prediction": k, "formula": formulas[k], "result": bool(ok)})
    df = pd.DataFrame(rows)
    summary = (df.groupby(["model", "arch", "seed", "suite", "prediction", "formula"], sort=False)["result"]
               .agg(accuracy="mean", n_items="size").reset_index())
    with atomic_dir(out, overwrite) as tmp:
        write_text_atomic(tmp / "predictions.csv", df.to_csv(index=False))
        write_text_atomic(tmp / "summary.csv", summary.to_csv(index=False))
        save_config({"models": [str(m) for m in models], "suites": [str(s) for s in suites],
                     "surprisal": "nats, -log P(w | <eos> preceding words), summed per region; OOV words as <unk>"},
                    tmp)
    return summary
