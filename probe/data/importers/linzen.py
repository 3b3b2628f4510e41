"""Linzen, Dupoux & Goldberg (2016) number-prediction dependencies (simple and full TSV) -> items."""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Iterable

from probe.core.errors import ProbeError
from probe.data.lexicon import PL, SG
from probe.data.records import condition_code, item_row
from probe.data.importers.common import (
    CLOSED_NUMBER, COPULAS, checked_field, gc_paused, input_files, is_s_form, open_text, other_number, read_lines
)
from probe.data.importers.registry import Importer, register_importer


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
    for n, line in read_lines(path):
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
        # have the other number, so the condition code, the attractors' numbers and the nearest noun's
        # (an intervening one) are known even though the nouns are not.
        k = max(n_attr, 0)
        rows.append(item_row(
            construction="linzen", condition=condition_code(hn, [other_number(hn)] * k), n_attractors=n_attr,
            attractor_numbers=[other_number(hn)] * k, nearest_number=other_number(hn) if k else "",
            head_number=hn, prefix=" ".join(prefix), verb_index=len(prefix),
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
    from probe.data.extract import other_verb_form

    rows = []
    with open_text(path) as fh:
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
            v = checked_field(rec, "verb_index", path, n, int) - 1  # the file's indices are 1-based
            if not 0 < v < len(tokens):
                raise ProbeError(f"{path} line {n}: field 'verb_index' ({v + 1}) is outside the sentence")
            h = checked_field(rec, "subj_index", path, n, int) - 1 if rec.get("subj_index") else -1
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
            n_int = checked_field(rec, "n_intervening", path, n, int) if rec.get("n_intervening") else \
                len(inter) if inter is not None else None
            n_attr = checked_field(rec, "n_diff_intervening", path, n, int) if rec.get("n_diff_intervening") else \
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
            attractor_numbers = [other_number(hn)] * (n_attr or 0)
            rows.append(item_row(
                construction="linzen" if clean else "linzen_mixed",
                condition=condition_code(hn, attractor_numbers) if n_attr is not None else "",
                n_attractors=-1 if n_attr is None else n_attr, head=tokens[h] if h >= 0 else "", head_number=hn,
                head_index=h, attractors=[tokens[i] for i in between], attractor_numbers=attractor_numbers,
                attractor_indices=between, nearest_noun=tokens[near] if near >= 0 else "",
                nearest_number=near_number, prefix=" ".join(tokens[:v]),
                verb_good=verb if bad else "", verb_bad=bad, verb_index=v,
                verb_type="copula" if verb in COPULAS else "other", sentence_good=" ".join(tokens),
                sentence_bad=" ".join(tokens[:v] + [bad] + tokens[v + 1:]) if bad else "",
                distance=v - h - 1 if h >= 0 else -1, source="linzen", source_id=f"{path.name}:{n}"))
    return rows


_TESTSET_COLUMNS = ("target_index", "correct_form", "wrong_form", "n_attractors")


def _verb_number(good: str, bad: str, verb_numbers: dict) -> str:
    """The number of the head a verb pair says (the agreeing form's): closed forms, the lexicon, the -s rule."""
    if good in CLOSED_NUMBER and bad in CLOSED_NUMBER:
        return CLOSED_NUMBER[good]
    if good in verb_numbers and bad in verb_numbers:
        return verb_numbers[good]
    s = is_s_form(good, bad)
    return "" if s is None else SG if s else PL


def _testset_files(gold: Path) -> tuple[Path, Path | None]:
    """The ``.text`` beside a ``.gold`` file (required) and its ``.eval`` (optional)."""
    text, evals = gold.with_suffix(".text"), gold.with_suffix(".eval")
    if not text.is_file():
        raise ProbeError(f"{gold}: the sentences file {text.name} is not beside it; keep {gold.stem}.text, "
                         f".gold (and .eval) in one folder")
    return text, evals if evals.is_file() else None


def _read_linzen_testset(gold: Path, verb_numbers: dict) -> list[dict]:
    """Gulordava et al.'s LM-scorable copy of Linzen et al.'s test set (``subj_agr_filtered.gold`` + ``.text``)."""
    text_path, eval_path = _testset_files(gold)
    sentences = [line for _, line in read_lines(text_path)]
    golds = [(n, line) for n, line in read_lines(gold) if line.strip()]
    if len(golds) != len(sentences):
        raise ProbeError(f"{gold}: {len(golds)} lines, but {text_path.name} has {len(sentences)} sentences; the "
                         "files must be line-aligned (one gold line per sentence)")
    targets = [line.strip() for _, line in read_lines(eval_path)] if eval_path else None
    if targets is not None and len(targets) != len(golds):
        raise ProbeError(f"{eval_path}: {len(targets)} lines, but {gold.name} has {len(golds)}; the files must be "
                         "line-aligned")
    rows = []
    for k, ((n, line), sentence) in enumerate(zip(golds, sentences)):
        cols = line.split("\t")
        if len(cols) != len(_TESTSET_COLUMNS):
            raise ProbeError(f"{gold} line {n}: expected {len(_TESTSET_COLUMNS)} tab-separated fields "
                             f"({', '.join(_TESTSET_COLUMNS)}), got {len(cols)}")
        rec = dict(zip(_TESTSET_COLUMNS, (c.strip() for c in cols)))
        t = checked_field(rec, "target_index", gold, n, int)
        n_attr = checked_field(rec, "n_attractors", gold, n, int)
        good, bad = checked_field(rec, "correct_form", gold, n).lower(), checked_field(rec, "wrong_form", gold, n).lower()
        tokens = sentence.lower().split()
        if tokens and tokens[-1] == "<eos>":
            tokens.pop()
        if not 0 <= t < len(tokens):
            raise ProbeError(f"{gold} line {n}: field 'target_index' ({t}) is outside the sentence on line {n} of "
                             f"{text_path.name} ({len(tokens)} words)")
        if tokens[t] != good:
            raise ProbeError(f"{gold} line {n}: field 'target_index' ({t}) points at {tokens[t]!r} in "
                             f"{text_path.name}, not at field 'correct_form' {good!r}; the files must be line-aligned")
        if targets is not None and targets[k] != str(t):
            raise ProbeError(f"{eval_path} line {k + 1}: {targets[k]!r} differs from field 'target_index' ({t}) "
                             f"of {gold.name}")
        if n_attr < 0 or good == bad or " " in bad:
            raise ProbeError(f"{gold} line {n}: field 'n_attractors' must be >= 0 and field 'wrong_form' one word "
                             f"other than the correct form, got {n_attr} and {bad!r}")
        hn = _verb_number(good, bad, verb_numbers)
        # n_attractors counts the intervening nouns of the other number (Linzen et al.'s definition), so their
        # numbers are known but not their positions, nor whether a noun of the head's number also intervenes:
        # the nearest noun's number stays unknown, and items with attractors are of the 'unknown' class.
        attractor_numbers = [other_number(hn)] * n_attr if hn else []
        rows.append(item_row(
            construction="linzen_testset", condition=condition_code(hn, attractor_numbers) if hn else "",
            n_attractors=n_attr, head_number=hn, attractor_numbers=attractor_numbers,
            prefix=" ".join(tokens[:t]), verb_good=good, verb_bad=bad, verb_index=t,
            verb_type="copula" if good in COPULAS else "other", sentence_good=" ".join(tokens),
            sentence_bad=" ".join(tokens[:t] + [bad] + tokens[t + 1:]), source="linzen",
            source_id=f"{gold.name}:{n}"))
    return rows


@gc_paused()
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
    - Gulordava et al. (2018)'s LM-scorable copy of the test set (colorlessgreenRNNs ``data/linzen_testset/``),
      read from its ``.gold`` file (or the folder, or the ``.text``/``.eval`` beside it): ``subj_agr_filtered.text``
      holds one lower-cased tokenized sentence per line ending in `` <eos>``; the line-aligned ``.gold`` has
      four tab-separated columns: ``target_index`` (0-based position of the verb), ``correct_form``,
      ``wrong_form``, ``n_attractors``; the optional ``.eval`` repeats the target indices (checked when
      present). Construction ``linzen_testset``; ``head_number`` is the correct form's number (is/are,
      the lexicon, the -s rule). ``n_attractors`` counts the intervening nouns of the other number, so the
      attractors' numbers are known but neither their positions nor the nearest noun's number: items with
      attractors are of the ``unknown`` item class (as Gulordava's ``.tab`` items are), items with none
      of class ``none``. The verb at ``target_index`` must be the correct form.
    """
    rows: list[dict] = []
    seen: set[Path] = set()
    for path in input_files(paths, ("numpred.*", "*.tsv", "*.tsv.gz", "*.gold"), "Linzen"):
        if path.suffix in (".gold", ".text", ".eval") and path.with_suffix(".gold").is_file():
            gold = path.with_suffix(".gold")
            if gold.resolve() not in seen:
                seen.add(gold.resolve())
                rows.extend(_read_linzen_testset(gold, verb_numbers or {}))
            continue
        first = next(read_lines(path), (0, ""))[1]
        if "verb_index" in first.split("\t"):
            rows.extend(_read_linzen_full(path, verb_pairs or {}, verb_numbers or {}))
        else:
            rows.extend(_read_linzen_simple(path))
    return rows


register_importer(Importer(
    name='linzen', label='Linzen et al. 2016',
    read=lambda paths, lex: read_linzen(paths, verb_pairs=lex.verb_pair, verb_numbers=lex.verb_number),
    intro=("Linzen, Dupoux & Goldberg (2016) number-prediction dependencies; n_attractors = intervening "
              "nouns of the other number; items that also have an intervening noun of the head's number are "
              "construction linzen_mixed (not clean k-attractor items); Gulordava et al. (2018)'s copy of the test "
              "set (subj_agr_filtered.gold/.text) is construction linzen_testset, whose items with attractors are "
              "of the unknown item class (the nearest noun's number is not given); source_id = file:line.")))
