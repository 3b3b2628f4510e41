"""Importers: each format round-trips into the item schema; decoded codes; SyntaxGym predictions; bad files."""
import gzip
import json
import re
from collections import Counter

import datasets
import pandas as pd
import pytest

from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.importers import formats, import_items
from probe.data.importers.marvin_linzen import decode_ml_condition, read_marvin_linzen
from probe.scoring.suites import evaluate_predictions, region_surprisals, stored_region_surprisals, suite_formulas
from probe.data.importers.blimp import read_blimp
from probe.data.importers.gulordava import read_gulordava
from probe.data.importers.linzen import read_linzen
from probe.data.importers.syntaxgym import read_syntaxgym
from probe.data.importers.common import tokenize
from probe.data.lexicon import load_lexicon
from probe.data.records import ITEM_COLUMNS, ITEM_FEATURES, item_classes
from probe.data.items import load_items

LEX = load_lexicon()


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _import(fmt, path, out, capsys):
    assert main(["import", fmt, str(path), "--out", str(out)]) == 0, capsys.readouterr().err
    ds = load_items(out)
    assert ds.features == ITEM_FEATURES
    lines = [json.loads(x) for x in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [list(r) for r in lines] == [list(ITEM_COLUMNS)] * len(lines)  # every column, schema order
    assert ds.to_list() == lines
    assert (out / "README.md").is_file()
    assert json.loads((out / "config.json").read_text())["format"] == fmt
    assert len({r["id"] for r in lines}) == len(lines)
    return lines


# --------------------------------------------------------------------------- tokens

@pytest.mark.parametrize("text, tokens", [
    ("This customer hasn't worn some shoes.", ["this", "customer", "has", "n't", "worn", "some", "shoes"]),
    ("They can't go, won't they?", ["they", "ca", "n't", "go", ",", "wo", "n't", "they"]),
    ("Craig's ex-wife is here!", ["craig", "'s", "ex-wife", "is", "here"]),
])
def test_tokenize_is_ptb_style_lower_case_without_final_punctuation(text, tokens):
    assert tokenize(text) == tokens


# --------------------------------------------------------------------------- BLiMP

BLIMP = [
    {"sentence_good": "A niece of most senators hasn't descended most slopes.",
     "sentence_bad": "A niece of most senators haven't descended most slopes.",
     "one_prefix_prefix": "A niece of most senators", "one_prefix_word_good": "hasn't",
     "one_prefix_word_bad": "haven't", "dependency_length": 5, "field": "morphology",
     "linguistics_term": "subject_verb_agreement", "UID": "distractor_agreement_relational_noun",
     "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False,
     "lexically_identical": False, "pairID": "0"},
    {"sentence_good": "Craig explored that grocery store.", "sentence_bad": "Craig explored that grocery stores.",
     "one_prefix_prefix": "Craig explored that", "one_prefix_word_good": "grocery store",
     "one_prefix_word_bad": "grocery stores", "field": "morphology",
     "linguistics_term": "determiner_noun_agreement", "UID": "determiner_noun_agreement_1",
     "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False,
     "lexically_identical": True, "pairID": "1"},
    {"sentence_good": "The students perform.", "sentence_bad": "The student perform.",
     "two_prefix_prefix_good": "The students", "two_prefix_prefix_bad": "The student", "two_prefix_word": "perform",
     "field": "morphology", "linguistics_term": "subject_verb_agreement",
     "UID": "regular_plural_subject_verb_agreement_2", "simple_LM_method": True, "one_prefix_method": False,
     "two_prefix_method": True, "lexically_identical": False, "pairID": "0"},
    {"sentence_good": "Paula references Robert.", "sentence_bad": "Paula reference Robert.",
     "one_prefix_prefix": "Paula", "one_prefix_word_good": "references", "one_prefix_word_bad": "reference",
     "field": "morphology", "linguistics_term": "subject_verb_agreement",
     "UID": "regular_plural_subject_verb_agreement_1", "simple_LM_method": True, "one_prefix_method": True,
     "two_prefix_method": False, "lexically_identical": False, "pairID": "0"},
]


def test_blimp_round_trip(tmp_path, capsys):
    rows = _import("blimp", _jsonl(tmp_path / "sample.jsonl", BLIMP), tmp_path / "out", capsys)
    by_src = {r["source_id"]: r for r in rows}
    r = by_src["distractor_agreement_relational_noun/0"]
    assert (r["prefix"], r["verb_good"], r["verb_bad"], r["verb_index"]) == \
        ("a niece of most senators", "has", "have", 5)
    assert r["sentence_good"] == "a niece of most senators has n't descended most slopes"
    assert (r["head_number"], r["n_attractors"], r["source"], r["split"]) == ("sg", 1, "blimp", "test")
    r = by_src["determiner_noun_agreement_1/1"]  # a two-word critical phrase still differs in one token
    assert (r["prefix"], r["verb_good"], r["verb_bad"], r["condition"]) == \
        ("craig explored that grocery", "store", "stores", "S")
    r = by_src["regular_plural_subject_verb_agreement_2/0"]  # two-prefix: sentence method only
    assert (r["prefix"], r["verb_good"], r["verb_bad"], r["verb_index"]) == ("", "", "", -1)
    assert (r["head_number"], r["condition"], r["n_attractors"]) == ("pl", "P", 0)
    assert by_src["regular_plural_subject_verb_agreement_1/0"]["head_number"] == "sg"


def _own(good, bad, i, **fields):
    return {"sentence_good": good, "sentence_bad": bad, "UID": "my_agreement", "pairID": str(i),
            "one_prefix_method": True, **fields}


def test_blimp_format_file_with_its_own_conditions_keeps_them(tmp_path, capsys):
    records = [
        _own("The key to the cabinets is here.", "The key to the cabinets are here.", 0, condition="SP"),
        _own("The keys to the cabinet are here.", "The keys to the cabinet is here.", 1, condition="PS"),
        _own("The key to the cabinet is here.", "The key to the cabinet are here.", 2, condition="SS",
             n_attractors=1, attractors=["cabinet"]),
        # the attractor stands before the head: its positions say the nearest noun is the head
        _own("The guards said the author laughs.", "The guards said the author laugh.", 3, condition="SP",
             head_index=4, attractor_indices=[1]),
        _own("The author laughs.", "The author laugh.", 4, condition="S"),
        # an item that says nothing keeps the guessed (here: unknown) facts
        _own("The author near the guards laughs.", "The author near the guards laugh.", 5),
    ]
    rows = _import("blimp", _jsonl(tmp_path / "own.jsonl", records), tmp_path / "out", capsys)
    got = [(r["condition"], r["n_attractors"], r["head_number"], r["attractor_numbers"], r["nearest_number"])
           for r in rows]
    assert got == [("SP", 1, "sg", ["pl"], "pl"), ("PS", 1, "pl", ["sg"], "sg"), ("SS", 1, "sg", ["sg"], "sg"),
                   ("SP", 1, "sg", ["pl"], "sg"), ("S", 0, "sg", [], "sg"), ("", -1, "", [], "")]
    assert rows[2]["attractors"] == ["cabinet"]
    classes, _ = item_classes([r["head_number"] for r in rows], [r["attractor_numbers"] for r in rows],
                              [r["nearest_number"] for r in rows], [r["n_attractors"] for r in rows])
    assert classes == ["conflict", "conflict", "matched", "mismatched_no_conflict", "none", "unknown"]


@pytest.mark.parametrize("fields, message", [
    ({"condition": "SX"}, "field 'condition' must be S/P letters"),
    ({"condition": "SP", "n_attractors": 2}, "field 'n_attractors' (2) disagrees"),
    ({"condition": "SP", "attractor_numbers": ["sg"]}, "field 'attractor_numbers' ['sg'] disagrees"),
    ({"condition": "SP", "head_number": "pl"}, "field 'head_number' (pl) disagrees"),
    ({"nearest_number": "plural"}, "field 'nearest_number' must be 'sg' or 'pl'"),
    ({"attractor_indices": ["2"]}, "field 'attractor_indices' must be a list of int"),
])
def test_blimp_format_stated_facts_that_disagree_are_an_error(tmp_path, fields, message):
    path = _jsonl(tmp_path / "own.jsonl", [_own("The key to the cabinets is here.", "The key to the cabinets are "
                                                "here.", 0, **fields)])
    with pytest.raises(ProbeError, match=re.escape(f"line 1: {message}")):
        read_blimp([path])


def test_blimp_shared_files(external):
    folder = external / "blimp"
    if not folder.is_dir():
        pytest.skip("no BLiMP files")
    rows = read_blimp([folder / "distractor_agreement_relative_clause.jsonl"])
    assert len(rows) == 1000 and all(r["verb_good"] for r in rows)
    assert rows[0]["prefix"] == "this customer who had visited most children"
    assert (rows[0]["verb_good"], rows[0]["verb_bad"]) == ("has", "have")
    rows = read_blimp([folder])  # a folder: every paradigm, models_summary.jsonl skipped
    assert len(rows) == 1000 * len([p for p in folder.glob("*.jsonl") if not p.name.endswith("summary.jsonl")])


def _real_line(external, relpath, lineno, tmp_path):
    """Line ``lineno`` (1-based) of a shared external file, written alone to a file in ``tmp_path``."""
    path = external / relpath
    if not path.is_file():
        pytest.skip(f"no {relpath}")
    lines = path.read_text(encoding="utf-8").splitlines()
    out = tmp_path / path.name
    out.write_text(lines[lineno - 1] + "\n", encoding="utf-8")
    return out


@pytest.mark.parametrize("paradigm, line, head_number", [
    ("distractor_agreement_relational_noun", 12, "pl"),   # The sisters of Timothy judge/*judges Randolf to weep.
    ("distractor_agreement_relative_clause", 439, "sg"),  # A school that does annoy a lot of customers judges ...
    ("distractor_agreement_relative_clause", 506, "sg"),  # Some committee that has known the adults judges ...
    ("distractor_agreement_relative_clause", 649, "pl"),  # These organizations that should boast about Rhonda judge ...
    ("distractor_agreement_relative_clause", 961, "sg"),  # That waiter who isn't talking about these men judges ...
])
def test_blimp_verb_judge_is_not_read_as_the_noun(external, tmp_path, paradigm, line, head_number):
    # the lexicon's noun judge/judges must not decide the number of the verb judges/judge
    (r,) = import_items("blimp", [_real_line(external, f"blimp/{paradigm}.jsonl", line, tmp_path)])
    assert r["verb_good"] in ("judge", "judges") and r["head_number"] == head_number
    assert r["condition"] == ("SP" if head_number == "sg" else "PS") and r["nearest_number"] != head_number


@pytest.mark.parametrize("paradigm, line, fields", [
    ("distractor_agreement_relational_noun", 1,   # A niece of most senators hasn't descended most slopes.
     ("niece", 1, ["senators"], ["pl"], [4], "senators", "pl", "SP", 1, 3)),
    ("distractor_agreement_relational_noun", 3,   # A newspaper article about the Borgias has disagreed with Marcus.
     ("article", 2, ["borgias"], ["pl"], [5], "borgias", "pl", "SP", 1, 3)),
    ("distractor_agreement_relative_clause", 1,   # This customer who had visited most children has worn some shoes.
     ("customer", 1, ["children"], ["pl"], [6], "children", "pl", "SP", 1, 5)),
    ("distractor_agreement_relative_clause", 3,   # Boys that aren't disturbing Natalie suffer.
     ("boys", 0, ["natalie"], ["sg"], [5], "natalie", "sg", "PS", 1, 5)),
])
def test_blimp_distractor_items_carry_their_attractor(external, tmp_path, paradigm, line, fields):
    (r,) = import_items("blimp", [_real_line(external, f"blimp/{paradigm}.jsonl", line, tmp_path)])
    keys = ("head", "head_index", "attractors", "attractor_numbers", "attractor_indices", "nearest_noun",
            "nearest_number", "condition", "n_attractors", "distance")
    assert tuple(r[k] for k in keys) == fields
    assert r["sentence_good"].split()[r["verb_index"]] == r["verb_good"]


def test_blimp_distractor_files_are_all_conflict_items(external):
    folder = external / "blimp"
    if not folder.is_dir():
        pytest.skip("no BLiMP files")
    rows = import_items("blimp", [folder / "distractor_agreement_relational_noun.jsonl",
                                  folder / "distractor_agreement_relative_clause.jsonl"])
    # BLiMP's generators always draw the distractor with the other number; the one pair whose bad
    # sentence has no agreeing verb ('All patients that hurts Steven sing/singing') stays unknown
    unknown = [r["source_id"] for r in rows if not r["head_number"]]
    assert unknown == ["distractor_agreement_relative_clause/821"]
    known = [r for r in rows if r["head_number"]]
    assert all(r["condition"] in ("SP", "PS") and r["n_attractors"] == 1 for r in known)
    assert all(r["nearest_number"] == r["attractor_numbers"][0] != r["head_number"] for r in known)
    assert all(r["head_index"] < r["attractor_indices"][0] == r["verb_index"] - 1 for r in known)


# --------------------------------------------------------------------------- Marvin & Linzen

@pytest.mark.parametrize("test, code, expected", [
    ("simple_agrmt", "sing_MS_MV", ("sg", None)),
    ("prep_anim", "plur_MS_MV_sing_ES", ("pl", "sg")),
    ("obj_rel_within_anim", "plur_ES_EV_sing_MS_MV", ("pl", "sg")),
    ("subj_rel", "sing_MS_EV_MV_plur_ES", ("sg", "pl")),
    ("sent_comp", "sing_MS_MV_plur_BS", ("sg", "pl")),
    ("long_vp_coord", "plur_MS_LMV_LMV", ("pl", None)),
])
def test_decode_marvin_linzen_codes(test, code, expected):
    assert decode_ml_condition(test, code) == expected


@pytest.mark.parametrize("code", ["sing_XX_MV", "MS_MV", "sing_MS_plur_ES_sing_EV"])
def test_decode_rejects_unknown_codes(code):
    with pytest.raises(ValueError):
        decode_ml_condition("prep_anim", code)


ML = [
    ("prep_anim", "sing_MS_MV_plur_ES", "the author next to the security guards laughs",
     "the author next to the security guards laugh"),
    ("obj_rel_within_anim", "plur_ES_EV_sing_MS_MV", "the author that the security guards like laughs",
     "the author that the security guards likes laughs"),
    ("sent_comp", "sing_MS_MV_plur_BS", "the mechanics said the author laughs", "the mechanics said the author laugh"),
    ("obj_rel_no_comp_across_inanim", "plur_IS_IV_sing_ES_EV", "the television shows the chef likes are good",
     "the television shows the chef likes is good"),
    ("vp_coord", "plur_MS_MV_MV", "the authors laugh and swim", "the authors laugh and swims"),
]


def test_marvin_linzen_round_trip(tmp_path, capsys):
    path = tmp_path / "ml.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i, (test, cond, good, bad) in enumerate(ML):
            fh.write(json.dumps({"test": test, "condition": cond, "index": i, "sentence_good": good,
                                 "sentence_bad": bad}) + "\n")
    rows = {r["construction"]: r for r in _import("marvin-linzen", path, tmp_path / "out", capsys)}
    r = rows["prep_anim"]
    assert (r["condition"], r["head"], r["head_index"], r["attractors"], r["attractor_indices"]) == \
        ("SP", "author", 1, ["guards"], [6])
    assert (r["nearest_noun"], r["nearest_number"], r["verb_good"], r["verb_bad"], r["distance"]) == \
        ("guards", "pl", "laughs", "laugh", 5)
    assert r["source_id"] == "prep_anim/sing_MS_MV_plur_ES/0"
    r = rows["obj_rel_within_anim"]  # the tested verb is inside the relative clause
    assert (r["condition"], r["head"], r["head_index"], r["attractors"], r["verb_good"], r["verb_index"]) == \
        ("PS", "guards", 5, ["author"], "like", 6)
    assert (r["nearest_noun"], r["distance"], r["verb_type"]) == ("guards", 0, "transitive")
    r = rows["sent_comp"]
    assert (r["condition"], r["head"], r["attractors"], r["attractor_indices"]) == ("SP", "author", ["mechanics"], [1])
    r = rows["obj_rel_no_comp_across_inanim"]
    assert (r["head"], r["head_index"], r["attractors"], r["verb_type"]) == ("shows", 2, ["chef"], "copula")
    r = rows["vp_coord"]
    assert (r["condition"], r["n_attractors"], r["verb_index"], r["attractors"]) == ("P", 0, 4, [])


def test_marvin_linzen_shared_file(external):
    path = external / "marvin_linzen_2018" / "marvin_linzen_agreement.jsonl.gz"
    if not path.is_file():
        pytest.skip("no Marvin & Linzen file")
    rows = read_marvin_linzen([path])
    assert len(rows) == 126260 and all(r["verb_good"] for r in rows)
    # The located nouns carry the decoded numbers (every plural noun in these templates ends in -s; the
    # one singular that does is long_vp_coord's mass noun 'tennis').
    assert all(r["head"].endswith("s") == (r["head_number"] == "pl") for r in rows)
    assert all(a.endswith("s") == (n == "pl") or a == "tennis"
               for r in rows for a, n in zip(r["attractors"], r["attractor_numbers"]))
    counts = Counter(r["construction"] for r in rows)
    assert counts["prep_anim"] == 16800 and counts["simple_agrmt"] == 140
    sample = read_marvin_linzen([path.parent / "sample_sents.txt"])  # the repository's TSV; NPI rows skipped
    assert sample and {r["construction"] for r in sample} <= set(counts)


@pytest.mark.parametrize("line, fields", [
    # the author knows many different foreign languages and likes ...: the plural object is the nearest noun
    (1, ("SP", 1, ["languages"], ["pl"], [6], "languages", "pl")),
    # the authors enjoy playing tennis with colleagues and know ...: 'tennis' differs, the nearest agrees
    (213, ("PSP", 2, ["tennis", "colleagues"], ["sg", "pl"], [4, 6], "colleagues", "pl")),
    # the authors write in a journal every day and know ...
    (217, ("PSS", 2, ["journal", "day"], ["sg", "sg"], [5, 7], "day", "sg")),
])
def test_marvin_linzen_long_vp_coord_records_the_first_vp_nouns(external, tmp_path, line, fields):
    path = external / "marvin_linzen_2018" / "marvin_linzen_agreement.jsonl.gz"
    if not path.is_file():
        pytest.skip("no Marvin & Linzen file")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        record = next(x for k, x in enumerate(fh, 1) if k == line)
    one = tmp_path / "one.jsonl"
    one.write_text(record, encoding="utf-8")
    (r,) = read_marvin_linzen([one])
    assert r["construction"] == "long_vp_coord" and r["head_index"] == 1
    keys = ("condition", "n_attractors", "attractors", "attractor_numbers", "attractor_indices", "nearest_noun",
            "nearest_number")
    assert tuple(r[k] for k in keys) == fields


# --------------------------------------------------------------------------- SyntaxGym

def _suite():
    def cond(name, head, prep_np, verb, sums):
        contents = ["The", head, "next to", "the", prep_np, verb, "good."]
        return {"condition_name": name, "regions": [
            {"region_number": i + 1, "content": c, "metric_value": {"sum": s}}
            for i, (c, s) in enumerate(zip(contents, sums))]}

    base = [1.0, 2.0, 3.0, 1.0, 2.0]
    return {
        "meta": {"name": "number_prep", "metric": "sum"},
        "region_meta": {"1": "intro", "2": "np_sing", "3": "prep", "4": "the", "5": "prep_np", "6": "matrix_v",
                        "7": "continuation"},
        "predictions": [{"type": "formula", "formula": "(6;%match_sing%) < (6;%mismatch_sing%)"},
                        {"type": "formula", "formula": "(6;%match_plural%) < (6;%mismatch_plural%)"}],
        "items": [
            {"item_number": 1, "conditions": [
                cond("match_sing", "author", "senators", "is", base + [5.0, 1.0]),
                cond("mismatch_sing", "author", "senators", "are", base + [7.0, 1.0]),
                cond("match_plural", "authors", "senator", "are", base + [9.0, 1.0]),
                cond("mismatch_plural", "authors", "senator", "is", base + [4.0, 1.0])]},
            {"item_number": 2, "conditions": [
                cond("match_sing", "pilot", "teachers", "brings", base + [1.0, 1.0]),
                cond("mismatch_sing", "pilot", "teachers", "bring", base + [2.0, 1.0]),
                cond("match_plural", "pilots", "teacher", "bring", base + [1.0, 1.0]),
                cond("mismatch_plural", "pilots", "teacher", "brings", base + [3.0, 1.0])]},
        ],
    }


def test_syntaxgym_round_trip(tmp_path, capsys):
    path = tmp_path / "number_prep.json"
    path.write_text(json.dumps(_suite(), indent=2))
    rows = _import("syntaxgym", path, tmp_path / "out", capsys)
    assert len(rows) == 4
    r = next(r for r in rows if r["source_id"] == "number_prep/1/match_sing")
    assert (r["prefix"], r["verb_good"], r["verb_bad"], r["verb_index"]) == \
        ("the author next to the senators", "is", "are", 6)
    assert (r["sentence_good"], r["head_number"], r["condition"], r["construction"]) == \
        ("the author next to the senators is good", "sg", "SP", "number_prep")
    r = next(r for r in rows if r["source_id"] == "number_prep/2/match_plural")
    assert (r["verb_good"], r["verb_bad"], r["head_number"]) == ("bring", "brings", "pl")


@pytest.mark.parametrize("suite, a, v, noun_regions", [
    ("number_orc", 4, 6, ("np_sing", "embed_np")),    # The author that the senators hurt is good
    ("number_prep", 5, 6, ("np_sing", "prep_np")),    # The author next to the senators is good
])
def test_syntaxgym_shared_suites_carry_head_and_attractor(external, suite, a, v, noun_regions):
    path = external / "syntaxgym" / f"{suite}.json"
    if not path.is_file():
        pytest.skip(f"no {suite}.json")
    assert tuple(json.loads(path.read_text())["region_meta"][k] for k in ("2", "5")) == noun_regions
    rows = {r["source_id"]: r for r in import_items("syntaxgym", [path])}
    assert len(rows) == 38
    sing, plur = rows[f"{suite}/1/match_sing"], rows[f"{suite}/1/match_plural"]
    keys = ("head", "head_index", "attractors", "attractor_numbers", "attractor_indices", "nearest_noun",
            "nearest_number", "condition", "n_attractors", "distance", "verb_index")
    assert tuple(sing[k] for k in keys) == ("author", 1, ["senators"], ["pl"], [a], "senators", "pl", "SP", 1,
                                            v - 2, v)
    assert tuple(plur[k] for k in keys) == ("authors", 1, ["senator"], ["sg"], [a], "senator", "sg", "PS", 1,
                                            v - 2, v)
    # every item: one attractor of the other number, and it is the nearest noun (a conflict item)
    assert all(r["condition"] in ("SP", "PS") and r["nearest_number"] != r["head_number"] for r in rows.values())


def test_syntaxgym_attractor_number_unknown_is_left_empty(tmp_path):
    suite = _suite()
    for c in suite["items"][0]["conditions"]:
        c["regions"][4]["content"] = "sheep"  # the same form in both head numbers: not told by the other condition
    path = tmp_path / "number_prep.json"
    path.write_text(json.dumps(suite))
    r = next(r for r in read_syntaxgym([path]) if r["source_id"] == "number_prep/1/match_sing")
    assert (r["head"], r["condition"], r["n_attractors"], r["attractor_numbers"], r["nearest_number"]) == \
        ("author", "", -1, [], "")
    from probe.data.items import prepare_items

    assert prepare_items(pd.DataFrame([r]))["match"].iloc[0] == "unknown"    # not 'none': it has an attractor
    rows = read_syntaxgym([path], noun_numbers={"sheep": "pl"})
    r = next(r for r in rows if r["source_id"] == "number_prep/1/match_sing")
    assert (r["condition"], r["attractors"], r["nearest_number"]) == ("SP", ["sheep"], "pl")


def test_syntaxgym_predictions_from_stored_and_computed_surprisals():
    suite = _suite()
    assert evaluate_predictions(suite, stored_region_surprisals(suite)) == {1: [True, False], 2: [True, True]}

    def surprisal(tokens):  # longer words are 'more surprising': per-token length
        return [float(len(t)) for t in tokens]

    sums = region_surprisals(suite, surprisal)
    assert sums[(1, "match_sing", 3)] == len("next") + len("to")
    assert sums[(1, "match_sing", 7)] == len("good")  # final '.' dropped like the pairs
    # 'is' (2) < 'are' (3): singular holds; plural ('are' vs 'is') fails; 'brings' > 'bring' likewise.
    assert evaluate_predictions(suite, sums) == {1: [True, False], 2: [False, True]}


@pytest.mark.parametrize("formula, expected", [
    ("[(6;%match_sing%) < (6;%mismatch_sing%)] & [(6;%match_plural%) < (6;%mismatch_plural%)]", False),
    ("[(6;%match_sing%) < (6;%mismatch_sing%)] | [(6;%match_plural%) < (6;%mismatch_plural%)]", True),
    ("(6;%mismatch_sing%) - (6;%match_sing%) > 1.5", True),
    ("(6;%mismatch_sing%) - (6;%match_sing%) = 2", True),
    ("(*;%match_sing%) > 10", True),
])
def test_prediction_formula_grammar(formula, expected):
    suite = {**_suite(), "predictions": [], "meta": {"name": "x", "string_predictions": [formula]}}
    suite["items"] = suite["items"][:1]
    assert suite_formulas(suite) == [formula]
    assert evaluate_predictions(suite, stored_region_surprisals(suite)) == {1: [expected]}


def test_prediction_formula_errors():
    suite = {**_suite(), "predictions": [{"type": "formula", "formula": "(6;%match_sing%) < "}]}
    with pytest.raises(ProbeError, match="cannot parse prediction formula"):
        evaluate_predictions(suite, stored_region_surprisals(suite))
    suite = {**_suite(), "predictions": [{"type": "formula", "formula": "(6;%nope%) < (6;%match_sing%)"}]}
    with pytest.raises(ProbeError, match="condition 'nope'"):
        evaluate_predictions(suite, stored_region_surprisals(suite))


def test_syntaxgym_suite_without_number_conditions_is_refused(tmp_path):
    suite = _suite()
    for item in suite["items"]:
        for c in item["conditions"]:
            c["condition_name"] = c["condition_name"].replace("match", "cond")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(suite))
    with pytest.raises(ProbeError, match="no match_"):
        read_syntaxgym([path])


