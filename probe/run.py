"""The one-command benchmark (``probe run``): build, corpora, training, baselines, evaluation, figures, report."""
from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from probe.data.build import BuildConfig, build_dataset
from probe.core.errors import MissingParser, ProbeError
from probe.core.config import config_from_dict, config_to_dict, read_config_file
from probe.core.environment import cpu_model
from probe.core.io import save_config, write_text_atomic
from probe.data.corpus import CorpusConfig
from probe.train import TrainConfig
from probe.core.config import merge_config
from probe.analyses import BUILTIN


# name -> (module, entry function, report heading); each entry follows the same contract:
# fn(*, models, corpus_dirs, items, out, small=True, config=None) -> {"files": [...], "markdown": str, ...}


@dataclass(frozen=True)
class ExtraData:
    """A published test set imported with ``probe import`` and scored beside probe's own benchmark."""

    format: str                  # an importer format: blimp | marvin-linzen | syntaxgym | linzen | gulordava
    path: str                    # its file or folder (relative paths: from the working directory)
    method: str = "sentence"     # how the source scored it (BLiMP and Marvin & Linzen compare whole sentences)
    per_construction: int = 0    # score at most this many pairs per construction/paradigm (0 = all), chosen by id hash


@dataclass(frozen=True)
class RunConfig:
    """Everything ``probe run`` does, in one place; ``--config FILE`` overrides any of it (nested keys)."""

    name: str = "default"                                   # <results_dir>/<name>/
    results_dir: str = "runs"                               # parent of the run folder (git ignores runs/; the
                                                            #   committed reference runs live in results/)
    reference: str = "auto"                                 # a committed run to compare the headline with:
                                                            #   'auto' = results/<name> when it exists, '' = none
    archs: tuple[str, ...] = ("srn", "gru", "lstm")         # recurrent cells to compare
    seeds: tuple[int, ...] = (0, 1, 2)                      # training seeds per cell and rate
    # corpus sweep: share of subjects whose modifier holds a noun of the other number, with the share of
    # modified subjects held at corpus.modifier_rate: 1.7%, 8% and 50% of the modifiers attract
    attractor_rates: tuple[float, ...] = (0.01, 0.05, 0.3)
    benchmark: BuildConfig = field(default_factory=lambda: BuildConfig(per_condition=40))
    dev_items: BuildConfig = field(default_factory=lambda: BuildConfig(
        per_condition=25, seed=1, constructions=("simple", "pp"), max_attractors=2))  # learning-curve items
    corpus: CorpusConfig = field(default_factory=lambda: CorpusConfig(n_sentences=40_000, modifier_rate=0.6))
    # 64-unit single-layer cells, trained until validation perplexity stops improving by 0.5% over two
    # half-epoch validations (lr x 0.25 at each plateau); a pilot reached 1.03-1.045 x the grammar's
    # entropy floor in 6-7 epochs (README: "Why these sizes")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        layers=1, hidden=64, emb=64, optimizer="adam", lr=1e-2, batch_size=64, bptt=35, epochs=30,
        clip=1.0, dropout=0.0, log_every=100, evals_per_epoch=2, patience=0, lr_decay=0.25, min_delta=0.005,
        stop_after=2))
    floor_ratio: float = 1.07                               # a converged model should reach ppl <= this x floor
    arch_train: dict[str, dict] = field(default_factory=dict)   # per-cell changes to `train`, e.g.
                                                            #   {"srn": {"lr": 1.0}}: each cell its own learning rate
    ngram_order: int = 3                                    # the sequential-recency reference baseline
    workers: int = 0                                        # training processes (0: one per CPU core)
    analyses: tuple[str, ...] = BUILTIN                     # the lecture's analyses (probe.analyses registry)
    analysis_scale: str = "small"                           # the analyses' preset: small | quick
    extra_data: tuple[ExtraData, ...] = ()                  # published sets to import and score too
    published_blimp: str | None = None                      # BLiMP's models_summary.jsonl, shown beside ours
    suites: tuple[str, ...] = ()                            # SyntaxGym suite JSONs scored as `probe suite` does


PRESETS: dict[str, RunConfig] = {
    "default": RunConfig(),
    # Toy size for smoke tests and CI: the same stages, well under 90 s on 2 cores.
    "quick": RunConfig(
        name="quick", seeds=(0,), attractor_rates=(0.0, 0.1),
        benchmark=BuildConfig(per_condition=4, max_attractors=2),
        dev_items=BuildConfig(per_condition=3, seed=1, constructions=("pp",), max_attractors=1),
        corpus=CorpusConfig(n_sentences=2_000, modifier_rate=0.3),
        train=TrainConfig(layers=1, hidden=16, emb=16, optimizer="adam", lr=1e-2, batch_size=16, bptt=20,
                          epochs=1, clip=1.0, log_every=20),
        analysis_scale="quick"),
}


