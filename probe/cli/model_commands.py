"""Commands that train and score models: train, evaluate, baseline, plot, suite, run."""
from __future__ import annotations

import argparse

from probe.core.errors import ProbeError
from probe.cli.common import SUMMARIES, _nonneg_int, _positive_int, command


@command
def _add_train(sub: argparse._SubParsersAction) -> None:
    from probe.models.config import archs
    from probe.train import DEVICES, OPTIMIZERS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train", help=SUMMARIES["train"],
        description="Train a language model with truncated BPTT on a corpus folder written by `probe corpus`. "
                    "Writes DIR/model.pt (best validation perplexity), DIR/last.pt (for --resume), "
                    "DIR/config.json, DIR/metrics.jsonl and DIR/summary.json. Scale out with "
                    "`torchrun --nproc_per_node N -m probe train ...` (DistributedDataParallel).")
    p.add_argument("--corpus", help="corpus folder (required unless --resume, which reuses the run's)")
    p.add_argument("--out", required=True, help="output folder for the run")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last.pt; options not given are the run's")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--items", metavar="DIR", help="item dataset: agreement accuracy at each validation")
    m = p.add_argument_group("model")
    m.add_argument("--arch", help=f"{' | '.join(archs())} (default {d.arch})")
    m.add_argument("--layers", type=int, help=f"stacked layers (default {d.layers})")
    m.add_argument("--hidden", type=int, help=f"hidden units per layer (default {d.hidden})")
    m.add_argument("--emb", type=int, help=f"embedding size (default {d.emb})")
    m.add_argument("--dropout", type=float, help=f"dropout probability (default {d.dropout})")
    m.add_argument("--tied", action="store_const", const=True, help="tie input and output embeddings")
    m.add_argument("--skip", help="how stacked layers connect: none | residual | dense (each layer reads every "
                                  "earlier output) | highway (a gate decides how much to carry) (default none)")
    m.add_argument("--nonlinearity", help=f"srn: tanh | relu (default {d.nonlinearity})")
    m.add_argument("--forget-bias", type=float, help="lstm: initial forget-gate bias (default: PyTorch's init)")
    m.add_argument("--objective", choices=("lm", "number"), default="lm",
                   help="lm: language model (default); number: a classifier predicting the verb's number from the "
                        "words before it (Linzen et al. 2016; see probe/number.py)")
    m.add_argument("--bidirectional", action="store_const", const=True,
                   help="--objective number only; refused for a language model (it cannot read the word it predicts)")
    m.add_argument("--heads", type=int, help=f"transformer attention heads (default {d.heads})")
    m.add_argument("--softmax", help="full | adaptive: frequent words in a head, rare ones in smaller clusters; exact "
                                     "log-probabilities at a fraction of the cost for big vocabularies (default full)")
    m.add_argument("--cutoffs", type=int, nargs="+", metavar="ID",
                   help="adaptive softmax cluster boundaries (default: from the corpus, the head covering 60%% of "
                        "the training tokens, the clusters 80%% and 95%%)")
    m.add_argument("--div-value", type=float, help=f"adaptive softmax: narrowing per tail cluster (default {d.div_value})")
    m.add_argument("--kernel", help="auto: fastest kernel with the same numbers; torch: plain nn.RNN/GRU/LSTM "
                                    f"(default {d.kernel})")
    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", help=f"{' | '.join(OPTIMIZERS)} (default {d.optimizer})")
    o.add_argument("--lr", type=float, help="learning rate, decayed when validation perplexity stops improving "
                                            "(default 20 for sgd, 0.001 for adam)")
    o.add_argument("--lr-decay", type=float, help=f"factor applied at a plateau (default {d.lr_decay})")
    o.add_argument("--patience", type=int, help=f"validations without improvement before a decay (default {d.patience})")
    o.add_argument("--min-delta", type=float,
                   help="relative drop in validation perplexity that counts as an improvement, e.g. 0.002 "
                        f"(default {d.min_delta})")
    o.add_argument("--stop-after", type=int,
                   help="stop, converged, after this many validations in a row without an improvement; --epochs "
                        "and --max-steps remain caps (default 0 = run every epoch)")
    o.add_argument("--batch-size", type=int, help=f"parallel streams (default {d.batch_size})")
    o.add_argument("--bptt", type=int, help=f"truncated-BPTT length (default {d.bptt})")
    o.add_argument("--epochs", type=int, help=f"passes over the training split (default {d.epochs})")
    o.add_argument("--max-steps", type=int, help="stop after this many steps (default 0 = no limit)")
    o.add_argument("--clip", type=float, help=f"gradient-norm clipping, 0 = off (default {d.clip})")
    o.add_argument("--seed", type=int, help=f"random seed (default {d.seed})")
    o.add_argument("--device", help=f"{' | '.join(DEVICES)} (default {d.device}: CUDA when present)")
    o.add_argument("--amp", action="store_true", default=None, help="CUDA only: bfloat16 autocast for the forward pass")
    b = p.add_argument_group("bookkeeping")
    b.add_argument("--log-every", type=int, help=f"steps between metrics lines (default {d.log_every})")
    b.add_argument("--eval-every", type=int, help="steps between validations (default 0 = --evals-per-epoch per epoch)")
    b.add_argument("--evals-per-epoch", type=int, help=f"validations per epoch, evenly spaced (default {d.evals_per_epoch})")
    b.add_argument("--checkpoint-every", type=int, help="steps between last.pt saves (default 0 = each validation)")
    b.add_argument("--max-nonfinite", type=int,
                   help=f"consecutive non-finite steps before the run stops (default {d.max_nonfinite})")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    def run(a: argparse.Namespace) -> int:
        import dataclasses
        import json

        from probe.train import read_run_config, train, train_config_from_options

        options = {f.name: getattr(a, f.name, None) for f in dataclasses.fields(TrainConfig)}
        if a.objective == "number":
            from probe.analyses.number import train_number_from_options

            print(json.dumps(train_number_from_options(options, out=a.out, corpus=a.corpus, items=a.items,
                                                       resume=a.resume, overwrite=a.overwrite,
                                                       progress=not a.no_progress), sort_keys=True))
            return 0
        cfg = train_config_from_options(options, resume_dir=a.out if a.resume else None)
        corpus = a.corpus or (read_run_config(a.out)["corpus"] if a.resume else None)
        if corpus is None:
            raise ProbeError("give --corpus DIR (a folder written by `probe corpus`)")
        items = a.items or (read_run_config(a.out).get("items") if a.resume else None)
        from probe.scoring.items import AgreementCurve

        summary = train(cfg, corpus_dir=corpus, out=a.out, resume=a.resume,
                        on_eval=AgreementCurve(items) if items else None, overwrite=a.overwrite,
                        progress=not a.no_progress)
        if summary.get("rank", 0) == 0:
            print(json.dumps(summary, sort_keys=True))
        return 0

    p.set_defaults(func=run)