# --------------------------------------------------------------------------- Linzen et al. 2016

def test_linzen_simple_files(tmp_path, capsys):
    folder = tmp_path / "rnn_agr_simple"
    folder.mkdir()
    (folder / "numpred.test.2").write_text(
        "VBZ\tthe NN of the pilots near the NNS\nVBP\tthe keys to the cabinet in the IN room\n")
    (folder / "numpred.test").write_text("VBZ\tthe author\n")
    rows = _import("linzen", folder, tmp_path / "out", capsys)
    by_src = {r["source_id"]: r for r in rows}
    r = by_src["numpred.test.2:1"]
    assert (r["head_number"], r["n_attractors"], r["condition"], r["verb_good"], r["verb_index"]) == \
        ("sg", 2, "SPP", "", 8)
    assert r["prefix"] == "the NN of the pilots near the NNS"  # POS placeholders stay upper case
    assert "the IN room" in by_src["numpred.test.2:2"]["prefix"]
    assert by_src["numpred.test.2:2"]["condition"] == "PSS"
    r = by_src["numpred.test:1"]  # no count in the file name: unknown
    assert (r["n_attractors"], r["condition"]) == (-1, "S")
    # homogeneous intervention: the attractors and the nearest noun have the other number, so SPP is a
    # conflict item (it was classed as having no attractor); an unknown count leaves the class unknown
    from probe.data.items import prepare_items

    prepared = prepare_items(pd.DataFrame(rows)).set_index("source_id")
    assert prepared.loc["numpred.test.2:1", "match"] == "conflict"
    assert prepared.loc["numpred.test.2:1", "n_mismatched"] == 2


