"""Configuration of ``probe run``: the run config, its presets and checks, and each model's training config."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from probe.data.build import BuildConfig, check_config
from probe.core.errors import ProbeError
from probe.core.config import (FLAGS, CheckedConfig, NonNegativeInt, Origin, PositiveInt, config_from_dict,
                               config_from_layers, config_to_dict, merge_config, read_config_file)
from probe.data.corpus import CorpusConfig, check_corpus_config
from probe.jobs import SlurmConfig, check_executor
from probe.metrics import NEST_KEY
from probe.train import TrainConfig, check_train_config, resolve_train_config
from probe.analyses import BUILTIN


@dataclass(frozen=True)
class ExtraData(CheckedConfig):
    """A published test set imported with ``probe import`` and scored beside probe's own benchmark."""

    format: str                  # an importer format: blimp | marvin-linzen | syntaxgym | linzen | gulordava
    path: str                    # its file or folder (relative paths: from the working directory)
    method: str = "sentence"     # how the source scored it (BLiMP and Marvin & Linzen compare whole sentences)
    per_construction: NonNegativeInt = 0    # score at most this many pairs per construction/paradigm (0 = all),
                                            #   chosen by id hash


@dataclass(frozen=True)
class RunConfig(CheckedConfig):
    """Everything ``probe run`` does, in one place; ``--config FILE`` overrides any of it (nested keys)."""

    name: str = "default"                                   # the run folder <results_dir>/<name>/ (default:
                                                            #   the preset's name)
    results_dir: str = "runs"                               # parent of the run folder (default runs/, which git
                                                            #   ignores; `results` rewrites the committed reference)
    reference: str = "auto"                                 # a committed run to compare the headline with:
                                                            #   'auto' = results/<name> when it exists, '' = none
    archs: tuple[str, ...] = ("srn", "gru", "lstm")         # recurrent cells to compare
    seeds: tuple[NonNegativeInt, ...] = (0, 1, 2)           # training seeds per cell, rate and corpus
    corpus_seeds: tuple[NonNegativeInt, ...] = (0,)         # independently drawn corpora per rate (their seeds);
                                                            #   with two or more, corpora are a random factor of
                                                            #   every interval
    # corpus sweep: share of subjects whose modifier holds a noun of the other number, with the share of
    # modified subjects held at corpus.modifier_rate: 1.7%, 8% and 50% of the modifiers attract
    attractor_rates: tuple[float, ...] = (0.01, 0.05, 0.3)
    benchmark: BuildConfig = field(default_factory=lambda: BuildConfig(per_condition=40))
    # held-out items for the learning curves and the stopping rule: every construction, conflict items included,
    # none repeating a benchmark sentence (the run excludes them) and none in the corpora
    dev_items: BuildConfig = field(default_factory=lambda: BuildConfig(per_condition=4, seed=1))
    corpus: CorpusConfig = field(default_factory=lambda: CorpusConfig(n_sentences=40_000, modifier_rate=0.6))
    # 64-unit single-layer cells, each training sentence from a zero state (as items are scored), 64 sentences a
    # batch, until neither validation perplexity (by 0.5%) nor held-out agreement (by 0.005) has improved over two
    # half-epoch validations (lr x 0.25 at each plateau); a pilot reached 1.05-1.07 x the entropy floor in 5-7.5
    # epochs (bench/convergence_pilot.py)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        layers=1, hidden=64, emb=64, optimizer="adam", lr=1e-2, batch_size=64, bptt=35, epochs=30,
        clip=1.0, dropout=0.0, log_every=20, evals_per_epoch=2, patience=0, lr_decay=0.25, min_delta=0.005,
        stop_after=2, state="sentence", stop_on="ppl+agreement", agreement_delta=0.005))
    # the other state convention, as a sensitivity check: for the first this many (corpus, seed) replicates each
    # cell is also trained on one carried stream (state stream: batch_size streams of bptt tokens) and scored
    # after stretches of its corpus (0: no sensitivity check)
    sensitivity_seeds: NonNegativeInt = 1
    sensitivity_contexts: PositiveInt = 3                   # corpus stretches each item is scored after (averaged)
    floor_ratio: float = 1.07                               # a converged model should reach ppl <= this x floor
    arch_train: dict[str, dict] = field(default_factory=dict)   # per-cell changes to `train`, e.g.
                                                            #   {"srn": {"lr": 1.0}}: each cell its own learning rate
    ngram_order: PositiveInt = 3                            # the sequential-recency reference baseline
    workers: NonNegativeInt = 0                             # training processes (0: one per CPU core)
    executor: str = "local"                                 # where models train: local (processes on this
                                                            #   machine) | slurm (a job per model, via submitit)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)  # the slurm executor's options (--slurm-FIELD)
    analyses: tuple[str, ...] = BUILTIN                     # the lecture's analyses (probe.analyses registry)
    analysis_scale: str = "small"                           # the analyses' preset: small | quick
    analysis_options: dict[str, dict] = field(default_factory=dict)   # per analysis, changes to its preset, e.g.
                                                            #   {"depth": {"train_seeds": [0, 1, 2, 3, 4]}}
    extra_data: tuple[ExtraData, ...] = ()                  # published sets to import and score too
    published_blimp: str | None = None                      # BLiMP's models_summary.jsonl, shown beside ours
    suites: tuple[str, ...] = ()                            # SyntaxGym suite JSONs scored as `probe suite` does
    rate_corpora: dict[str, tuple[str, ...]] = field(default_factory=dict)   # real text whose attractor rate is
                                                            #   measured with a parser (`probe rates`): {name: files}
    synthetic_reference: str = ""                           # a synthetic sweep's results folder (results/seeds) on
                                                            #   whose attractor-rate axis this run's cells are drawn,
                                                            #   at the first rate_corpora entry's measured rate