def load_run_config(*, preset: str = "default", config_file: str | os.PathLike | None = None,
                    overrides: dict | None = None) -> RunConfig:
    """A preset, updated by a JSON/YAML file (nested keys, unknown keys rejected) and then by ``overrides``."""
    if preset not in PRESETS:
        raise ProbeError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    data = config_to_dict(PRESETS[preset])
    for source, upd in (("config file", read_config_file(config_file) if config_file else {}),
                        ("options", overrides or {})):
        data = merge_config(data, upd, cls=RunConfig, where=source)
    cfg = config_from_dict(RunConfig, data, where=str(config_file or "run config"))
    check_run_config(cfg)
    return cfg


def train_config(cfg: RunConfig, arch: str, seed: int) -> TrainConfig:
    """The training config of one model: ``cfg.train`` with its arch and seed, and ``cfg.arch_train[arch]``'s
    changes (checked like any config: an unknown key or a wrong type is a one-line ProbeError)."""
    changes = cfg.arch_train.get(arch, {})
    if not isinstance(changes, dict):
        raise ProbeError(f"arch_train.{arch} must be a mapping of train options, e.g. {{\"lr\": 1.0}}")
    base = {**config_to_dict(cfg.train), "arch": arch, "seed": seed}
    return config_from_dict(TrainConfig, {**base, **changes}, where="run config", key=f"arch_train.{arch}")


def check_run_config(cfg: RunConfig) -> None:
    """Reject a config that cannot run, before anything is written."""
    from probe.data.build import check_config
    from probe.data.corpus import check_corpus_config
    from probe.train import check_train_config, resolve_train_config

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
    missing = [s for s in cfg.suites if not Path(s).is_file()]
    if missing:
        raise ProbeError(f"suites: {missing[0]} is not a file; give SyntaxGym suite JSON files")
    if cfg.published_blimp and not Path(cfg.published_blimp).is_file():
        raise ProbeError(f"published_blimp: {cfg.published_blimp} is not a file; give BLiMP's models_summary.jsonl")
    if len(set(cfg.attractor_rates)) != len(cfg.attractor_rates) or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ProbeError("attractor_rates and seeds must not repeat values")
    if cfg.analyses:
        from probe.analyses.base import get_analysis

        for name in cfg.analyses:
            get_analysis(name)
    if cfg.analysis_scale not in ("small", "quick"):
        raise ProbeError(f"analysis_scale {cfg.analysis_scale!r}: use small or quick")
    if not cfg.name or "/" in cfg.name or cfg.name.startswith("."):
        raise ProbeError(f"run name {cfg.name!r} must be a plain folder name")
    check_config(cfg.benchmark)
    check_config(cfg.dev_items)
    for rate in _rates(cfg):
        check_corpus_config(replace(cfg.corpus, attractor_rate=rate, exclude_items=None) if rate is not None
                            else replace(cfg.corpus, exclude_items=None))
    for arch in cfg.archs:
        check_train_config(resolve_train_config(train_config(cfg, arch, cfg.seeds[0])))


# ---------------------------------------------------------------------------------------------------
# Stages. Each writes one folder with its config.json; a folder whose config matches is not redone.


