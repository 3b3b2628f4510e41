"""probe validate: independent re-checks catch planted bad items."""
import json

import pytest

from probe.data.build import BuildConfig, build_dataset
from probe.core.errors import ProbeError
from probe.data.validate import validate_dataset


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("v") / "agr"
    build_dataset(BuildConfig(per_condition=2, seed=1), out=out, workers=1)
    return out


def test_valid_dataset_passes(folder):
    rep = validate_dataset(folder, parser="none")
    assert rep.ok and rep.n_items > 100
    assert "all items valid" in rep.render()


def _plant(folder, tmp_path, edit):
    rows = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    edit(rows)
    out = tmp_path / "bad"
    out.mkdir()
    (out / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def _swap_verbs(rows):
    r = rows[10]
    r["verb_good"], r["verb_bad"] = r["verb_bad"], r["verb_good"]
    r["sentence_good"], r["sentence_bad"] = r["sentence_bad"], r["sentence_good"]


def _two_diffs(rows):
    rows[3]["sentence_bad"] = rows[3]["sentence_bad"].replace("the ", "a ", 1)


def _attractor_after_verb(rows):
    r = next(r for r in rows if r["construction"] == "pp")
    r["attractor_indices"][0] = r["verb_index"] + 1


def _past_tense_bad_verb(rows):
    # what the old lexicon's reads/read built: 'the teacher read' is a grammatical past tense
    r = next(r for r in rows if r["head_number"] == "sg" and r["verb_type"] == "intransitive")
    v = r["verb_index"]
    good, bad = r["sentence_good"].split(" "), r["sentence_bad"].split(" ")
    good[v], bad[v] = "reads", "read"
    r["sentence_good"], r["sentence_bad"] = " ".join(good), " ".join(bad)
    r["verb_good"], r["verb_bad"] = "reads", "read"


def _bare_complement_cverb(rows):
    # what the old lexicon's 'heard' built: 'the mechanic heard the author laugh' is grammatical
    r = next(r for r in rows if r["construction"] == "sent_comp")
    c = r["head_index"] - 2
    for key in ("sentence_good", "sentence_bad", "prefix"):
        words = r[key].split(" ")
        words[c] = "heard"
        r[key] = " ".join(words)


def _noun_after_and(rows):
    # 'the pilots know the rich editor and jumps' coordinates two nouns: a grammatical bad sentence
    r = next(r for r in rows if r["construction"] == "vp_coord_long" and r["head_number"] == "pl"
             and r["verb_type"] == "intransitive")
    v = r["verb_index"]
    good, bad = r["sentence_good"].split(" "), r["sentence_bad"].split(" ")
    good[v], bad[v] = "jump", "jumps"
    r["sentence_good"], r["sentence_bad"] = " ".join(good), " ".join(bad)
    r["verb_good"], r["verb_bad"] = "jump", "jumps"


@pytest.mark.parametrize("edit, check", [
    (_swap_verbs, "good verb agrees with the head"),
    (_two_diffs, "one differing token"),
    (_attractor_after_verb, "attractors are nouns before the verb"),
    (_past_tense_bad_verb, "bad verb is not also a past tense"),
    (_bare_complement_cverb, "embedding verb takes only an agreeing clause"),
    (_noun_after_and, "a verb after 'and' has no noun reading"),
])
def test_planted_bad_item_is_caught(folder, tmp_path, edit, check):
    rep = validate_dataset(_plant(folder, tmp_path, edit), parser="none")
    assert not rep.ok
    assert rep.failures[check] == 1
    assert "INVALID" in rep.render()


def test_duplicate_item_is_caught(folder, tmp_path):
    rep = validate_dataset(_plant(folder, tmp_path, lambda rows: rows.append(dict(rows[0]))), parser="none")
    assert rep.failures["unique id"] == 1 and rep.failures["unique pair"] == 1


def test_target_that_is_not_a_dataset(tmp_path):
    with pytest.raises(ProbeError, match="not an item dataset"):
        validate_dataset(tmp_path, parser="none")


def test_head_is_subject_on_gold_parse():
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import Doc

    from probe.data.validate import _head_is_subject

    nlp = spacy.blank("en")
    words = "the author of the books is happy".split()
    doc = Doc(nlp.vocab, words=words, heads=[1, 5, 1, 4, 2, 5, 5],
              deps=["det", "nsubj", "prep", "det", "pobj", "ROOT", "acomp"])
    assert _head_is_subject(doc, 1, 5)
    assert not _head_is_subject(doc, 4, 5)


def test_token_spacy_would_split_is_caught(folder, tmp_path):
    def hyphen(rows):
        r = rows[7]
        r["sentence_good"] = r["sentence_good"].replace(r["head"], r["head"] + "-like", 1)
        r["sentence_bad"] = r["sentence_bad"].replace(r["head"], r["head"] + "-like", 1)
    rep = validate_dataset(_plant(folder, tmp_path, hyphen), parser="none")
    assert rep.failures["spaCy tokenizer agrees with the item tokens"] == 1
