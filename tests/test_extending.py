"""Each extension point takes a new component through its public registry (docs/extending.md).

Cells: tests/test_cells.py; analyses: tests/test_analyses.py. Here: a construction, a scorer, an importer.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probe.data.build import BuildConfig, build_dataset
from probe.data.constructions import (CONSTRUCTIONS, Construction, Parts, noun_phrase, register_construction,
                                      verb_phrase)
from probe.data.importers import ImportConfig, formats, import_dataset
from probe.data.importers.common import read_lines, single_diff
from probe.data.records import item_row
from probe.data.importers.registry import IMPORTERS, Importer, register_importer
from probe.data.items import load_items
from probe.data.corpus import Vocab
from probe.data.validate import validate_dataset
from probe.evaluate import evaluate
from probe.scoring.registry import SCORERS, load_scorer, register_scorer


def pp_adverb(s, numbers, verb_type, variant):
    """the HEAD PREP the A1 ADV VERB ...     'the author near the guards often laughs'"""
    out, avoid = [], []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    out.append(s.choice(s.lex.preps))
    a = noun_phrase(s, s.noun(None, avoid), numbers[1], out)
    out.append(s.choice(s.advs))
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, (a,))


@pytest.fixture
def construction():
    yield register_construction(Construction("pp_adverb", pp_adverb, 1))
    del CONSTRUCTIONS["pp_adverb"]


def test_a_new_construction_is_one_function_and_one_registry_line(construction, tmp_path):
    out = tmp_path / "items"
    build_dataset(BuildConfig(constructions=("pp_adverb",), per_condition=6, seed=1), out, workers=2)
    items = load_items(out).to_pandas()
    assert set(items["construction"]) == {"pp_adverb"} and set(items["condition"]) == {"SS", "SP", "PS", "PP"}
    assert len(items) == 6 * 4              # per condition x conditions
    for r in items.itertuples():
        toks = r.sentence_good.split()
        assert toks[r.head_index] == r.head and toks[r.attractor_indices[0]] == r.attractors[0]
        assert r.verb_index == r.attractor_indices[0] + 2 and toks[r.verb_index] == r.verb_good
        assert r.distance == 4 and r.nearest_noun == r.attractors[0]
    assert validate_dataset(out, parser="none").ok


class ConstantLM:
    """A toy scorer: every word has the same probability, except that words ending in 's' are twice as likely."""

    def __init__(self, vocab: Vocab, name: str):
        self.vocab = vocab
        w = np.array([2.0 if t.endswith("s") else 1.0 for t in vocab.itos])
        self.logp = np.log(w / w.sum())
        self.info = {"model": name, "arch": "constant", "seed": 0, "path": name}

    def next_word_logprobs(self, prefixes, candidates, prefix_of=None):
        """log P(candidate | prefix): [N, K] for candidates [N, K] (ids)."""
        return self.logp[np.asarray(candidates)]

    def sequence_logprobs(self, sequences, starts):
        """sum of log P(w_t) for t >= start, per sequence: [N]."""
        return np.array([self.logp[list(s[k:])].sum() for s, k in zip(sequences, starts)])


def test_a_new_scorer_is_a_class_and_a_registry_line(tmp_path):
    words = ["<unk>", "<eos>", "the", "author", "authors", "laughs", "laugh"]

    def load(target, *, batch_size, device, name):
        return ConstantLM(Vocab(tuple(words)), name or target)

    register_scorer("constant", load, help="any name")
    try:
        rows = [{"id": f"x{i}", "construction": "simple", "condition": c, "prefix": f"the {h}", "verb_good": g,
                 "verb_bad": b, "sentence_good": f"the {h} {g}", "sentence_bad": f"the {h} {b}"}
                for i, (c, h, g, b) in enumerate([("S", "author", "laughs", "laugh"),
                                                  ("P", "authors", "laugh", "laughs")])]
        data = tmp_path / "items.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        scorer = load_scorer("constant:demo")
        assert scorer.info["model"] == "demo"
        scores = evaluate(models=["constant:demo"], data=[data], out=tmp_path / "out")
        # the 's' preference is right for the singular head and wrong for the plural one
        assert scores.sort_values("id")["correct"].tolist() == [True, False]
        assert pd.read_csv(tmp_path / "out" / "summary.csv")["model"].iloc[0] == "demo"
    finally:
        del SCORERS["constant"]


def _read_pairs(paths, lexicon):
    """A toy format: 'good sentence<TAB>bad sentence' per line; the one differing word is the verb."""
    rows = []
    for path in paths:
        for n, line in read_lines(path):
            good, bad = (part.split() for part in line.rstrip("\n").split("\t"))
            v = single_diff(good, bad)
            head = good[v - 1]
            number = lexicon.noun_number.get(head, "")     # the lexicon knows its nouns' numbers
            rows.append(item_row(construction="pairs", prefix=" ".join(good[:v]), verb_good=good[v],
                                 verb_bad=bad[v], verb_index=v, sentence_good=" ".join(good),
                                 sentence_bad=" ".join(bad), head=head, head_index=v - 1,
                                 head_number=number or "", source="pairs", source_id=f"{path.name}:{n}"))
    return rows


@pytest.fixture
def importer():
    yield register_importer(Importer("pairs", lambda paths, lex: _read_pairs([Path(p) for p in paths], lex),
                                     "Tab-separated minimal pairs."))
    del IMPORTERS["pairs"]


def test_a_new_importer_is_a_module_and_a_registry_line(importer, tmp_path):
    assert "pairs" in formats()
    src = tmp_path / "pairs.tsv"
    # a real line: Marvin & Linzen (2018) simple agreement, as their templates write it
    src.write_text("the author laughs\tthe author laugh\nthe pilots swim\tthe pilots swims\n")
    import_dataset(ImportConfig(format="pairs", paths=(str(src),)), tmp_path / "out")
    items = load_items(tmp_path / "out").to_pandas()
    assert items["verb_good"].tolist() == ["laughs", "swim"]
    assert items["prefix"].tolist() == ["the author", "the pilots"]
    assert items["source_id"].tolist() == ["pairs.tsv:1", "pairs.tsv:2"]
    assert items["head_number"].tolist() == ["sg", "pl"]
