"""Commands that train and score models: train, evaluate, baseline, plot, suite, run."""
from __future__ import annotations

import argparse

from probe.core.errors import ProbeError
from probe.cli.common import Parser, command, summary_of


@command("train an SRN/GRU/LSTM/transformer language model on a corpus")
def _add_train(sub: argparse._SubParsersAction) -> None:
    import dataclasses

    from probe.cli.options import add_config_options
    from probe.train import TrainConfig

    p = sub.add_parser(
        "train", help=summary_of("train"),
        description="Train a language model with truncated BPTT on a corpus folder written by `probe corpus`. "
                    "Writes DIR/model.pt (best validation perplexity), DIR/last.pt (for --resume), "
                    "DIR/config.json, DIR/metrics.jsonl and DIR/summary.json. Scale out with "
                    "`torchrun --nproc_per_node N -m probe train ...` (DistributedDataParallel). "
                    "`probe train --objective number --help` lists the number classifier's own options.")
    _add_inputs(p, corpus="corpus folder (required unless --resume, which reuses the run's)",
                items="item dataset: agreement accuracy at each validation (held-out agreement; with --stop-on "
                      "ppl+agreement, stopping waits for it too)")
    m = p.add_argument_group("model")
    m.add_argument("--objective", choices=OBJECTIVES, default="lm",
                   help="lm: language model (default); number: a classifier predicting the verb's number from the "
                        "words before it (Linzen et al. 2016; see probe/train_number.py), with its own options")
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    # the config's fields in its order, in three groups: the model's shape, optimisation, bookkeeping
    first_opt, first_book = fields.index("optimizer"), fields.index("log_every")
    names = add_config_options(m, TrainConfig, only=tuple(fields[:first_opt]))
    names += add_config_options(p.add_argument_group("optimisation"), TrainConfig,
                                only=tuple(fields[first_opt:first_book]))
    b = p.add_argument_group("bookkeeping")
    names += add_config_options(b, TrainConfig, only=tuple(fields[first_book:]))
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    def run(a: argparse.Namespace) -> int:
        import json

        from probe.cli.options import option_values
        from probe.scoring.items import AgreementCurve
        from probe.train import read_run_config, train, train_config_from_options

        cfg = train_config_from_options(option_values(a, names), resume_dir=a.out if a.resume else None)
        corpus = a.corpus or (read_run_config(a.out)["corpus"] if a.resume else None)
        if corpus is None:
            raise ProbeError("give --corpus DIR (a folder written by `probe corpus`)")
        items = a.items or (read_run_config(a.out).get("items") if a.resume else None)
        summary = train(cfg, corpus_dir=corpus, out=a.out, resume=a.resume,
                        on_eval=AgreementCurve(items) if items else None, overwrite=a.overwrite,
                        progress=not a.no_progress)
        if summary.get("rank", 0) == 0:
            print(json.dumps(summary, sort_keys=True))
        return 0

    p.set_defaults(func=run)


OBJECTIVES = ("lm", "number")


def _add_inputs(p: argparse.ArgumentParser, *, corpus: str, items: str,
                resume: str = "continue the interrupted run in --out from its last.pt; options not given are the "
                              "run's") -> None:
    """The inputs and outputs `probe train` takes whatever its objective (``corpus``, ``items``, ``resume``: what
    they do for it)."""
    p.add_argument("--corpus", help=corpus)
    p.add_argument("--out", required=True, help="output folder for the run")
    p.add_argument("--resume", action="store_true", help=resume)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--items", metavar="DIR", help=items)


def objective_of(argv: list[str]) -> str | None:
    """The value of ``--objective`` in ``argv`` (either spelling), or None."""
    for i, arg in enumerate(argv):
        if arg == "--objective" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--objective="):
            return arg.split("=", 1)[1]
    return None


def train_number_command(argv: list[str]) -> int:
    """`probe train --objective number ...`: the number classifier's own options (NumberConfig's fields, with its
    defaults), parsed once the objective is known."""
    import dataclasses
    import json

    from probe.cli.options import add_config_options, apply_options
    from probe.models.classifier import ClassifierShape
    from probe.train_number import NumberConfig, train_number_from_config

    p = Parser(
        prog="probe train --objective number",
        description="Train a number classifier (Linzen et al. 2016's supervised task): read <eos> + the words "
                    "before the verb and predict its number. With --corpus (a synthetic corpus) it trains on that "
                    "corpus' own sentences and --items (optional) is the test set; with --items alone it trains "
                    "on their train split. Writes DIR/model.pt, config.json, metrics.jsonl and summary.json.")
    _add_inputs(p, corpus="a synthetic corpus folder to train on (optional: without it, --items' train split is "
                          "the training data)",
                items="item dataset: the test set (its test split, or every item without splits); without "
                      "--corpus, its train split is also the training data",
                resume="language models only: a number classifier trains in seconds, so rerun with --overwrite")
    p.add_argument("--objective", choices=OBJECTIVES, default="number", help="number (lm: `probe train --help`)")
    shape = tuple(f.name for f in dataclasses.fields(ClassifierShape))
    names = add_config_options(p.add_argument_group("classifier"), NumberConfig, only=shape)
    names += add_config_options(p.add_argument_group("training"), NumberConfig, skip=shape + ("data",))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    summary = train_number_from_config(apply_options(NumberConfig(), a, names), out=a.out, corpus=a.corpus,
                                       items=a.items, resume=a.resume, overwrite=a.overwrite,
                                       progress=not a.no_progress)
    print(json.dumps(summary, sort_keys=True))
    return 0