@command
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help=SUMMARIES["evaluate"],
        description="Score every --model and --hf-model on every --data set. prefix (default): "
                    "log P(verb_good | <eos> prefix) vs log P(verb_bad | <eos> prefix) from one forward pass; "
                    "sentence: total log-probability of each whole sentence including the final <eos>. Items with out-of-vocabulary words are "
                    "excluded and counted per condition (--unk scores them through <unk>). Writes OUT/"
                    "scores.jsonl, scores.parquet, summary.csv, summary_seeds.csv, summary.json, config.json.")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="a training folder or model.pt (probe train), or a baseline folder (probe baseline); "
                        "repeat for several")
    p.add_argument("--hf-model", action="append", default=[], metavar="NAME_OR_PATH",
                   help="a Hugging Face causal LM: a local save_pretrained folder (works offline) or a hub name; "
                        "subword scores sum over a word's tokens, after the tokenizer's BOS token; needs "
                        "pip install probe[hf]; repeat for several")
    p.add_argument("--data", action="append", required=True, metavar="DIR",
                   help="an item dataset (probe build folder or .jsonl); repeat for several")
    p.add_argument("--out", required=True, help="results folder")
    p.add_argument("--method", choices=("prefix", "sentence"), default="prefix", help="scoring method (default prefix)")
    p.add_argument("--unk", action="store_true", help="score OOV items through <unk> and mark them (has_unk)")
    p.add_argument("--no-final-eos", action="store_true",
                   help="sentence method: leave out log P(<eos> | sentence) (compare prefix probabilities)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="sequences per forward pass (default 256)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--split", help="only items of this split (default: all)")
    p.add_argument("--constructions", nargs="+", metavar="NAME", default=(), help="only these constructions")
    p.add_argument("--baseline-corpus", metavar="DIR",
                   help="also train and score an n-gram and a unigram baseline on this corpus folder")
    p.add_argument("--ngram-order", type=_positive_int, default=3, help="order of that n-gram (default 3)")
    p.add_argument("--ci-level", type=float, default=0.95,
                   help="confidence level of every interval, over items and training seeds (default 0.95)")
    p.add_argument("--no-figures", action="store_true", help="write report.md without drawing figures/")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.evaluate import evaluate

        scores = evaluate(a.model, a.data, a.out, method=a.method, unk=a.unk, final_eos=not a.no_final_eos,
                          batch_size=a.batch_size, device=a.device, split=a.split, constructions=a.constructions,
                          baseline_corpus=a.baseline_corpus, ngram_order=a.ngram_order, ci_level=a.ci_level,
                          overwrite=a.overwrite, hf_models=a.hf_model)
        from probe.report.report import report_evaluation

        table = report_evaluation(a.out, command="probe " + " ".join(a.argv), figures=not a.no_figures)
        print(table)
        print(f"{int(scores['excluded'].sum())} item scores excluded (see summary.csv n_excluded); wrote {a.out} "
              f"(report.md{'' if a.no_figures else ', figures/'})")
        return 0

    p.set_defaults(func=run)


@command
def _add_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baseline", help=SUMMARIES["baseline"],
        description="Count a corpus folder's training ids into an interpolated modified Kneser-Ney n-gram LM "
                    "(the reference for pure sequential recency) or an add-one unigram LM (the majority "
                    "baseline). Writes OUT/baseline.json, vocab.json, counts.npz, config.json; "
                    "`probe evaluate --model OUT` scores it like a checkpoint.")
    p.add_argument("--corpus", required=True, help="corpus folder written by `probe corpus`")
    p.add_argument("--kind", choices=("ngram", "unigram"), default="ngram", help="baseline kind (default ngram)")
    p.add_argument("--order", type=_positive_int, default=3, help="n-gram order (default 3)")
    p.add_argument("--split", default="train", help="corpus split to count (default train)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.scoring.ngram import BaselineConfig, build_baseline

        out = build_baseline(BaselineConfig(corpus=a.corpus, kind=a.kind, order=a.order, split=a.split),
                             a.out, overwrite=a.overwrite)
        print(f"wrote {out}")
        return 0

    p.set_defaults(func=run)


@command
def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help=SUMMARIES["plot"],
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


@command
def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help=SUMMARIES["run"],
        description="Build the benchmark, build synthetic corpora over a sweep of attractor rates, train SRN, GRU "
                    "and LSTM language models (several seeds each, until validation stops improving) and "
                    "n-gram/unigram baselines, evaluate them, run the lecture's analyses, draw the figures and "
                    "write runs/<name>/report.md, ending with a reproducibility verdict against the committed "
                    "reference results/<name> when there is one. With no options: the default run "
                    "(runs/default). Finished stages are not redone when a run is restarted; progress goes to "
                    "stdout, one line per finished model when it is not a terminal.")
    p.add_argument("--preset", default="default", help="default | quick (toy size, for smoke tests)")
    p.add_argument("--config", metavar="FILE", help="JSON or YAML file overriding any RunConfig key (nested)")
    p.add_argument("--name", help="run name: RESULTS_DIR/NAME (default: the preset's)")
    p.add_argument("--results-dir", help="parent folder of the run (default: runs, which git ignores; "
                                         "`--results-dir results` rewrites the committed reference)")
    p.add_argument("--workers", type=_nonneg_int, help="training processes (0 = one per CPU core)")

    def run(a: argparse.Namespace) -> int:
        from probe.run import load_run_config, run_benchmark

        overrides = {k: v for k, v in (("name", a.name), ("results_dir", a.results_dir), ("workers", a.workers))
                     if v is not None}
        cfg = load_run_config(preset=a.preset, config_file=a.config, overrides=overrides)
        run_benchmark(cfg, argv=a.argv[1:])
        return 0

    p.set_defaults(func=run)