LINZEN_FULL_HEADER = ("sentence\torig_sentence\tpos_sentence\tsubj\tverb\tsubj_pos\thas_rel\thas_nsubj\tverb_pos\t"
                      "subj_index\tverb_index\tn_intervening\tlast_intervening\tn_diff_intervening\tdistance\t"
                      "max_depth\tall_nouns\tnouns_up_to_verb")


def test_linzen_full_tsv(tmp_path):
    words = "the keys to the cabinet in the rooms are here"
    tags = "DT NNS TO DT NN IN DT NNS VBP RB"
    row = [words, words, tags, "keys", "are", "NNS", "False", "False", "VBP", "2", "9", "2", "NNS", "1", "7", "1",
           "keys cabinet rooms", "keys cabinet rooms"]
    path = tmp_path / "agr_50_mostcommon_10K.tsv"
    path.write_text(LINZEN_FULL_HEADER + "\n" + "\t".join(row) + "\n")
    (r,) = read_linzen([path], verb_pairs=LEX.verb_pair)
    assert (r["head"], r["head_index"], r["head_number"], r["verb_good"], r["verb_bad"]) == \
        ("keys", 1, "pl", "are", "is")
    assert (r["attractors"], r["attractor_indices"], r["n_attractors"], r["condition"]) == (["cabinet"], [4], 1, "PS")
    assert (r["nearest_noun"], r["nearest_number"], r["distance"]) == ("rooms", "pl", 6)
    assert r["sentence_bad"] == "the keys to the cabinet in the rooms is here"
    assert r["construction"] == "linzen_mixed"  # 'rooms' intervenes with the head's number


