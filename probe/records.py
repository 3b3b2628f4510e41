"""The item schema (Hugging Face ``Features``), stable ids, and reading/writing item datasets.

Terms, defined once for the whole project:
  head        the noun the verb must agree with (the subject of the verb in the item)
  attractor   any other noun between the start of the clause and the verb whose number may pull the
              verb (condition codes list the head first, then attractors in order: ``SP`` = singular
              head, plural attractor)
  syntactic   a choice that agrees with the head (= correct)
  sequential  a choice that agrees with the nearest noun preceding the verb

Item classes (``item_classes``; the ``match`` column of scores and summaries):
  none                    no attractor
  matched                 every attractor has the head's number
  conflict                the nearest noun before the verb differs in number from the head: the only
                          items on which a syntactic and a sequential choice differ
  mismatched_no_conflict  an attractor has the other number, but the nearest noun agrees with the head
                          (the attractor stands before the head, or a matching noun lies between)
  unknown                 the numbers needed are missing (imported data)
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import datasets
from datasets import Features, Sequence, Value

from probe.core.errors import ProbeError

ITEM_FEATURES = Features({
    "id": Value("string"),                    # stable: construction.condition.verb_type.content-hash
    "construction": Value("string"),          # e.g. simple, pp, src, orc, ... (or the source's paradigm)
    "condition": Value("string"),             # S/P per noun, head first: 'SP' = sg head, pl attractor
    "n_attractors": Value("int32"),           # attractors whose number can differ from the head's
    "head": Value("string"),                  # the head noun as it appears
    "head_number": Value("string"),           # sg | pl
    "head_index": Value("int32"),             # token position of the head in the sentence (-1: unknown)
    "attractors": Sequence(Value("string")),  # attractor nouns in sentence order
    "attractor_numbers": Sequence(Value("string")),
    "attractor_indices": Sequence(Value("int32")),
    "nearest_noun": Value("string"),          # the noun nearest before the verb ('' if none)
    "nearest_number": Value("string"),        # its number: a 'sequential' choice agrees with this
    "prefix": Value("string"),                # words before the verb, space-separated, lower case
    "verb_good": Value("string"),             # agrees with the head
    "verb_bad": Value("string"),              # the other number
    "verb_index": Value("int32"),             # token position of the verb (= number of prefix tokens)
    "verb_type": Value("string"),             # copula | intransitive | transitive | other
    "sentence_good": Value("string"),         # space-separated tokens, lower case
    "sentence_bad": Value("string"),          # identical except the verb
    "distance": Value("int32"),               # tokens strictly between head and verb
    "nonce": Value("bool"),                   # content words sampled without semantic constraints
    "split": Value("string"),                 # train | valid | test
    "source": Value("string"),                # 'probe' for built items, else the importer's format
    "source_id": Value("string"),             # the source's own id ('' for built items)
})
ITEM_COLUMNS = tuple(ITEM_FEATURES)
# The columns a scorer needs; other columns may be missing from user data and are then filled in.
REQUIRED_COLUMNS = ("id", "construction", "condition", "prefix", "verb_good", "verb_bad",
                    "sentence_good", "sentence_bad")


ITEM_CLASSES = ("none", "matched", "conflict", "mismatched_no_conflict", "unknown")


def item_classes(head_number: Iterable[str], attractor_numbers: Iterable[Iterable[str]],
                 nearest_number: Iterable[str]) -> tuple[list[str], list[int]]:
    """Per item: its class (see the module docstring) and the number of attractors of the other number.

    ``head_number``/``nearest_number``: 'sg' | 'pl' | '' (unknown); ``attractor_numbers``: one list per item.
    The nearest noun is the head itself or one of the attractors, so an unknown ``nearest_number`` leaves
    an item with attractors of both numbers unknown, while all-matching attractors still make it matched.
    """
    classes, mismatched = [], []
    for head, atts, near in zip(head_number, attractor_numbers, nearest_number):
        atts = list(atts) if atts is not None else []
        other = sum(a != head for a in atts) if head in ("sg", "pl") else -1
        mismatched.append(other)
        if head not in ("sg", "pl"):
            classes.append("unknown")
        elif near in ("sg", "pl") and near != head:
            classes.append("conflict")
        elif not atts:
            classes.append("none")
        elif other == 0:
            classes.append("matched")
        elif near in ("sg", "pl"):
            classes.append("mismatched_no_conflict")
        else:
            classes.append("unknown")
    return classes, mismatched


def item_id(construction: str, condition: str, verb_type: str, sentence_good: str, nonce: bool = False) -> str:
    """A stable id from the item's content: same item -> same id, whatever the build size or order."""
    digest = hashlib.blake2b(sentence_good.encode("utf-8"), digest_size=6).hexdigest()
    return f"{construction}.{condition}.{verb_type}{'.nonce' if nonce else ''}.{digest}"