def _same_config(folder: Path, expected: dict) -> bool:
    f = folder / "config.json"
    if not f.is_file():
        return False
    try:
        saved = json.loads(f.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return all(saved.get(k) == v for k, v in expected.items())


def _rates(cfg: RunConfig) -> tuple:
    """The sweep's attractor rates, or (None,) for one real-text corpus."""
    return tuple(cfg.attractor_rates) or (None,)


def _rate_tag(rate: float | None) -> str:
    return f"r{rate:g}" if rate is not None else "text"


def _labels(rate: float | None) -> dict:
    return {"attractor_rate": rate} if rate is not None else {}


def _stage(folder: Path, expected: dict, make: Callable[[], Any], log: Callable[[str], None], what: str) -> bool:
    """Run ``make`` unless ``folder`` already holds a finished stage with the same config; True if it ran."""
    if folder.is_dir() and _same_config(folder, expected):
        log(f"{what}: done already ({folder})")
        return False
    if folder.exists():
        shutil.rmtree(folder)  # a stage folder with another config is stale: it was ours, rebuild it
    t0 = time.perf_counter()
    make()
    log(f"{what}: {time.perf_counter() - t0:.1f} s")
    return True


def _train_job(args: tuple) -> dict:
    """Worker: train one (arch, rate, seed) model, resuming if a previous run was interrupted."""
    cfg_dict, corpus_dir, out, items, threads = args
    import torch

    from probe.train import train

    if threads:
        torch.set_num_threads(threads)
    cfg = config_from_dict(TrainConfig, cfg_dict)
    out = Path(out)
    resume = (out / "last.pt").is_file() and not (out / "summary.json").is_file()
    if out.exists() and not resume:
        shutil.rmtree(out)
    from probe.scoring.items import AgreementCurve

    return train(cfg, corpus_dir=corpus_dir, out=out, resume=resume, on_eval=AgreementCurve(items) if items else None,
                 progress=False)


def run_benchmark(cfg: RunConfig, *, log: Callable[[str], None] = print, argv: list[str] | None = None) -> Path:
    """Run every stage of ``cfg`` and return the run folder (``results/<name>``) holding report.md.

    Stage outputs go to ``results/<name>/work/`` (not committed: checkpoints, corpora, per-item
    scores); the run folder gets config.json, summary.csv, summary_seeds.csv, summary.json,
    figures/ and report.md. Restarting after an interruption skips finished stages and resumes
    interrupted trainings from their last checkpoint.
    """
    from probe.scoring.ngram import BaselineConfig, build_baseline
    from probe.data.corpus import build_corpus
    from probe.evaluate import evaluate
    from probe.core.progress import Progress
    from probe.core.environment import git_commit

    check_run_config(cfg)
    t_start = time.perf_counter()
    root = Path(cfg.results_dir) / cfg.name
    commit = git_commit()      # before this run writes anything (its folder is ignored by git anyway)
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root, extra={"stage": "run"})

    # 1. the benchmark items, and a small disjoint-seed item set for learning curves
    bench, dev = work / "benchmark", work / "dev_items"
    for folder, bcfg, what in ((bench, cfg.benchmark, "benchmark items"), (dev, cfg.dev_items, "learning-curve items")):
        _stage(folder, config_to_dict(bcfg), lambda f=folder, c=bcfg: build_dataset(c, out=f), log, what)

    # 2. one synthetic corpus per attractor rate; benchmark sentences are removed from each
    corpora = {}
    for rate in _rates(cfg):
        ccfg = replace(cfg.corpus, exclude_items=str(bench))
        if rate is not None:
            ccfg = replace(ccfg, attractor_rate=rate)
        folder = work / "corpora" / _rate_tag(rate)
        corpora[rate] = folder
        expected = {k: v for k, v in config_to_dict(ccfg).items() if k != "exclude_items"}
        _stage(folder, expected, lambda f=folder, c=ccfg: build_corpus(c, out=f), log, f"corpus {_rate_tag(rate)}")

    # 3. language models: arch x rate x seed, in parallel processes (one thread each)
    jobs, model_dirs, labels = [], [], {}
    reused = 0
    for rate in _rates(cfg):
        for arch in cfg.archs:
            for seed in cfg.seeds:
                tcfg = train_config(cfg, arch, seed)
                out = work / "models" / f"{arch}-{_rate_tag(rate)}-s{seed}"
                model_dirs.append(out)
                labels[str(out)] = _labels(rate)
                done = (out / "summary.json").is_file() and _same_config_train(out, tcfg)
                if not done:
                    jobs.append((config_to_dict(tcfg), str(corpora[rate]), str(out), str(dev)))
                else:
                    reused += 1
    workers = cfg.workers or os.cpu_count() or 1
    if jobs:
        n_proc = min(workers, len(jobs))
        threads = 1 if n_proc > 1 else 0
        t0 = time.perf_counter()
        with Progress("training", len(jobs), unit="models", log=log) as bar:
            if n_proc == 1:
                for job in jobs:
                    s = _train_job(job[:4] + (threads,))
                    bar.update(Path(job[2]).name, s["train_seconds"])
            else:
                import multiprocessing as mp
                from concurrent.futures import as_completed

                ctx = mp.get_context("spawn")  # torch and fork do not mix safely
                with ProcessPoolExecutor(max_workers=n_proc, mp_context=ctx) as pool:
                    futures = {pool.submit(_train_job, j + (threads,)): j for j in jobs}
                    for fut in as_completed(futures):
                        s = fut.result()
                        bar.update(Path(futures[fut][2]).name, s["train_seconds"])
        log(f"training: {len(jobs)} models in {time.perf_counter() - t0:.1f} s ({n_proc} processes)")
    else:
        log("training: all models done already")

    # 4. baselines per corpus: n-gram (sequential reference) and unigram (sanity)
    for rate in _rates(cfg):
        for kind in ("ngram", "unigram"):
            bcfg = BaselineConfig(corpus=str(corpora[rate]), kind=kind, order=cfg.ngram_order)
            folder = work / "baselines" / f"{kind}-{_rate_tag(rate)}"
            model_dirs.append(folder)
            labels[str(folder)] = _labels(rate)
            _stage(folder, {"kind": kind, "order": cfg.ngram_order, "corpus": str(corpora[rate])},
                   lambda f=folder, c=bcfg: build_baseline(c, f), log, f"baseline {kind} {_rate_tag(rate)}")

    # 5. evaluation of every model on the benchmark (prefix method)
    t0 = time.perf_counter()
    evaluate([str(m) for m in model_dirs], [str(bench)], work / "eval", labels=labels, overwrite=True,
             progress=True)
    log(f"evaluation: {time.perf_counter() - t0:.1f} s")
    for name in ("summary.csv", "summary_seeds.csv", "summary.json"):
        shutil.copyfile(work / "eval" / name, root / name)

    # 5b. published test sets: coverage decides these numbers, so both regimes are reported
    frames: dict = {}
    extra_sections = score_extra_data(cfg, work=work, model_dirs=model_dirs, labels=labels, log=log, frames=frames)
    suite_summary = None
    if cfg.suites:
        from probe.evaluate import score_suites

        suite_summary, extra_sections["SyntaxGym suites"] = score_suites(model_dirs, cfg.suites, work / "suites",
                                                                         labels=labels, log=log)
    if frames or suite_summary is not None:
        extra_sections = {"Overview: every test set side by side": overview_section(cfg, work, frames, suite_summary),
                          **extra_sections}

    # 6. figures and report
    from probe.report.plots import make_figures
    from probe.report.report import write_report

    make_figures(root, train_dirs=[m for m in model_dirs if "baselines" not in m.parts])

    # 7. the lecture's analyses, at small size, on this run's models and corpora
    analysis_sections = run_analyses(cfg, root=root, work=work, corpora=corpora, bench=bench, log=log,
                                     workers=workers)
    elapsed = time.perf_counter() - t_start
    command = "probe run" + (" " + " ".join(argv) if argv else "")
    eval_cfg = json.loads((work / "eval" / "config.json").read_text())
    save_config(cfg, root, extra={"stage": "run", "conventions": eval_cfg.get("conventions", {}),
                                  "models_info": eval_cfg.get("models_info", []),
                                  "environment": eval_cfg.get("environment", {}),
                                  "wall_seconds": round(elapsed, 1), "git_commit": commit})
    trained = training_summaries(work)
    convergence = {}
    for t in trained:
        key = (t["arch"], t.get("attractor_rate"))
        convergence[key] = convergence.get(key, True) and t.get("status", "converged" if t.get("converged")
                                                               else "not converged") == "converged"
    verdict = reproducibility(cfg, root, log=log)
    write_report(root, title=f"probe run: {cfg.name}", commands=[command], intro=_intro(cfg, elapsed, reused),
                 lead={k: v for k, v in extra_sections.items() if k.startswith("Overview")},
                 sections=({k: v for k, v in _sections(cfg, work, trained).items()}
                           | {k: v for k, v in extra_sections.items() if not k.startswith("Overview")}
                           | analysis_sections),
                 convergence=convergence, commit=commit,
                 closing={"Reproducibility": verdict} if verdict else None)
    log(f"probe run {cfg.name}: finished in {elapsed:.0f} s; report at {root / 'report.md'}")
    return root


