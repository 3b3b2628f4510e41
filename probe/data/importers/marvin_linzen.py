"""Marvin & Linzen (2018) subject-verb agreement pairs -> items."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from probe.core.errors import ProbeError
from probe.data.lexicon import PL, SG
from probe.data.records import condition_code, item_row
from probe.data.importers.common import COPULAS, checked_field, gc_paused, input_files, read_lines, tokenize
from probe.data.importers.registry import Importer, register_importer


_ML_ROLES = {"MS", "MV", "ES", "EV", "IS", "IV", "BS", "LMV"}


_ML_NUMBERS = {"sing": SG, "plur": PL}


_ML_PREPS = {"next", "behind", "in", "near", "to", "across", "from", "by"}


def _second_the(tokens: Sequence[str]) -> int:
    """Index of the second 'the' (ValueError if there is none)."""
    return tokens.index("the", tokens.index("the") + 1)


def _first_prep(tokens: Sequence[str], v: int) -> int:
    """Index of the first preposition word after the head (position 2 on), before the verb."""
    return next(i for i in range(2, v) if tokens[i] in _ML_PREPS)


# For each test: where the head and the other noun are, given the tokens and the tested verb's index v.
# The templates (Marvin & Linzen 2018, LM_syneval/EMNLP2018/templates) put each noun at the end of a
# 'the (N) N' phrase, so anchors ('that', the second 'the', the preposition) locate them; compound
# nouns ('security guard', 'television show') end at the located token.
_ML_NOUNS: dict[str, Callable[[Sequence[str], int], tuple[int, int | None]]] = {
    "simple_agrmt": lambda t, v: (1, None),
    "vp_coord": lambda t, v: (1, None),
    "long_vp_coord": lambda t, v: (1, None),
    "prep_anim": lambda t, v: (_first_prep(t, v) - 1, v - 1),
    "prep_inanim": lambda t, v: (_first_prep(t, v) - 1, v - 1),
    "subj_rel": lambda t, v: (t.index("that") - 1, v - 1),
    "sent_comp": lambda t, v: (v - 1, _second_the(t) - 2),
    "obj_rel_across_anim": lambda t, v: (t.index("that") - 1, v - 2),
    "obj_rel_across_inanim": lambda t, v: (t.index("that") - 1, v - 2),
    "obj_rel_no_comp_across_anim": lambda t, v: (_second_the(t) - 1, v - 2),
    "obj_rel_no_comp_across_inanim": lambda t, v: (_second_the(t) - 1, v - 2),
    "obj_rel_within_anim": lambda t, v: (v - 1, t.index("that") - 1),
    "obj_rel_within_inanim": lambda t, v: (v - 1, t.index("that") - 1),
    "obj_rel_no_comp_within_anim": lambda t, v: (v - 1, _second_the(t) - 1),
    "obj_rel_no_comp_within_inanim": lambda t, v: (v - 1, _second_the(t) - 1),
}


ML_TESTS = tuple(_ML_NOUNS)


# long_vp_coord ('the author knows many different foreign languages and likes ...') tests the second
# verb; the first VP, one of five fixed phrases in the template, puts its nouns between head and verb.
# Their numbers are fixed by the template (they do not follow the head's): 'knows many different
# foreign languages', 'likes to watch television shows' ('television' is a compound modifier, as
# 'security' in 'security guards'), 'is twenty three years old', 'enjoys playing tennis with
# colleagues', 'writes in a journal every day'.
_ML_LONG_VP_NOUNS = {"languages": PL, "shows": PL, "years": PL, "tennis": SG, "colleagues": PL, "journal": SG,
                     "day": SG}


def decode_ml_condition(test: str, condition: str) -> tuple[str, str | None]:
    """Marvin & Linzen condition code -> (head number, other noun's number or None).

    Codes are groups ``<number>_<ROLE>[_<ROLE>...]``: sing/plur, then the roles that number applies to
    (MS/MV main subject/verb, ES/EV embedded subject/verb, IS/IV inanimate subject/verb, BS the matrix
    subject of sent_comp, LMV long VP). The first group is always the subject of the tested verb (the
    head); a second group is the other noun. Verified on all 126,260 pairs: 'sing_MS_MV_plur_ES' -> head
    sg, attractor pl; 'plur_ES_EV_sing_MS_MV' (within a relative clause) -> head = embedded subject, pl.
    Raises ValueError on an unknown number or role.
    """
    groups: list[str] = []
    for part in condition.split("_"):
        if part in _ML_NUMBERS:
            groups.append(_ML_NUMBERS[part])
        elif part in _ML_ROLES and groups:
            continue
        else:
            raise ValueError(f"unknown part {part!r} in condition {condition!r}")
    if not 1 <= len(groups) <= 2:
        raise ValueError(f"condition {condition!r} names {len(groups)} numbers; expected 1 or 2")
    return groups[0], (groups[1] if len(groups) == 2 else None)


# Marvin & Linzen's files also hold reflexive and NPI tests; those are skipped, not imported.
_ML_SKIP = ("npi", "reflexive")


def _ml_records(path: Path) -> Iterator[tuple[int, str, str, object, str, str]]:
    """(line, test, condition, index, good, bad) from the JSONL(.gz) or the repository's sample TSV."""
    first = next(read_lines(path), (0, ""))[1]
    if first.startswith("test case\t"):
        for n, line in read_lines(path):
            if n == 1 or not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 3 or "--" not in cols[0]:
                raise ProbeError(f"{path} line {n}: field 'test case' must be TEST--CONDITION[--INDEX] followed "
                                 "by two tab-separated sentences")
            test, cond, *rest = cols[0].split("--")
            yield n, test, cond, rest[0] if rest else n - 2, " ".join(tokenize(cols[1])), " ".join(tokenize(cols[2]))
        return
    loads = json.loads
    for n, line in read_lines(path):
        if not line:
            continue
        try:
            rec = loads(line)
            test, cond, good, bad = rec["test"], rec["condition"], rec["sentence_good"], rec["sentence_bad"]
        except ValueError as exc:
            raise ProbeError(f"{path} line {n}: not valid JSON ({str(exc).split(':')[0]})") from None
        except (KeyError, TypeError):
            for name in ("test", "condition", "sentence_good", "sentence_bad"):
                checked_field(rec if isinstance(rec, dict) else {}, name, path, n)
            raise
        if not (type(test) is str and type(cond) is str and type(good) is str and type(bad) is str):
            for name in ("test", "condition", "sentence_good", "sentence_bad"):
                checked_field(rec, name, path, n)
        yield n, test, cond, rec.get("index", n - 1), good, bad


@gc_paused()
def read_marvin_linzen(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Marvin & Linzen (2018) agreement pairs (JSONL, .jsonl.gz, or ``sample_sents.txt``) -> item rows.

    Every pair differs in the tested verb only, so every item supports prefix scoring. Head and other noun
    are located from the test's template (see ``_ML_NOUNS``); their numbers from the condition code.
    long_vp_coord's attractors are the nouns of its first verb phrase (``_ML_LONG_VP_NOUNS``): in 'the
    author knows many different foreign languages and likes ...' the plural 'languages' is the nearest
    noun to the tested verb (condition SP).
    Reflexive and NPI tests in the input are skipped. A plain loop over pairs with per-(test, condition)
    facts cached: 126,260 pairs take a few seconds.
    """
    rows: list[dict] = []
    cells: dict[tuple[str, str], tuple] = {}
    for path in input_files(paths, ("*.jsonl", "*.jsonl.gz"), "Marvin & Linzen"):
        for n, test, cond, index, sg_text, sb_text in _ml_records(path):
            cell = cells.get((test, cond))
            if cell is None:
                if any(k in test for k in _ML_SKIP):
                    continue
                if test not in _ML_NOUNS:
                    raise ProbeError(f"{path} line {n}: field 'test' is {test!r}, not one of the subject-verb "
                                     f"agreement tests {', '.join(ML_TESTS)}")
                try:
                    hn, on = decode_ml_condition(test, cond)
                except ValueError as exc:
                    raise ProbeError(f"{path} line {n}: field 'condition': {exc}") from None
                cell = cells[(test, cond)] = (_ML_NOUNS[test], hn, on, condition_code(hn, [] if on is None else [on]),
                                              "within" in test)
            locate, hn, on, code, within = cell
            good, bad = sg_text.lower().split(), sb_text.lower().split()
            size, v = len(good), 0
            while v < size and v < len(bad) and good[v] == bad[v]:
                v += 1
            if size != len(bad) or v == size or good[v + 1:] != bad[v + 1:]:
                raise ProbeError(f"{path} line {n}: field 'sentence_bad' must differ from 'sentence_good' "
                                 "in exactly one word (the verb)")
            try:
                h, a = locate(good, v)
            except (ValueError, StopIteration):
                h, a = -1, None
            if not (0 <= h < v) or (a is not None and not 0 <= a < size) or (a is None) != (on is None):
                raise ProbeError(f"{path} line {n}: field 'sentence_good' does not fit the template of test "
                                 f"{test!r} (condition {cond!r})")
            verb = good[v]
            nxt = good[v + 1] if v + 1 < size else None
            verb_type = ("copula" if verb in COPULAS else "transitive" if within
                         else "intransitive" if nxt in (None, "and") else "other")
            if test == "long_vp_coord":
                att_idx = [i for i in range(h + 1, v) if good[i] in _ML_LONG_VP_NOUNS]
                if not att_idx:
                    raise ProbeError(f"{path} line {n}: field 'sentence_good' does not fit the template of test "
                                     f"{test!r}: no noun of a known first verb phrase before the verb")
                att_num = [_ML_LONG_VP_NOUNS[good[i]] for i in att_idx]
                row_code = condition_code(hn, att_num)
            else:
                att_idx, att_num, row_code = ([], [], code) if a is None else ([a], [on], code)
            near = max((i for i in att_idx if h < i < v), default=h)
            sentence = " ".join(good)
            source_id = f"{test}/{cond}/{index}"
            rows.append(item_row(
                construction=test, condition=row_code, n_attractors=len(att_idx),
                head=good[h], head_number=hn, head_index=h,
                attractors=[good[i] for i in att_idx], attractor_numbers=att_num,
                attractor_indices=att_idx, nearest_noun=good[near],
                nearest_number=hn if near == h else att_num[att_idx.index(near)], prefix=" ".join(good[:v]),
                verb_good=verb, verb_bad=bad[v], verb_index=v, verb_type=verb_type, sentence_good=sentence,
                sentence_bad=" ".join(bad), distance=v - h - 1, source="marvin-linzen", source_id=source_id))
    return rows


register_importer(Importer(
    name='marvin-linzen', label='Marvin & Linzen 2018',
    read=lambda paths, lex: read_marvin_linzen(paths),
    intro=("Marvin & Linzen (2018) subject-verb agreement pairs; construction = test, condition "
                     "decoded from the test's code (kept in source_id = test/condition/index).")))
