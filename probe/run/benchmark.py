"""The one-command benchmark (``probe run``): build, corpora, training, baselines, evaluation, analyses, report."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from probe.core.config import config_to_dict
from probe.core.io import save_config
from probe.data.build import build_dataset
from probe.run.config import (RunConfig, analysis_config, check_run_config, corpus_tag, model_labels, model_tag,
                              stream_pairs, sweep_rates, train_config, training_seed)
from probe.run.published import overview_section, real_on_synthetic, score_extra_data
from probe.run.sections import (intro_markdown, report_sections, reproducibility, seeds_confirmation,
                              training_summaries, write_evidence)
from probe.jobs import Executor, TrainJob, same_train_config, train_many
from probe.run.sensitivity import state_sensitivity
from probe.run.stages import (PREVIOUS, check_run_folder, check_run_lock, finished_model, hold_run_lock,
                              run_stage, set_aside_run_outputs)


@dataclass
class BenchmarkRun:
    """What the stages of one ``probe run`` share: its config, folders and log, and what earlier stages made."""

    cfg: RunConfig
    root: Path                                  # the run folder (report.md, summaries, figures)
    work: Path                                  # stage outputs: items, corpora, models, baselines, scores
    log: Callable[[str], None]
    bench: Path | None = None                   # the benchmark items
    dev: Path | None = None                     # held-out items (learning curves, stopping)
    corpora: dict = field(default_factory=dict)     # {(rate, corpus seed): corpus folder}
    new_items: bool = False                     # the benchmark items were (re)built in this run
    new_data: dict = field(default_factory=dict)    # {(rate, corpus seed): its token ids changed in this run}
    pool: tuple = ()                            # constructions pooled as the headline's 'pooled'
    model_dirs: list = field(default_factory=list)  # the scored models: language models, then baselines
    labels: dict = field(default_factory=dict)      # {model folder: its label columns}
    sensitivity: list = field(default_factory=list)  # the other state convention's models
    reused: int = 0                             # language models an earlier invocation finished
    executor: Executor | None = None

    @property
    def language_models(self) -> list[Path]:
        return [m for m in self.model_dirs if "baselines" not in m.parts]


def run_benchmark(cfg: RunConfig, *, log: Callable[[str], None] = print, argv: list[str] | None = None,
                  overwrite: bool = False) -> Path:
    """Run every stage of ``cfg`` and return the run folder (``<results_dir>/<name>``, default runs/<name>) holding
    report.md.

    Stage outputs go to ``<results_dir>/<name>/work/`` (not committed: checkpoints, corpora, per-item
    scores); the run folder gets config.json, summary.csv, summary_seeds.csv, summary.json,
    figures/ and report.md. Restarting after an interruption skips finished stages and resumes
    interrupted trainings from their last checkpoint. A run folder holding another config's run is refused
    unless ``overwrite`` (then the stages whose config still matches are kept), and so is one that another live
    ``probe run`` is writing (``work/.run.lock``). The earlier run's report, tables and figures leave the folder
    first (a finished run's to ``work/previous/``), so that none a run does not write again is read back as its
    own.
    """
    from probe.core.environment import git_commit

    check_run_config(cfg)
    t_start = time.perf_counter()
    root = Path(cfg.results_dir) / cfg.name
    check_run_lock(root / "work")       # a live run comes first: whatever the folder's config, it must not be entered
    check_run_folder(root, config_to_dict(cfg), overwrite=overwrite)
    commit = git_commit()      # before this run writes anything (its folder is ignored by git anyway)
    run = BenchmarkRun(cfg, root, root / "work", log)
    lock = hold_run_lock(run.work)
    try:
        return _run_stages(run, argv=argv, commit=commit, t_start=t_start)
    finally:
        if lock is not None:
            lock.close()


def _run_stages(run: BenchmarkRun, *, argv: list[str] | None, commit: str | None, t_start: float) -> Path:
    """Every stage of ``run_benchmark``, in order, once the run folder is checked and locked."""
    from probe.report.plots import make_figures

    cfg, root, log = run.cfg, run.root, run.log
    # the folder's report, tables and figures are this run's alone; stages are kept in work/ by their configs
    names, finished = set_aside_run_outputs(root)
    if names:
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        log(f"run folder: moved the earlier run's outputs and config to {run.work / PREVIOUS}: {shown}" if finished
            else f"run folder: removed the partial outputs of an unfinished earlier run: {shown}")
    save_config(cfg, root, extra={"stage": "run"})
    build_items(run)
    build_corpora(run)
    train_language_models(run)
    build_baselines(run)
    evaluate_models(run)
    sensitivity = state_sensitivity(cfg, work=run.work, root=root, models=run.sensitivity, pool=run.pool,
                                    labels=run.labels, log=log)
    extra_sections, overview = score_published_sets(run)
    # 6. figures; 7. the lecture's analyses, at small size, on this run's models and corpora
    make_figures(root, train_dirs=run.language_models)
    analysis_sections = run_analyses(cfg, root=root, work=run.work, corpora=run.corpora, bench=run.bench, log=log,
                                     workers=run.executor.workers, executor=run.executor)
    elapsed = time.perf_counter() - t_start
    eval_cfg = json.loads((run.work / "eval" / "config.json").read_text())
    save_config(cfg, root, extra={"stage": "run", "conventions": eval_cfg.get("conventions", {}),
                                  "models_info": eval_cfg.get("models_info", []),
                                  "environment": eval_cfg.get("environment", {}),
                                  "wall_seconds": round(elapsed, 1), "git_commit": commit})
    write_run_report(run, command="probe run" + (" " + " ".join(argv) if argv else ""), elapsed=elapsed,
                     commit=commit, lead=overview, sensitivity=sensitivity, sections=extra_sections | analysis_sections)
    log(f"probe run {cfg.name}: finished in {elapsed:.0f} s; report at {root / 'report.md'}")
    return root


def build_items(run: BenchmarkRun) -> None:
    """1. The benchmark items, and held-out items (learning curves, stopping) that repeat none of its sentences."""
    cfg, work = run.cfg, run.work
    run.bench, run.dev = bench, dev = work / "benchmark", work / "dev_items"
    dev_cfg = replace(cfg.dev_items, exclude_items=str(bench))
    run.new_items = run_stage(bench, config_to_dict(cfg.benchmark), lambda: build_dataset(cfg.benchmark, out=bench),
                              run.log, "benchmark items")
    run_stage(dev, config_to_dict(dev_cfg), lambda: build_dataset(dev_cfg, out=dev), run.log, "held-out items",
              force=run.new_items)


def build_corpora(run: BenchmarkRun) -> None:
    """2. Synthetic corpora, one per attractor rate and corpus seed; benchmark and held-out sentences are removed.
    A corpus whose token ids changed (new config, new benchmark) makes its models and baselines stale: redone."""
    from probe.data.corpus import build_corpus, corpus_fingerprint, resolved_corpus_config
    from probe.data.evidence import pooled_constructions

    cfg = run.cfg
    for rate in sweep_rates(cfg):
        for c in cfg.corpus_seeds:
            ccfg = replace(cfg.corpus, exclude_items=(str(run.bench), str(run.dev)), seed=c)
            if rate is not None:
                ccfg = replace(ccfg, attractor_rate=rate)
            folder = run.work / "corpora" / corpus_tag(rate, c, cfg)
            run.corpora[rate, c] = folder
            before = corpus_fingerprint(folder)
            run_stage(folder, config_to_dict(resolved_corpus_config(ccfg)),
                      lambda f=folder, cc=ccfg: build_corpus(cc, out=f), run.log, f"corpus {folder.name}",
                      force=run.new_items)
            run.new_data[rate, c] = corpus_fingerprint(folder) != before
    run.pool = pooled_constructions(json.loads((f / "stats.json").read_text()) for f in run.corpora.values())
    write_evidence(run.root, run.corpora)


def train_language_models(run: BenchmarkRun) -> None:
    """3. Language models: arch x rate x corpus x seed, and the sensitivity models of the other state convention,
    in parallel processes or as Slurm jobs (cfg.executor); finished ones are kept, interrupted ones resume."""
    from probe.train import RESUMABLE

    cfg, jobs = run.cfg, []
    for rate in sweep_rates(cfg):
        for c in cfg.corpus_seeds:
            for arch in cfg.archs:
                for seed, state in [(s, "") for s in cfg.seeds] + [(s, "stream") for cc, s in stream_pairs(cfg)
                                                                     if cc == c]:
                    tcfg = train_config(cfg, arch, training_seed(cfg, c, seed), state=state or None)
                    out = run.work / "models" / model_tag(arch, rate, c, seed, cfg, state)
                    (run.sensitivity if state else run.model_dirs).append(out)
                    run.labels[str(out)] = model_labels(cfg, rate, c)
                    corpus, new = run.corpora[rate, c], run.new_data[rate, c]
                    if not new and finished_model(out, tcfg, corpus, log=run.log):
                        run.reused += 1
                        continue
                    # an interrupted run resumes only on the same data with the same model and update
                    if out.exists() and (new or not same_train_config(out, tcfg, corpus, ignore=RESUMABLE)):
                        shutil.rmtree(out)
                    jobs.append(TrainJob(config=config_to_dict(tcfg), corpus=str(corpus), out=str(out),
                                         items=str(run.dev)))
    run.executor = Executor(kind=cfg.executor, workers=cfg.workers or os.cpu_count() or 1, slurm=cfg.slurm,
                            folder=str(run.work / "slurm"))
    if jobs:
        train_many(jobs, executor=run.executor, log=run.log)
    else:
        run.log("training: all models done already")


def build_baselines(run: BenchmarkRun) -> None:
    """4. Baselines per corpus: n-gram (sequential reference) and unigram (sanity)."""
    from probe.scoring.ngram import BaselineConfig, build_baseline

    order = run.cfg.ngram_order
    for (rate, c), corpus in run.corpora.items():
        for kind in ("ngram", "unigram"):
            bcfg = BaselineConfig(corpus=str(corpus), kind=kind, order=order)
            folder = run.work / "baselines" / f"{kind}-{corpus.name}"
            run.model_dirs.append(folder)
            run.labels[str(folder)] = model_labels(run.cfg, rate, c)
            run_stage(folder, {"kind": kind, "order": order, "corpus": str(corpus)},
                      lambda f=folder, b=bcfg: build_baseline(b, f), run.log, f"baseline {kind} {corpus.name}",
                      force=run.new_data[rate, c])


def evaluate_models(run: BenchmarkRun) -> None:
    """5. Every model on the benchmark (prefix method); constructions whose configurations every corpus, and each
    rate's corpora pooled, attest at the designed share are pooled as 'pooled' (the headline). The summaries are
    copied to the run folder."""
    from probe.evaluate import evaluate

    t0 = time.perf_counter()
    evaluate([str(m) for m in run.model_dirs], [str(run.bench)], run.work / "eval", labels=run.labels,
             overwrite=True, progress=True, pool=run.pool)
    run.log(f"evaluation: {time.perf_counter() - t0:.1f} s")
    for name in ("summary.csv", "summary_seeds.csv", "summary.json"):
        shutil.copyfile(run.work / "eval" / name, run.root / name)


def score_published_sets(run: BenchmarkRun) -> tuple[dict, dict]:
    """5b. Published test sets and SyntaxGym suites (coverage decides these numbers, so both regimes are
    reported) -> (their report sections, the overview that leads the report)."""
    cfg, work = run.cfg, run.work
    frames: dict = {}
    sections = score_extra_data(cfg, work=work, model_dirs=run.model_dirs, labels=run.labels, log=run.log,
                                frames=frames)
    suite_summary = None
    if cfg.suites:
        from probe.suite import score_suites

        suite_summary, sections["SyntaxGym suites"] = score_suites(run.model_dirs, cfg.suites, work / "suites",
                                                                   labels=run.labels, log=run.log)
    overview = {"Overview: every test set side by side": overview_section(cfg, work, frames, suite_summary, root=run.root)} \
        if frames or suite_summary is not None else {}
    axis = real_on_synthetic(cfg, work=work, root=run.root, log=run.log)
    if axis:
        overview["Where real English sits on the attractor-rate axis"] = axis
    return sections, overview


def write_run_report(run: BenchmarkRun, *, command: str, elapsed: float, commit: str | None, lead: dict,
                     sensitivity: str, sections: dict) -> None:
    """The run's report.md: introduction, the overview (``lead``), the state-convention check, corpora and
    training, the other ``sections``, and the verdicts against the many-seed sweep and the committed reference."""
    from probe.report.report import write_report

    cfg, root = run.cfg, run.root
    trained = training_summaries(run.language_models, run.labels)
    convergence = {}
    for t in trained:
        key = (t["arch"], t.get("attractor_rate"))
        convergence[key] = convergence.get(key, True) and t.get("status", "converged" if t.get("converged")
                                                               else "not converged") == "converged"
    verdict = reproducibility(cfg, root, log=run.log)
    confirmation = seeds_confirmation(cfg, root)
    write_report(root, title=f"probe run: {cfg.name}", commands=[command],
                 intro=intro_markdown(cfg, elapsed, run.reused), lead=lead,
                 sections=({"State convention: sensitivity": sensitivity} if sensitivity else {})
                 | report_sections(cfg, run.corpora, trained) | sections,
                 convergence=convergence, commit=commit,
                 closing=({"Verdicts against the many-seed sweep": confirmation} if confirmation else {})
                 | ({"Reproducibility": verdict} if verdict else {}))


def run_analyses(cfg: RunConfig, *, root: Path, work: Path, corpora: dict, bench: Path,
                 log: Callable[[str], None] = print, workers: int = 1, executor: Executor | None = None) -> dict:
    """Run each analysis named in ``cfg.analyses`` (the registry's preset ``cfg.analysis_scale``) into the run
    folder, their own trainings on ``executor`` (default: ``workers`` local processes); return report sections
    by the analyses' titles. ``corpora``: {(rate, corpus seed): folder}."""
    from probe.analyses.base import AnalysisInputs, run_analysis, get_analysis

    c = cfg.corpus_seeds[0]      # the analyses read one corpus per rate: the first drawn, and its models
    models = tuple({"path": str(work / "models" / model_tag(arch, rate, c, seed, cfg)), "arch": arch,
                    "attractor_rate": rate, "seed": training_seed(cfg, c, seed)}
                   for rate in sweep_rates(cfg) for arch in cfg.archs for seed in cfg.seeds)
    inputs = AnalysisInputs(models=models, corpus_dirs={r: str(corpora[r, c]) for r in sweep_rates(cfg)},
                            items=str(bench), dev_items=str(work / "dev_items"), out=str(root), workers=workers,
                            executor=executor)
    sections = {}
    for name in cfg.analyses:
        t0 = time.perf_counter()
        result = run_analysis(name, inputs, analysis_config(cfg, name))
        secs = time.perf_counter() - t0
        log(f"analysis {name}: {secs:.1f} s")
        text = (result.get("markdown") or "").strip()
        if text.startswith("## "):  # the module titled its own section: keep one heading
            text = text.split("\n", 1)[1].strip() if "\n" in text else ""
        sections[get_analysis(name).title] = text + f"\n\n*(`{name}` analysis: {secs:.0f} s)*"
    return sections