def critical_in_vocab(items, vocab) -> Any:
    """Per item: True if the words that decide the pair are in ``vocab``: every word that differs between
    sentence_good and sentence_bad (the verbs, for agreement pairs) and the head noun, when the item names
    one. A pair whose verbs are ``<unk>`` carries no evidence either way, and one whose head is ``<unk>``
    tests no agreement with that head: the model cannot know the head's number."""
    import numpy as np

    heads = items["head"].fillna("").astype(str).tolist() if "head" in items.columns else [""] * len(items)
    out = np.zeros(len(items), dtype=bool)
    for i, (g, b) in enumerate(zip(items["sentence_good"], items["sentence_bad"])):
        gt, bt = str(g).split(), str(b).split()
        diff = ({x for x, y in zip(gt, bt) if x != y} | {y for x, y in zip(gt, bt) if x != y}) \
            if len(gt) == len(bt) else set(gt) ^ set(bt)
        head = {w for w in heads[i].split() if w}
        out[i] = bool(diff) and all(w in vocab and w != "<unk>" for w in diff | head)
    return out


def _sample_items(folder: Path, k: int, log: Callable[[str], None]) -> Path:
    """At most ``k`` items per construction, the ones with the smallest id hashes (stable, seed-free)."""
    import hashlib

    from probe.data.items import write_item_folder
    from probe.data.items import load_items

    out = folder.with_name(folder.name + f"-{k}")
    if (out / "items.jsonl").is_file():
        return out
    ds = load_items(folder)
    ids, cons = list(ds["id"]), list(ds["construction"])
    order = sorted(range(len(ds)), key=lambda i: (cons[i], hashlib.blake2b(ids[i].encode(), digest_size=8).digest()))
    count: dict = {}
    keep = []
    for i in order:
        count[cons[i]] = count.get(cons[i], 0) + 1
        if count[cons[i]] <= k:
            keep.append(i)
    rows = ds.select(sorted(keep)).to_list()
    write_item_folder(rows, out, config={"sampled_from": str(folder), "per_construction": k},
                      card_title=f"{folder.name}: {k} pairs per construction", overwrite=True)
    log(f"sampled {len(rows)} of the imported pairs ({k} per construction) into {out}")
    return out