def _linzen_row(orig, tags, subj_i, verb_i, n_int, last, n_diff, sentence=None):
    """A line of agr_50_mostcommon_10K.tsv as Linzen et al.'s collect_agreement writes it (1-based indices;
    ``sentence`` has the words outside the 10K vocabulary replaced by their tags)."""
    words, pos = orig.split(), tags.split()
    nouns = [w for w, t in zip(words, pos) if t in ("NN", "NNS")]
    up_to_verb = [w for i, (w, t) in enumerate(zip(words, pos), 1) if t in ("NN", "NNS") and i < verb_i]
    return "\t".join([sentence or orig, orig, tags, words[subj_i - 1], words[verb_i - 1], pos[subj_i - 1], "False",
                      "False", pos[verb_i - 1], str(subj_i), str(verb_i), str(n_int), last, str(n_diff),
                      str(verb_i - subj_i), "1" if n_int else "0", " ".join(nouns), " ".join(up_to_verb)])


LINZEN_ROWS = [
    # clean: every intervener has the other number
    _linzen_row("the keys to the cabinet are on the table", "DT NNS TO DT NN VBP IN DT NN", 2, 6, 1, "NN", 1),
    # a same-number intervener is the nearest noun: one attractor, no conflict, not a clean 1-attractor item
    _linzen_row("the keys to the cabinet in the rooms are here", "DT NNS TO DT NN IN DT NNS VBP RB", 2, 9, 2, "NNS", 1),
    # a same-number intervener before the attractor, which is the nearest noun: conflict, not clean
    _linzen_row("the price of the company 's shares is low", "DT NN IN DT NN POS NNS VBZ JJ", 2, 8, 2, "NNS", 1),
    # only same-number interveners: no attractor (Linzen's definition), still not a clean 0-attractor item
    _linzen_row("the author of the book is here", "DT NN IN DT NN VBZ RB", 2, 6, 1, "NN", 0),
    # nothing between subject and verb
    _linzen_row("the dogs bark at the mailman", "DT NNS VBP IN DT NN", 2, 3, 0, "na", 0, "the dogs bark at the NN"),
]


