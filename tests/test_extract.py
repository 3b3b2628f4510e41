"""Natural-text extraction on gold-annotated spaCy Docs (no model download), verb forms, input, errors."""
import json
from collections import Counter

import datasets
import pytest
import spacy
from spacy.tokens import Doc

from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.extract import (PARSER_HINT, ExtractConfig, extract_dataset, extract_items, iter_texts,
                                load_parser, other_verb_form, sentence_items)
from probe.data.lexicon import load_lexicon
from probe.data.records import ITEM_COLUMNS
from probe.data.items import load_items

NLP = spacy.blank("en")
PAIRS = load_lexicon().verb_pair


def gold(spec: str) -> Doc:
    """A Doc from 'word/TAG/head/dep' tokens (head = absolute index; the root points at itself).

    Number morphology is filled in from the tag, as a tagger with a morphologizer would.
    """
    words, tags, heads, deps, morphs = [], [], [], [], []
    for tok in spec.split():
        word, tag, head, dep = tok.rsplit("/", 3)
        words.append(word)
        tags.append(tag)
        heads.append(int(head))
        deps.append(dep)
        morphs.append("Number=Plur" if tag in ("NNS", "NNPS") else "Number=Sing" if tag in ("NN", "NNP") else "")
    return Doc(NLP.vocab, words=words, heads=heads, deps=deps, tags=tags, morphs=morphs)


# "The author of the books near the tables laughs ." : two plural attractors
MULTI = ("The/DT/1/det author/NN/8/nsubj of/IN/1/prep the/DT/4/det books/NNS/2/pobj near/IN/4/prep "
         "the/DT/7/det tables/NNS/5/pobj laughs/VBZ/8/ROOT ././8/punct")
# "The books on the shelf have been read ." : the finite auxiliary agrees
AUX = ("The/DT/1/det books/NNS/7/nsubjpass on/IN/1/prep the/DT/4/det shelf/NN/2/pobj have/VBP/7/aux "
       "been/VBN/7/auxpass read/VBN/7/ROOT ././7/punct")
# UD-style copula: "The cat near the dogs is happy"
COP = "The/DT/1/det cat/NN/6/nsubj near/IN/1/prep the/DT/4/det dogs/NNS/2/pobj is/VBZ/6/cop happy/JJ/6/ROOT"
# Must be filtered: the relative clause's verb agrees with the head ("The boy who likes the dogs runs")
CONFOUND = ("The/DT/1/det boy/NN/6/nsubj who/WP/3/nsubj likes/VBZ/1/relcl the/DT/5/det dogs/NNS/3/dobj "
            "runs/VBZ/6/ROOT")
PAST = "The/DT/1/det dogs/NNS/2/nsubj barked/VBD/2/ROOT"
COORDINATED = "The/DT/1/det claws/NNS/5/nsubj and/CC/1/cc the/DT/4/det abdomen/NN/1/conj contain/VBP/5/ROOT"
# "The members of the city council are elected": 'city' is a compound modifier, not an attractor
COMPOUND = ("The/DT/1/det members/NNS/7/nsubjpass of/IN/1/prep the/DT/5/det city/NN/5/compound council/NN/2/pobj "
            "are/VBP/7/auxpass elected/VBN/7/ROOT")
MISMATCH = "The/DT/1/det dog/NN/2/nsubj bark/VBP/2/ROOT"
PROPER = "John/NNP/1/nsubj laughs/VBZ/1/ROOT"
MODAL = "The/DT/1/det dogs/NNS/3/nsubj can/MD/3/aux bark/VB/3/ROOT"
QUESTION = "Is/VBZ/3/aux the/DT/2/det dog/NN/3/nsubj barking/VBG/3/ROOT"


def one(spec, **kw):
    reasons = Counter()
    rows = sentence_items(gold(spec), verb_pairs=PAIRS, reasons=reasons, **kw)
    return rows, reasons


def test_multi_attractor_sentence():
    (r,), reasons = one(MULTI)
    assert not reasons
    assert (r["construction"], r["condition"], r["n_attractors"]) == ("natural", "SPP", 2)
    assert (r["head"], r["head_index"], r["head_number"]) == ("author", 1, "sg")
    assert (r["attractors"], r["attractor_numbers"], r["attractor_indices"]) == \
        (["books", "tables"], ["pl", "pl"], [4, 7])
    assert (r["nearest_noun"], r["nearest_number"]) == ("tables", "pl")
    assert (r["prefix"], r["verb_good"], r["verb_bad"], r["verb_index"]) == \
        ("the author of the books near the tables", "laughs", "laugh", 8)
    assert r["sentence_good"] == "the author of the books near the tables laughs"  # final '.' dropped
    assert r["sentence_bad"] == "the author of the books near the tables laugh"
    assert (r["distance"], r["verb_type"], r["source"]) == (6, "intransitive", "natural")
    assert r["source_id"] == "The author of the books near the tables laughs ."
    assert list(r) == ["id", *[c for c in ITEM_COLUMNS if c != "id"]]