def score_extra_data(cfg: RunConfig, *, work: Path, model_dirs: list, labels: dict,
                     log: Callable[[str], None] = print, frames: dict | None = None) -> dict:
    """Import each ``cfg.extra_data`` set, score it in two regimes, and return report sections.

    fully in-vocabulary: pairs with any out-of-vocabulary word are excluded (probe's default);
    critical words in vocabulary: other words are read as ``<unk>``, pairs whose differing words or head
    noun are out of vocabulary are excluded (they would tie, compare ``<unk>`` with a word, or ask for
    agreement with a head the model cannot see). ``frames``, if given, receives {format: the per-item
    scores of the critical-words regime} for the overview table.
    """
    import pandas as pd

    from probe.data.corpus import Vocab
    from probe.evaluate import EvalConfig, evaluate, write_results
    from probe.data.importers import ImportConfig, import_dataset
    from probe.data.items import load_items

    if not cfg.extra_data:
        return {}
    vocab = Vocab.load(next(iter((work / "corpora").glob("*/vocab.json"))))
    rows = []
    for extra in cfg.extra_data:
        folder = work / "data" / extra.format
        icfg = ImportConfig(format=extra.format, paths=(str(extra.path),))
        try:
            _stage(folder, {"format": extra.format, "paths": [str(Path(extra.path).resolve())]},
                   lambda f=folder, c=icfg: import_dataset(c, f), log, f"import {extra.format}")
        except MissingParser as exc:  # an optional parser is not installed: score the other sets
            log(f"skipped: extra_data {extra.format} ({extra.path}): {exc}")
            continue
        if extra.per_construction:
            folder = _sample_items(folder, extra.per_construction, log)
        items = load_items(folder).to_pandas()
        critical = pd.Series(critical_in_vocab(items, vocab), index=items["id"])
        models = [str(m) for m in model_dirs]
        t0 = time.perf_counter()
        # one pass through <unk>; the fully-in-vocabulary regime is the subset without any <unk>
        scored = evaluate(models, [str(folder)], None, method=extra.method, unk=True, labels=labels,
                          progress=False)
        log(f"scored {extra.format}: {time.perf_counter() - t0:.1f} s")
        for regime, tag in (("fully in vocabulary", "full"), ("critical words in vocabulary", "critical")):
            scores = scored.copy()
            drop = scores["has_unk"].fillna(False).to_numpy(bool) if tag == "full" else \
                ~scores["id"].map(critical).fillna(False).to_numpy(bool)
            newly = drop & ~scores["excluded"].to_numpy(bool)
            scores.loc[newly, "excluded"] = True
            scores.loc[newly, "exclude_reason"] = "oov" if tag == "full" else "oov_critical"
            for col in ("correct", "choice_syntactic", "choice_sequential"):
                scores[col] = scores[col].astype(object)
                scores.loc[newly, col] = None
            if tag == "full":
                scores["has_unk"] = False
            elif frames is not None:
                frames[extra.format] = scores
            ecfg = EvalConfig(models=tuple(models), data=(str(folder),), method=extra.method, unk=tag == "critical")
            info = [{"model": m, **labels.get(m, {})} for m in models]
            write_results(scores, work / f"eval-{extra.format}-{tag}", config=ecfg, models=info, labels=labels,
                          overwrite=True)
            for (con, arch), g in scores.groupby(["construction", "arch"], sort=True):
                kept = g[~g["excluded"].astype(bool)]
                per_seed = kept.groupby("seed")["correct"].apply(lambda c: c.astype(float).mean())
                n_models = max(g["model"].nunique(), 1)
                rows.append({"data": extra.format, "regime": regime, "paradigm": con, "arch": arch,
                             "pairs": len(g) // n_models, "kept": len(kept) // n_models,
                             "coverage": round(len(kept) / max(len(g), 1), 3),
                             "accuracy": round(float(per_seed.mean()), 3) if len(per_seed) else None,
                             "seeds": int(per_seed.size)})
    if not rows:  # every set was skipped
        return {}
    table = pd.DataFrame(rows)
    write_text_atomic(work.parent / "extra_data.csv", table.to_csv(index=False))
    return {"Published test sets: coverage and accuracy": _extra_markdown(cfg, table)}


SET_LABELS = {"blimp": "BLiMP", "marvin-linzen": "Marvin & Linzen 2018", "natural": "WikiText-2 natural items",
              "syntaxgym": "SyntaxGym (as pairs)", "linzen": "Linzen et al. 2016", "gulordava": "Gulordava et al. 2018"}


def overview_section(cfg: RunConfig, work: Path, frames: dict, suite_summary) -> str:
    """The report's first section for runs that score published sets: probe's benchmark and every set,
    split into items without an attractor and conflict items, side by side with published numbers."""
    import pandas as pd

    from probe.report.overview import overview_markdown, overview_table, published_blimp, published_suites

    sets, published = {}, {}
    bench = pd.read_parquet(work / "eval" / "scores.parquet")
    for name, scores in [("probe benchmark", bench)] + [(SET_LABELS.get(k, k), v) for k, v in frames.items()]:
        if "attractor_rate" in scores.columns and scores["attractor_rate"].nunique() > 1:
            # one model per cell and seed: a sweep's overview reads the corpus with the most attractors
            scores = scores[scores["attractor_rate"] == scores["attractor_rate"].max()]
        for cls, what in (("none", "no attractor"), ("conflict", "conflict (attractor nearest the verb)")):
            part = scores[scores["match"] == cls]
            if part["id"].nunique() >= 10:
                label = f"{name}: {what}"
                sets[label] = part
                if name == "BLiMP":
                    published[label] = published_blimp(cfg.published_blimp, sorted(part["construction"].unique()))
    published.update(published_suites())
    table = overview_table(sets, suites=suite_summary, published=published)
    tokens = None
    stats = next(iter((work / "corpora").glob("*/stats.json")), None)
    if stats is not None:
        tokens = json.loads(stats.read_text()).get("tokens", {}).get("train")
    return overview_markdown(table, tokens=tokens if isinstance(tokens, int) else None)


