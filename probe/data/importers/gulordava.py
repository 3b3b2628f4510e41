"""Gulordava et al. (2018) agreement pairs (original and 'colorless green' generated sentences) -> items."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable

from probe.core.errors import ProbeError
from probe.data.lexicon import PL, SG
from probe.data.records import condition_code, item_row
from probe.data.importers.common import COPULAS, checked_field, gc_paused, input_files, open_text, other_number
from probe.data.importers.registry import Importer, register_importer


_GULORDAVA_REQUIRED = ("class", "type", "n_attr", "len_context", "len_prefix", "prefix", "sent", "form",
                       "correct_number", "constr_id", "sent_id")


_GULORDAVA_NUMBER = {"sing": SG, "plur": PL}


@gc_paused()
def read_gulordava(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Gulordava et al. (2018) ``.tab`` files (two rows per item: class correct, then wrong) -> item rows.

    Columns (tab-separated, csv-quoted): pattern (or pattern_id), constr_id, sent_id, correct_number
    (sing/plur), form, class (correct/wrong), type (original/generated), prefix, n_attr, punct, freq,
    len_context, len_prefix, sent. The two rows of a pair are adjacent and share pattern, constr_id,
    sent_id and prefix. The target sits at token ``len_prefix``; its controller (the head: a noun, or
    the first verb of a VP coordination) at ``len_prefix - len_context``. ``sent`` keeps the original
    word at the target, so sentences are rebuilt as prefix + form + the rest; the prefix is the first
    ``len_prefix`` words of ``sent``, not the ``prefix`` column, which has the source's out-of-vocabulary
    words replaced by ``<unk>`` ('<unk> I do n't begin ...' for 'Whie I do n't begin ...'), so that
    probe's own vocabulary decides what is unknown. ``nonce`` = generated.
    """
    rows: list[dict] = []
    for path in input_files(paths, ("*.tab",), "Gulordava .tab"):
        with open_text(path) as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            header = reader.fieldnames or []
            pattern_col = "pattern" if "pattern" in header else "pattern_id"
            for col in (pattern_col, *_GULORDAVA_REQUIRED):
                if col not in header:
                    raise ProbeError(f"{path} line 1: field {col!r} is missing from the header")
            pending: tuple[int, dict] | None = None
            for rec in reader:
                n = reader.line_num
                if None in rec or any(v is None for v in rec.values()):
                    raise ProbeError(f"{path} line {n}: expected {len(header)} tab-separated fields")
                if rec["class"] not in ("correct", "wrong"):
                    raise ProbeError(f"{path} line {n}: field 'class' must be correct or wrong, got {rec['class']!r}")
                if pending is None:
                    if rec["class"] != "correct":
                        raise ProbeError(f"{path} line {n}: field 'class' is 'wrong' with no 'correct' row before it")
                    pending = (n, rec)
                    continue
                n0, good = pending
                pending = None
                key = (pattern_col, "constr_id", "sent_id", "prefix")
                if rec["class"] != "wrong" or any(rec[k] != good[k] for k in key):
                    raise ProbeError(f"{path} line {n}: field 'class' must be the 'wrong' row of the pair "
                                     f"started on line {n0} (same {', '.join(key)})")
                rows.append(_gulordava_row(path, n0, good, rec, pattern_col))
            if pending is not None:
                raise ProbeError(f"{path} line {pending[0]}: field 'class': the 'correct' row has no 'wrong' row")
    return rows


def _gulordava_row(path: Path, n: int, good: dict, bad: dict, pattern_col: str) -> dict:
    number = _GULORDAVA_NUMBER.get(good["correct_number"])
    if number is None:
        raise ProbeError(f"{path} line {n}: field 'correct_number' must be sing or plur, "
                         f"got {good['correct_number']!r}")
    n_attr = checked_field(good, "n_attr", path, n, int)
    len_prefix = checked_field(good, "len_prefix", path, n, int)
    len_context = checked_field(good, "len_context", path, n, int)
    given = good["prefix"].lower().split()
    if len(given) != len_prefix:
        raise ProbeError(f"{path} line {n}: field 'len_prefix' is {len_prefix} but the prefix has {len(given)} words")
    if not 0 < len_context <= len_prefix:
        raise ProbeError(f"{path} line {n}: field 'len_context' ({len_context}) must be 1..len_prefix")
    sent = good["sent"].lower().split()
    if sent and sent[-1] == "<eos>":
        sent.pop()
    # The prefix column has the source model's out-of-vocabulary words replaced by <unk>: the prefix is
    # rebuilt from the sentence's own words, so probe's vocabulary checks see (and can exclude) them.
    prefix = sent[:len_prefix]
    if len(sent) <= len_prefix or any(g != w and g != "<unk>" for g, w in zip(given, prefix)):
        raise ProbeError(f"{path} line {n}: field 'sent' does not start with the words of field 'prefix' "
                         "(<unk> standing for any word)")
    verb_good, verb_bad = good["form"].lower().strip(), bad["form"].lower().strip()
    if not verb_good or not verb_bad or " " in verb_good or " " in verb_bad:
        raise ProbeError(f"{path} line {n}: field 'form' must be one word in both rows")
    rest = sent[len_prefix + 1:]
    h = len_prefix - len_context
    return item_row(
        construction=good[pattern_col], condition=condition_code(number, [other_number(number)] * n_attr),
        n_attractors=n_attr, attractor_numbers=[other_number(number)] * n_attr,
        head=prefix[h], head_number=number, head_index=h, prefix=" ".join(prefix),
        verb_good=verb_good, verb_bad=verb_bad, verb_index=len_prefix,
        verb_type="copula" if verb_good in COPULAS else "other",
        sentence_good=" ".join(prefix + [verb_good] + rest), sentence_bad=" ".join(prefix + [verb_bad] + rest),
        distance=len_context - 1, nonce=good["type"] == "generated", source="gulordava",
        source_id=f"{good[pattern_col]}/{good['constr_id']}/{good['sent_id']}")


register_importer(Importer(
    name='gulordava', label='Gulordava et al. 2018',
    read=lambda paths, lex: read_gulordava(paths),
    intro=("Gulordava et al. (2018) agreement pairs (original and generated 'colorless green' "
                 "sentences; nonce = generated); construction = pattern, source_id = pattern/constr_id/sent_id.")))