def test_auxiliary_and_copula_are_the_agreeing_words():
    (r,), _ = one(AUX)
    assert (r["verb_good"], r["verb_bad"], r["verb_index"], r["condition"], r["attractors"]) == \
        ("have", "has", 5, "PS", ["shelf"])
    assert r["verb_type"] == "other"
    (r,), _ = one(COP)
    assert (r["verb_good"], r["verb_bad"], r["condition"], r["verb_type"]) == ("is", "are", "SP", "copula")


def test_compound_modifier_is_not_a_separate_attractor():
    (r,), _ = one(COMPOUND)
    assert (r["condition"], r["attractors"], r["attractor_indices"], r["verb_good"]) == ("PS", ["council"], [5], "are")


def test_same_number_intervening_noun_is_not_an_attractor():
    spec = MULTI.replace("books/NNS", "book/NN")
    (r,), _ = one(spec)
    assert (r["condition"], r["attractors"], r["nearest_noun"]) == ("SP", ["tables"], "tables")


@pytest.mark.parametrize("spec, reason", [
    (CONFOUND, "confound"),
    (PAST, "verb_not_present"),
    (MODAL, "verb_not_present"),
    (MISMATCH, "number_mismatch"),
    (COORDINATED, "coordinated_subject"),
    (PROPER, "subject_not_common_noun"),
    (QUESTION, "subject_after_verb"),
])
def test_filtered_sentences(spec, reason):
    rows, reasons = one(spec)
    assert rows == []
    assert reasons[reason] >= 1, reasons


def test_length_and_vocabulary_filters():
    rows, reasons = one(MULTI, max_words=8)  # 9 words
    assert rows == [] and reasons["too_long"] == 1
    assert len(one(MULTI, max_words=9)[0]) == 1
    rows, reasons = one(MULTI, vocab={"author", "laughs"})  # 'laugh' missing
    assert rows == [] and reasons["out_of_vocab"] == 1
    assert len(one(MULTI, vocab={"author", "laughs", "laugh"})[0]) == 1


@pytest.mark.parametrize("form, tag, lemma, other", [
    ("watches", "VBZ", "", "watch"), ("tries", "VBZ", "", "try"), ("uses", "VBZ", "", "use"),
    ("focuses", "VBZ", "focus", "focus"),   # the lemma fixes what the rule gets wrong
    ("go", "VBP", "", "goes"), ("fix", "VBP", "", "fixes"), ("carry", "VBP", "", "carries"),
    ("is", "VBZ", "be", "are"), ("have", "VBP", "have", "has"),
    ("are", "VBZ", "", ""),                  # wrong tag for the form
    ("run", "VBZ", "", ""), ("runs", "VBP", "", ""),  # tagging errors
    ("walked", "VBD", "", ""), ("'s", "VBZ", "", ""),
])
def test_other_verb_form(form, tag, lemma, other):
    assert other_verb_form(form, tag, pairs=PAIRS, lemma=lemma) == other


def test_other_verb_form_checks_vocab():
    assert other_verb_form("watches", "VBZ", vocab={"watch"}) == "watch"
    assert other_verb_form("watches", "VBZ", vocab={"other"}) == ""


def test_iter_texts_skips_headings_and_blank_lines(tmp_path):
    f = tmp_path / "wiki.txt"
    f.write_text(" = Title = \n\n The keys  are here . \n = = Section = = \n A b c .\n Third line .\n")
    texts = list(iter_texts(ExtractConfig(texts=(str(f),), max_texts=2)))
    assert texts == [("The keys are here .", "wiki.txt:3"), ("A b c .", "wiki.txt:5")]
    ds_dir = tmp_path / "hf"
    datasets.Dataset.from_dict({"text": ["", "The dog barks ."]}).save_to_disk(str(ds_dir))
    assert list(iter_texts(ExtractConfig(hf=str(ds_dir)))) == [("The dog barks .", f"{ds_dir}:train:1")]
    with pytest.raises(ProbeError, match="no column 'body'"):
        list(iter_texts(ExtractConfig(hf=str(ds_dir), hf_column="body")))


class GoldNLP:
    """Stands in for a spaCy pipeline: maps each text to a gold-annotated Doc."""

    def __init__(self, docs: dict):
        self.docs = docs
        self.calls = []

    def pipe(self, texts, as_tuples=False, batch_size=None, n_process=None):
        self.calls.append((batch_size, n_process))
        for text, ctx in texts:
            yield self.docs[text], ctx