@command("score models on agreement items (syntactic vs sequential choices)")
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.evaluate import EvalConfig

    p = sub.add_parser(
        "evaluate", help=summary_of("evaluate"),
        description="Score every --model and --hf-model on every --data set. prefix (default): "
                    "log P(verb_good | <eos> prefix) vs log P(verb_bad | <eos> prefix) from one forward pass; "
                    "sentence: total log-probability of each whole sentence including the final <eos>. Items with "
                    "out-of-vocabulary words are "
                    "excluded and counted per condition (--unk scores them through <unk>). Writes OUT/"
                    "scores.jsonl, scores.parquet, summary.csv, summary_seeds.csv, summary.json, config.json.")
    p.add_argument("--model", action="extend", nargs="+", default=[], metavar="DIR",
                   help="training folders or model.pt files (probe train), or baseline folders (probe baseline): "
                        "several after one flag, or the flag repeated")
    p.add_argument("--hf-model", action="append", default=[], metavar="NAME_OR_PATH",
                   help="a Hugging Face causal LM: a local save_pretrained folder (works offline) or a hub name; "
                        "subword scores sum over a word's tokens, after the tokenizer's BOS token; needs "
                        "pip install probe[hf]; repeat for several")
    p.add_argument("--data", action="extend", nargs="+", required=True, metavar="DIR",
                   help="item datasets (probe build folders or .jsonl files): several after one flag, or the flag "
                        "repeated")
    p.add_argument("--out", required=True, help="results folder")
    names = add_config_options(p.add_argument_group("scoring (EvalConfig)"), EvalConfig,
                               skip=("models", "hf_models", "data"))
    p.add_argument("--no-figures", action="store_true", help="write report.md without drawing figures/")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.cli.options import apply_options
        from probe.evaluate import evaluate

        cfg = apply_options(EvalConfig(), a, names)
        scores = evaluate(a.model, a.data, a.out, config=cfg, hf_models=a.hf_model, overwrite=a.overwrite)
        from probe.report.report import report_evaluation

        table = report_evaluation(a.out, command="probe " + " ".join(a.argv), figures=not a.no_figures)
        print(table)
        print(f"{int(scores['excluded'].sum())} item scores excluded (see summary.csv n_excluded); wrote {a.out} "
              f"(report.md{'' if a.no_figures else ', figures/'})")
        return 0

    p.set_defaults(func=run)


@command("train an n-gram (Kneser-Ney) or unigram baseline LM on a corpus")
def _add_baseline(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.scoring.ngram import BaselineConfig

    p = sub.add_parser(
        "baseline", help=summary_of("baseline"),
        description="Count a corpus folder's training ids into an interpolated modified Kneser-Ney n-gram LM "
                    "(the reference for pure sequential recency) or an add-one unigram LM (the majority "
                    "baseline). Writes OUT/baseline.json, vocab.json, counts.npz, config.json; "
                    "`probe evaluate --model OUT` scores it like a checkpoint.")
    p.add_argument("--corpus", required=True, help="corpus folder written by `probe corpus`")
    names = add_config_options(p, BaselineConfig, skip=("corpus",))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.cli.options import apply_options
        from probe.scoring.ngram import build_baseline

        out = build_baseline(apply_options(BaselineConfig(corpus=a.corpus), a, names), a.out, overwrite=a.overwrite)
        print(f"wrote {out}")
        return 0

    p.set_defaults(func=run)


@command("draw the figures of a results folder")
def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help=summary_of("plot"),
        description="Regenerate DIR/figures/ (PNG and PDF) from a results folder's summary_seeds.csv (and the "
                    "training folders' metrics.jsonl for learning curves): accuracy vs number of attractors, "
                    "syntactic vs sequential choices per construction, the SP/PS asymmetry, learning curves, "
                    "and accuracy vs corpus attractor rate when the results carry that column. A figure in "
                    "DIR/figures that cannot be redrawn (e.g. no training folders found) is kept, with a line "
                    "saying why; other files there (the analyses' figures) are left alone.")
    p.add_argument("--results", required=True, metavar="DIR", help="results folder written by `probe evaluate`")
    p.add_argument("--train-dir", action="append", default=None, metavar="DIR",
                   help="training folder(s) for learning curves (default: the models listed in DIR/config.json)")
    p.add_argument("--formats", nargs="+", default=["png", "pdf"], choices=("png", "pdf", "svg"),
                   help="file types per figure (default: png pdf)")

    def run(a: argparse.Namespace) -> int:
        from probe.report.plots import make_figures

        written = make_figures(a.results, train_dirs=a.train_dir, formats=a.formats, log=print)
        print(f"wrote {len(written)} figures to {a.results}/figures")
        return 0

    p.set_defaults(func=run)


