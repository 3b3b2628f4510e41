"""The importer registry: a published test set's format name -> how to read its files into item rows."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

from probe.core.errors import ProbeError
from probe.data.lexicon import Lexicon


@dataclass(frozen=True)
class Importer:
    """One input format: ``read(paths, lexicon)`` -> item rows (``records.ITEM_FEATURES``); ``intro`` opens the
    dataset card of the imported folder (what the items are, which fields mean what)."""

    name: str
    read: Callable[[Sequence[str | os.PathLike], Lexicon], list[dict]]
    intro: str


IMPORTERS: dict[str, Importer] = {}


def register_importer(importer: Importer) -> Importer:
    """Add a format (``probe import NAME`` then reads it); a name may be registered once."""
    if importer.name in IMPORTERS:
        raise ProbeError(f"an importer for {importer.name!r} is registered already")
    IMPORTERS[importer.name] = importer
    return importer


def get_importer(name: str) -> Importer:
    """The importer for ``name``; an unknown one is a ProbeError listing the formats."""
    if name not in IMPORTERS:
        raise ProbeError(f"unknown import format {name!r}; choose from {', '.join(IMPORTERS)}")
    return IMPORTERS[name]
