"""The importer registry: a published test set's format name -> how to read its files into item rows."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

from probe.core.registry import Registry
from probe.data.lexicon import Lexicon


@dataclass(frozen=True)
class Importer:
    """One input format: ``read(paths, lexicon)`` -> item rows (``records.ITEM_FEATURES``, each built with
    ``probe.data.records.item_row``); ``intro`` opens the dataset card of the imported folder (what the
    items are, which fields mean what); ``label`` names the test set in reports (default: the format's name)."""

    name: str
    read: Callable[[Sequence[str | os.PathLike], Lexicon], list[dict]]
    intro: str
    label: str = ""

    @property
    def title(self) -> str:
        """What reports call the imported set."""
        return self.label or self.name


IMPORTERS: Registry[Importer] = Registry("import format",
                                         how="probe.data.importers.register_importer adds one")


def register_importer(importer: Importer) -> Importer:
    """Add a format (``probe import NAME`` then reads it); a name may be registered once."""
    return IMPORTERS.register(importer.name, importer)


def get_importer(name: str) -> Importer:
    """The importer for ``name``; an unknown one is a ProbeError listing the formats."""
    return IMPORTERS[name]
