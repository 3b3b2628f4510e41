"""BLiMP (Warstadt et al. 2020) agreement paradigms -> items."""
from __future__ import annotations

import os
import re
from typing import Callable, Iterable, Mapping, Sequence

from probe.core.errors import ProbeError
from probe.data.lexicon import PL, SG
from probe.data.records import condition_code, item_row
from probe.data.importers.common import (
    CLOSED_NUMBER, COPULAS, checked_field, condition_or_blank, gc_paused, input_files, is_s_form, json_lines,
    other_number, single_diff, tokenize
)
from probe.data.importers.registry import Importer, register_importer


# Agreement paradigms with no noun between the agreeing words (n_attractors = 0). The distractor
# paradigms get theirs from _blimp_attractor_fields; other paradigms get -1.
_BLIMP_NO_ATTRACTOR = {
    "regular_plural_subject_verb_agreement_1", "regular_plural_subject_verb_agreement_2",
    "irregular_plural_subject_verb_agreement_1", "irregular_plural_subject_verb_agreement_2",
    "determiner_noun_agreement_1", "determiner_noun_agreement_2", "determiner_noun_agreement_irregular_1",
    "determiner_noun_agreement_irregular_2", "determiner_noun_agreement_with_adjective_1",
    "determiner_noun_agreement_with_adj_2", "determiner_noun_agreement_with_adj_irregular_1",
    "determiner_noun_agreement_with_adj_irregular_2", "anaphor_number_agreement",
}


def _blimp_head_number(rec: dict, good: list[str], bad: list[str], i: int, noun_numbers: Mapping,
                       verb_numbers: Mapping) -> str:
    """Best-effort number of the controller (subject / determiner / antecedent) in the good sentence.

    The differing word is looked up in the word class it belongs to: one-prefix subject-verb pairs differ
    at the verb, two-prefix pairs at the subject noun. (One merged noun+verb table read the verb pair
    judge/judges as the noun's sg/pl and gave 'The sisters of Timothy judge Randolf' a singular head.)
    """
    if i < 0:
        return ""
    g, b = good[i], bad[i]
    if g in CLOSED_NUMBER and b in CLOSED_NUMBER:
        return CLOSED_NUMBER[g]
    term = rec.get("linguistics_term", "")
    if term == "determiner_noun_agreement":
        dets = [t for t in good[:i] if t in CLOSED_NUMBER]
        return CLOSED_NUMBER[dets[-1]] if dets else ""
    if term != "subject_verb_agreement":
        return ""
    at_verb = bool(rec.get("one_prefix_method"))
    numbers = verb_numbers if at_verb else noun_numbers
    if g in numbers and b in numbers:
        return numbers[g]
    s = is_s_form(g, b)
    if s is None:
        return ""
    # the -s form is the singular of a verb and the plural of a noun
    return (SG if s else PL) if at_verb else (PL if s else SG)


# Distractor paradigms: where the head is, given the tokens and the verb's index v (-1: no fit). BLiMP's
# generators (github.com/alexwarstadt/data_generation, generation_projects/blimp/distractor_agreement_
# relational_noun.py and distractor_agreement_rc.py) write 'D N (of|about) DP V ...' and 'DP (who|that)
# [AUX] V_emb DP V ...': the head is the noun before the first of/about resp. who/that (compound nouns
# such as 'newspaper article' end there), the distractor DP ends right before the verb, and its noun is
# always drawn from the nouns of the other number than the head's ('if subj["pl"] == "1": ... from
# all_singular_nouns else ... all_plural_nouns').
_BLIMP_DISTRACTOR_HEAD: dict[str, Callable[[Sequence[str], int], int]] = {
    "distractor_agreement_relational_noun":
        lambda t, v: next((i - 1 for i in range(2, v) if t[i] in ("of", "about")), -1),
    "distractor_agreement_relative_clause":
        lambda t, v: next((i - 1 for i in range(1, v) if t[i] in ("who", "that")), -1),
}


def _blimp_attractor_fields(uid: str, good: list[str], v: int, head_number: str) -> dict:
    """Head, attractor and nearest-noun fields of a distractor-paradigm item ({} where they are unknown)."""
    locate = _BLIMP_DISTRACTOR_HEAD.get(uid)
    if locate is None or v < 0 or not head_number:
        return {}
    h, a = locate(good, v), v - 1
    if not 0 <= h < a - 1:
        return {}
    attractor_number = other_number(head_number)
    return {"head": good[h], "head_index": h, "attractors": [good[a]], "attractor_numbers": [attractor_number],
            "attractor_indices": [a], "nearest_noun": good[a], "nearest_number": attractor_number,
            "condition": condition_code(head_number, [attractor_number]), "n_attractors": 1,
            "distance": v - h - 1}


