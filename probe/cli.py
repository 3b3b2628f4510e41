"""The ``probe`` command: option parsing only; each subcommand calls one importable function."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .config import ProbeError

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


@command
def _add_build(sub: argparse._SubParsersAction) -> None:
    from .build import CONSTRUCTIONS, DEFAULT_OUT

    p = sub.add_parser(
        "build", help="build the agreement minimal-pair dataset",
        description="Build subject-verb agreement minimal pairs with attractors. Writes DIR as a Hugging Face "
                    "dataset (datasets.load_from_disk works), DIR/items.jsonl, DIR/README.md (dataset card) "
                    "and DIR/config.json. With no options: the default benchmark in data/agreement/.")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
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
        from .build import BuildConfig, build_dataset

        cfg = BuildConfig(
            seed=a.seed, per_condition=a.per_condition, size=a.size,
            constructions=tuple(a.constructions) if a.constructions else BuildConfig.constructions,
            max_attractors=a.max_attractors, nonce=a.nonce,
            splits=tuple(a.splits) if a.splits else BuildConfig.splits, lexicon=a.lexicon)
        summary = build_dataset(cfg, out=a.out, overwrite=a.overwrite)
        print(summary)
        return 0

    p.set_defaults(func=run)


@command
def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="re-check every item of a dataset, independently of the generator",
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
        from .validate import validate_dataset

        report = validate_dataset(a.data, lexicon=a.lexicon, parser=a.parser, parse_sample=a.parse_sample)
        print(report.render())
        return 0 if report.ok else 1

    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    """The full ``probe`` argument parser (exposed for tests and docs)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="probe",
        description="probe: do neural language models learn syntax or word order? Build subject-verb "
                    "agreement minimal pairs, train SRN/GRU/LSTM language models, and score whether they "
                    "agree the verb with the head noun (syntactic) or the nearest noun (sequential).")
    parser.add_argument("--version", action="version", version=f"probe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn ProbeError into a one-line message with exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