def _extra_markdown(cfg: RunConfig, table) -> str:
    """The report section for imported sets, with BLiMP's published accuracies where given."""
    import pandas as pd

    from probe.core.tables import markdown_table

    wide = table.pivot_table(index=["data", "paradigm", "regime", "pairs", "kept", "coverage"], columns="arch",
                             values="accuracy", aggfunc="first").reset_index()
    text = ("Accuracy = share of kept pairs where the model gives the good sentence the higher probability "
            "(mean over training seeds); coverage = kept / pairs. *fully in vocabulary*: every word of the pair "
            "is in the vocabulary; *critical words in vocabulary*: other words are read as `<unk>`. Full tables: "
            "`extra_data.csv`.\n\n" + markdown_table(wide))
    if cfg.published_blimp and (table["data"] == "blimp").any():
        pub = pd.read_json(cfg.published_blimp, lines=True)
        pub = pub[pub["UID"].isin(set(table.loc[table["data"] == "blimp", "paradigm"]))]
        pub = pub.rename(columns={"UID": "paradigm", "ngram": "published 5-gram", "lstm": "published LSTM",
                                  "txl": "published Transformer-XL", "gpt2": "published GPT-2"})
        text += ("\n\nPublished BLiMP accuracies for the same paradigms (Warstadt et al. 2020, from the source's "
                 "`models_summary.jsonl`; their LSTM and n-gram were trained on far more text than PTB's ~1M "
                 "tokens — about 80M+ tokens of Wikipedia for the LSTM —, and scored every pair, with no "
                 "vocabulary limit):\n\n"
                 + markdown_table(pub.drop(columns=["linguistics_term"], errors="ignore").round(3)))
    return text


def run_analyses(cfg: RunConfig, *, root: Path, work: Path, corpora: dict, bench: Path,
                 log: Callable[[str], None] = print, workers: int = 1) -> dict:
    """Run each analysis named in ``cfg.analyses`` (the registry's preset ``cfg.analysis_scale``) into the run
    folder; return report sections by the analyses' titles."""
    from probe.analyses.base import AnalysisInputs, run_analysis, get_analysis

    models = tuple({"path": str(work / "models" / f"{arch}-{_rate_tag(rate)}-s{seed}"), "arch": arch,
                    "attractor_rate": rate, "seed": seed}
                   for rate in _rates(cfg) for arch in cfg.archs for seed in cfg.seeds)
    inputs = AnalysisInputs(models=models, corpus_dirs={r: str(p) for r, p in corpora.items()}, items=str(bench),
                            out=str(root), workers=workers)
    sections = {}
    for name in cfg.analyses:
        t0 = time.perf_counter()
        result = run_analysis(name, inputs, preset=cfg.analysis_scale)
        secs = time.perf_counter() - t0
        log(f"analysis {name}: {secs:.1f} s")
        text = (result.get("markdown") or "").strip()
        if text.startswith("## "):  # the module titled its own section: keep one heading
            text = text.split("\n", 1)[1].strip() if "\n" in text else ""
        sections[get_analysis(name).title] = text + f"\n\n*(`{name}` analysis: {secs:.0f} s)*"
    return sections


def _same_config_train(out: Path, tcfg: TrainConfig) -> bool:
    f = out / "config.json"
    if not f.is_file():
        return False
    saved = json.loads(f.read_text(encoding="utf-8"))
    saved_train = saved.get("train", saved)
    want = config_to_dict(tcfg)
    # a field added after the model was trained is missing from its config: it ran with the default
    defaults = config_to_dict(TrainConfig())
    saved_train = {**{k: v for k, v in defaults.items() if k not in saved_train}, **saved_train}
    # options left to be resolved at training time (lr None: the optimizer's default; cutoffs empty: chosen
    # from the corpus) are recorded resolved, so they match whatever was chosen
    auto = {k for k, v in want.items() if (k == "lr" and v is None) or (k == "cutoffs" and not v)}
    return all(saved_train.get(k) == v for k, v in want.items() if k not in auto)