_CONDITION = re.compile(r"^[SP]+$")
_NUMBERS = (SG, PL)


def _list_field(rec: Mapping, name: str, path, line: int, kind: type, allowed: tuple = ()) -> list:
    """``rec[name]`` checked to be a list of ``kind`` (and of ``allowed`` values when given)."""
    value = rec[name]
    if not isinstance(value, list) or any(not isinstance(v, kind) or isinstance(v, bool) or
                                          (allowed and v not in allowed) for v in value):
        what = " or ".join(map(repr, allowed)) if allowed else kind.__name__
        raise ProbeError(f"{path} line {line}: field {name!r} must be a list of {what}, got {value!r}")
    return value


def _number(rec: Mapping, name: str, path, line: int) -> str:
    if rec[name] not in _NUMBERS:
        raise ProbeError(f"{path} line {line}: field {name!r} must be 'sg' or 'pl', got {rec[name]!r}")
    return rec[name]


def _explicit_fields(rec: Mapping, path, line: int, verb_index: int) -> dict:
    """The item fields a record states itself (probe's names: condition, n_attractors, attractor_numbers, ...),
    checked against each other; {} when it states none. See :func:`read_blimp`."""
    out: dict = {}
    code = rec.get("condition")
    if code not in (None, ""):
        if not isinstance(code, str) or not _CONDITION.match(code):
            raise ProbeError(f"{path} line {line}: field 'condition' must be S/P letters, head first (e.g. SP), "
                             f"got {code!r}")
        numbers = [SG if c == "S" else PL for c in code]
        out.update(condition=code, head_number=numbers[0], attractor_numbers=numbers[1:],
                   n_attractors=len(numbers) - 1)
    if "head_number" in rec and rec["head_number"] != "":
        hn = _number(rec, "head_number", path, line)
        if "condition" in out and hn != out["head_number"]:
            raise ProbeError(f"{path} line {line}: field 'head_number' ({hn}) disagrees with field 'condition' "
                             f"{code!r}")
        out["head_number"] = hn
    if "attractor_numbers" in rec:
        atts = _list_field(rec, "attractor_numbers", path, line, str, _NUMBERS)
        if "condition" in out and atts != out["attractor_numbers"]:
            raise ProbeError(f"{path} line {line}: field 'attractor_numbers' {atts} disagrees with field 'condition' "
                             f"{code!r}")
        out["attractor_numbers"] = atts
    if "n_attractors" in rec:
        k = checked_field(rec, "n_attractors", path, line, int)
        if "attractor_numbers" in out and k != len(out["attractor_numbers"]):
            raise ProbeError(f"{path} line {line}: field 'n_attractors' ({k}) disagrees with the "
                             f"{len(out['attractor_numbers'])} attractors of field 'condition'/'attractor_numbers'")
        out["n_attractors"] = k
    for name in ("head", "nearest_noun"):
        if name in rec:
            out[name] = checked_field(rec, name, path, line)
    for name in ("head_index", "distance"):
        if name in rec:
            out[name] = checked_field(rec, name, path, line, int)
    if "attractors" in rec:
        out["attractors"] = _list_field(rec, "attractors", path, line, str)
    if "attractor_indices" in rec:
        out["attractor_indices"] = _list_field(rec, "attractor_indices", path, line, int)
    if "nearest_number" in rec and rec["nearest_number"] != "":
        out["nearest_number"] = _number(rec, "nearest_number", path, line)
    elif "attractor_numbers" in out and "head_number" in out:
        out["nearest_number"] = _nearest_number(out, verb_index)
    if "head_number" in out and "condition" not in out and "attractor_numbers" in out:
        out["condition"] = condition_code(out["head_number"], out["attractor_numbers"])
    return out


def _nearest_number(fields: Mapping, verb_index: int) -> str:
    """The number of the noun nearest before the verb: from the head's and attractors' positions when the record
    gives them, else the last attractor's (attractors between head and verb, the usual layout), else the head's."""
    atts, hn = fields["attractor_numbers"], fields["head_number"]
    idx, h = fields.get("attractor_indices"), fields.get("head_index", -1)
    if idx is not None and len(idx) == len(atts) and h >= 0 and verb_index >= 0:
        before = [(i, n) for i, n in [(h, hn), *zip(idx, atts)] if i < verb_index]
        return max(before)[1] if before else ""
    return atts[-1] if atts else hn


