"""Importers: BLiMP, Marvin & Linzen 2018, SyntaxGym, Linzen et al. 2016, Gulordava et al. 2018 files and natural text -> items.

Every importer turns a published test set into rows of probe's item schema (``records.ITEM_FEATURES``), so
the same scorer, metrics and plots apply. Conventions shared by all formats:

- Tokens are lower case and space-separated. Raw sentences (BLiMP, SyntaxGym) go through :func:`tokenize`:
  PTB-style clitics (``hasn't`` -> ``has n't``, ``can't`` -> ``ca n't``, ``Craig's`` -> ``craig 's``),
  punctuation split off as tokens, hyphenated words kept whole, sentence-final ``. ! ?`` dropped (probe's
  own items and Marvin & Linzen's have no final punctuation). Already tokenized sets (Marvin & Linzen,
  Linzen, Gulordava) are only split on spaces and lower-cased.
- ``construction`` is the source's paradigm (BLiMP UID, M&L test, SyntaxGym suite name, Gulordava pattern;
  'linzen' for Linzen's files); ``condition`` is probe's S/P code (head first, then attractors), decoded
  from the source's labels where they say it; the source's own label and id are kept in ``source_id``
  (e.g. ``prep_anim/sing_MS_MV_plur_ES/17``) and ``source`` is the format name.
- A pair supports prefix scoring (log P(verb_good | prefix) vs log P(verb_bad | prefix)) only when the two
  sentences differ in exactly one token and the difference is decisive at that token; then ``prefix``,
  ``verb_good``, ``verb_bad`` and ``verb_index`` are set. Otherwise ``verb_good = verb_bad = ''``,
  ``prefix = ''``, ``verb_index = -1``: such items support only the whole-sentence method.
- Unknown facts are ``''`` (strings), ``-1`` (integers, including ``n_attractors`` when the number of
  attractors is unknown) and ``[]`` (lists); every imported item is in split ``test``.
- ``n_attractors`` for natural-text sets (Linzen, Gulordava) follows Linzen et al. (2016): intervening
  nouns of the other number than the head. Linzen's full TSV items that also have an intervening noun
  of the head's number are not clean k-attractor items (Linzen et al. left them out of their per-k
  curves): they get construction ``linzen_mixed`` instead of ``linzen``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from probe.core.config import config_to_dict
from probe.core.errors import ProbeError
from probe.core.io import check_output_dir
from probe.data.importers.common import gc_paused
from probe.data.importers.registry import IMPORTERS, Importer, get_importer, register_importer
from probe.data.importers import blimp, gulordava, linzen, marvin_linzen, natural, syntaxgym
from probe.data.items import write_item_folder
from probe.data.lexicon import load_lexicon

# the built-in formats register themselves when imported
BUILTIN_FORMATS = (blimp, marvin_linzen, syntaxgym, linzen, gulordava, natural)

__all__ = ["IMPORTERS", "Importer", "ImportConfig", "formats", "get_importer", "import_dataset", "import_items",
           "register_importer"]


def formats() -> tuple[str, ...]:
    """The registered import formats (the built-in ones, then any added with ``register_importer``)."""
    return tuple(IMPORTERS)


@dataclass(frozen=True)
class ImportConfig:
    """Options of ``probe import``."""

    format: str = "blimp"            # a registered format (see formats())
    paths: tuple[str, ...] = ()      # input files, or folders whose matching files are all read
    lexicon: str | None = None       # lexicon TSV for number look-ups and verb inflection; None -> the shipped one


def import_items(fmt: str, paths: Sequence[str | os.PathLike], *, lexicon: str | None = None) -> list[dict]:
    """Read ``paths`` in format ``fmt`` and return item rows (ITEM_FEATURES schema)."""
    return get_importer(fmt).read(paths, load_lexicon(lexicon))


def import_dataset(cfg: ImportConfig, out: str | os.PathLike, *, overwrite: bool = False) -> str:
    """Run ``probe import``: read the inputs, write an item folder like ``probe build``'s; return a summary.

    The folder holds ``items.jsonl``, ``README.md`` (a dataset card, so ``datasets.load_dataset`` reads the
    folder, with counts per construction x condition), ``arrow/`` (``datasets.load_from_disk``) and
    ``config.json``; nothing is written on error.
    """
    check_output_dir(out, overwrite)
    t0 = time.perf_counter()
    rows = import_items(cfg.format, cfg.paths, lexicon=cfg.lexicon)
    if not rows:
        raise ProbeError(f"no items found in {', '.join(map(str, cfg.paths))}")
    n_prefix = sum(1 for r in rows if r["verb_good"])
    intro = (f"{get_importer(cfg.format).intro} Imported by `probe import {cfg.format}` from "
             f"{', '.join(str(p) for p in cfg.paths)}. {n_prefix} of {len(rows)} items support prefix scoring "
             "(verb_good/verb_bad set); the others have verb_good = verb_bad = '' and support only the "
             "whole-sentence method. Tokens: lower case, PTB-style clitics (has n't), sentence-final "
             "punctuation dropped. Unknown fields are '' / -1 / [].")
    resolved = {**config_to_dict(cfg), "paths": [str(Path(p).resolve()) for p in cfg.paths],
                "n_items": len(rows), "n_prefix_scorable": n_prefix}
    with gc_paused():
        write_item_folder(rows, out, config=resolved, card_title=f"{cfg.format} items imported into probe",
                          card_intro=intro, overwrite=overwrite)
    secs = time.perf_counter() - t0
    return (f"imported {len(rows)} items ({n_prefix} prefix-scorable) from {cfg.format} into {out} "
            f"({secs:.1f} s)")