@command
def _add_suite(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "suite", help=SUMMARIES["suite"],
        description="Score every sentence of each SyntaxGym suite (JSON) with each model, sum surprisals per region, "
                    "and evaluate the suite's prediction formulas item by item. Items whose critical regions (words "
                    "that differ between conditions, regions the formulas read) hold an out-of-vocabulary word are "
                    "excluded and counted (--unk scores them through <unk>). Reports the item criterion (all "
                    "predictions hold: SyntaxGym's accuracy) and pairwise accuracy (each comparison alone) with "
                    "intervals, pooled over seeds per arch, beside published results (Hu et al. 2020). Writes "
                    "OUT/predictions.csv, coverage.csv, summary.csv, summary_seeds.csv, published.csv, report.md and "
                    "config.json. (`probe import syntaxgym` turns number-agreement suites into minimal pairs for "
                    "`probe evaluate` instead.)")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="checkpoint or baseline folder, or hf:NAME_OR_PATH; repeatable")
    p.add_argument("--suite", action="append", default=[], metavar="FILE", help="SyntaxGym suite JSON; repeatable")
    p.add_argument("--out", required=True, help="results folder")
    p.add_argument("--unk", action="store_true",
                   help="score items with out-of-vocabulary critical words through <unk> instead of excluding them")
    p.add_argument("--ci-level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="sequences per forward pass (default 256)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        import shlex

        from probe.evaluate import evaluate_suite

        command = "probe " + " ".join(shlex.quote(x) for x in a.argv)
        summary = evaluate_suite(a.model, a.suite, a.out, unk=a.unk, ci_level=a.ci_level, batch_size=a.batch_size,
                                 device=a.device, overwrite=a.overwrite, command=command)
        for r in summary.itertuples():
            print(f"{r.model} {r.suite} {r.metric}: {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] on {r.n_items} "
                  f"of {r.n_total} items ({r.n_excluded} excluded, token coverage {r.token_coverage:.3f})")
        print(f"wrote {a.out} (report.md: both accuracies, coverage, published results)")
        return 0

    p.set_defaults(func=run)
