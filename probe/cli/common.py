"""What every command module shares: the command registry with each command's one-line summary, argument types."""
from __future__ import annotations

import argparse
from typing import Callable

class Parser(argparse.ArgumentParser):
    """The parser of every probe command: a flag must be typed in full (argparse's prefix matching would let
    ``--obj number`` pass the scans that pick a command's parser from the raw arguments, and train the wrong
    model)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


# Each subcommand is registered by one small `_add_<name>` function that declares its options and
# sets `func`, the thin wrapper that turns the parsed options into a call of a library function.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []
# One line per command, shown by `probe --help`: declared with the command, so that listing them imports none
# of the commands' modules (torch, datasets), which registering a command's options does.
_SUMMARIES: dict[str, str] = {}


def command(summary: str) -> Callable:
    """Register the decorated ``_add_<name>`` function as the command NAME, with its one-line ``summary``."""
    def register(fn: Callable[[argparse._SubParsersAction], None]) -> Callable:
        COMMANDS.append(fn)
        _SUMMARIES[fn.__name__[len("_add_"):]] = summary
        return fn

    return register


def summary_of(name: str) -> str:
    """The one-line summary of command ``name``."""
    return _SUMMARIES[name]


def int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, refused with "expected <what>, got ..." otherwise (for the few
    options that belong to no config dataclass)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    parse.__name__ = what.replace(" ", "_")     # argparse names the type in its messages
    return parse


positive_int = int_at_least(1, "a positive integer")
nonneg_int = int_at_least(0, "a non-negative integer")
