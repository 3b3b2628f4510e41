"""The ``probe`` command: option parsing only; each subcommand calls one importable function."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from probe.core.errors import ProbeError

# Each subcommand is registered by one small `_add_<name>` function that declares its options and
# sets `func`, the thin wrapper that turns the parsed options into a call of a library function.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(fn: Callable[[argparse._SubParsersAction], None]) -> Callable:
    COMMANDS.append(fn)
    return fn


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


# One line per command, shown by `probe --help`. Listing them must not import the commands' modules
# (torch, datasets): registering a command's options does, so the overview registers names only.
SUMMARIES = {
    "build": "build the agreement minimal-pair dataset",
    "validate": "re-check every item of a dataset, independently of the generator",
    "corpus": "build a training corpus (synthetic grammar, text files or a hub dataset)",
    "train": "train an SRN/GRU/LSTM/transformer language model on a corpus",
    "evaluate": "score models on agreement items (syntactic vs sequential choices)",
    "baseline": "train an n-gram (Kneser-Ney) or unigram baseline LM on a corpus",
    "plot": "draw the figures of a results folder",
    "import": "convert a published agreement test set into probe items",
    "extract": "extract agreement items from natural text with a spaCy parser",
    "run": "the one-command benchmark: build, corpora, train, baselines, evaluate, plot, report",
    "number": "number prediction (Linzen et al. 2016): uni/bidirectional classifiers vs the LM objective",
    "diagnose": "diagnostic classifiers for the head's number in hidden states; number-unit ablation",
    "gradients": "vanishing gradients by distance per cell, at init and trained",
    "clipping": "exploding gradients: train at a large learning rate, clipping off and on",
    "depth": "stacked models with and without skip connections: accuracy and gradient decay by depth",
    "suite": "evaluate SyntaxGym suites' own prediction formulas with models",
    "analyze": "run any registered analysis (flags from its config dataclass): probe analyze NAME --help",
}


@command
def _add_build(sub: argparse._SubParsersAction) -> None:
    from probe.data.constructions import CONSTRUCTIONS

    p = sub.add_parser(
        "build", help=SUMMARIES["build"],
        description="Build subject-verb agreement minimal pairs with attractors. Writes DIR as a Hugging Face "
                    "dataset (datasets.load_from_disk works), DIR/items.jsonl, DIR/README.md (dataset card) "
                    "and DIR/config.json. With no options: the default benchmark in data/agreement/.")
    p.add_argument("--out", help="output folder (default: data/agreement)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed -> byte-identical items.jsonl")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--per-condition", type=_positive_int, help="items per construction x condition cell")
    size.add_argument("--size", type=_positive_int, help="items in total, balanced over the condition cells")
    p.add_argument("--constructions", nargs="+", metavar="NAME",
                   help=f"constructions to build (default: all): {', '.join(CONSTRUCTIONS)}")
    p.add_argument("--max-attractors", type=_positive_int, default=4, help="most PP attractors (1-4; default 4)")
    p.add_argument("--nonce", action="store_true",
                   help="'colorless green' items: content words sampled without semantic constraints")
    p.add_argument("--splits", nargs=3, type=float, metavar=("TRAIN", "VALID", "TEST"),
                   help="fractions of items per split, assigned by item id (default: all test)")
    p.add_argument("--lexicon", help="lexicon TSV file (default: the shipped probe/resources/lexicon.tsv)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.data.build import DEFAULT_OUT, BuildConfig, build_dataset

        cfg = BuildConfig(
            seed=a.seed, per_condition=a.per_condition, size=a.size,
            constructions=tuple(a.constructions) if a.constructions else BuildConfig.constructions,
            max_attractors=a.max_attractors, nonce=a.nonce,
            splits=tuple(a.splits) if a.splits else BuildConfig.splits, lexicon=a.lexicon)
        summary = build_dataset(cfg, out=a.out or DEFAULT_OUT, overwrite=a.overwrite)
        print(summary)
        return 0

    p.set_defaults(func=run)


@command
def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help=SUMMARIES["validate"],
        description="Re-check every item: exactly one differing token right after the prefix, the good verb "
                    "agrees with the head (lexicon, and spaCy's lookup tables where available), attractors lie "
                    "between head and verb, and - when a spaCy pipeline with a parser is installed - how "
                    "often the parse makes the head the verb's subject. Exits 1 on any invalid item.")
    p.add_argument("data", help="dataset folder written by `probe build` (or an items.jsonl file)")
    p.add_argument("--lexicon", help="lexicon TSV file (default: the shipped one)")
    p.add_argument("--parser", default="auto",
                   help="spaCy pipeline for the parse check: a name or path, 'auto' (en_core_web_sm if "
                        "installed) or 'none'")
    p.add_argument("--parse-sample", type=_nonneg_int, default=500,
                   help="items to parse for the subject check (0 = all; default 500)")

    def run(a: argparse.Namespace) -> int:
        from probe.data.validate import validate_dataset

        report = validate_dataset(a.data, lexicon=a.lexicon, parser=a.parser, parse_sample=a.parse_sample)
        print(report.render())
        return 0 if report.ok else 1

    p.set_defaults(func=run)


@command
def _add_corpus(sub: argparse._SubParsersAction) -> None:
    from probe.data.corpus import DEFAULT_OUT, CorpusConfig

    d = CorpusConfig()
    p = sub.add_parser(
        "corpus", help=SUMMARIES["corpus"],
        description="Build a language-model training corpus folder: train/valid/test.npy token ids (<eos> after "
                    "each sentence), vocab.json, config.json and stats.json. With no source option: the "
                    f"synthetic corpus from the grammar over the lexicon, in {DEFAULT_OUT}/. Sentences equal to "
                    "a benchmark item (good or bad) are removed and counted.")
    p.add_argument("--out", help=f"output folder (default for the synthetic corpus: {DEFAULT_OUT}; "
                                 "required for text)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    g = p.add_argument_group("synthetic corpus")
    g.add_argument("--sentences", type=int, default=d.n_sentences,
                   help=f"sentences in all splits (default {d.n_sentences})")
    g.add_argument("--attractor-rate", type=float, default=d.attractor_rate,
                   help="share of clause subjects whose modifier holds a noun of the other number "
                        f"(default {d.attractor_rate})")
    g.add_argument("--match-rate", type=float, default=d.match_rate,
                   help="share of subjects with a modifier whose nouns all match the head's number "
                        "(default min(r, 1-r): a modifier is then no cue to the verb's number)")
    g.add_argument("--modifier-rate", type=float, default=d.modifier_rate,
                   help="share of subjects with a modifier, attracted or matched (sets the match rate to "
                        "modifier rate - attractor rate: corpora of a sweep then differ only in the share of "
                        "modifiers whose noun has the other number)")
    g.add_argument("--max-depth", type=int, default=d.max_depth,
                   help=f"deepest nesting of modifiers and complement clauses (default {d.max_depth})")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed; same seed -> identical corpus")
    g.add_argument("--lexicon", help="lexicon TSV file (default: the shipped one)")
    t = p.add_argument_group("real text")
    t.add_argument("--text", nargs="+", metavar="FILE", help="text files (.txt or .gz), one sentence or "
                   "paragraph per line, split into train/valid/test by the fractions")
    t.add_argument("--train", nargs="+", metavar="FILE", help="training files (PTB, WikiText: give --valid/--test too)")
    t.add_argument("--valid", nargs="+", metavar="FILE", help="validation files (else carved from train)")
    t.add_argument("--test", nargs="+", metavar="FILE", help="test files (else carved from train)")
    t.add_argument("--hf", metavar="NAME[:CONFIG]", help="Hugging Face hub dataset, e.g. "
                   "wikitext:wikitext-2-raw-v1 (needs the network)")
    t.add_argument("--hf-column", default=d.hf_column, help=f"the hub dataset's text column (default {d.hf_column})")
    t.add_argument("--cache-dir", help="Hugging Face datasets cache folder (default: its own)")
    t.add_argument("--tokenizer", choices=("spacy", "whitespace"), default=d.tokenizer,
                   help="spacy: spaCy's English tokenizer (keeps <unk> whole); whitespace: for text that is "
                        f"already tokenized, e.g. PTB and WikiText (default {d.tokenizer})")
    t.add_argument("--no-lowercase", dest="lowercase", action="store_false", help="keep the text's case")
    t.add_argument("--max-vocab", type=int, help="vocabulary size including <unk> and <eos> (default: no limit)")
    t.add_argument("--min-count", type=int, default=d.min_count,
                   help=f"train occurrences a word needs to enter the vocabulary (default {d.min_count})")
    t.add_argument("--max-lines", type=int, help="read at most this many non-empty lines per split")
    t.add_argument("--n-process", type=int, default=d.n_process, help="spaCy processes (default 1)")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help=f"lines per spaCy batch (default {d.batch_size})")
    s = p.add_argument_group("splits and benchmark exclusion")
    s.add_argument("--valid-fraction", type=float, default=d.valid_fraction,
                   help=f"share for validation (default {d.valid_fraction})")
    s.add_argument("--test-fraction", type=float, default=d.test_fraction,
                   help=f"share for test (default {d.test_fraction})")
    x = s.add_mutually_exclusive_group()
    x.add_argument("--exclude-items", metavar="DIR", help="item folder or items.jsonl whose sentences to remove "
                   "(default: the default benchmark, built in memory)")
    x.add_argument("--no-exclude", action="store_true", help="keep sentences equal to benchmark items")

    def run(a: argparse.Namespace) -> int:
        import time

        from probe.data.corpus import build_corpus

        source = "hf" if a.hf else "text" if (a.text or a.train or a.valid or a.test) else "synthetic"
        if a.hf and (a.text or a.train or a.valid or a.test):
            raise ProbeError("give either --hf or text files (--text / --train ...), not both")
        if source != "synthetic" and not a.out:
            raise ProbeError("give --out DIR for a corpus built from text")
        cfg = CorpusConfig(
            source=source, n_sentences=a.sentences, attractor_rate=a.attractor_rate, match_rate=a.match_rate,
            modifier_rate=a.modifier_rate,
            max_depth=a.max_depth, lexicon=a.lexicon, seed=a.seed, valid_fraction=a.valid_fraction,
            test_fraction=a.test_fraction, text_files=tuple(a.text or ()), train_files=tuple(a.train or ()),
            valid_files=tuple(a.valid or ()), test_files=tuple(a.test or ()), hf_name=a.hf,
            hf_column=a.hf_column, cache_dir=a.cache_dir, max_lines=a.max_lines, tokenizer=a.tokenizer,
            lowercase=a.lowercase, max_vocab=a.max_vocab, min_count=a.min_count, n_process=a.n_process,
            batch_size=a.batch_size, exclude_benchmark=not a.no_exclude, exclude_items=a.exclude_items)
        out = a.out or DEFAULT_OUT
        t0 = time.perf_counter()
        st = build_corpus(cfg, out=out, overwrite=a.overwrite)
        tokens = ", ".join(f"{k} {v:,}" for k, v in st["tokens"].items())
        rate = "" if st.get("attractor_rate") is None else f", attractor rate {st['attractor_rate']:.4f}"
        print(f"wrote {out}: tokens {tokens}; vocabulary {st['types']:,}; OOV valid "
              f"{st['oov_rate']['valid'] or 0:.4f}{rate}; {st['removed_benchmark_sentences']} benchmark "
              f"sentences removed ({time.perf_counter() - t0:.1f} s)")
        return 0

    p.set_defaults(func=run)


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
def _add_import(sub: argparse._SubParsersAction) -> None:
    from probe.data.importers import formats

    p = sub.add_parser(
        "import", help=SUMMARIES["import"],
        description="Convert BLiMP JSONL, Marvin & Linzen (2018) pairs, SyntaxGym number-agreement suites, "
                    "Linzen et al. (2016) number-prediction files or Gulordava et al. (2018) .tab files into "
                    "probe's item schema (source labels and ids kept in construction/source_id). Writes DIR "
                    "like `probe build`: HF dataset, items.jsonl, README.md, config.json. Malformed input: "
                    "a one-line error naming file, line and field, and no output.")
    p.add_argument("format", choices=formats(), help="input format")
    p.add_argument("paths", nargs="+", metavar="PATH", help="input file(s), or folder(s) of them")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--lexicon", help="lexicon TSV for verb forms and number look-ups (default: the shipped one)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.data.importers import ImportConfig, import_dataset

        cfg = ImportConfig(format=a.format, paths=tuple(a.paths), lexicon=a.lexicon)
        print(import_dataset(cfg, a.out, overwrite=a.overwrite))
        return 0

    p.set_defaults(func=run)


@command
def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract", help=SUMMARIES["extract"],
        description="Parse text with a spaCy pipeline (tagger + parser), find subject-verb dependencies with a "
                    "present-tense verb, count attractors, apply Linzen et al. (2016)'s filters (listed in "
                    "probe/extract.py and the dataset card) and write items with construction 'natural'. "
                    "Needs a pipeline such as en_core_web_sm (python -m spacy download en_core_web_sm).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", nargs="+", metavar="FILE", help="text file(s), one paragraph or sentence per line")
    src.add_argument("--hf", metavar="NAME", help="a `datasets` dataset name or save_to_disk folder")
    p.add_argument("--hf-config", help="the dataset's configuration (e.g. wikitext-2-raw-v1)")
    p.add_argument("--hf-split", default="train", help="split to read (default: train)")
    p.add_argument("--hf-column", default="text", help="text column (default: text)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", default="en_core_web_sm", help="spaCy pipeline name or path (default: en_core_web_sm)")
    p.add_argument("--max-words", type=_positive_int, default=50, help="drop longer sentences (default: 50)")
    p.add_argument("--vocab", metavar="FILE",
                   help="vocab.json or word list: keep items whose head and both verb forms are in it")
    p.add_argument("--lexicon", help="lexicon TSV for verb pairs (default: the shipped one)")
    p.add_argument("--max-texts", type=_positive_int, help="read at most this many lines / records")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="texts per nlp.pipe batch (default: 256)")
    p.add_argument("--n-process", type=_positive_int, default=1, help="parser processes (default: 1)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.data.extract import ExtractConfig, extract_dataset

        cfg = ExtractConfig(texts=tuple(a.text or ()), hf=a.hf, hf_config=a.hf_config, hf_split=a.hf_split,
                            hf_column=a.hf_column, model=a.model, max_words=a.max_words, vocab=a.vocab,
                            lexicon=a.lexicon, max_texts=a.max_texts, batch_size=a.batch_size,
                            n_process=a.n_process)
        print(extract_dataset(cfg, a.out, overwrite=a.overwrite))
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
def _add_number(sub: argparse._SubParsersAction) -> None:
    from probe.analyses.number import NumberAnalysisConfig

    d = NumberAnalysisConfig()
    p = sub.add_parser(
        "number", help=SUMMARIES["number"],
        description="For each language model given, train a unidirectional and a bidirectional number classifier of "
                    "the same size on the prefixes of the corpus' sentences (predict the verb's number from the words "
                    "before it), and compare accuracy by number of attractors with the language model's own choice "
                    "on the same test items. Writes OUT/number_prediction.csv, number_prediction.json, "
                    "figures/number_prediction.{png,pdf} and the classifiers under OUT/work/number/. "
                    "(One classifier alone: `probe train --objective number`.)")
    p.add_argument("--model", action="append", required=True, metavar="DIR",
                   help="a language model's training folder or model.pt (all trained on --corpus); repeat")
    p.add_argument("--corpus", required=True, metavar="DIR", help="the synthetic corpus folder the models were trained on")
    p.add_argument("--items", required=True, metavar="DIR", help="test items (their test split, or all items)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
    p.add_argument("--sentences", type=_positive_int, default=d.n_sentences,
                   help=f"corpus training sentences the classifiers read (default {d.n_sentences})")
    p.add_argument("--epochs", type=_positive_int, default=d.epochs, help=f"classifier epochs (default {d.epochs})")
    p.add_argument("--directions", nargs="+", choices=("uni", "bi"), default=list(d.directions),
                   help="classifier encoders (default: uni bi)")
    p.add_argument("--constructions", nargs="+", metavar="NAME", default=list(d.constructions),
                   help=f"test constructions (default: {' '.join(d.constructions)})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    def run(a: argparse.Namespace) -> int:
        import dataclasses
        import math

        from probe.analyses.base import AnalysisInputs, describe_models
        from probe.analyses.number import read_corpus_config, run as run_number

        rate = float(read_corpus_config(a.corpus).get("attractor_rate", math.nan))
        models = describe_models(a.model, attractor_rate=rate)
        cfg = dataclasses.replace(d, attractor_rate=rate, max_seeds=len(models), n_sentences=a.sentences,
                                  epochs=a.epochs, directions=tuple(a.directions),
                                  constructions=tuple(a.constructions))
        res = run_number(AnalysisInputs(models=tuple(models), corpus_dirs={rate: a.corpus}, items=a.items, out=a.out,
                                        progress=not a.no_progress), cfg)
        print(res["markdown"])
        print(f"wrote {len(res['files'])} files to {a.out} in {res['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    from probe.analyses.diagnose import DiagnoseConfig

    d = DiagnoseConfig()
    p = sub.add_parser(
        "diagnose", help=SUMMARIES["diagnose"],
        description="Cache every layer's hidden (and LSTM cell) states over each item's prefix in one batched pass per "
                    "model, then fit cross-validated logistic-regression probes (scikit-learn) decoding the head's "
                    "number at the head, each attractor and the word before the verb, with a control task (a random "
                    "bit per head lemma) and selectivity (Hewitt & Liang 2019). Then zero the --ablate units most "
                    "predictive of number at every step and compare agreement accuracy with random units zeroed "
                    "(Lakretz et al. 2019). Writes OUT/diagnose.csv, ablation.csv, diagnose.json and "
                    "figures/{diagnose,ablation}.{png,pdf}.")
    p.add_argument("--model", action="append", required=True, metavar="DIR",
                   help="a language model's training folder or model.pt; repeat for several")
    p.add_argument("--items", required=True, metavar="DIR", help="item dataset (probe build folder or .jsonl)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
    p.add_argument("--ablate", type=_nonneg_int, default=d.ablate,
                   help=f"number units zeroed in the ablation (0: none; default {d.ablate})")
    p.add_argument("--random-draws", type=_nonneg_int, default=d.random_draws,
                   help=f"random unit sets zeroed for comparison (default {d.random_draws})")
    p.add_argument("--max-items", type=_positive_int, default=d.max_items,
                   help=f"items per model, a seeded sample (default {d.max_items})")
    p.add_argument("--folds", type=_positive_int, default=d.folds, help=f"cross-validation folds (default {d.folds})")
    p.add_argument("--constructions", nargs="+", metavar="NAME", default=list(d.constructions),
                   help=f"constructions probed (default: {' '.join(d.constructions)})")
    p.add_argument("--along", action="store_true", help="also probe at every offset from the head")
    p.add_argument("--seed", type=int, default=d.seed, help="item sample, folds, control labels, random units")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.base import AnalysisInputs, describe_models
        from probe.analyses.diagnose import check_diagnose_config, run as run_diagnose

        cfg = dataclasses.replace(d, max_seeds=len(a.model), ablate=a.ablate, random_draws=a.random_draws,
                                  max_items=a.max_items, folds=a.folds, constructions=tuple(a.constructions),
                                  along=a.along, seed=a.seed)
        check_diagnose_config(cfg)
        res = run_diagnose(AnalysisInputs(models=tuple(describe_models(a.model)), items=a.items, out=a.out,
                                          progress=not a.no_progress), cfg)
        print(res["markdown"])
        print(f"wrote {len(res['files'])} files to {a.out} in {res['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_gradients(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradients", help=SUMMARIES["gradients"],
        description="Measure the mean norm of dJ(t)/dh(t-l), l = 0..L, for fresh models of every --variants cell "
                    "(at initialisation) and for every --model (trained), from one backward pass per batch of "
                    "corpus windows; fit an exponential decay per cell; with --items, the gradient of each "
                    "item's verb margin w.r.t. the head and attractor nouns. Writes OUT/gradients.csv, "
                    "gradients_fit.csv, gradients_sim.csv, gradients_items.csv, gradients.json and "
                    "OUT/figures/gradients*.png/pdf (other files in OUT are left alone).")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="a trained model (training folder or model.pt); repeat for several")
    p.add_argument("--corpus", metavar="DIR", help="corpus folder for the windows (default: the trained models' "
                   "corpus from their config.json; without any: random tokens)")
    p.add_argument("--items", metavar="DIR", help="agreement items for the item gradients (needs --model)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--size", choices=("full", "small", "quick"), default="full",
                   help="analysis size preset (default full); the options below override it")
    p.add_argument("--max-distance", type=_positive_int, help="largest distance L (default 60)")
    p.add_argument("--sequences", type=_positive_int, help="windows per model (default 512)")
    p.add_argument("--variants", nargs="+", metavar="SPEC",
                   help="fresh cells at init, as arch[:nonlinearity=relu|forget_bias=X] "
                        "(default: srn gru lstm lstm:forget_bias=1)")
    p.add_argument("--n-items", type=_nonneg_int, help="items sampled for the item gradients (default 2000)")
    p.add_argument("--seed", type=int, help="seed for windows, item sample and fresh models (default 0)")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.gradients import PRESETS, gradients_analysis

        given = {"max_distance": a.max_distance, "n_sequences": a.sequences, "n_items": a.n_items, "seed": a.seed,
                 "variants": tuple(a.variants) if a.variants else None}
        cfg = dataclasses.replace(PRESETS[a.size], **{k: v for k, v in given.items() if v is not None})
        if a.items and not a.model:
            raise ProbeError("--items needs at least one trained --model (item gradients use trained models)")
        result = gradients_analysis(model_dirs=a.model, corpus=a.corpus, items=a.items, out=a.out, config=cfg,
                                    progress=True)
        print(result["markdown"])
        print(f"wrote {len(result['files'])} files to {a.out} in {result['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_clipping(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clipping", help=SUMMARIES["clipping"],
        description="Train the same small language model per cell at a deliberately large learning rate with "
                    "gradient-norm clipping off (0) and at each --clips threshold; count non-finite (skipped) and "
                    "clipped steps, and report the final validation perplexity and agreement accuracy. Runs that "
                    "stop after too many non-finite steps are recorded as 'stopped'. Writes OUT/clipping.csv, "
                    "clipping_traces.csv, clipping.json and OUT/figures/clipping.png/pdf.")
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder written by `probe corpus`")
    p.add_argument("--items", metavar="DIR", help="agreement items for the accuracy (default: none)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--size", choices=("full", "small", "quick"), default="full",
                   help="analysis size preset (default full); the options below override it")
    p.add_argument("--archs", nargs="+", metavar="SPEC",
                   help="cells as arch[:nonlinearity=relu|forget_bias=X] (default: srn srn:nonlinearity=relu lstm)")
    p.add_argument("--clips", nargs="+", type=float, metavar="NORM", help="thresholds, 0 = off (default 0 0.25 1 5)")
    p.add_argument("--lr", type=float, help="learning rate for every run (default 5)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="optimizer (default sgd)")
    p.add_argument("--steps", type=_positive_int, help="updates per run (default 300)")
    p.add_argument("--hidden", type=_positive_int, help="units (and embedding size) per model (default 64)")
    p.add_argument("--seed", type=int, help="seed (default 0)")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.clipping import PRESETS, clipping_analysis

        given = {"archs": tuple(a.archs) if a.archs else None, "clips": tuple(a.clips) if a.clips else None,
                 "lr": a.lr, "optimizer": a.optimizer, "max_steps": a.steps, "hidden": a.hidden,
                 "emb": a.hidden, "seed": a.seed}
        cfg = dataclasses.replace(PRESETS[a.size], **{k: v for k, v in given.items() if v is not None})
        result = clipping_analysis(corpus=a.corpus, items=a.items, out=a.out, config=cfg, progress=True)
        print(result["markdown"])
        print(f"wrote {len(result['files'])} files to {a.out} in {result['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_depth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "depth", help=SUMMARIES["depth"],
        description="Train one model per cell x --layers x skip connection (none, residual, dense, highway; a "
                    "single layer has none) on a corpus until validation stops improving, then report agreement "
                    "accuracy (conflict vs matched items with 1+ attractors) and gradient norms from J(t) to the "
                    "input and the first layer, at distance 0 and --distance, at initialisation and after "
                    "training. Writes OUT/depth.csv, depth.json and OUT/figures/depth.png/pdf.")
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder written by `probe corpus`")
    p.add_argument("--items", metavar="DIR", help="agreement items for the accuracies (default: none)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--size", choices=("full", "small", "quick"), default="full",
                   help="analysis size preset (default full); the options below override it")
    p.add_argument("--archs", nargs="+", metavar="SPEC", help="cells (default: srn gru lstm)")
    p.add_argument("--layers", nargs="+", type=_positive_int, metavar="N", help="depths (default 1 2 4 6)")
    p.add_argument("--skips", nargs="+", choices=("none", "residual", "dense", "highway"),
                   help="skip connections to compare (default: all four)")
    p.add_argument("--steps", type=_positive_int,
                   help="a fixed number of updates per model instead of training to convergence")
    p.add_argument("--workers", type=_positive_int, default=1, help="training processes (default 1)")
    p.add_argument("--hidden", type=_positive_int, help="units (and embedding size) per layer (default 64)")
    p.add_argument("--distance", type=_positive_int, help="distance for the gradient norms (default 10)")
    p.add_argument("--seed", type=int, help="seed (default 0)")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.depth import PRESETS, depth_analysis

        given = {"archs": tuple(a.archs) if a.archs else None, "layers": tuple(a.layers) if a.layers else None,
                 "skips": tuple(a.skips) if a.skips else None, "max_steps": a.steps,
                 "stop_after": 0 if a.steps else None, "hidden": a.hidden, "emb": a.hidden, "distance": a.distance,
                 "seed": a.seed}
        cfg = dataclasses.replace(PRESETS[a.size], **{k: v for k, v in given.items() if v is not None})
        result = depth_analysis(corpus=a.corpus, items=a.items, out=a.out, config=cfg, progress=True,
                                workers=a.workers)
        print(result["markdown"])
        print(f"wrote {len(result['files'])} files to {a.out} in {result['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help=SUMMARIES["analyze"], add_help=False,
        description="Run a registered analysis (probe.analyses: gradients, clipping, depth, number, diagnose, or "
                    "one a user registered) on trained models, corpora and items, with a size preset; every field "
                    "of the analysis' config is a flag that overrides the preset. `probe analyze NAME --help` "
                    "lists them.")

    def run(a: argparse.Namespace) -> int:
        from probe.analyses.base import AnalysisInputs, describe_models, get_analysis, load_analyses
        from probe.cli.options import add_config_options, apply_options

        if not a.name:
            print(f"usage: probe analyze NAME [options] (NAME --help lists them); NAME: {', '.join(load_analyses())}")
            if a.rest and a.rest[0] in ("-h", "--help"):
                raise SystemExit(0)     # as argparse's own --help does
            return 2
        analysis = get_analysis(a.name)
        q = argparse.ArgumentParser(prog=f"probe analyze {a.name}", description=analysis.title)
        q.add_argument("--model", action="append", default=[], metavar="DIR",
                       help="a trained model (training folder or model.pt); repeat for several")
        q.add_argument("--corpus", action="append", default=[], metavar="DIR",
                       help="the models' corpus folder(s) (`probe corpus`); the attractor rate is read from each")
        q.add_argument("--items", metavar="DIR", help="the benchmark items (`probe build` folder or .jsonl)")
        q.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
        q.add_argument("--preset", choices=tuple(analysis.presets), default="full",
                       help="size preset (default full); the options below override it")
        q.add_argument("--workers", type=_positive_int, default=1, help="training processes (default 1)")
        q.add_argument("--no-progress", action="store_true", help="no progress bars")
        preset = analysis.preset("full")
        names = add_config_options(q.add_argument_group(f"{a.name} options ({analysis.config.__name__})"),
                                   analysis.config, defaults=preset)
        b = q.parse_args(a.rest)
        cfg = apply_options(analysis.preset(b.preset), b, names)
        corpus_dirs = {}
        for folder in b.corpus:
            from probe.analyses.number import read_corpus_config

            corpus_dirs[float(read_corpus_config(folder).get("attractor_rate", 0.0))] = folder
        models = describe_models(b.model) if b.model else []
        inputs = AnalysisInputs(models=tuple(models), corpus_dirs=corpus_dirs, items=b.items, out=b.out,
                                workers=b.workers, progress=not b.no_progress)
        result = analysis.run(inputs, cfg)
        print(result.get("markdown", ""))
        print(f"wrote {len(result.get('files', []))} files to {b.out} in {result.get('seconds', 0):.1f} s")
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``probe`` argument parser (exposed for tests and docs).

    ``only=None``: every command with its one-line summary but none of its options (what ``probe --help``
    shows). ``only=NAME``: that command with all its options. Registering a command's options imports
    its module's constants (some import torch or datasets), so neither pays for the other commands.
    """
    from probe import __version__

    parser = argparse.ArgumentParser(
        prog="probe",
        description="probe: do neural language models learn syntax or word order? Build subject-verb "
                    "agreement minimal pairs, train SRN/GRU/LSTM language models, and score whether they "
                    "agree the verb with the head noun (syntactic) or the nearest noun (sequential).")
    parser.add_argument("--version", action="version", version=f"probe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        name = add.__name__[len("_add_"):]
        if only is None:
            sub.add_parser(name, help=SUMMARIES[name])
        elif name == only:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn ProbeError into a one-line message with exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not sys.stderr.isatty():
        # in a log, Hugging Face datasets' bars are carriage-return noise (read when datasets is imported)
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    names = {add.__name__[len("_add_"):] for add in COMMANDS}
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in names else None)
    if first == "analyze":      # the analysis' own flags are parsed once its name is known
        at = argv.index("analyze") + 1
        args = parser.parse_args(argv[:at])
        rest = argv[at:]
        args.name = rest[0] if rest and not rest[0].startswith("-") else None
        args.rest = rest[1:] if args.name else rest
    else:
        args = parser.parse_args(argv)
    args.argv = argv    # the command as typed, for reports
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ProbeError as exc:
        print(f"probe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probe {args.command}: interrupted; finished outputs are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