def test_linzen_full_tsv_separates_same_number_interveners(tmp_path):
    path = tmp_path / "agr_50_mostcommon_10K.tsv"
    path.write_text(LINZEN_FULL_HEADER + "\n" + "\n".join(LINZEN_ROWS) + "\n")
    rows = read_linzen([path], verb_pairs=LEX.verb_pair)
    keys = ("construction", "condition", "n_attractors", "attractors", "nearest_noun", "nearest_number")
    got = [tuple(r[k] for k in keys) for r in rows]
    assert got == [
        ("linzen", "PS", 1, ["cabinet"], "cabinet", "sg"),
        ("linzen_mixed", "PS", 1, ["cabinet"], "rooms", "pl"),
        ("linzen_mixed", "SP", 1, ["shares"], "shares", "pl"),
        ("linzen_mixed", "S", 0, [], "book", "sg"),
        ("linzen", "P", 0, [], "dogs", "pl"),
    ]
    assert rows[2]["attractor_indices"] == [6] and rows[4]["sentence_good"] == "the dogs bark at the mailman"


def test_linzen_full_tsv_without_tags_takes_the_nearest_number_from_last_intervening(tmp_path):
    cols = LINZEN_FULL_HEADER.split("\t")
    keep = [i for i, c in enumerate(cols) if c != "pos_sentence"]
    path = tmp_path / "agr.tsv"
    path.write_text("\n".join("\t".join(line.split("\t")[i] for i in keep)
                              for line in [LINZEN_FULL_HEADER, *LINZEN_ROWS]) + "\n")
    rows = read_linzen([path], verb_pairs=LEX.verb_pair)
    assert [(r["construction"], r["condition"], r["nearest_number"], r["attractor_numbers"]) for r in rows] == [
        ("linzen", "PS", "sg", ["sg"]), ("linzen_mixed", "PS", "pl", ["sg"]), ("linzen_mixed", "SP", "pl", ["pl"]),
        ("linzen_mixed", "S", "sg", []), ("linzen", "P", "pl", [])]
    assert rows[4]["nearest_noun"] == "dogs" and rows[1]["nearest_noun"] == ""