PRESETS: dict[str, RunConfig] = {
    "default": RunConfig(),
    # Toy size for smoke tests and CI: the same stages, well under 90 s on 2 cores.
    "quick": RunConfig(
        name="quick", seeds=(0,), attractor_rates=(0.0, 0.1),
        benchmark=BuildConfig(per_condition=4, max_attractors=2),
        dev_items=BuildConfig(per_condition=1, seed=1, max_attractors=2),
        corpus=CorpusConfig(n_sentences=2_000, modifier_rate=0.3),
        train=TrainConfig(layers=1, hidden=16, emb=16, optimizer="adam", lr=1e-2, batch_size=32, bptt=20,
                          epochs=1, clip=1.0, log_every=20),
        sensitivity_seeds=1, sensitivity_contexts=2, analysis_scale="quick"),
}


def load_run_config(*, preset: str = "default", config_file: str | os.PathLike | None = None,
                    overrides: dict | None = None) -> RunConfig:
    """A preset, updated by a JSON/YAML file (nested keys, unknown keys rejected) and then by ``overrides``
    (command-line flags); an error names the file and key, or the flag, that a wrong value came from."""
    if preset not in PRESETS:
        raise ProbeError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    layers = [(read_config_file(config_file), Origin(str(config_file)))] if config_file else []
    layers.append((overrides or {}, FLAGS))
    cfg = config_from_layers(RunConfig, config_to_dict(PRESETS[preset]), layers)
    if config_file:     # each cell's changes to `train` are train options of that file too
        for arch in cfg.arch_train:
            train_config(cfg, arch, cfg.seeds[0] if cfg.seeds else 0, where=Origin(str(config_file)))
    check_run_config(cfg, executor=False)
    return cfg


def train_config(cfg: RunConfig, arch: str, seed: int, *, state: str | None = None,
                 where: str | Origin = "run config") -> TrainConfig:
    """The training config of one model: ``cfg.train`` with its arch and seed, and ``cfg.arch_train[arch]``'s
    changes (checked like any config: an unknown key or a wrong type is a one-line ProbeError naming ``where``).
    ``state``: the other convention's sensitivity model ('stream': batch_size carried streams of bptt tokens)."""
    changes = cfg.arch_train.get(arch, {})
    if not isinstance(changes, dict):
        raise ProbeError(f"arch_train.{arch} must be a mapping of train options, e.g. {{\"lr\": 1.0}}")
    base = {**config_to_dict(cfg.train), "arch": arch, "seed": seed}
    tcfg = config_from_dict(TrainConfig, {**base, **changes}, where=where, key=f"arch_train.{arch}")
    return replace(tcfg, state=state) if state is not None else tcfg


