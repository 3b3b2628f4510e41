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
import itertools
from typing import Iterable

from datasets import Features, Sequence, Value
import numpy as np
import pandas as pd


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


def mixed_patterns(items: pd.DataFrame) -> np.ndarray:
    """Per item: True when its attractors mix numbers ('SSP', 'SPS'). Such an item counts only in its own
    condition's cell, never in a pool of items (level overall or match, hence effect): it mixes two kinds of
    interference, and the synthetic grammar never produces it (every noun between a subject and its verb has
    one number), so it tests generalization beyond the training grammar. Items without attractor counts are
    not mixed."""
    if "n_attractors" not in items.columns:
        return np.zeros(len(items), dtype=bool)
    n_att = pd.to_numeric(items["n_attractors"], errors="coerce").to_numpy(float, na_value=np.nan)
    n_mis = (pd.to_numeric(items["n_mismatched"], errors="coerce").to_numpy(float, na_value=np.nan)
             if "n_mismatched" in items.columns else np.full(len(items), np.nan))
    return (n_att >= 2) & (n_mis > 0) & (n_mis < n_att)


def item_classes(head_number: Iterable[str], attractor_numbers: Iterable[Iterable[str]],
                 nearest_number: Iterable[str], n_attractors: Iterable[int] | None = None
                 ) -> tuple[list[str], list[int]]:
    """Per item: its class (see the module docstring) and the number of attractors of the other number.

    ``head_number``/``nearest_number``: 'sg' | 'pl' | '' (unknown); ``attractor_numbers``: one list per item.
    The nearest noun is the head itself or one of the attractors, so an unknown ``nearest_number`` leaves
    an item with attractors of both numbers unknown, while all-matching attractors still make it matched.
    ``n_attractors`` (optional): the source's count; an item that counts attractors whose numbers it does
    not list (or does not know its count, -1) is unknown, not an item without attractors.
    """
    classes, mismatched = [], []
    counts = n_attractors if n_attractors is not None else itertools.repeat(0)
    for head, atts, near, count in zip(head_number, attractor_numbers, nearest_number, counts):
        atts = list(atts) if atts is not None else []
        other = sum(a != head for a in atts) if head in ("sg", "pl") else -1
        mismatched.append(other)
        if head not in ("sg", "pl"):
            classes.append("unknown")
        elif near in ("sg", "pl") and near != head:
            classes.append("conflict")
        elif not atts:
            classes.append("none" if count == 0 else "unknown")
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


def item_row(**kw) -> dict:
    """One item row with every schema column (ITEM_FEATURES): what every importer and extractor builds rows with.
    Unknown values default to '' / -1 / [] and split 'test'; ``id`` is derived from the content and the source
    id unless given."""
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
    row_id = row.pop("id", None) or item_id(row["construction"], row["condition"] or "x", row["verb_type"],
                                            f"{row['sentence_good']}\t{row['source_id']}", row["nonce"])
    return {"id": row_id, **row}


def condition_code(head_number: str, attractor_numbers: Iterable[str]) -> str:
    """'sg', ['pl', 'sg'] -> 'SPS'."""
    return "".join("S" if n == "sg" else "P" for n in (head_number, *attractor_numbers))


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
