"""The ``probe`` command: option parsing only; each subcommand calls one importable function."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from probe.cli import data_commands, model_commands, analysis_commands  # isort: skip (pipeline order = help order)
from probe.cli.common import COMMANDS, Parser, summary_of
from probe.cli.analysis_commands import ALIASES
from probe.cli.model_commands import objective_of, train_number_command
from probe.core.errors import ProbeError, os_error_message
from probe.core.plugins import ENTRY_POINT_GROUP, load_plugins

# importing the command modules registers their commands, in this order
COMMAND_MODULES = (data_commands, model_commands, analysis_commands)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``probe`` argument parser (exposed for tests and docs).

    ``only=None``: every command with its one-line summary but none of its options (what ``probe --help``
    shows). ``only=NAME``: that command with all its options. Registering a command's options imports
    its module's constants (some import torch or datasets), so neither pays for the other commands.
    """
    from probe import __version__

    parser = Parser(
        prog="probe",
        description="probe: do neural language models learn syntax or word order? Build subject-verb "
                    "agreement minimal pairs, train SRN/GRU/LSTM language models, and score whether they "
                    "agree the verb with the head noun (syntactic) or the nearest noun (sequential).")
    parser.add_argument("--version", action="version", version=f"probe {__version__}")
    parser.add_argument("--code", action="append", default=[], metavar="FILE",
                        help="a Python file registering cells, scorers, constructions, importers or analyses, "
                             "loaded before the command (repeatable); installed packages declare theirs in the "
                             f"'{ENTRY_POINT_GROUP}' entry-point group")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        name = add.__name__[len("_add_"):]
        if only is None:
            sub.add_parser(name, help=summary_of(name))
        elif name == only:
            add(sub)
    return parser


def split_code(argv: list[str]) -> tuple[list[str], list[str]]:
    """(files of the ``--code FILE`` options before the command, the arguments without them)."""
    code, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--code" and i + 1 < len(argv):
            code.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--code="):
            code.append(arg.split("=", 1)[1])
        elif not arg.startswith("-"):      # the command: what follows is its own
            return code, rest + argv[i:]
        else:
            rest.append(arg)
        i += 1
    return code, rest


def parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the parsed arguments of ``argv`` (``--code`` options removed). Commands whose options are
    known only once a name is (``probe analyze NAME``, ``probe train --objective number``) get the rest of the
    line in ``rest`` and parse it themselves."""
    names = {add.__name__[len("_add_"):] for add in COMMANDS}
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in names else None)
    own_options = first == "analyze" or first in ALIASES or (first == "train" and objective_of(argv) == "number")
    if not own_options:
        return parser, parser.parse_args(argv)
    at = argv.index(first) + 1
    rest = argv[at:]
    if first == "train":      # the language model's parser would ask for its own options
        return parser, argparse.Namespace(command="train", func=lambda a: train_number_command(a.rest), rest=rest)
    args = parser.parse_args(argv[:at])
    if first == "analyze":
        args.name = rest[0] if rest and not rest[0].startswith("-") else None
        rest = rest[1:] if args.name else rest
    args.rest = rest
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: load user components, parse, dispatch, and turn ProbeError or OSError into a one-line message
    with exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not sys.stderr.isatty():
        # in a log, Hugging Face datasets' bars are carriage-return noise (read when datasets is imported)
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    code, argv = split_code(argv)
    try:
        load_plugins(code)       # before the parser is built: registered names become choices and commands
    except ProbeError as exc:
        print(f"probe: error: {exc}", file=sys.stderr)
        return 2
    parser, args = parse(argv)
    args.argv = argv    # the command as typed, for reports
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ProbeError as exc:
        print(f"probe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:      # a path that cannot be written or read (every command's outputs are atomic)
        print(f"probe {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probe {args.command}: interrupted; finished outputs are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
