"""Lexicon loading and its one-line errors."""
import pytest

from probe.core.errors import ProbeError
from probe.data.lexicon import (PL, SG, bare_complement_class, default_lexicon_path, load_lexicon,
                                past_tense_reason, verb_tables)


def test_shipped_lexicon_meets_the_minimums():
    lex = load_lexicon()
    assert len(lex.animate_nouns) >= 60
    assert len(lex.inanimate_nouns) >= 40
    assert sum(n.irregular for n in lex.nouns) >= 10
    assert len(lex.intransitive_verbs) >= 25 and len(lex.transitive_verbs) >= 25
    assert {(c.sg, c.pl) for c in lex.copulas} == {("is", "are"), ("was", "were"), ("has", "have")}
    assert lex.preps and lex.comps and lex.adjectives and lex.advs and lex.dets
    irregular = {n.sg: n.pl for n in lex.nouns if n.irregular}
    assert irregular["man"] == "men" and irregular["child"] == "children" and irregular["person"] == "people"


def test_number_lookups():
    lex = load_lexicon()
    assert lex.noun_number["people"] == PL and lex.noun_number["person"] == SG
    assert lex.verb_number["laughs"] == SG and lex.verb_number["laugh"] == PL
    assert lex.verb_pair["are"] == "is" and lex.verb_pair["likes"] == "like"
    # no form is both a noun and a verb, or number look-ups would be ambiguous
    assert not set(lex.noun_number) & set(lex.verb_number)


def _write(tmp_path, body: str):
    head = default_lexicon_path().read_text()
    p = tmp_path / "lex.tsv"
    p.write_text(head + body)
    return p


@pytest.mark.parametrize("line, message", [
    ("noun\tzebra\t-\tanimate", "no plural form"),
    ("noun\tauthor\tauthors\tanimate", "duplicate noun entry 'author'"),
    ("noun\tzebra\tzebras\tstriped", "unknown feature 'striped'"),
    ("noun\tzebra\tzebras", "expected 4 tab-separated columns"),
    ("pronoun\tit\t-\t-", "unknown category 'pronoun'"),
    ("verb\tzooms\tzoom\ttransitive", "needs one obj="),
    ("verb\tbooks\tbook\tintransitive", "is both a noun"),
    ("noun\tZebra\tzebras\tanimate", "lower-case word"),
])
def test_malformed_lexicon_names_the_line(tmp_path, line, message):
    p = _write(tmp_path, line + "\n")
    n_lines = len(p.read_text().splitlines())
    with pytest.raises(ProbeError) as err:
        load_lexicon(p)
    assert message in str(err.value)
    assert f"line {n_lines}" in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_lexicon(tmp_path):
    with pytest.raises(ProbeError, match="cannot read lexicon"):
        load_lexicon(tmp_path / "missing.tsv")


def test_lexicon_missing_a_category(tmp_path):
    p = tmp_path / "lex.tsv"
    p.write_text("noun\tauthor\tauthors\tanimate\n")
    with pytest.raises(ProbeError, match="no inanimate noun entries"):
        load_lexicon(p)


# Entries the shipped lexicon once had whose bad sentences are grammatical: 'the mechanic heard the
# author laugh' (bare infinitive), 'the customer suggested the cousin smile' (subjunctive), 'the teacher
# read' (past tense).
@pytest.mark.parametrize("line, message", [
    ("verb\treads\tread\tintransitive", "the plural 'read' is also a past tense"),
    ("cverb\theard\t-\t-", "cverb 'heard' is a perception verb"),
    ("cverb\tsuggested\t-\t-", "cverb 'suggested' is a mandative verb"),
    ("verb\tputs\tput\ttransitive,obj=inanimate", "the plural 'put' is also a past tense"),
    ("cverb\tsaw\t-\t-", "cverb 'saw' is a perception verb"),
])
def test_entries_whose_bad_sentence_is_grammatical_are_rejected(tmp_path, line, message):
    p = _write(tmp_path, line + "\n")
    n_lines = len(p.read_text().splitlines())
    with pytest.raises(ProbeError) as err:
        load_lexicon(p)
    assert message in str(err.value) and f"line {n_lines}:" in str(err.value)
    assert "drop the line" in str(err.value) and "\n" not in str(err.value)


def test_shipped_lexicon_has_no_bare_complement_cverb_or_past_plural():
    lex = load_lexicon()
    assert not {"heard", "suggested"} & set(lex.cverbs)
    assert "read" not in lex.verb_number
    assert all(bare_complement_class(c) is None for c in lex.cverbs)
    assert all(past_tense_reason(v.sg, v.pl) is None for v in lex.verbs)


# spaCy's tables in their own format (spacy-lookups-data's en_lemma_lookup / en_lemma_exc['verb']):
# excerpts of the real entries, plus a made-up verb 'zorb' that has a past form and one that lacks it.
LOOKUP = {"reads": "read", "reading": "read", "laughs": "laugh", "laughed": "laugh", "laughing": "laugh",
          "zorbs": "zorb", "glims": "glim", "glimmed": "glim", "finds": "find"}
VERB_EXC = {"found": ["find"], "fell": ["fall"], "shed": ["shed"], "ate": ["eat"]}


@pytest.mark.parametrize("sg, pl, past", [
    ("laughs", "laugh", False),
    ("glims", "glim", False),        # a listed -ed past
    ("zorbs", "zorb", True),         # known verb, no past form listed: its past is the base form
    ("founds", "found", True),       # an irregular past of another verb
    ("sheds", "shed", True),         # listed as its own past
    ("eats", "eat", False),
    ("blicks", "blick", False),      # unknown to the tables: no evidence
])
def test_past_tense_from_spacy_tables(sg, pl, past):
    assert (past_tense_reason(sg, pl, (LOOKUP, VERB_EXC)) is not None) == past
    assert past_tense_reason(sg, pl) is None or pl == "shed"  # without tables only the closed class


def test_past_tense_with_installed_spacy_tables():
    tables = verb_tables()
    if tables is None:
        pytest.skip("spacy-lookups-data is not installed")
    assert past_tense_reason("reads", "read", tables) and past_tense_reason("fells", "fell", tables)
    lex = load_lexicon()
    assert [v.pl for v in lex.verbs if past_tense_reason(v.sg, v.pl, tables)] == []