def _intro(cfg: RunConfig, elapsed: float, reused: int = 0) -> str:
    """The report's opening paragraph; ``reused``: models trained by an earlier invocation and kept."""
    t = cfg.train
    if cfg.attractor_rates:
        held = (f"; {cfg.corpus.modifier_rate:g} of the subjects carry a modifier in every corpus, so only the share "
                "of modifiers whose noun has the other number varies" if cfg.corpus.modifier_rate is not None else "")
        data = (f"{len(cfg.attractor_rates)} synthetic corpora of {cfg.corpus.n_sentences:,} sentences differing in "
                f"their attractor rate ({', '.join(f'{r:g}' for r in cfg.attractor_rates)}: the share of subjects "
                f"whose modifier puts a noun of the other number between head and verb{held})")
    else:
        files = cfg.corpus.train_files or cfg.corpus.text_files or (cfg.corpus.hf_name,)
        data = f"the real-text corpus {', '.join(map(str, files))} (tokenizer: {cfg.corpus.tokenizer})"
    return (
        f"{len(cfg.archs)} recurrent cells ({', '.join(cfg.archs)}) x {len(cfg.seeds)} training seeds, trained on "
        f"{data}, plus a {cfg.ngram_order}-gram Kneser-Ney and a unigram baseline per corpus. "
        f"Models: {t.layers}x{t.hidden} units, embeddings {t.emb}, {t.optimizer} lr {t.lr}, batch {t.batch_size}, "
        f"BPTT {t.bptt}, dropout {t.dropout}, "
        + (f"trained until validation stops improving (at most {t.epochs} epochs)" if t.stop_after else
           f"{t.epochs} epochs")
        + (f" (at most {t.max_steps} steps)" if t.max_steps else "")
        + ("; per cell: " + "; ".join(f"{a}: " + ", ".join(f"{k} {v}" for k, v in ch.items())
                                      for a, ch in cfg.arch_train.items()) if cfg.arch_train else "")
        + (f". The whole run took {elapsed:.0f} s on {os.cpu_count()} CPU cores ({cpu_model()})." if not reused else
           f". This invocation took {elapsed:.0f} s on {os.cpu_count()} CPU cores ({cpu_model()}); {reused} of the "
           f"{len(cfg.archs) * len(cfg.seeds) * len(_rates(cfg))} language models were finished by an earlier "
           "invocation of the same command and reused (their training times are in the Training table)."))


def _r(x: Any, digits: int = 4) -> Any:
    """Round floats to a few significant digits for report tables (the JSON files keep full precision)."""
    return float(f"{x:.{digits}g}") if isinstance(x, float) else x


def training_summaries(work: Path) -> list[dict]:
    """Every trained language model's summary.json (``work/models/*``), with its name and attractor rate."""
    rows = []
    for d in sorted((work / "models").glob("*")) if (work / "models").is_dir() else []:
        f = d / "summary.json"
        if not f.is_file():
            continue
        summary = json.loads(f.read_text(encoding="utf-8"))
        cfg_f = d / "config.json"
        corpus = json.loads(cfg_f.read_text(encoding="utf-8")).get("corpus", "") if cfg_f.is_file() else ""
        stats_f = Path(corpus) / "config.json" if corpus else None
        rate = None
        if stats_f is not None and stats_f.is_file():
            ccfg = json.loads(stats_f.read_text(encoding="utf-8"))
            rate = ccfg.get("attractor_rate") if ccfg.get("source", "synthetic") == "synthetic" else None
        rows.append({"model": d.name, "attractor_rate": rate, **summary})
    return rows


def _sections(cfg: RunConfig, work: Path, trained: list[dict]) -> dict:
    """Report sections read from the run's own outputs: what each corpus holds, how each model trained."""
    import pandas as pd

    from probe.core.tables import markdown_table

    rows = []
    for rate in _rates(cfg):
        f = work / "corpora" / _rate_tag(rate) / "stats.json"
        if not f.is_file():
            continue
        s = json.loads(f.read_text())
        if rate is None:  # real text: what the corpus is, not what the grammar was asked for
            rows.append({"corpus": _rate_tag(rate), "train tokens": s.get("tokens", {}).get("train"),
                         "vocabulary": s.get("vocab_size") or s.get("types"),
                         "<unk> rate (valid)": _r(s.get("unk_rate", {}).get("valid")),
                         "OOV rate (valid)": _r(s.get("oov_rate", {}).get("valid"))})
            continue
        floor = (s.get("entropy_floor") or {}).get("valid") or {}
        modified = s.get("modifier_rate")
        rows.append({"attractor_rate (asked)": rate, "sentences": sum(s.get("sentences", {}).values()),
                     "train tokens": s.get("tokens", {}).get("train"),
                     "modified subjects (asked)": _r(modified),
                     "subjects crossing any noun": _r(s.get("subject_noun_rate")),
                     "attracted subjects (measured)": _r(s.get("attractor_rate")),
                     "modifiers with the other number": _r(rate / modified) if modified else None,
                     "entropy floor (valid ppl)": _r(floor.get("ppl")),
                     "benchmark sentences removed": s.get("removed_benchmark_sentences")})
    sections = {}
    if rows:
        what = ("Measured on each generated corpus (stats.json of `probe corpus`). The corpora of the sweep hold the "
                "share of modified subjects, the modifier kinds and the length fixed and vary only the share of "
                "modifiers whose noun has the other number; the entropy floor is the grammar's own per-token "
                "entropy on the valid split, the perplexity of the best possible model."
                if cfg.attractor_rates else "The corpus (stats.json of `probe corpus`):")
        sections["Corpora"] = what + "\n\n" + markdown_table(pd.DataFrame(rows))
    if trained:
        t = cfg.train
        rule = (f"until validation perplexity stopped improving by {t.min_delta:.1%} in {t.stop_after} validations in "
                f"a row ({t.evals_per_epoch} per epoch; lr x {t.lr_decay} at each plateau; at most {t.epochs} epochs)"
                if t.stop_after else f"for {t.epochs} epochs (no early stopping)")
        def status(r: dict) -> str:
            s = r.get("status", "converged" if r.get("converged") else "not converged")
            return s if s == "converged" else f"{s}: {r.get('stop_reason', r.get('stopped'))}"

        table = pd.DataFrame([{
            "model": r["model"], "status": status(r), "epochs": _r(r.get("epochs")),
            "best valid ppl": _r(r.get("best_valid_ppl")),
            "ppl / floor": _r(r["valid_ppl_ratio"]) if r.get("valid_ppl_ratio") is not None else "-",
            "test ppl": _r(r.get("test_ppl")), "train seconds": _r(r.get("train_seconds"), 3),
            "tokens/s": _r(r.get("tokens_per_s"), 3)} for r in trained])
        ratios = [r["valid_ppl_ratio"] for r in trained if r.get("valid_ppl_ratio")]
        n_conv = sum(r.get("status") == "converged" for r in trained)
        close = sum(x <= cfg.floor_ratio for x in ratios)
        summary = (f"{n_conv} of {len(trained)} models converged (validation stopped improving)"
                   + (f"; {close} of {len(ratios)} reached {cfg.floor_ratio} x the entropy floor or better "
                      f"(valid ppl / floor {min(ratios):.3f}-{max(ratios):.3f})" if ratios else "")
                   + ". Rows of the headline from cells with a model that did not converge (or stalled: stopped "
                     "improving far from the floor) are marked and not interpreted.")
        sections["Training"] = (f"Each language model trained {rule}; the checkpoint with the best validation "
                                f"perplexity is scored. {summary} Learning curves (the speed of learning, itself a "
                                "result) are in `figures/learning_curves.png`.\n\n" + markdown_table(table))
    return sections