@command("the one-command benchmark: build, corpora, train, baselines, evaluate, plot, report")
def _add_run(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.jobs import SlurmConfig
    from probe.run.config import RunConfig

    p = sub.add_parser(
        "run", help=summary_of("run"),
        description="Build the benchmark, build synthetic corpora over a sweep of attractor rates, train SRN, GRU "
                    "and LSTM language models (several seeds each, until validation stops improving) and "
                    "n-gram/unigram baselines, evaluate them, run the lecture's analyses, draw the figures and "
                    "write runs/<name>/report.md, ending with a reproducibility verdict against the committed "
                    "reference results/<name> when there is one. With no options: the default run "
                    "(runs/default). Finished stages are not redone when a run is restarted; progress goes to "
                    "stdout, one line per finished model when it is not a terminal. --executor slurm trains each "
                    "model as a Slurm job (pip install -e \".[cluster]\"); a restarted run re-attaches to its jobs.")
    p.add_argument("--preset", default="default", help="default | quick (toy size, for smoke tests)")
    p.add_argument("--config", metavar="FILE", help="JSON or YAML file overriding any RunConfig key (nested)")
    # the run config's top-level options most often changed; --config FILE sets any of them
    names = add_config_options(p, RunConfig, only=("name", "results_dir", "workers", "executor"),
                               show_defaults=False)
    slurm = add_config_options(p.add_argument_group("Slurm (with --executor slurm; the run config's slurm: {...})"),
                               SlurmConfig, prefix="slurm")
    p.add_argument("--overwrite", action="store_true",
                   help="run into a run folder that holds another config's run (its stages that still match are "
                        "kept); without it such a folder is refused, and the same config resumes")

    def run(a: argparse.Namespace) -> int:
        from probe.cli.options import option_values
        from probe.run import load_run_config, run_benchmark

        overrides = option_values(a, names)
        if option_values(a, slurm, prefix="slurm"):
            overrides["slurm"] = option_values(a, slurm, prefix="slurm")
        cfg = load_run_config(preset=a.preset, config_file=a.config, overrides=overrides)
        run_benchmark(cfg, argv=a.argv[1:], overwrite=a.overwrite)
        return 0

    p.set_defaults(func=run)


@command("evaluate SyntaxGym suites' own prediction formulas with models")
def _add_suite(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.evaluate import EvalConfig

    p = sub.add_parser(
        "suite", help=summary_of("suite"),
        description="Score every sentence of each SyntaxGym suite (JSON) with each model, sum surprisals per region, "
                    "and evaluate the suite's prediction formulas item by item. Items whose critical regions (words "
                    "that differ between conditions, regions the formulas read) hold an out-of-vocabulary word are "
                    "excluded and counted (--unk scores them through <unk>). Reports the item criterion (all "
                    "predictions hold: SyntaxGym's accuracy) and pairwise accuracy (each comparison alone) with "
                    "intervals, pooled over seeds per arch, beside published results (Hu et al. 2020). Writes "
                    "OUT/predictions.csv, coverage.csv, summary.csv, summary_seeds.csv, published.csv, report.md and "
                    "config.json. (`probe import syntaxgym` turns number-agreement suites into minimal pairs for "
                    "`probe evaluate` instead.)")
    p.add_argument("--model", action="extend", nargs="+", default=[], metavar="DIR",
                   help="checkpoint or baseline folders, or hf:NAME_OR_PATH: several after one flag, or the flag "
                        "repeated")
    p.add_argument("--suite", action="append", default=[], metavar="FILE", help="SyntaxGym suite JSON; repeatable")
    p.add_argument("--out", required=True, help="results folder")
    # the scoring options it shares with probe evaluate (unk here: critical regions through <unk>)
    names = add_config_options(p, EvalConfig, only=("unk", "batch_size", "device", "ci_level"))
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        import shlex

        from probe.cli.options import apply_options
        from probe.suite import evaluate_suite

        cfg = apply_options(EvalConfig(), a, names)
        command = "probe " + " ".join(shlex.quote(x) for x in a.argv)
        summary = evaluate_suite(a.model, a.suite, a.out, unk=cfg.unk, ci_level=cfg.ci_level,
                                 batch_size=cfg.batch_size, device=cfg.device, overwrite=a.overwrite, command=command)
        for r in summary.itertuples():
            print(f"{r.model} {r.suite} {r.metric}: {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] on {r.n_items} "
                  f"of {r.n_total} items ({r.n_excluded} excluded, token coverage {r.token_coverage:.3f})")
        print(f"wrote {a.out} (report.md: both accuracies, coverage, published results)")
        return 0

    p.set_defaults(func=run)
