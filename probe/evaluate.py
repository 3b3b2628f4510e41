"""The evaluate stage: score item sets with models, write per-item scores, summaries, a report and figures."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from probe.core.config import PositiveInt
from probe.core.environment import environment
from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir, save_config, write_text_atomic
from probe.data.items import load_data
from probe.scoring.base import METHODS
from probe.scoring.items import score_items
from probe.scoring.registry import check_model_path, load_scorer, split_reference, unique_names


POOL = "pooled"   # the construction label of the summaries' rows over EvalConfig.pool
POOL_CONFLICT = "pooled_conflict"   # ... over the pool's (or, without one, all) constructions that have conflict items


@dataclass(frozen=True)
class EvalConfig:
    """Options of ``probe evaluate``."""

    models: tuple[str, ...] = ()             # checkpoints (file or training folder) and baseline folders
    hf_models: tuple[str, ...] = ()          # Hugging Face causal LMs: folders or hub names (= --model hf:NAME)
    data: tuple[str, ...] = ()               # item datasets (folder written by `probe build`, or a .jsonl)
    method: str = "prefix"                   # prefix: log P(verb | prefix), one pass per item | sentence: each
                                             #   whole sentence's log-probability
    unk: bool = False                        # score OOV items through <unk> (marked has_unk) instead of excluding
    final_eos: bool = True                   # sentence method: include log P(<eos> | sentence)
    batch_size: PositiveInt = 256            # sequences per forward pass (results do not depend on it)
    device: str = "auto"                     # auto (cuda if available) | cpu | cuda | cuda:N
    split: str | None = None                 # only items of this split (None: all items)
    constructions: tuple[str, ...] = ()      # only these constructions (empty: all)
    baseline_corpus: str | None = None       # also train and score an n-gram and a unigram on this corpus
    ngram_order: PositiveInt = 3             # order of that n-gram baseline
    ci_level: float = 0.95                   # confidence level of every interval (items x seeds, metrics.py)
    pool: tuple[str, ...] = ()               # constructions also summarised together as construction 'pooled'
                                             #   (probe run: those whose configurations the training corpora attest)


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
             out: str | os.PathLike | None = None, *, config: EvalConfig | None = None,
             labels: Mapping[str, Mapping[str, Any]] | None = None, overwrite: bool = False,
             progress: bool = True, **options: Any) -> pd.DataFrame:
    """Score every model on every dataset; write ``out`` (if given) and return the per-item scores.

    The scoring options are :class:`EvalConfig`'s fields: ``config`` (default ``EvalConfig()``) with any
    field given as a keyword (``method="sentence"``, ``unk=True``, ``hf_models=[...]``, ...) replacing its value;
    ``models`` and ``data`` fill its ``models`` and ``data``.
    ``labels`` maps a model path (as given; for ``baseline_corpus`` baselines
    ``baseline:3-gram:CORPUS`` / ``baseline:unigram:CORPUS``) to extra columns for its rows, e.g.
    ``{"runs/lstm-r0.1-s0": {"attractor_rate": 0.1}}``; metrics group by such columns.
    ``hf_models``: Hugging Face causal LMs (local folders or hub names), scored through :mod:`probe.scoring.hf`.
    ``out`` gets: scores.jsonl, scores.parquet, summary.csv, summary_seeds.csv, summary.json,
    config.json (see :func:`write_results`). Nothing appears at ``out`` unless everything succeeded.
    Returns one row per (model, item) (``probe.scoring.items.score_items``' columns plus the label columns).
    """
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(EvalConfig)})
    if unknown:
        raise TypeError(f"evaluate() got unknown options {unknown}; the options are EvalConfig's fields")
    tuples = {k: tuple(map(str, v)) for k, v in options.items() if k in ("hf_models", "constructions")}
    cfg = dataclasses.replace(config or EvalConfig(), **{**options, **tuples})
    cfg = dataclasses.replace(cfg, models=tuple(map(str, models)) or cfg.models, data=tuple(map(str, data)) or cfg.data,
                              baseline_corpus=str(cfg.baseline_corpus) if cfg.baseline_corpus else None)
    check_config(cfg)
    if out is not None:
        check_output_dir(out, overwrite)
    for path in cfg.models:
        check_model_path(path)
    items = load_data(cfg.data, split=cfg.split, constructions=cfg.constructions)
    labels = {str(k): dict(v) for k, v in (labels or {}).items()}
    label_cols = sorted({k for v in labels.values() for k in v})
    scorers: list[tuple[str, Any]] = []
    # --hf-model NAME is the reference hf:NAME; labels stay keyed by the path as given
    refs = [(m, m) for m in cfg.models] + [(m, f"hf:{m}") for m in cfg.hf_models]
    for (path, ref), name in zip(refs, unique_names(cfg.models + cfg.hf_models)):
        scorers.append((path, lambda r=ref, nm=name: load_scorer(r, batch_size=cfg.batch_size, device=cfg.device,
                                                                  name=nm)))
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
                     {k: scorer.info[k] for k in ("dtype", "conventions", "training_state") if k in scorer.info})
    scores = pd.concat(frames, ignore_index=True)
    if out is not None:
        write_results(scores, out, config=cfg, models=infos, labels=labels, overwrite=overwrite)
    return scores


def _is_reference(model: str) -> bool:
    """Whether ``model`` is a ``KIND:TARGET`` reference rather than a path (the registry strips the prefix)."""
    return split_reference(model)[1] != str(model)


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

    pools = None
    from probe.data.records import mixed_patterns

    usable = scores[~scores["excluded"].to_numpy(bool) & ~mixed_patterns(scores)]
    with_conflict = set(usable.loc[usable["match"] == "conflict", "construction"])
    if config.pool:
        # the pool, and its constructions that have conflict items: the headline compares matched with conflict
        # items of the same constructions
        pools = {POOL: tuple(config.pool)} | ({POOL_CONFLICT: tuple(c for c in config.pool if c in with_conflict)}
                                              if with_conflict & set(config.pool) else {})
    elif with_conflict and set(usable.loc[usable["match"] == "matched", "construction"]) - with_conflict:
        # no pool: 'all' holds matched items of constructions without conflict items, so the headline reads
        # matched and conflict accuracy over the constructions that have both
        pools = {POOL_CONFLICT: tuple(sorted(with_conflict))}
    summary = summarize(scores, level=config.ci_level, pools=pools)
    seeds = aggregate_seeds(scores, level=config.ci_level, pools=pools)
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
            "pools": {k: list(v) for k, v in (pools or {}).items()},
        }, indent=1) + "\n")
        conventions = {
            "logprob": "natural log",
            "context": "<eos> followed by the prefix tokens",
            "initial_state": "recurrent models start every item from a zero state followed by <eos>; a model trained "
                             "with state 'sentence' (probe's default) started every training sentence there too, one "
                             "trained with state 'stream' carried its state across sentences and never saw it "
                             "(models_info[].training_state says which; bench/warm_state.py measures the "
                             "difference)",
            "prefix_method": "log P(verb | <eos> prefix) for verb_good and verb_bad, one forward pass",
            "sentence_method": "sum of log P(w_t | <eos> w_<t) over the sentence"
                               + (" and the final <eos>" if config.final_eos else " (final <eos> not included)"),
            "correct": "logp_good > logp_bad (ties never count as correct; exact ties are excluded)",
            "oov": "scored through <unk> and marked has_unk" if config.unk else "excluded and counted per condition",
        }
        if any("conventions" in m for m in models):      # a subword model, however it was named
            conventions["hf_models"] = ("subword models: the start token replaces <eos> as context, nothing is OOV, "
                                        "a multi-token word sums its tokens; see models_info[].conventions")
        # model paths as given are relative to the directory the command ran in; also store each one from the
        # results folder and absolutely, so that readers (probe plot) still find the models after a move
        home = Path(out).resolve()
        on_disk = [m for m in config.models if not _is_reference(m)]      # hf:NAME, ngram:DIR are kept as given
        model_paths = {m: {"absolute": str(Path(m).resolve()), "from_results": os.path.relpath(Path(m).resolve(), home)}
                       for m in on_disk}
        save_config(config, tmp, extra={"models_info": models, "labels": dict(labels or {}), "model_paths": model_paths,
                                        "conventions": conventions, "environment": environment()})
    return Path(out)