def test_linzen_full_tsv_counts_must_match_the_tags(tmp_path):
    path = tmp_path / "agr.tsv"
    path.write_text(LINZEN_FULL_HEADER + "\n" + LINZEN_ROWS[1].replace("\t2\tNNS\t1\t", "\t3\tNNS\t1\t") + "\n")
    with pytest.raises(ProbeError, match="line 2: fields 'n_intervening'/'n_diff_intervening'"):
        read_linzen([path], verb_pairs=LEX.verb_pair)


# Gulordava et al. (2018)'s copy of Linzen et al.'s test set, colorlessgreenRNNs data/linzen_testset/: hand-made
# lines in its format (the real files are not available here). .text: one lower-cased tokenized sentence per line
# ending in ' <eos>'; .gold: target_index (0-based), correct_form, wrong_form, n_attractors, tab-separated;
# .eval: the target indices.
TESTSET_TEXT = ("the keys to the cabinet are on the table . <eos>\n"
                "as a consequence , the town is very opulently designed . <eos>\n"
                "the price of the bonds and the shares rises . <eos>\n")
TESTSET_GOLD = "5\tare\tis\t1\n6\tis\tare\t0\n8\trises\trise\t2\n"
TESTSET_EVAL = "5\n6\n8\n"


def _testset(folder, text=TESTSET_TEXT, gold=TESTSET_GOLD, evals=TESTSET_EVAL):
    folder.mkdir(exist_ok=True)
    (folder / "subj_agr_filtered.text").write_text(text)
    (folder / "subj_agr_filtered.gold").write_text(gold)
    if evals is not None:
        (folder / "subj_agr_filtered.eval").write_text(evals)
    return folder / "subj_agr_filtered.gold"


