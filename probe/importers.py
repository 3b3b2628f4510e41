"""Importers: BLiMP, Marvin & Linzen 2018, SyntaxGym, Linzen et al. 2016 and Gulordava et al. 2018 files -> items.

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

import contextlib
import csv
import gc
import gzip
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from probe.core.errors import ProbeError
from probe.core.config import config_to_dict
from .lexicon import PL, SG, load_lexicon
from .records import condition_code, item_id

FORMATS = ("blimp", "marvin-linzen", "syntaxgym", "linzen", "gulordava")


@dataclass(frozen=True)
class ImportConfig:
    """Options of ``probe import``."""

    format: str = "blimp"            # one of FORMATS
    paths: tuple[str, ...] = ()      # input files, or folders whose matching files are all read
    lexicon: str | None = None       # lexicon TSV for verb inflection (Linzen's full TSV); None -> shipped


# --------------------------------------------------------------------------- tokens and numbers

_NT = re.compile(r"(\w)(n't)\b")
_CLITIC = re.compile(r"(\w)('(?:s|re|ve|ll|d|m))\b")
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|[^\W_]+(?:[-.'][^\W_]+)*|\S")
_FINAL_PUNCT = {".", "!", "?"}


def tokenize(text: str, *, drop_final: bool = True) -> list[str]:
    """Lower-case PTB-style tokens of a raw sentence (see the module docstring); final ``. ! ?`` dropped."""
    tokens = _TOKEN.findall(_CLITIC.sub(r"\1 \2", _NT.sub(r"\1 \2", text.lower())))
    return _drop_final(tokens) if drop_final else tokens


def _drop_final(tokens: list[str]) -> list[str]:
    while tokens and tokens[-1] in _FINAL_PUNCT:
        tokens = tokens[:-1]
    return tokens


# Closed-class words whose number is fixed (after tokenize, "hasn't" is "has n't").
_CLOSED_NUMBER = {
    "is": SG, "was": SG, "has": SG, "does": SG, "are": PL, "were": PL, "have": PL, "do": PL,
    "this": SG, "that": SG, "these": PL, "those": PL,
    "himself": SG, "herself": SG, "itself": SG, "themselves": PL,
}
_COPULAS = {"is", "are", "was", "were"}


def _s_form(a: str, b: str) -> bool | None:
    """True if ``a`` is the -s form of ``b`` (walks/walk, tries/try, watches/watch), False if the reverse."""
    def plus_s(w: str) -> set[str]:
        out = {w + "s", w + "es"}
        if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
            out.add(w[:-1] + "ies")
        return out

    if a in plus_s(b):
        return True
    if b in plus_s(a):
        return False
    return None


def _other(number: str) -> str:
    return PL if number == SG else SG


def _code(head_number: str, attractor_numbers: Sequence[str]) -> str:
    return condition_code(head_number, attractor_numbers) if head_number else ""


def _row(**kw) -> dict:
    """One item row with every schema column; unknown values default to '' / -1 / [] (see module doc)."""
    row = {
        "construction": "", "condition": "", "n_attractors": -1, "head": "", "head_number": "",
        "head_index": -1, "attractors": [], "attractor_numbers": [], "attractor_indices": [],
        "nearest_noun": "", "nearest_number": "", "prefix": "", "verb_good": "", "verb_bad": "",
        "verb_index": -1, "verb_type": "other", "sentence_good": "", "sentence_bad": "", "distance": -1,
        "nonce": False, "split": "test", "source": "", "source_id": "",
    }
    row.update(kw)
    # The source id goes into the hash so that repeated sentences (e.g. one sentence in two tests) get
    # different, still content-derived, ids.
    row["id"] = item_id(row["construction"], row["condition"] or "x", row["verb_type"],
                        f"{row['sentence_good']}\t{row['source_id']}", row["nonce"])
    return row


def _single_diff(good: Sequence[str], bad: Sequence[str]) -> int:
    """The index of the only differing token of two equally long token lists, else -1."""
    if len(good) != len(bad):
        return -1
    diff = [i for i, (g, b) in enumerate(zip(good, bad)) if g != b]
    return diff[0] if len(diff) == 1 else -1


def _files(paths: Iterable[str | os.PathLike], patterns: tuple[str, ...], what: str) -> list[Path]:
    """Expand folders into their files matching ``patterns`` (sorted); check every path exists."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted({f for pat in patterns for f in p.glob(pat) if f.is_file()})
            if not found:
                raise ProbeError(f"folder {p} holds no {what} files ({', '.join(patterns)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ProbeError(f"{p} does not exist; give a {what} file or a folder of them")
    if not out:
        raise ProbeError(f"no input given; pass one or more {what} files or folders")
    return out


def _open_text(path: Path) -> io.TextIOBase:
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise ProbeError(f"cannot read {path}: {exc.strerror}") from exc


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without newline) of a text or .gz file, with one-line read errors."""
    try:
        with _open_text(path) as fh:
            for n, line in enumerate(fh, start=1):
                yield n, line.rstrip("\n").rstrip("\r")
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise ProbeError(f"{path}: cannot decode the file ({type(exc).__name__}); give a UTF-8 text file") from exc


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    for n, line in _lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise ProbeError(f"{path} line {n}: not valid JSON ({str(exc).split(':')[0]})") from None
        if not isinstance(rec, dict):
            raise ProbeError(f"{path} line {n}: expected a JSON object, got {type(rec).__name__}")
        yield n, rec


def _field(rec: Mapping, name: str, path: Path, line: int | str, kind: type = str):
    """``rec[name]`` checked for presence, type and (strings) non-emptiness; else a one-line ProbeError."""
    if name not in rec:
        raise ProbeError(f"{path} line {line}: field {name!r} is missing")
    value = rec[name]
    if kind is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProbeError(f"{path} line {line}: field {name!r} must be an integer, got {value!r}")
        return value
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise ProbeError(f"{path} line {line}: field {name!r} must be a non-empty {kind.__name__}, got {value!r}")
    return value


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building 10^5 row dicts otherwise triggers repeated full
    scans of the growing row list (measured: the Marvin & Linzen import ran 2-3x slower with it on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- BLiMP

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
    if g in _CLOSED_NUMBER and b in _CLOSED_NUMBER:
        return _CLOSED_NUMBER[g]
    term = rec.get("linguistics_term", "")
    if term == "determiner_noun_agreement":
        dets = [t for t in good[:i] if t in _CLOSED_NUMBER]
        return _CLOSED_NUMBER[dets[-1]] if dets else ""
    if term != "subject_verb_agreement":
        return ""
    at_verb = bool(rec.get("one_prefix_method"))
    numbers = verb_numbers if at_verb else noun_numbers
    if g in numbers and b in numbers:
        return numbers[g]
    s = _s_form(g, b)
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
    attractor_number = _other(head_number)
    return {"head": good[h], "head_index": h, "attractors": [good[a]], "attractor_numbers": [attractor_number],
            "attractor_indices": [a], "nearest_noun": good[a], "nearest_number": attractor_number,
            "condition": condition_code(head_number, [attractor_number]), "n_attractors": 1,
            "distance": v - h - 1}


@_gc_paused()
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
    """
    noun_numbers, verb_numbers = noun_numbers or {}, verb_numbers or {}
    rows: list[dict] = []
    for path in _files(paths, ("*.jsonl",), "BLiMP .jsonl"):
        if path.name.endswith("summary.jsonl"):
            continue
        for n, rec in _json_lines(path):
            sg_text = _field(rec, "sentence_good", path, n)
            sb_text = _field(rec, "sentence_bad", path, n)
            uid = _field(rec, "UID", path, n)
            if not isinstance(rec.get("pairID"), (str, int)):
                raise ProbeError(f"{path} line {n}: field 'pairID' is missing or not a string")
            pair_id = str(rec["pairID"])
            good, bad = tokenize(sg_text), tokenize(sb_text)
            if not good or not bad:
                raise ProbeError(f"{path} line {n}: field 'sentence_good'/'sentence_bad' has no words")
            i = _single_diff(good, bad)
            prefix_ok = i >= 0 and bool(rec.get("one_prefix_method", True))
            head_number = _blimp_head_number(rec, good, bad, i, noun_numbers, verb_numbers)
            n_attr = 0 if uid in _BLIMP_NO_ATTRACTOR else -1
            fields = {"condition": _code(head_number, []) if n_attr == 0 else "", "n_attractors": n_attr,
                      **_blimp_attractor_fields(uid, good, i if prefix_ok else -1, head_number)}
            rows.append(_row(
                construction=uid, head_number=head_number, **fields,
                prefix=" ".join(good[:i]) if prefix_ok else "",
                verb_good=good[i] if prefix_ok else "", verb_bad=bad[i] if prefix_ok else "",
                verb_index=i if prefix_ok else -1,
                verb_type="copula" if prefix_ok and good[i] in _COPULAS else "other",
                sentence_good=" ".join(good), sentence_bad=" ".join(bad),
                source="blimp", source_id=f"{uid}/{pair_id}"))
    return rows