def corpus_tag(rate: float | None, corpus_seed: int, cfg: RunConfig) -> str:
    """The folder name of one corpus: the rate's tag, and ``-c<seed>`` when the run draws several per rate."""
    return rate_tag(rate) + (f"-c{corpus_seed}" if len(cfg.corpus_seeds) > 1 else "")


def model_tag(arch: str, rate: float | None, corpus_seed: int, seed: int, cfg: RunConfig, state: str = "") -> str:
    """The folder name of one model (``lstm-r0.05-s2``; ``lstm-r0.05-c1-s2`` with several corpora per rate;
    ``-stream`` for a sensitivity model)."""
    return f"{arch}-{corpus_tag(rate, corpus_seed, cfg)}-s{seed}" + (f"-{state}" if state else "")


def training_seed(cfg: RunConfig, corpus_seed: int, seed: int) -> int:
    """The training seed of seed ``seed`` on corpus ``corpus_seed``: ``seed`` itself with one corpus per rate;
    with several, ``1000 x the corpus' position + seed``, so that no two corpora's models share initial weights
    (the seeds are nested in the corpora, as the intervals assume)."""
    if len(cfg.corpus_seeds) == 1:
        return seed
    return 1000 * list(cfg.corpus_seeds).index(corpus_seed) + seed


def stream_pairs(cfg: RunConfig) -> tuple[tuple[int, int], ...]:
    """The (corpus seed, seed) replicates whose models are also trained in the other state convention: the first
    ``sensitivity_seeds`` of corpus seeds x seeds, corpus-major (with one corpus per rate, its first seeds; with
    one seed per corpus, the first corpora)."""
    return tuple((c, s) for c in cfg.corpus_seeds for s in cfg.seeds)[: cfg.sensitivity_seeds]


def analysis_config(cfg: RunConfig, name: str):
    """The config analysis ``name`` runs with in ``cfg``: its preset ``cfg.analysis_scale`` changed by
    ``cfg.analysis_options[name]`` (nested keys merge; keys of an earlier version's layout are upgraded)."""
    from probe.analyses.base import get_analysis

    analysis = get_analysis(name)
    preset = config_to_dict(analysis.preset(cfg.analysis_scale))
    return config_from_dict(analysis.config, merge_config(preset, cfg.analysis_options.get(name, {}),
                                                          cls=analysis.config),
                            where="run config", key=f"analysis_options.{name}")