@gc_paused()
def read_blimp(paths: Iterable[str | os.PathLike], *, noun_numbers: Mapping | None = None,
               verb_numbers: Mapping | None = None) -> list[dict]:
    """BLiMP paradigm files (JSON lines; folders: every ``*.jsonl`` except ``*summary.jsonl``) -> item rows.

    Prefix-scorable when BLiMP's ``one_prefix_method`` is true and the tokenized sentences differ in one
    token (``hasn't``/``haven't`` -> ``has``/``have``; ``grocery store``/``grocery stores`` -> ``store``/
    ``stores``). Two-prefix paradigms (the difference is decided by a later word) are sentence-only.
    ``noun_numbers``/``verb_numbers``: extra word -> 'sg'|'pl' look-ups (probe's lexicon) for the
    head-number guess, each used only where the differing word is of that class.

    The distractor paradigms (``distractor_agreement_relational_noun``: 'a niece of most senators
    has'; ``distractor_agreement_relative_clause``: 'this customer who had visited most children has')
    get the head, its one attractor (the distractor, always of the other number: see
    ``_BLIMP_DISTRACTOR_HEAD``), which is also the nearest noun, the condition code and n_attractors = 1.
    Where the head number cannot be told, these stay unknown ('' / [] / -1).

    A file of one's own in this format may state the item's facts in probe's field names; stated facts
    replace the guessed ones: ``condition`` (S/P letters, head first: it sets ``head_number``,
    ``attractor_numbers`` and ``n_attractors``), ``head_number``, ``attractor_numbers``, ``n_attractors``,
    ``head``, ``head_index``, ``attractors``, ``attractor_indices``, ``nearest_noun``, ``nearest_number``,
    ``distance``; facts that disagree with each other are an error naming the line. The nearest noun's
    number, which decides the item class, is ``nearest_number`` when given, else read from
    ``head_index``/``attractor_indices`` and the verb's position when given, else the last attractor's
    (attractors standing between head and verb, as in 'the key to the cabinets'; a file whose attractors
    precede the head states ``nearest_number``).
    """
    noun_numbers, verb_numbers = noun_numbers or {}, verb_numbers or {}
    rows: list[dict] = []
    for path in input_files(paths, ("*.jsonl",), "BLiMP .jsonl"):
        if path.name.endswith("summary.jsonl"):
            continue
        for n, rec in json_lines(path):
            sg_text = checked_field(rec, "sentence_good", path, n)
            sb_text = checked_field(rec, "sentence_bad", path, n)
            uid = checked_field(rec, "UID", path, n)
            if not isinstance(rec.get("pairID"), (str, int)):
                raise ProbeError(f"{path} line {n}: field 'pairID' is missing or not a string")
            pair_id = str(rec["pairID"])
            good, bad = tokenize(sg_text), tokenize(sb_text)
            if not good or not bad:
                raise ProbeError(f"{path} line {n}: field 'sentence_good'/'sentence_bad' has no words")
            i = single_diff(good, bad)
            prefix_ok = i >= 0 and bool(rec.get("one_prefix_method", True))
            head_number = _blimp_head_number(rec, good, bad, i, noun_numbers, verb_numbers)
            n_attr = 0 if uid in _BLIMP_NO_ATTRACTOR else -1
            fields = {"head_number": head_number,
                      "condition": condition_or_blank(head_number, []) if n_attr == 0 else "", "n_attractors": n_attr,
                      **_blimp_attractor_fields(uid, good, i if prefix_ok else -1, head_number),
                      **_explicit_fields(rec, path, n, i if prefix_ok else -1)}
            rows.append(item_row(
                construction=uid, **fields,
                prefix=" ".join(good[:i]) if prefix_ok else "",
                verb_good=good[i] if prefix_ok else "", verb_bad=bad[i] if prefix_ok else "",
                verb_index=i if prefix_ok else -1,
                verb_type="copula" if prefix_ok and good[i] in COPULAS else "other",
                sentence_good=" ".join(good), sentence_bad=" ".join(bad),
                source="blimp", source_id=f"{uid}/{pair_id}"))
    return rows


register_importer(Importer(
    name='blimp', label='BLiMP',
    read=lambda paths, lex: read_blimp(paths, noun_numbers=lex.noun_number, verb_numbers=lex.verb_number),
    intro=("BLiMP (Warstadt et al. 2020) minimal pairs; construction = UID, source_id = UID/pairID. "
             "Prefix-scorable where BLiMP's one_prefix_method holds and the tokenized pair differs in one token. "
             "Facts a file states in probe's field names (condition, attractor_numbers, nearest_number, ...) "
             "replace the guessed ones.")))