def test_linzen_testset_golden(tmp_path, capsys):
    gold = _testset(tmp_path / "linzen_testset")
    rows = _import("linzen", gold.parent, tmp_path / "out", capsys)          # the folder
    fields = ("construction", "prefix", "verb_good", "verb_bad", "verb_index", "head_number", "n_attractors",
              "condition", "attractor_numbers", "nearest_number", "sentence_bad", "source_id")
    assert [tuple(r[f] for f in fields) for r in rows] == [
        ("linzen_testset", "the keys to the cabinet", "are", "is", 5, "pl", 1, "PS", ["sg"], "",
         "the keys to the cabinet is on the table .", "subj_agr_filtered.gold:1"),
        ("linzen_testset", "as a consequence , the town", "is", "are", 6, "sg", 0, "S", [], "",
         "as a consequence , the town are very opulently designed .", "subj_agr_filtered.gold:2"),
        ("linzen_testset", "the price of the bonds and the shares", "rises", "rise", 8, "sg", 2, "SPP", ["pl", "pl"],
         "", "the price of the bonds and the shares rise .", "subj_agr_filtered.gold:3")]
    assert rows[0]["sentence_good"] == "the keys to the cabinet are on the table ."      # <eos> dropped
    # Linzen's count is of nouns of the other number: with attractors the nearest noun's number is unknown
    classes, _ = item_classes([r["head_number"] for r in rows], [r["attractor_numbers"] for r in rows],
                              [r["nearest_number"] for r in rows], [r["n_attractors"] for r in rows])
    assert classes == ["unknown", "none", "unknown"]
    # the .gold file itself, the .text beside it, or without an .eval file: the same items
    again = read_linzen([gold], verb_numbers=LEX.verb_number)
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert len(read_linzen([gold.with_suffix(".text"), gold], verb_numbers=LEX.verb_number)) == 3
    no_eval = _testset(tmp_path / "b", evals=None)
    assert [r["id"] for r in read_linzen([no_eval])] == [r["id"] for r in rows]


@pytest.mark.parametrize("gold, evals, message", [
    (TESTSET_GOLD.replace("5\tare", "4\tare", 1), None, "line 1: field 'target_index' (4) points at 'cabinet'"),
    (TESTSET_GOLD + "3\tis\tare\t0\n", None, "4 lines, but subj_agr_filtered.text has 3 sentences"),
    (TESTSET_GOLD.replace("\t1\n", "\n", 1), None, "line 1: expected 4 tab-separated fields"),
    (TESTSET_GOLD.replace("\t1\n", "\tone\n", 1), None, "line 1: field 'n_attractors' must be an integer"),
    (TESTSET_GOLD.replace("8\t", "80\t"), None, "line 3: field 'target_index' (80) is outside the sentence"),
    (TESTSET_GOLD, "5\n5\n8\n", "subj_agr_filtered.eval line 2: '5' differs from field 'target_index' (6)"),
])
def test_linzen_testset_errors_name_the_line_and_field(tmp_path, gold, evals, message):
    path = _testset(tmp_path / "t", gold=gold, evals=evals or TESTSET_EVAL)
    with pytest.raises(ProbeError, match=re.escape(message)):
        read_linzen([path])


def test_linzen_testset_needs_its_text_file(tmp_path):
    path = _testset(tmp_path / "t")
    path.with_suffix(".text").unlink()
    with pytest.raises(ProbeError, match="subj_agr_filtered.text is not beside it"):
        read_linzen([path])


# --------------------------------------------------------------------------- Gulordava et al. 2018

GULORDAVA = (
    "pattern\tconstr_id\tsent_id\tcorrect_number\tform\tclass\ttype\tprefix\tn_attr\tpunct\tfreq\tlen_context\t"
    "len_prefix\tsent\n"
    "L__NOUN_VERB_VERB\t12\t2\tplur\tuse\tcorrect\tgenerated\tAdministrative debtors that virtually would merge\t1\t"
    "False\t47118\t5\t6\tAdministrative debtors that virtually would merge add crimes . <eos>\n"
    "L__NOUN_VERB_VERB\t12\t2\tplur\tuses\twrong\tgenerated\tAdministrative debtors that virtually would merge\t1\t"
    "False\t7477\t5\t6\tAdministrative debtors that virtually would merge add crimes . <eos>\n"
    "L__NOUN_VERB_VERB\t1\t4\tsing\tprovides\tcorrect\toriginal\tAn internal atmosphere offered in two\t0\tFalse\t"
    "7409\t4\t6\t\"An internal atmosphere offered in two submits \"\" mosques \"\" . <eos>\"\n"
    "L__NOUN_VERB_VERB\t1\t4\tsing\tprovide\twrong\toriginal\tAn internal atmosphere offered in two\t0\tFalse\t"
    "12768\t4\t6\t\"An internal atmosphere offered in two submits \"\" mosques \"\" . <eos>\"\n"
)


def test_gulordava_round_trip(tmp_path, capsys):
    path = tmp_path / "generated.tab"
    path.write_text(GULORDAVA)
    rows = _import("gulordava", path, tmp_path / "out", capsys)
    assert len(rows) == 2
    r = rows[0]
    assert (r["construction"], r["head"], r["head_index"], r["head_number"], r["n_attractors"], r["condition"]) == \
        ("L__NOUN_VERB_VERB", "debtors", 1, "pl", 1, "PS")
    assert (r["verb_good"], r["verb_bad"], r["verb_index"], r["distance"], r["nonce"]) == ("use", "uses", 6, 4, True)
    assert r["sentence_good"] == "administrative debtors that virtually would merge use crimes ."
    r = rows[1]  # csv-quoted sentence with doubled quotes
    assert r["sentence_bad"] == 'an internal atmosphere offered in two provide " mosques " .'
    # an attractor the source counts but does not place: never an item without attractors
    from probe.data.items import prepare_items

    assert prepare_items(pd.DataFrame(rows[:1]))["match"].iloc[0] != "none"
    assert (r["head"], r["nonce"], r["source_id"]) == ("atmosphere", False, "L__NOUN_VERB_VERB/1/4")