HEADLINE_METRICS = (("matched", "matched accuracy"), ("conflict", "conflict syntactic rate"),
                    ("mismatched_no_conflict", "no-conflict accuracy"))


def headline_rows(seeds) -> "Any":
    """The rows a reproducibility check compares: per arch x attractor rate (all constructions, one attractor
    slot), accuracy on matched, conflict and mismatched-without-conflict items, with their intervals."""
    sel = seeds[(seeds["construction"] == "all") & (seeds["level"] == "match") & (seeds["metric"] == "accuracy")
                & (seeds["n_attractors"] == 1) & seeds["condition"].isin([c for c, _ in HEADLINE_METRICS])]
    keys = ["arch", "condition"] + (["attractor_rate"] if "attractor_rate" in seeds.columns else [])
    return sel[keys + ["value", "ci_low", "ci_high"]].reset_index(drop=True)


def resolve_reference(cfg: RunConfig, root: Path) -> Path | None:
    """The committed run to compare with: ``cfg.reference``, or results/<name> for 'auto' (None if absent,
    or if it is this run's own folder)."""
    if not cfg.reference:
        return None
    ref = Path("results") / cfg.name if cfg.reference == "auto" else Path(cfg.reference)
    if not (ref / "summary_seeds.csv").is_file() or ref.resolve() == root.resolve():
        return None
    return ref


def reproducibility(cfg: RunConfig, root: Path, *, log: Callable[[str], None] = print) -> str:
    """Compare this run's headline rows with the reference run's: a row reproduces when the new value lies in
    the reference's interval. Returns the report section (and logs the verdict); '' without a reference."""

    from probe.report.plots import read_seed_summary
    from probe.core.tables import markdown_table

    ref = resolve_reference(cfg, root)
    if ref is None:
        return ""
    new, old = headline_rows(read_seed_summary(root)), headline_rows(read_seed_summary(ref))
    keys = [k for k in ("arch", "condition", "attractor_rate") if k in new.columns and k in old.columns]
    both = new.merge(old, on=keys, suffixes=("", "_ref"))
    if not len(both):
        text = f"The reference {ref} has no headline rows comparable with this run's (another design or config)."
        log(f"reproducibility: {text}")
        return text
    inside = (both["value"] >= both["ci_low_ref"] - 1e-12) & (both["value"] <= both["ci_high_ref"] + 1e-12)
    verdict = f"reproduces the reference {ref}: {int(inside.sum())}/{len(both)} headline rows within their intervals"
    log(f"reproducibility: {verdict}")
    text = (f"Headline rows (all constructions, one attractor slot: matched, conflict and mismatched-without-"
            f"conflict accuracy per cell and rate) compared with the committed reference `{ref}`: a row "
            f"reproduces when this run's value lies inside the reference's 95% interval. **{verdict}.**")
    if not inside.all():
        diff = both[~inside].assign(**{"this run": lambda d: d["value"].round(3),
                                       "reference [95% CI]": lambda d: [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in
                                                                       zip(d["value_ref"], d["ci_low_ref"],
                                                                           d["ci_high_ref"])]})
        text += "\n\nRows that differ:\n\n" + markdown_table(diff[keys + ["this run", "reference [95% CI]"]])
    missing = len(old) - len(both)
    if missing:
        text += f"\n\n{missing} reference rows have no counterpart in this run."
    return text
