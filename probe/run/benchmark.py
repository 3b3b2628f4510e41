"""The one-command benchmark (``probe run``): build, corpora, training, baselines, evaluation, analyses, report."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from probe.data.build import build_dataset
from probe.core.config import config_from_dict, config_to_dict, merge_config
from probe.core.io import save_config
from probe.run.config import (RunConfig, check_run_config, corpus_tag, model_labels, model_tag, rate_tag,
                              stream_pairs, sweep_rates, train_config, training_seed)
from probe.run.published import overview_section, real_on_synthetic, score_extra_data
from probe.run.report import (intro_markdown, report_sections, reproducibility, seeds_confirmation,
                              training_summaries, write_evidence)
from probe.jobs import Executor, TrainJob, same_train_config, train_many
from probe.run.sensitivity import state_sensitivity
from probe.run.stages import check_run_folder, finished_model, run_stage


def run_benchmark(cfg: RunConfig, *, log: Callable[[str], None] = print, argv: list[str] | None = None,
                  overwrite: bool = False) -> Path:
    """Run every stage of ``cfg`` and return the run folder (``results/<name>``) holding report.md.

    Stage outputs go to ``results/<name>/work/`` (not committed: checkpoints, corpora, per-item
    scores); the run folder gets config.json, summary.csv, summary_seeds.csv, summary.json,
    figures/ and report.md. Restarting after an interruption skips finished stages and resumes
    interrupted trainings from their last checkpoint. A run folder holding another config's run is refused
    unless ``overwrite`` (then the stages whose config still matches are kept).
    """
    from probe.scoring.ngram import BaselineConfig, build_baseline
    from probe.data.corpus import build_corpus, corpus_fingerprint, resolved_corpus_config
    from probe.data.evidence import pooled_constructions
    from probe.train import RESUMABLE
    from probe.evaluate import evaluate
    from probe.core.environment import git_commit

    check_run_config(cfg)
    t_start = time.perf_counter()
    root = Path(cfg.results_dir) / cfg.name
    check_run_folder(root, config_to_dict(cfg), overwrite=overwrite)
    commit = git_commit()      # before this run writes anything (its folder is ignored by git anyway)
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root, extra={"stage": "run"})

    # 1. the benchmark items, and held-out items (learning curves, stopping) that repeat none of its sentences
    bench, dev = work / "benchmark", work / "dev_items"
    dev_cfg = replace(cfg.dev_items, exclude_items=str(bench))
    new_bench = run_stage(bench, config_to_dict(cfg.benchmark), lambda: build_dataset(cfg.benchmark, out=bench), log,
                          "benchmark items")
    run_stage(dev, config_to_dict(dev_cfg), lambda: build_dataset(dev_cfg, out=dev), log, "held-out items",
              force=new_bench)

    # 2. synthetic corpora, one per attractor rate and corpus seed; benchmark and held-out sentences are removed.
    # A corpus whose token ids changed (new config, new benchmark) makes its models and baselines stale: redone.
    corpora, new_data = {}, {}
    for rate in sweep_rates(cfg):
        for c in cfg.corpus_seeds:
            ccfg = replace(cfg.corpus, exclude_items=(str(bench), str(dev)), seed=c)
            if rate is not None:
                ccfg = replace(ccfg, attractor_rate=rate)
            folder = work / "corpora" / corpus_tag(rate, c, cfg)
            corpora[rate, c] = folder
            before = corpus_fingerprint(folder)
            run_stage(folder, config_to_dict(resolved_corpus_config(ccfg)),
                      lambda f=folder, cc=ccfg: build_corpus(cc, out=f), log, f"corpus {folder.name}", force=new_bench)
            new_data[rate, c] = corpus_fingerprint(folder) != before
    pool = pooled_constructions(json.loads((f / "stats.json").read_text()) for f in corpora.values())
    write_evidence(root, corpora)

    # 3. language models: arch x rate x corpus x seed, and the sensitivity models of the other state convention,
    # in parallel processes or as Slurm jobs (cfg.executor)
    jobs, model_dirs, labels, sensitivity = [], [], {}, []
    reused = 0
    for rate in sweep_rates(cfg):
        for c in cfg.corpus_seeds:
            for arch in cfg.archs:
                for seed, state in [(s, "") for s in cfg.seeds] + [(s, "stream") for cc, s in stream_pairs(cfg)
                                                                     if cc == c]:
                    tcfg = train_config(cfg, arch, training_seed(cfg, c, seed), state=state or None)
                    out = work / "models" / model_tag(arch, rate, c, seed, cfg, state)
                    if state:
                        sensitivity.append(out)
                    else:
                        model_dirs.append(out)
                    labels[str(out)] = model_labels(cfg, rate, c)
                    done = not new_data[rate, c] and finished_model(out, tcfg, corpora[rate, c], log=log)
                    if done:
                        reused += 1
                        continue
                    # an interrupted run resumes only on the same data with the same model and update
                    if out.exists() and (new_data[rate, c] or not same_train_config(out, tcfg, corpora[rate, c],
                                                                                  ignore=RESUMABLE)):
                        shutil.rmtree(out)
                    jobs.append(TrainJob(config=config_to_dict(tcfg), corpus=str(corpora[rate, c]), out=str(out),
                                         items=str(dev)))
    workers = cfg.workers or os.cpu_count() or 1
    executor = Executor(kind=cfg.executor, workers=workers, slurm=cfg.slurm, folder=str(work / "slurm"))
    if jobs:
        train_many(jobs, executor=executor, log=log)
    else:
        log("training: all models done already")

    # 4. baselines per corpus: n-gram (sequential reference) and unigram (sanity)
    for (rate, c), corpus in corpora.items():
        for kind in ("ngram", "unigram"):
            bcfg = BaselineConfig(corpus=str(corpus), kind=kind, order=cfg.ngram_order)
            folder = work / "baselines" / f"{kind}-{corpus.name}"
            model_dirs.append(folder)
            labels[str(folder)] = model_labels(cfg, rate, c)
            run_stage(folder, {"kind": kind, "order": cfg.ngram_order, "corpus": str(corpus)},
                      lambda f=folder, b=bcfg: build_baseline(b, f), log, f"baseline {kind} {corpus.name}",
                      force=new_data[rate, c])

    # 5. evaluation of every model on the benchmark (prefix method); constructions whose configurations every
    # corpus attests at the designed share are pooled as 'pooled' (the headline)
    t0 = time.perf_counter()
    evaluate([str(m) for m in model_dirs], [str(bench)], work / "eval", labels=labels, overwrite=True,
             progress=True, pool=pool)
    log(f"evaluation: {time.perf_counter() - t0:.1f} s")
    for name in ("summary.csv", "summary_seeds.csv", "summary.json"):
        shutil.copyfile(work / "eval" / name, root / name)
    sensitivity_section = state_sensitivity(cfg, work=work, root=root, models=sensitivity, pool=pool, labels=labels,
                                            log=log)

    # 5b. published test sets: coverage decides these numbers, so both regimes are reported
    frames: dict = {}
    extra_sections = score_extra_data(cfg, work=work, model_dirs=model_dirs, labels=labels, log=log, frames=frames)
    suite_summary = None
    if cfg.suites:
        from probe.evaluate import score_suites

        suite_summary, extra_sections["SyntaxGym suites"] = score_suites(model_dirs, cfg.suites, work / "suites",
                                                                         labels=labels, log=log)
    overview = {"Overview: every test set side by side": overview_section(cfg, work, frames, suite_summary)} \
        if frames or suite_summary is not None else {}
    axis = real_on_synthetic(cfg, work=work, root=root, log=log)
    if axis:
        overview["Where real English sits on the attractor-rate axis"] = axis

    # 6. figures and report
    from probe.report.plots import make_figures
    from probe.report.report import write_report

    make_figures(root, train_dirs=[m for m in model_dirs if "baselines" not in m.parts])

    # 7. the lecture's analyses, at small size, on this run's models and corpora
    analysis_sections = run_analyses(cfg, root=root, work=work, corpora=corpora, bench=bench, log=log,
                                     workers=workers, executor=executor)
    elapsed = time.perf_counter() - t_start
    command = "probe run" + (" " + " ".join(argv) if argv else "")
    eval_cfg = json.loads((work / "eval" / "config.json").read_text())
    save_config(cfg, root, extra={"stage": "run", "conventions": eval_cfg.get("conventions", {}),
                                  "models_info": eval_cfg.get("models_info", []),
                                  "environment": eval_cfg.get("environment", {}),
                                  "wall_seconds": round(elapsed, 1), "git_commit": commit})
    trained = training_summaries([m for m in model_dirs if "baselines" not in m.parts], labels)
    convergence = {}
    for t in trained:
        key = (t["arch"], t.get("attractor_rate"))
        convergence[key] = convergence.get(key, True) and t.get("status", "converged" if t.get("converged")
                                                               else "not converged") == "converged"
    verdict = reproducibility(cfg, root, log=log)
    confirmation = seeds_confirmation(cfg, root)
    write_report(root, title=f"probe run: {cfg.name}", commands=[command], intro=intro_markdown(cfg, elapsed, reused),
                 lead=overview, sections=({"State convention: sensitivity": sensitivity_section} if sensitivity_section
                                          else {}) | report_sections(cfg, corpora, trained) | extra_sections
                 | analysis_sections,
                 convergence=convergence, commit=commit,
                 closing=({"Verdicts against the many-seed sweep": confirmation} if confirmation else {})
                 | ({"Reproducibility": verdict} if verdict else {}))
    log(f"probe run {cfg.name}: finished in {elapsed:.0f} s; report at {root / 'report.md'}")
    return root


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
        analysis = get_analysis(name)
        preset = config_to_dict(analysis.preset(cfg.analysis_scale))
        config = config_from_dict(analysis.config, merge_config(preset, cfg.analysis_options.get(name, {}),
                                                                cls=analysis.config),
                                  where="run config", key=f"analysis_options.{name}")
        result = run_analysis(name, inputs, config)
        secs = time.perf_counter() - t0
        log(f"analysis {name}: {secs:.1f} s")
        text = (result.get("markdown") or "").strip()
        if text.startswith("## "):  # the module titled its own section: keep one heading
            text = text.split("\n", 1)[1].strip() if "\n" in text else ""
        sections[get_analysis(name).title] = text + f"\n\n*(`{name}` analysis: {secs:.0f} s)*"
    return sections