def test_extract_end_to_end_with_dedup(tmp_path):
    specs = [MULTI, AUX, CONFOUND, MULTI]  # the repeated sentence is kept once
    texts = [gold(s).text.strip() for s in specs]
    f = tmp_path / "t.txt"
    f.write_text("\n".join(texts) + "\n")
    nlp = GoldNLP({gold(s).text.strip(): gold(s) for s in specs})
    cfg = ExtractConfig(texts=(str(f),), batch_size=7, n_process=1)
    rows, reasons = extract_items(cfg, nlp=nlp)
    assert [r["verb_good"] for r in rows] == ["laughs", "have"]
    assert reasons["duplicate"] == 1 and reasons["confound"] == 1
    assert nlp.calls == [(7, 1)]
    out = tmp_path / "nat"
    summary = extract_dataset(cfg, out, nlp=nlp)
    assert "2 items" in summary
    ds = load_items(out)
    assert ds.to_list() == [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    card = (out / "README.md").read_text()
    assert "confound 1" in card and "natural" in card


def test_missing_pipeline_names_the_download_command(tmp_path, capsys):
    with pytest.raises(ProbeError, match="spacy download en_core_web_sm"):
        load_parser("no_such_pipeline_xyz")
    blank = tmp_path / "blank"
    spacy.blank("en").to_disk(blank)
    with pytest.raises(ProbeError, match="has no parser"):
        load_parser(str(blank))
    f = tmp_path / "t.txt"
    f.write_text("The dog barks .\n")
    out = tmp_path / "out"
    assert main(["extract", "--text", str(f), "--out", str(out), "--model", "no_such_pipeline_xyz"]) == 2
    err = capsys.readouterr().err.strip()
    assert PARSER_HINT in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_other_verb_form_takes_the_number_from_the_lexicon():
    # a pair the spelling rules cannot read: only the lexicon's number catches a tag in the wrong direction
    pairs, numbers = {"zorbs": "zarb", "zarb": "zorbs"}, {"zorbs": "sg", "zarb": "pl"}
    assert other_verb_form("zorbs", "VBP", pairs=pairs) == "zarb"
    assert other_verb_form("zorbs", "VBP", pairs=pairs, numbers=numbers) == ""
    assert other_verb_form("zorbs", "VBZ", pairs=pairs, numbers=numbers) == "zarb"


def test_iter_texts_rejoins_wikitext_number_and_hyphen_joins(tmp_path):
    # kept as tokens, en_core_web_sm tagged '@-@' NNP and made it the subject of 'are'
    f = tmp_path / "wiki.txt"
    f.write_text(" = = Size = = \n The red @-@ tipped claws , 1 @,@ 000 of them , are 3 @.@ 5 cm long . \n"
                 " N @-@ <unk> and <unk> @-@ like , <unk> @,@ 5 \n")
    assert [t for t, _ in iter_texts(ExtractConfig(texts=(str(f),)))] == \
        ["The red-tipped claws , 1,000 of them , are 3.5 cm long .", "N - <unk> and <unk> - like , <unk> , 5"]


def test_unk_from_head_to_verb_drops_the_item():
    # an <unk> between head and verb may be an attractor whose number the tagger can only guess
    rows, reasons = one(MULTI.replace("books/NNS", "<unk>/NNP"))
    assert rows == [] and reasons["unknown_word"] == 1
    rows, reasons = one(MULTI.replace("author/NN", "<unk>/NN"))
    assert rows == [] and reasons["unknown_word"] == 1
    # after the verb it does not matter
    rows, _ = one(MULTI.replace("././8/punct", "<unk>/NN/8/dobj"))
    assert len(rows) == 1


@pytest.mark.parametrize("spec, bucket", [
    (MULTI, "natural_2"),
    (MULTI.replace("books/NNS", "book/NN"), "natural_mixed"),  # 'book' has the head's number
    (AUX, "natural_1"),
    (COMPOUND, "natural_1"),
    ("The/DT/1/det dogs/NNS/2/nsubj bark/VBP/2/ROOT", "natural_0"),
])
def test_bucket_constructions(spec, bucket):
    (r,), _ = one(spec, bucket=True)
    assert r["construction"] == bucket
    (plain,), _ = one(spec)
    assert plain["construction"] == "natural" and plain["id"] == r["id"]  # the id does not depend on the bucket


def test_bucket_name_merges_four_and_more():
    from probe.data.extract import bucket_name

    assert [bucket_name(k, True) for k in (0, 3, 4, 7)] == ["natural_0", "natural_3", "natural_4plus", "natural_4plus"]
    assert bucket_name(2, False) == "natural_mixed"


def test_max_items_stops_parsing(tmp_path):
    specs = [MULTI, AUX, COMPOUND]
    f = tmp_path / "t.txt"
    f.write_text("\n".join(gold(s).text.strip() for s in specs) + "\n")
    nlp = GoldNLP({gold(s).text.strip(): gold(s) for s in specs})
    counts = Counter()
    rows, _ = extract_items(ExtractConfig(texts=(str(f),), max_items=2), nlp=nlp, counts=counts)
    assert [r["verb_good"] for r in rows] == ["laughs", "have"]
    assert counts == {"texts": 2, "sentences": 2}
    with pytest.raises(ProbeError, match="max_items"):
        extract_items(ExtractConfig(texts=(str(f),), max_items=0), nlp=nlp)