# Two rows of Gulordava et al.'s English generated.tab: the prefix column has the model's
# out-of-vocabulary word 'Whie' replaced by <unk>; the sent column keeps it.
GULORDAVA_UNK = (
    GULORDAVA.splitlines()[0] + "\n"
    "L__NOUN_VERB_VERB\t2\t6\tplur\tfind\tcorrect\tgenerated\t<unk> I do n't begin to the balcony that the clergy "
    "we seek or spend to\t1\tFalse\t10202\t6\t16\tWhie I do n't begin to the balcony that the clergy we seek or spend "
    "to seek no aluminum on our class ( which I respond is regularly permanent ) , it does merge me why technologies "
    "manage out a wholesale stream of trees to convince the merchant on . <eos>\n"
    "L__NOUN_VERB_VERB\t2\t6\tplur\tfinds\twrong\tgenerated\t<unk> I do n't begin to the balcony that the clergy "
    "we seek or spend to\t1\tFalse\t3408\t6\t16\tWhie I do n't begin to the balcony that the clergy we seek or spend "
    "to seek no aluminum on our class ( which I respond is regularly permanent ) , it does merge me why technologies "
    "manage out a wholesale stream of trees to convince the merchant on . <eos>\n"
)


def test_gulordava_prefix_keeps_the_sentence_words_not_unk(tmp_path):
    path = tmp_path / "generated.tab"
    path.write_text(GULORDAVA_UNK)
    (r,) = read_gulordava([path])
    assert r["prefix"] == "whie i do n't begin to the balcony that the clergy we seek or spend to"
    assert r["sentence_good"].startswith(r["prefix"] + " find no aluminum")  # the form replaces sent's "seek"
    assert "<unk>" not in r["sentence_good"] + r["sentence_bad"]
    assert (r["head"], r["head_index"], r["verb_index"], r["verb_bad"]) == ("clergy", 10, 16, "finds")


def test_gulordava_prefix_must_match_the_sentence(tmp_path):
    path = tmp_path / "generated.tab"
    path.write_text(GULORDAVA_UNK.replace("<unk> I do", "<unk> We do"))
    with pytest.raises(ProbeError, match="line 2: field 'sent' does not start with the words of field 'prefix'"):
        read_gulordava([path])


# --------------------------------------------------------------------------- malformed input

def _bad_files(tmp_path):
    blimp = _jsonl(tmp_path / "b.jsonl", [BLIMP[0], {k: v for k, v in BLIMP[1].items() if k != "sentence_bad"}])
    ml = tmp_path / "m.jsonl"
    _jsonl(ml, [{"test": t, "condition": c, "sentence_good": g, "sentence_bad": b} for t, c, g, b in ML[:2]]
           + [{"test": "prep_anim", "condition": "sing_MS_QQ_plur_ES", "sentence_good": ML[0][2],
               "sentence_bad": ML[0][3]}])
    suite = _suite()
    del suite["items"][1]["conditions"][2]["regions"][5]["content"]
    sg = tmp_path / "s.json"
    sg.write_text(json.dumps(suite, indent=2))
    linzen = tmp_path / "numpred.test.1"
    linzen.write_text("VBZ\tthe author of the books\nVBD\tthe keys\n")
    gul = tmp_path / "g.tab"
    gul.write_text("\n".join(GULORDAVA.splitlines()[:2]) + "\n" + GULORDAVA.splitlines()[3] + "\n")
    text = tmp_path / "n.txt"
    text.write_bytes(b" = Title = \n The dog barks . \n The caf\xe9 is open . \n")  # Latin-1, not UTF-8
    return {
        "blimp": (blimp, "line 2", "'sentence_bad'"),
        "marvin-linzen": (ml, "line 3", "'condition'"),
        "syntaxgym": (sg, "line ", "'content'"),
        "linzen": (linzen, "line 2", "'label'"),
        "gulordava": (gul, "line 3", "'class'"),
        "natural": (text, "line 3", "UTF-8"),
    }


@pytest.mark.parametrize("fmt", formats())
def test_malformed_file_is_one_line_exit_2_and_no_output(fmt, tmp_path, capsys):
    path, line, field = _bad_files(tmp_path)[fmt]
    out = tmp_path / "out"
    assert main(["import", fmt, str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and line in err and field in err, err
    assert not out.exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_missing_input_is_an_error(tmp_path, capsys):
    assert main(["import", "blimp", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_imported_folder_loads_as_dataset(tmp_path, capsys):
    _import("blimp", _jsonl(tmp_path / "s.jsonl", BLIMP), tmp_path / "out", capsys)
    ds = datasets.load_from_disk(str(tmp_path / "out" / "arrow"))
    assert len(ds) == len(BLIMP) and set(ds.column_names) == set(ITEM_COLUMNS)
    hub = datasets.load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))["test"]   # the card
    assert hub.features == ITEM_FEATURES and hub.to_list() == ds.to_list()


def test_blimp_file_that_is_not_utf8_names_the_line(tmp_path, capsys):
    path = _jsonl(tmp_path / "b.jsonl", BLIMP[:2])
    with open(path, "ab") as fh:
        fh.write(json.dumps({**BLIMP[3], "sentence_good": "Paula references Ren\u00e9."}, ensure_ascii=False)
                 .encode("latin-1") + b"\n")
    out = tmp_path / "out"
    assert main(["import", "blimp", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path} line 3 (byte " in err[0] and "is not UTF-8 text; re-encode" in err[0]
    assert not out.exists()