def condition_code(head_number: str, attractor_numbers: Iterable[str]) -> str:
    """'sg', ['pl', 'sg'] -> 'SPS'."""
    return "".join("S" if n == "sg" else "P" for n in (head_number, *attractor_numbers))


def _kind(value) -> str | None:
    """The JSON kind of ``value`` as error messages name it (None for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _feature_kind(feature) -> str:
    """The JSON kind an ``ITEM_FEATURES`` column holds ('a list of strings' for a Sequence)."""
    if isinstance(feature, Sequence):
        return f"a list of {_feature_kind(feature.feature)[2:]}s"
    dtype = feature.dtype
    if dtype == "string":
        return "a string"
    if dtype == "bool":
        return "true or false"
    return "an integer" if dtype.startswith("int") else "a number"


def _fits(value, feature) -> bool:
    """``value`` (not null) is what the ``ITEM_FEATURES`` column ``feature`` holds."""
    if isinstance(feature, Sequence):
        return isinstance(value, list) and all(v is None or _fits(v, feature.feature) for v in value)
    kind = _feature_kind(feature)
    if kind == "an integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "a number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _kind(value) == kind


def check_items_jsonl(path: str | os.PathLike) -> int:
    """Check an items JSONL file line by line and return its number of items.

    ``datasets`` reports a malformed line as "An error occurred while generating the dataset", so the
    file is read here first (one ``json.loads`` per line) and the first problem is a one-line
    ProbeError naming the file, the line and what is wrong: not UTF-8, not JSON, not an object, a
    required column missing or null, a schema column of the wrong type, or a column whose type
    changes from one line to another (Arrow needs one type per column).
    """
    path = Path(path)
    n_items = 0
    seen: dict[str, tuple[str, int]] = {}  # extra column -> (its kind, first line holding it)
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ProbeError(f"{path} line {n}: not UTF-8 text; save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ProbeError(f"{path} line {n}: not valid JSON ({str(exc).split(':')[0]}); "
                                 "each line must be one JSON object") from None
            if not isinstance(rec, dict):
                raise ProbeError(f"{path} line {n}: expected a JSON object, got {_kind(rec) or 'null'}; "
                                 "each line must be one item")
            missing = [c for c in REQUIRED_COLUMNS if c not in rec]
            if missing:
                raise ProbeError(f"{path} line {n}: the item lacks the column(s) {', '.join(missing)}; "
                                 f"items need at least {', '.join(REQUIRED_COLUMNS)}")
            for name, value in rec.items():
                feature = ITEM_FEATURES.get(name)
                if feature is not None:
                    bad = name in REQUIRED_COLUMNS if value is None else not _fits(value, feature)
                    if bad:
                        shown = "null" if value is None else repr(value)
                        shown = shown if len(shown) <= 60 else shown[:57] + "..."
                        raise ProbeError(f"{path} line {n}: field {name!r} must be {_feature_kind(feature)}, "
                                         f"got {shown}")
                    continue
                kind = _kind(value)
                if kind is None:
                    continue
                first = seen.setdefault(name, (kind, n))
                if first[0] != kind:
                    raise ProbeError(f"{path} line {n}: field {name!r} is {kind} but {first[0]} on line {first[1]}; "
                                     "give a column one type on every line")
            n_items += 1
    if not n_items:
        raise ProbeError(f"{path} holds no items; build some with `probe build --out DIR`")
    return n_items


def load_items(path: str | os.PathLike) -> datasets.Dataset:
    """Load items from a dataset folder (``save_to_disk``), an ``items.jsonl`` file or a folder holding one.

    Raises ProbeError if the path is not a dataset or lacks a required column; a JSONL file is
    checked first (:func:`check_items_jsonl`), so a malformed line is named with its line number.
    """
    p = Path(path)
    try:
        if p.is_dir() and ((p / "dataset_info.json").is_file() or (p / "state.json").is_file()):
            ds = datasets.load_from_disk(str(p))
        elif p.is_dir() and (p / "items.jsonl").is_file():
            check_items_jsonl(p / "items.jsonl")
            ds = datasets.Dataset.from_json(str(p / "items.jsonl"))
        elif p.is_file() and p.suffix in (".jsonl", ".json"):
            if p.suffix == ".jsonl":
                check_items_jsonl(p)
            ds = datasets.Dataset.from_json(str(p))
        else:
            raise ProbeError(f"{p} is not an item dataset (no dataset_info.json or items.jsonl); "
                             "build one with `probe build --out DIR`")
    except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as exc:
        # datasets wraps the real reason ("JSON parse error ... in row 2") in a generic message
        cause = exc.__cause__ if isinstance(exc, datasets.exceptions.DatasetGenerationError) and exc.__cause__ else exc
        text = str(cause).strip().splitlines()
        raise ProbeError(f"cannot read item dataset {p}: {text[0] if text else type(cause).__name__}") from exc
    if isinstance(ds, datasets.DatasetDict):
        raise ProbeError(f"{p} holds several splits; point at one split's folder")
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise ProbeError(f"item dataset {p} lacks the column(s) {', '.join(missing)}; "
                         f"items need at least {', '.join(REQUIRED_COLUMNS)}")
    return ds


# The per-item score schema written by `probe evaluate` (scores.jsonl / scores.parquet), one row per
# item x model. Runs may append label columns (e.g. attractor_rate) that metrics then group by.
SCORE_FEATURES = Features({
    "id": Value("string"),                    # the item's id
    "data": Value("string"),                  # the item dataset's name (its folder name)
    "model": Value("string"),                 # the model's name (its folder name, made unique)
    "arch": Value("string"),                  # srn | gru | lstm | transformer | 3-gram | unigram ...
    "seed": Value("int64"),                   # training seed (0 for deterministic baselines)
    "method": Value("string"),                # prefix | sentence
    "construction": Value("string"),
    "condition": Value("string"),
    "n_attractors": Value("int32"),
    "match": Value("string"),                 # item class: none | matched | conflict | mismatched_no_conflict | unknown
    "n_mismatched": Value("int32"),           # attractors of the other number (-1: head number unknown)
    "verb_type": Value("string"),
    "nonce": Value("bool"),
    "head_number": Value("string"),
    "attractor_numbers": Sequence(Value("string")),
    "nearest_number": Value("string"),        # '' when unknown
    "distance": Value("int32"),
    "verb_good": Value("string"),
    "verb_bad": Value("string"),
    "logp_good": Value("float64"),            # prefix: log P(verb_good | <eos> prefix); sentence: log P(sentence_good)
    "logp_bad": Value("float64"),             # natural log; NaN for excluded items
    "margin": Value("float64"),               # logp_good - logp_bad
    "correct": Value("bool"),                 # margin > 0 (null for excluded items)
    "choice_syntactic": Value("bool"),        # = correct: the chosen verb agrees with the head
    "choice_sequential": Value("bool"),       # the chosen verb agrees with the nearest noun (null if unknown)
    "excluded": Value("bool"),                # not scored (see exclude_reason); counted per condition
    "exclude_reason": Value("string"),        # '' | oov | unk_tie | tie | multi_token
    "has_unk": Value("bool"),                 # scored through <unk> (only with --unk)
})
SCORE_COLUMNS = tuple(SCORE_FEATURES)
