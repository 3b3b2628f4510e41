"""Lexicon loading and its one-line errors."""
import pytest

from probe.config import ProbeError
from probe.lexicon import PL, SG, default_lexicon_path, load_lexicon


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
