"""The ``probe`` command: option parsing only; each subcommand calls one importable function."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from probe.cli import data_commands, model_commands, analysis_commands  # isort: skip (pipeline order = help order)
from probe.analyses import BUILTIN
from probe.cli.common import COMMANDS, SUMMARIES
from probe.core.errors import ProbeError, os_error_message

# importing the command modules registers their commands, in this order
COMMAND_MODULES = (data_commands, model_commands, analysis_commands)


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
    """Entry point: parse, dispatch, and turn ProbeError or OSError into a one-line message with exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not sys.stderr.isatty():
        # in a log, Hugging Face datasets' bars are carriage-return noise (read when datasets is imported)
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    names = {add.__name__[len("_add_"):] for add in COMMANDS}
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in names else None)
    if first == "analyze" or first in BUILTIN:      # an analysis' own flags are parsed once its name is known
        at = argv.index(first) + 1
        args = parser.parse_args(argv[:at])
        rest = argv[at:]
        if first == "analyze":
            args.name = rest[0] if rest and not rest[0].startswith("-") else None
            rest = rest[1:] if args.name else rest
        args.rest = rest
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
    except OSError as exc:      # a path that cannot be written or read (every command's outputs are atomic)
        print(f"probe {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probe {args.command}: interrupted; finished outputs are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
