"""What every command module shares: the command registry, the one-line summaries, argument types."""
from __future__ import annotations

import argparse
from typing import Callable



# Each subcommand is registered by one small `_add_<name>` function that declares its options and
# sets `func`, the thin wrapper that turns the parsed options into a call of a library function.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(fn: Callable[[argparse._SubParsersAction], None]) -> Callable:
    COMMANDS.append(fn)
    return fn


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, refused with "expected <what>, got ..." otherwise."""
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


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, "a non-negative integer")


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
    "export": "write an item dataset as another harness' tasks (lm-evaluation-harness)",
    "rates": "measure real text's attractor rate (subject-verb spans holding a noun of the other number)",
    "run": "the one-command benchmark: build, corpora, train, baselines, evaluate, plot, report",
    "number": "number prediction (Linzen et al. 2016): uni/bidirectional classifiers vs the LM objective",
    "diagnose": "diagnostic classifiers for the head's number in hidden states; number-unit ablation",
    "gradients": "vanishing gradients by distance per cell, at init and trained",
    "clipping": "exploding gradients: train at a large learning rate, clipping off and on",
    "depth": "stacked models with and without skip connections: accuracy and gradient decay by depth",
    "suite": "evaluate SyntaxGym suites' own prediction formulas with models",
    "analyze": "run any registered analysis (flags from its config dataclass): probe analyze NAME --help",
}