# --------------------------------------------------------------------------- Marvin & Linzen 2018

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
    first = next(_lines(path), (0, ""))[1]
    if first.startswith("test case\t"):
        for n, line in _lines(path):
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
    for n, line in _lines(path):
        if not line:
            continue
        try:
            rec = loads(line)
            test, cond, good, bad = rec["test"], rec["condition"], rec["sentence_good"], rec["sentence_bad"]
        except ValueError as exc:
            raise ProbeError(f"{path} line {n}: not valid JSON ({str(exc).split(':')[0]})") from None
        except (KeyError, TypeError):
            for name in ("test", "condition", "sentence_good", "sentence_bad"):
                _field(rec if isinstance(rec, dict) else {}, name, path, n)
            raise
        if not (type(test) is str and type(cond) is str and type(good) is str and type(bad) is str):
            for name in ("test", "condition", "sentence_good", "sentence_bad"):
                _field(rec, name, path, n)
        yield n, test, cond, rec.get("index", n - 1), good, bad


@_gc_paused()
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
    for path in _files(paths, ("*.jsonl", "*.jsonl.gz"), "Marvin & Linzen"):
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
            verb_type = ("copula" if verb in _COPULAS else "transitive" if within
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
            rows.append({
                "id": item_id(test, row_code, verb_type, f"{sentence}\t{source_id}"),
                "construction": test, "condition": row_code, "n_attractors": len(att_idx),
                "head": good[h], "head_number": hn, "head_index": h,
                "attractors": [good[i] for i in att_idx], "attractor_numbers": att_num,
                "attractor_indices": att_idx, "nearest_noun": good[near],
                "nearest_number": hn if near == h else att_num[att_idx.index(near)], "prefix": " ".join(good[:v]),
                "verb_good": verb,
                "verb_bad": bad[v], "verb_index": v, "verb_type": verb_type, "sentence_good": sentence,
                "sentence_bad": " ".join(bad), "distance": v - h - 1, "nonce": False, "split": "test",
                "source": "marvin-linzen", "source_id": source_id})
    return rows


# --------------------------------------------------------------------------- SyntaxGym

_MATCH = re.compile(r"^(mis)?match(.*)$")


def _line_of(text: str, item_number) -> str:
    """The line where item ``item_number`` starts in the JSON text (for error messages), or '?'."""
    m = re.search(r'"item_number"\s*:\s*' + re.escape(json.dumps(item_number)) + r"\b", text)
    return str(text.count("\n", 0, m.start()) + 1) if m else "?"


def load_suite(path: str | os.PathLike) -> dict:
    """Read and check a SyntaxGym suite JSON file; structural problems are one-line ProbeErrors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"cannot read SyntaxGym suite {path}: {exc}") from exc
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProbeError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(suite, dict):
        raise ProbeError(f"{path} line 1: a SyntaxGym suite is a JSON object with meta, region_meta, "
                         "predictions, items")
    for key, kind in (("meta", dict), ("region_meta", dict), ("items", list)):
        if not isinstance(suite.get(key), kind):
            raise ProbeError(f"{path} line 1: field {key!r} is missing or not a JSON {kind.__name__}")
    for k, item in enumerate(suite["items"]):
        if not isinstance(item, dict):
            raise ProbeError(f"{path} item {k + 1}: each item must be a JSON object")
        # the line number costs a search of the whole file: only an error pays for it
        def where(item=item, k=k) -> str:
            return f"{path} line {_line_of(text, item.get('item_number'))} (item {item.get('item_number', k + 1)})"

        if "item_number" not in item:
            raise ProbeError(f"{path} item {k + 1}: field 'item_number' is missing")
        conds = item.get("conditions")
        if not isinstance(conds, list) or not conds:
            raise ProbeError(f"{where()}: field 'conditions' is missing or empty")
        for c in conds:
            if not isinstance(c, dict) or not isinstance(c.get("condition_name"), str):
                raise ProbeError(f"{where()}: field 'condition_name' is missing")
            regions = c.get("regions")
            if not isinstance(regions, list) or not regions:
                raise ProbeError(f"{where()} condition {c['condition_name']!r}: field 'regions' is missing or empty")
            for r in regions:
                if not isinstance(r, dict) or not isinstance(r.get("region_number"), int) \
                        or isinstance(r.get("region_number"), bool):
                    raise ProbeError(f"{where()} condition {c['condition_name']!r}: field 'region_number' "
                                     "is missing or not an integer")
                if not isinstance(r.get("content"), str):
                    raise ProbeError(f"{where()} condition {c['condition_name']!r} region {r['region_number']}: "
                                     "field 'content' is missing or not a string")
    return suite


def _region_tokens(condition: dict) -> list[tuple[int, list[str]]]:
    """(region number, tokens) in region order; sentence-final punctuation dropped from the last region."""
    regions = sorted(condition["regions"], key=lambda r: r["region_number"])
    out = [(r["region_number"], tokenize(r["content"], drop_final=False)) for r in regions]
    for k in range(len(out) - 1, -1, -1):  # the last non-empty region ends the sentence
        if out[k][1]:
            out[k] = (out[k][0], _drop_final(out[k][1]))
            break
    return out


def _number_partner(condition_name: str) -> str:
    """The condition with the other head number: match_sing <-> match_plural."""
    if "sing" in condition_name:
        return condition_name.replace("sing", "plural")
    return condition_name.replace("plural", "sing").replace("plur", "sing")


def _suite_nouns(region_meta: Mapping, regions: list, critical: int, partner: list | None, head_number: str,
                 noun_numbers: Mapping) -> dict:
    """Head, attractor and nearest-noun fields of one SyntaxGym pair; the unknown defaults where not found.

    Regions are told by ``region_meta`` names: the head is the last word of the first region named
    ``np*`` (number_orc/number_prep: 'np_sing'), the attractors the last words of regions named
    ``*_np`` ('embed_np', 'prep_np') before the critical region. A noun's number comes from the same
    region in the condition with the other head number (``partner``: 'senators' in match_sing vs
    'senator' in match_plural; the -s form is the plural), else from ``noun_numbers``; when one
    attractor's number cannot be told, the attractor fields stay unknown rather than guessed.
    """
    names = {int(k): str(v) for k, v in region_meta.items() if str(k).isdigit()}
    other = {num: ts for num, ts in partner} if partner else {}
    starts, pos = [], 0
    for _, ts in regions:
        starts.append(pos)
        pos += len(ts)
    heads = [k for k, (num, ts) in enumerate(regions[:critical]) if ts and names.get(num, "").startswith("np")]
    attrs = [k for k, (num, ts) in enumerate(regions[:critical])
             if ts and names.get(num, "").endswith("_np") and heads and k > heads[0]]
    if not heads or not head_number:
        return {"condition": "", "n_attractors": -1}
    h = starts[heads[0]] + len(regions[heads[0]][1]) - 1
    v = starts[critical]
    fields = {"head": regions[heads[0]][1][-1], "head_index": h, "distance": v - h - 1,
              "condition": _code(head_number, []), "n_attractors": 0, "nearest_noun": regions[heads[0]][1][-1],
              "nearest_number": head_number}
    numbers = []
    for k in attrs:
        word, num = regions[k][1][-1], regions[k][0]
        there = other.get(num, [])
        s = _s_form(word, there[-1]) if there and there[-1] != word else None
        numbers.append(PL if s else SG if s is False else noun_numbers.get(word, ""))
    if "" in numbers:
        return {**fields, "condition": "", "n_attractors": -1, "nearest_noun": "", "nearest_number": ""}
    idx = [starts[k] + len(regions[k][1]) - 1 for k in attrs]
    fields.update(attractors=[regions[k][1][-1] for k in attrs], attractor_numbers=numbers, attractor_indices=idx,
                  condition=_code(head_number, numbers), n_attractors=len(attrs))
    if idx and idx[-1] > h:
        fields.update(nearest_noun=regions[attrs[-1]][1][-1], nearest_number=numbers[-1])
    return fields


@_gc_paused()
def read_syntaxgym(paths: Iterable[str | os.PathLike], *, noun_numbers: Mapping | None = None) -> list[dict]:
    """Number-agreement SyntaxGym suites (conditions ``match_X``/``mismatch_X``) -> item rows.

    Each item gives one pair per X: good = match_X, bad = mismatch_X. The critical region is the one
    region whose content differs; when its content is one token in both conditions the pair supports
    prefix scoring (prefix = the tokens of the regions before it). ``head_number`` comes from X
    ('sing'/'plural'); head, attractors and nearest noun from the regions (see ``_suite_nouns``):
    'The author that the senators hurt is good' (number_orc, match_sing) -> head author, attractor
    senators (pl), condition SP. ``noun_numbers``: extra noun -> 'sg'|'pl' look-ups (probe's lexicon)
    for nouns whose number the other condition does not show.
    """
    noun_numbers = noun_numbers or {}
    rows: list[dict] = []
    for path in _files(paths, ("*.json",), "SyntaxGym suite .json"):
        suite = load_suite(path)
        name = str(suite["meta"].get("name") or path.stem)
        n_before = len(rows)
        for item in suite["items"]:
            conds = {c["condition_name"]: c for c in item["conditions"]}
            for good_name in conds:
                m = _MATCH.match(good_name)
                bad_name = f"mis{good_name}"
                if not m or m.group(1) or bad_name not in conds:
                    continue
                good_r, bad_r = _region_tokens(conds[good_name]), _region_tokens(conds[bad_name])
                good = [t for _, ts in good_r for t in ts]
                bad = [t for _, ts in bad_r for t in ts]
                differing = [k for k, ((gn, g), (bn, b)) in enumerate(zip(good_r, bad_r)) if g != b or gn != bn]
                if good == bad:
                    line = _line_of(path.read_text(encoding="utf-8"), item["item_number"])
                    raise ProbeError(f"{path} line {line} (item {item['item_number']}): field 'content': conditions "
                                     f"{good_name!r} and {bad_name!r} have the same words")
                prefix_ok = (len(good_r) == len(bad_r) and len(differing) == 1
                             and len(good_r[differing[0]][1]) == 1 and len(bad_r[differing[0]][1]) == 1)
                k = differing[0] if prefix_ok else -1
                v = sum(len(ts) for _, ts in good_r[:k]) if prefix_ok else -1
                suffix = m.group(2).lower()
                head_number = SG if "sing" in suffix else PL if "plur" in suffix else ""
                partner = conds.get(_number_partner(good_name))
                nouns = _suite_nouns(suite["region_meta"], good_r, differing[0],
                                     _region_tokens(partner) if partner else None, head_number, noun_numbers)
                rows.append(_row(
                    construction=name, head_number=head_number, **nouns,
                    prefix=" ".join(good[:v]) if prefix_ok else "",
                    verb_good=good[v] if prefix_ok else "", verb_bad=bad[v] if prefix_ok else "",
                    verb_index=v, verb_type="copula" if prefix_ok and good[v] in _COPULAS else "other",
                    sentence_good=" ".join(good), sentence_bad=" ".join(bad), source="syntaxgym",
                    source_id=f"{name}/{item['item_number']}/{good_name}"))
        if len(rows) == n_before:
            raise ProbeError(f"{path}: no match_*/mismatch_* condition pairs; probe imports number-agreement "
                             "suites (number_prep, number_src, number_orc). Any suite's predictions can still be "
                             "checked with probe.importers.evaluate_predictions")
    return rows


# SyntaxGym prediction formulas: region references '(R;%condition%)' (R a region number or '*' = all
# regions), numbers, + - (left to right), comparisons < > = (= within rtol 1e-5 / atol 1e-3, as
# syntaxgym does), & and | ; '(...)' and '[...]' group. Standard precedence: + - above comparisons above
# & above |.
_FORMULA_TOKEN = re.compile(r"\s*(?:\(\s*(\d+|\*)\s*;\s*%([^%]+)%\s*\)|(\d+(?:\.\d*)?|\.\d+)|([-+<>=&|()\[\]]))")


def _parse_formula(formula: str) -> Callable[[Callable[[str, int | str], float]], object]:
    """Compile a formula into a function of ``lookup(condition, region) -> summed surprisal``."""
    tokens: list[tuple] = []
    pos = 0
    while pos < len(formula):
        m = _FORMULA_TOKEN.match(formula, pos)
        if not m:
            if formula[pos:].strip() == "":
                break
            raise ProbeError(f"cannot parse prediction formula {formula!r} at character {pos + 1}")
        if m.group(1):
            region = m.group(1)
            tokens.append(("ref", m.group(2), region if region == "*" else int(region)))
        elif m.group(3):
            tokens.append(("num", float(m.group(3))))
        else:
            tokens.append(("op", m.group(4)))
        pos = m.end()
    k = 0

    def peek():
        return tokens[k] if k < len(tokens) else ("end",)

    def take(*ops):
        nonlocal k
        t = peek()
        if t[0] == "op" and t[1] in ops:
            k += 1
            return t[1]
        return None

    def fail(what):
        raise ProbeError(f"cannot parse prediction formula {formula!r}: {what}")

    def atom():
        nonlocal k
        t = peek()
        if t[0] == "ref":
            k += 1
            return lambda f, c=t[1], r=t[2]: f(c, r)
        if t[0] == "num":
            k += 1
            return lambda f, x=t[1]: x
        if take("-"):
            inner = atom()
            return lambda f: -inner(f)
        for open_, close in (("(", ")"), ("[", "]")):
            if take(open_):
                inner = or_expr()
                if not take(close):
                    fail(f"missing {close!r}")
                return inner
        fail(f"unexpected {t[1] if len(t) > 1 else 'end'!r}")

    def add_expr():
        left = atom()
        while (op := take("+", "-")):
            right = atom()
            left = (lambda f, a=left, b=right: a(f) + b(f)) if op == "+" else (lambda f, a=left, b=right: a(f) - b(f))
        return left

    def cmp_expr():
        left = add_expr()
        op = take("<", ">", "=")
        if not op:
            return left
        right = add_expr()
        if op == "<":
            return lambda f: left(f) < right(f)
        if op == ">":
            return lambda f: left(f) > right(f)
        return lambda f: abs(left(f) - right(f)) <= 1e-3 + 1e-5 * abs(right(f))

    def and_expr():
        left = cmp_expr()
        while take("&"):
            right = cmp_expr()
            left = (lambda f, a=left, b=right: bool(a(f)) and bool(b(f)))
        return left

    def or_expr():
        left = and_expr()
        while take("|"):
            right = and_expr()
            left = (lambda f, a=left, b=right: bool(a(f)) or bool(b(f)))
        return left

    expr = or_expr()
    if k != len(tokens):
        fail(f"unexpected {tokens[k][-1]!r} after a complete expression")
    return expr


def suite_formulas(suite: dict) -> list[str]:
    """The suite's prediction formulas: ``predictions`` (``{"type": "formula", "formula": ...}``, or the
    older ``{"relation", "region_number", "l_operand", "r_operand"}``), else ``meta.string_predictions``."""
    out = []
    for p in suite.get("predictions") or []:
        if isinstance(p, dict) and p.get("type", "formula") == "formula" and "formula" in p:
            out.append(p["formula"])
        elif isinstance(p, dict) and "relation" in p:
            op = {"greaterthan": ">", "lessthan": "<", "equal": "="}.get(p["relation"])
            if op is None:
                raise ProbeError(f"unknown SyntaxGym prediction relation {p['relation']!r}")
            r = p["region_number"]
            out.append(f"({r};%{p['l_operand']}%) {op} ({r};%{p['r_operand']}%)")
        else:
            raise ProbeError(f"unsupported SyntaxGym prediction {p!r}; expected a formula")
    if not out:
        out = list(suite.get("meta", {}).get("string_predictions") or [])
    return out


def evaluate_predictions(suite: dict, region_surprisals: Mapping[tuple, float]) -> dict:
    """Evaluate the suite's own prediction formulas on summed region surprisals.

    ``region_surprisals``: (item_number, condition_name, region_number) -> summed surprisal (bits or nats,
    as long as they are consistent), e.g. from :func:`region_surprisals` or :func:`stored_region_surprisals`.
    Returns {item_number: [bool per prediction, in the suite's order]}. A formula naming a condition or
    region the item lacks is a ProbeError.
    """
    compiled = [(f, _parse_formula(f)) for f in suite_formulas(suite)]
    if not compiled:
        raise ProbeError(f"suite {suite.get('meta', {}).get('name', '?')!r} has no predictions to evaluate")
    results: dict = {}
    for item in suite["items"]:
        num = item["item_number"]
        regions = {c["condition_name"]: [r["region_number"] for r in c["regions"]] for c in item["conditions"]}

        def lookup(cond: str, region, num=num, regions=regions) -> float:
            if cond not in regions:
                raise ProbeError(f"item {num}: the prediction names condition {cond!r}, which the item lacks")
            if region == "*":
                return sum(region_surprisals[(num, cond, r)] for r in regions[cond])
            try:
                return float(region_surprisals[(num, cond, region)])
            except KeyError:
                raise ProbeError(f"item {num}: no surprisal for condition {cond!r} region {region}") from None

        results[num] = [bool(fn(lookup)) for _, fn in compiled]
    return results


def region_surprisals(suite: dict, surprisal: Callable[[list[str]], Sequence[float]], *,
                      tokenize_fn: Callable[[str], list[str]] | None = None) -> dict:
    """Summed surprisal per (item_number, condition_name, region_number), from a token scorer.

    ``surprisal(tokens) -> per-token surprisals`` (length len(tokens)) is called once per item x condition
    on the whole sentence (tokens as :func:`tokenize` makes them, or ``tokenize_fn`` applied per region);
    each region sums its own tokens' values; an empty region sums to 0.
    """
    out: dict = {}
    for item in suite["items"]:
        for cond in item["conditions"]:
            if tokenize_fn is None:
                regs = _region_tokens(cond)
            else:
                regs = [(r["region_number"], tokenize_fn(r["content"]))
                        for r in sorted(cond["regions"], key=lambda r: r["region_number"])]
            tokens = [t for _, ts in regs for t in ts]
            values = list(surprisal(tokens))
            if len(values) != len(tokens):
                raise ValueError(f"surprisal() returned {len(values)} values for {len(tokens)} tokens")
            k = 0
            for num, ts in regs:
                out[(item["item_number"], cond["condition_name"], num)] = float(sum(values[k:k + len(ts)]))
                k += len(ts)
    return out


def stored_region_surprisals(suite: dict, metric: str = "sum") -> dict:
    """The region values a suite file already carries (``regions[].metric_value[metric]``), same keys as
    :func:`region_surprisals`; regions without a value are left out."""
    return {(item["item_number"], c["condition_name"], r["region_number"]): float(r["metric_value"][metric])
            for item in suite["items"] for c in item["conditions"] for r in c["regions"]
            if isinstance(r.get("metric_value"), dict) and metric in r["metric_value"]}


# --------------------------------------------------------------------------- Linzen et al. 2016

_LINZEN_LABEL = {"VBZ": SG, "VBP": PL}
_NOUN_TAGS = {"NN": SG, "NNS": PL}  # Linzen et al. count common nouns only
# Penn Treebank tags: Linzen's files replace rare words by these; they are kept verbatim (upper case)
# so they never collide with a real lower-case word ('IN' vs 'in').
_PTB_TAGS = {
    "CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR", "JJS", "LS", "MD", "NN", "NNS", "NNP", "NNPS", "PDT",
    "POS", "PRP", "PRP$", "RB", "RBR", "RBS", "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP",
    "VBZ", "WDT", "WP", "WP$", "WRB",
}
_ATTR_IN_NAME = re.compile(r"(?:^|[._-])(\d+)(?:\.[A-Za-z]+)?$")


def _linzen_tokens(text: str) -> list[str]:
    return [t if t in _PTB_TAGS else t.lower() for t in text.split()]


def _read_linzen_simple(path: Path) -> list[dict]:
    m = _ATTR_IN_NAME.search(path.name)
    n_attr = int(m.group(1)) if m else -1
    rows = []
    for n, line in _lines(path):
        if not line.strip():
            continue
        label, sep, text = line.partition("\t")
        if not sep:
            raise ProbeError(f"{path} line {n}: expected 'VBZ' or 'VBP', a tab, and the prefix")
        if label not in _LINZEN_LABEL:
            raise ProbeError(f"{path} line {n}: field 'label' must be VBZ or VBP, got {label!r}")
        prefix = _linzen_tokens(text)
        if not prefix:
            raise ProbeError(f"{path} line {n}: field 'prefix' is empty")
        hn = _LINZEN_LABEL[label]
        # The per-attractor-count files hold homogeneous intervention only: all n intervening nouns
        # have the other number, so the condition code is known even though the nouns are not.
        rows.append(_row(
            construction="linzen", condition=condition_code(hn, [_other(hn)] * max(n_attr, 0)),
            n_attractors=n_attr, head_number=hn, prefix=" ".join(prefix), verb_index=len(prefix),
            source="linzen", source_id=f"{path.name}:{n}"))
    return rows


_LINZEN_REQUIRED = ("verb_pos", "verb_index")


def _linzen_nearest(tags: list[str], v: int, h: int, hn: str, last_intervening: str) -> tuple[int, str]:
    """(index, number) of the common noun nearest before the verb; (-1, '') where it cannot be known.

    From the POS tags when the file has them; else from Linzen's ``last_intervening`` column (the tag of
    the last NN/NNS between subject and verb, 'na' when there is none: then the head is the nearest),
    which gives the number but not the position.
    """
    if tags:
        nouns = [i for i in range(max(h, 0), v) if tags[i] in _NOUN_TAGS]
        return (nouns[-1], _NOUN_TAGS[tags[nouns[-1]]]) if nouns else (-1, "")
    if last_intervening in _NOUN_TAGS:
        return -1, _NOUN_TAGS[last_intervening]
    if last_intervening == "na":
        return h, hn
    return -1, ""


def _read_linzen_full(path: Path, verb_pairs: dict, verb_numbers: dict) -> list[dict]:
    from .extract import other_verb_form

    rows = []
    with _open_text(path) as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        header = reader.fieldnames or []
        for col in _LINZEN_REQUIRED:
            if col not in header:
                raise ProbeError(f"{path} line 1: field {col!r} is missing from the header")
        if "orig_sentence" not in header and "sentence" not in header:
            raise ProbeError(f"{path} line 1: field 'orig_sentence' (or 'sentence') is missing from the header")
        for rec in reader:
            n = reader.line_num
            if None in rec or any(v is None for v in rec.values()):
                raise ProbeError(f"{path} line {n}: expected {len(header)} tab-separated fields")
            verb_pos = rec["verb_pos"]
            if verb_pos not in _LINZEN_LABEL:
                raise ProbeError(f"{path} line {n}: field 'verb_pos' must be VBZ or VBP, got {verb_pos!r}")
            words = rec.get("orig_sentence") or rec["sentence"]
            tokens = words.lower().split()
            v = _field(rec, "verb_index", path, n, int) - 1  # the file's indices are 1-based
            if not 0 < v < len(tokens):
                raise ProbeError(f"{path} line {n}: field 'verb_index' ({v + 1}) is outside the sentence")
            h = _field(rec, "subj_index", path, n, int) - 1 if rec.get("subj_index") else -1
            if h >= v:
                raise ProbeError(f"{path} line {n}: field 'subj_index' must come before 'verb_index'")
            hn = _LINZEN_LABEL[verb_pos]
            tags = rec.get("pos_sentence", "").split()
            if tags and len(tags) != len(tokens):
                raise ProbeError(f"{path} line {n}: field 'pos_sentence' has {len(tags)} tags for "
                                 f"{len(tokens)} words")
            # Interveners: common nouns strictly between subject and verb, as Linzen et al. counted them.
            inter = [(i, _NOUN_TAGS[tags[i]]) for i in range(h + 1, v) if tags[i] in _NOUN_TAGS] \
                if tags and h >= 0 else None
            between = [i for i, num in inter or () if num != hn]
            n_int = _field(rec, "n_intervening", path, n, int) if rec.get("n_intervening") else \
                len(inter) if inter is not None else None
            n_attr = _field(rec, "n_diff_intervening", path, n, int) if rec.get("n_diff_intervening") else \
                len(between) if inter is not None else None
            if inter is not None and (n_int, n_attr) != (len(inter), len(between)):
                raise ProbeError(f"{path} line {n}: fields 'n_intervening'/'n_diff_intervening' ({n_int}/{n_attr}) "
                                 f"disagree with the NN/NNS tags between subj_index and verb_index "
                                 f"({len(inter)}/{len(between)}); give the file's own pos_sentence")
            # A clean k-attractor item has no intervener of the head's number (Linzen et al.'s curves);
            # the others go to their own construction, so per-k results never mix the two.
            clean = n_int is not None and n_int == n_attr
            near, near_number = _linzen_nearest(tags, v, h, hn, rec.get("last_intervening", ""))
            verb = tokens[v]
            bad = other_verb_form(verb, verb_pos, pairs=verb_pairs, numbers=verb_numbers)
            attractor_numbers = [_other(hn)] * (n_attr or 0)
            rows.append(_row(
                construction="linzen" if clean else "linzen_mixed",
                condition=condition_code(hn, attractor_numbers) if n_attr is not None else "",
                n_attractors=-1 if n_attr is None else n_attr, head=tokens[h] if h >= 0 else "", head_number=hn,
                head_index=h, attractors=[tokens[i] for i in between], attractor_numbers=attractor_numbers,
                attractor_indices=between, nearest_noun=tokens[near] if near >= 0 else "",
                nearest_number=near_number, prefix=" ".join(tokens[:v]),
                verb_good=verb if bad else "", verb_bad=bad, verb_index=v,
                verb_type="copula" if verb in _COPULAS else "other", sentence_good=" ".join(tokens),
                sentence_bad=" ".join(tokens[:v] + [bad] + tokens[v + 1:]) if bad else "",
                distance=v - h - 1 if h >= 0 else -1, source="linzen", source_id=f"{path.name}:{n}"))
    return rows


@_gc_paused()
def read_linzen(paths: Iterable[str | os.PathLike], *, verb_pairs: dict | None = None,
                verb_numbers: dict | None = None) -> list[dict]:
    """Linzen et al. (2016) number-prediction files -> item rows (folders: every file in them).

    Two layouts, told apart by the first line:
    - simple (``rnn_agr_simple/numpred.*``): ``VBZ`` or ``VBP``, a tab, the prefix up to the verb with rare
      words replaced by POS tags. The verb is not in the file: ``head_number`` (VBZ -> sg, VBP -> pl) is
      the gold label, ``verb_good``/``verb_bad``/sentences are '' (these items serve the number-prediction
      classifier, not LM scoring). ``n_attractors`` comes from a trailing number in the file name
      (``numpred.test.3`` -> 3), else -1.
    - full (``agr_50_mostcommon_10K.tsv``): a header with ``sentence``, ``orig_sentence``, ``pos_sentence``,
      ``subj``, ``verb``, ``verb_pos``, ``subj_index``, ``verb_index`` (1-based), ``n_intervening``,
      ``last_intervening``, ``n_diff_intervening``, ... Uses the original words; ``verb_bad`` is the verb's
      other-number form (lexicon pairs, irregular table, regular rules) or '' when it cannot be made.
      Interveners are the common nouns (NN/NNS) strictly between subject and verb, as Linzen et al.
      counted them; the attractors are those of the other number (``n_diff_intervening``), and the
      condition is the head's letter and one letter per attractor. An item is a clean k-attractor item
      (construction ``linzen``) only when every intervener is an attractor (``n_intervening ==
      n_diff_intervening``); the others are ``linzen_mixed`` (e.g. 'the keys to the cabinet in the rooms
      are': one attractor, and the nearest noun agrees with the head). ``nearest_noun``/``nearest_number``:
      the last NN/NNS before the verb from ``pos_sentence``; without tags the number comes from
      ``last_intervening`` ('na': the head), the noun stays '', and so do the attractor nouns and
      indices ([]) while their numbers (all the other number) are kept. Counts that disagree with the
      tags are a ProbeError.
    """
    rows: list[dict] = []
    for path in _files(paths, ("numpred.*", "*.tsv", "*.tsv.gz"), "Linzen"):
        first = next(_lines(path), (0, ""))[1]
        if "verb_index" in first.split("\t"):
            rows.extend(_read_linzen_full(path, verb_pairs or {}, verb_numbers or {}))
        else:
            rows.extend(_read_linzen_simple(path))
    return rows


# --------------------------------------------------------------------------- Gulordava et al. 2018

_GULORDAVA_REQUIRED = ("class", "type", "n_attr", "len_context", "len_prefix", "prefix", "sent", "form",
                       "correct_number", "constr_id", "sent_id")
_GULORDAVA_NUMBER = {"sing": SG, "plur": PL}


@_gc_paused()
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
    for path in _files(paths, ("*.tab",), "Gulordava .tab"):
        with _open_text(path) as fh:
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
    n_attr = _field(good, "n_attr", path, n, int)
    len_prefix = _field(good, "len_prefix", path, n, int)
    len_context = _field(good, "len_context", path, n, int)
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
    return _row(
        construction=good[pattern_col], condition=condition_code(number, [_other(number)] * n_attr),
        n_attractors=n_attr, head=prefix[h], head_number=number, head_index=h, prefix=" ".join(prefix),
        verb_good=verb_good, verb_bad=verb_bad, verb_index=len_prefix,
        verb_type="copula" if verb_good in _COPULAS else "other",
        sentence_good=" ".join(prefix + [verb_good] + rest), sentence_bad=" ".join(prefix + [verb_bad] + rest),
        distance=len_context - 1, nonce=good["type"] == "generated", source="gulordava",
        source_id=f"{good[pattern_col]}/{good['constr_id']}/{good['sent_id']}")


# --------------------------------------------------------------------------- entry points

_INTROS = {
    "blimp": "BLiMP (Warstadt et al. 2020) minimal pairs; construction = UID, source_id = UID/pairID. "
             "Prefix-scorable where BLiMP's one_prefix_method holds and the tokenized pair differs in one token.",
    "marvin-linzen": "Marvin & Linzen (2018) subject-verb agreement pairs; construction = test, condition "
                     "decoded from the test's code (kept in source_id = test/condition/index).",
    "syntaxgym": "SyntaxGym number-agreement suites: match_X (good) vs mismatch_X (bad) at the critical region; "
                 "source_id = suite/item/condition.",
    "linzen": "Linzen, Dupoux & Goldberg (2016) number-prediction dependencies; n_attractors = intervening "
              "nouns of the other number; items that also have an intervening noun of the head's number are "
              "construction linzen_mixed (not clean k-attractor items); source_id = file:line.",
    "gulordava": "Gulordava et al. (2018) agreement pairs (original and generated 'colorless green' "
                 "sentences; nonce = generated); construction = pattern, source_id = pattern/constr_id/sent_id.",
}


def import_items(fmt: str, paths: Sequence[str | os.PathLike], *, lexicon: str | None = None) -> list[dict]:
    """Read ``paths`` in format ``fmt`` (one of FORMATS) and return item rows (ITEM_FEATURES schema)."""
    if fmt not in FORMATS:
        raise ProbeError(f"unknown import format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "blimp":
        lex = load_lexicon(lexicon)
        return read_blimp(paths, noun_numbers=lex.noun_number, verb_numbers=lex.verb_number)
    if fmt == "marvin-linzen":
        return read_marvin_linzen(paths)
    if fmt == "syntaxgym":
        return read_syntaxgym(paths, noun_numbers=load_lexicon(lexicon).noun_number)
    if fmt == "linzen":
        lex = load_lexicon(lexicon)
        return read_linzen(paths, verb_pairs=lex.verb_pair, verb_numbers=lex.verb_number)
    return read_gulordava(paths)


def import_dataset(cfg: ImportConfig, out: str | os.PathLike, *, overwrite: bool = False) -> str:
    """Run ``probe import``: read the inputs, write an item folder like ``probe build``'s; return a summary.

    The folder holds the HF dataset (``datasets.load_from_disk``), ``items.jsonl``, ``README.md`` (a card
    with counts per construction x condition) and ``config.json``; nothing is written on error.
    """
    from .build import write_item_folder
    from probe.core.io import check_output_dir

    check_output_dir(out, overwrite)
    t0 = time.perf_counter()
    rows = import_items(cfg.format, cfg.paths, lexicon=cfg.lexicon)
    if not rows:
        raise ProbeError(f"no items found in {', '.join(map(str, cfg.paths))}")
    n_prefix = sum(1 for r in rows if r["verb_good"])
    intro = (f"{_INTROS[cfg.format]} Imported by `probe import {cfg.format}` from "
             f"{', '.join(str(p) for p in cfg.paths)}. {n_prefix} of {len(rows)} items support prefix scoring "
             "(verb_good/verb_bad set); the others have verb_good = verb_bad = '' and support only the "
             "whole-sentence method. Tokens: lower case, PTB-style clitics (has n't), sentence-final "
             "punctuation dropped. Unknown fields are '' / -1 / [].")
    resolved = {**config_to_dict(cfg), "paths": [str(Path(p).resolve()) for p in cfg.paths],
                "n_items": len(rows), "n_prefix_scorable": n_prefix}
    with _gc_paused():
        write_item_folder(rows, out, config=resolved, card_title=f"{cfg.format} items imported into probe",
                          card_intro=intro, overwrite=overwrite)
    secs = time.perf_counter() - t0
    return (f"imported {len(rows)} items ({n_prefix} prefix-scorable) from {cfg.format} into {out} "
            f"({secs:.1f} s)")