def check_run_config(cfg: RunConfig, *, executor: bool = True) -> None:
    """Reject a config that cannot run, before anything is written. ``executor``: also check the executor (on
    Slurm a question to the cluster, which ``run_benchmark`` asks; loading a config leaves it to it)."""
    if not cfg.archs or not cfg.seeds:
        raise ProbeError("archs and seeds must each list at least one value")
    stray = [a for a in cfg.arch_train if a not in cfg.archs]
    if stray:
        raise ProbeError(f"arch_train names the cell {stray[0]!r}, which archs does not list ({', '.join(cfg.archs)})")
    if cfg.corpus.source != "synthetic" and cfg.attractor_rates:
        raise ProbeError("attractor_rates sweep the synthetic corpus only; set attractor_rates to [] for real text")
    if cfg.corpus.source == "synthetic" and not cfg.attractor_rates:
        raise ProbeError("a synthetic run needs at least one value in attractor_rates")
    from probe.data.importers import formats

    for extra in cfg.extra_data:
        if extra.format not in formats():
            raise ProbeError(f"extra_data: unknown format {extra.format!r}; choose from {', '.join(formats())}")
        if not Path(extra.path).exists():
            raise ProbeError(f"extra_data: {extra.path} does not exist; give the path of the {extra.format} data")
        if extra.method not in ("prefix", "sentence"):
            raise ProbeError(f"extra_data: unknown method {extra.method!r}; use prefix or sentence")
    missing = [f for files in cfg.rate_corpora.values() for f in files if not Path(f).is_file()]
    if missing:
        raise ProbeError(f"rate_corpora: {missing[0]} is not a file; give text files (.txt or .gz)")
    if cfg.synthetic_reference and not (Path(cfg.synthetic_reference) / "summary_seeds.csv").is_file():
        raise ProbeError(f"synthetic_reference: {cfg.synthetic_reference} holds no summary_seeds.csv; give a "
                         "synthetic sweep's results folder (`probe run --config configs/seeds.json` writes "
                         "results/seeds)")
    missing = [s for s in cfg.suites if not Path(s).is_file()]
    if missing:
        raise ProbeError(f"suites: {missing[0]} is not a file; give SyntaxGym suite JSON files")
    if cfg.published_blimp and not Path(cfg.published_blimp).is_file():
        raise ProbeError(f"published_blimp: {cfg.published_blimp} is not a file; give BLiMP's models_summary.jsonl")
    if len(set(cfg.attractor_rates)) != len(cfg.attractor_rates) or len(set(cfg.seeds)) != len(cfg.seeds) \
            or len(set(cfg.corpus_seeds)) != len(cfg.corpus_seeds):
        raise ProbeError("attractor_rates, seeds and corpus_seeds must not repeat values")
    if not cfg.corpus_seeds:
        raise ProbeError("corpus_seeds must list at least one seed (0 is the default corpus)")
    if cfg.sensitivity_seeds > len(cfg.seeds) * len(cfg.corpus_seeds):
        raise ProbeError(f"sensitivity_seeds {cfg.sensitivity_seeds} is more than the {len(cfg.seeds)} seeds x "
                         f"{len(cfg.corpus_seeds)} corpora; give at most as many (the first ones are trained in the "
                         "other state convention too)")
    if len(cfg.corpus_seeds) > 1 and cfg.corpus.source != "synthetic":
        raise ProbeError("corpus_seeds draw synthetic corpora; a real-text run has one corpus: set corpus_seeds to [0]")
    stray = [name for name in cfg.analysis_options if name not in cfg.analyses]
    if stray:
        raise ProbeError(f"analysis_options names {stray[0]!r}, which analyses does not list; add it to analyses")
    for name in cfg.analyses:
        analysis_config(cfg, name)      # an unknown analysis or option fails here, before any training
    if cfg.analysis_scale not in ("small", "quick"):
        raise ProbeError(f"analysis_scale {cfg.analysis_scale!r}: use small or quick")
    if not cfg.name or "/" in cfg.name or cfg.name.startswith("."):
        raise ProbeError(f"run name {cfg.name!r} must be a plain folder name")
    check_config(cfg.benchmark)
    check_config(cfg.dev_items)
    for rate in sweep_rates(cfg):
        check_corpus_config(replace(cfg.corpus, attractor_rate=rate, exclude_items=None) if rate is not None
                            else replace(cfg.corpus, exclude_items=None))
    for arch in cfg.archs:
        check_train_config(resolve_train_config(train_config(cfg, arch, cfg.seeds[0])))

    if executor:
        check_executor(cfg.executor, cfg.slurm)     # last: on Slurm it asks the cluster


def sweep_rates(cfg: RunConfig) -> tuple:
    """The sweep's attractor rates, or (None,) for one real-text corpus."""
    return tuple(cfg.attractor_rates) or (None,)


def rate_tag(rate: float | None) -> str:
    """The folder-name tag of an attractor rate (``r0.1``; ``text`` for a real-text corpus)."""
    return f"r{rate:g}" if rate is not None else "text"


def model_labels(cfg: RunConfig, rate: float | None, corpus_seed: int) -> dict:
    """The label columns of a model trained at ``rate`` on corpus ``corpus_seed``: the rate (none for a real-text
    corpus), and the corpus when the run draws several per rate (``probe.metrics`` nests the seeds in it)."""
    out = {"attractor_rate": rate} if rate is not None else {}
    return out | ({NEST_KEY: corpus_seed} if len(cfg.corpus_seeds) > 1 else {})
