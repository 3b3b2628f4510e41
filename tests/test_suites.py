"""probe suite: critical regions and vocabulary coverage, item criterion vs pairwise accuracy, published results."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from probe.data.corpus import Vocab
from probe.suite import evaluate_suite, load_published, published_markdown, published_table, score_suites
from probe.scoring.suites import critical_regions, formula_parts, formula_references, region_coverage

AGREE = "[(4;%match_sing%) < (4;%mismatch_sing%)] & [(4;%match_plural%) < (4;%mismatch_plural%)]"


def _suite(heads=(("author", "authors"), ("dog", "dogs"), ("cat", "cats"))) -> dict:
    """number_prep in miniature: 'The HEAD near the senators VERB happy.', four conditions per item."""
    def cond(name, head, verb):
        return {"condition_name": name, "regions": [
            {"region_number": 1, "content": "The"}, {"region_number": 2, "content": head},
            {"region_number": 3, "content": "near the senators"}, {"region_number": 4, "content": verb},
            {"region_number": 5, "content": "happy."}]}
    items = [{"item_number": k + 1, "conditions": [cond("match_sing", sg, "is"), cond("mismatch_sing", sg, "are"),
                                                    cond("match_plural", pl, "are"), cond("mismatch_plural", pl, "is")]}
             for k, (sg, pl) in enumerate(heads)]
    return {"meta": {"name": "mini", "metric": "sum"}, "region_meta": {str(i): str(i) for i in range(1, 6)},
            "predictions": [{"type": "formula", "formula": AGREE}], "items": items}


class StubScorer:
    """Surprisal 1 for every word except the verb, whose surprisal depends on the head (the 2nd word):
    author(s): agrees (both comparisons hold); dog(s): always prefers 'is' (one holds); cat(s): always
    disagrees (none holds). Known answers: item criterion 1/3, pairwise (1 + 0.5 + 0) / 3."""

    VERB = {("author", "is"): 1, ("author", "are"): 2, ("authors", "are"): 1, ("authors", "is"): 2,
            ("dog", "is"): 1, ("dog", "are"): 2, ("dogs", "is"): 1, ("dogs", "are"): 2,
            ("cat", "is"): 2, ("cat", "are"): 1, ("cats", "are"): 2, ("cats", "is"): 1}

    def __init__(self, words, model="stub", seed=0):
        self.vocab = Vocab(("<unk>", "<eos>", *sorted(set(words))))
        self.info = {"model": model, "arch": "stub", "seed": seed, "path": ""}

    def token_logprobs(self, seqs):
        out = []
        for ids in seqs:
            words = self.vocab.decode(ids[1:])
            out.append(-np.array([self.VERB.get((words[1], w), 1.5) if w in ("is", "are") else 1.0 for w in words]))
        return out


WORDS = "the author authors dog dogs cat cats near senators is are happy".split()


def _write(tmp_path, suite, name="mini"):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(suite))
    return path


def test_formula_parts_and_references():
    assert formula_parts(AGREE) == ["(4;%match_sing%) < (4;%mismatch_sing%)",
                                    "(4;%match_plural%) < (4;%mismatch_plural%)"]
    assert formula_parts("(4;%a%) < (4;%b%)") == ["(4;%a%) < (4;%b%)"]
    either = "[(4;%a%) < (4;%b%)] | [(4;%c%) < (4;%d%)]"
    assert formula_parts(either) == [either]          # an alternative cannot be scored alone
    assert formula_parts("[(1;%a%) + 1] < [(1;%b%)]") == ["[(1;%a%) + 1] < [(1;%b%)]"]
    assert formula_references(AGREE) == [("match_sing", 4), ("mismatch_sing", 4), ("match_plural", 4),
                                         ("mismatch_plural", 4)]


def test_critical_regions_are_the_differing_and_the_referenced_ones():
    suite = _suite()
    assert critical_regions(suite["items"][0], [AGREE]) == [2, 4]       # head differs, verb differs and is read
    assert critical_regions(suite["items"][0], ["(5;%match_sing%) < (5;%mismatch_sing%)"]) == [2, 4, 5]
    rows = pd.DataFrame(region_coverage(suite, set(WORDS) - {"happy", "cats"}))
    assert rows["n_tokens"].sum() == 3 * 4 * 7
    assert rows.loc[~rows["critical"], "n_oov"].sum() == 12     # 'happy' in every sentence: not critical
    assert rows.loc[rows["critical"], "oov"].str.split().sum() == ["cats", "cats"]
    assert rows["n_oov"].sum() == 14
    assert pd.DataFrame(region_coverage(suite, None))["n_oov"].sum() == 0    # no closed vocabulary


def test_item_criterion_and_pairwise_on_known_answers(tmp_path):
    summary = evaluate_suite([StubScorer(WORDS)], [_write(tmp_path, _suite())], tmp_path / "out")
    got = summary.set_index("metric")
    assert got.loc["item", "value"] == pytest.approx(1 / 3) and got.loc["pairwise", "value"] == pytest.approx(0.5)
    assert (got["n_items"] == 3).all() and (got["n_excluded"] == 0).all() and (got["token_coverage"] == 1).all()
    assert got.loc["pairwise", "n_comparisons"] == 6
    assert (got["ci_low"] < got["value"]).all() and (got["value"] < got["ci_high"]).all()
    preds = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(preds) == 3 * 2          # items x comparisons
    by_part = preds.groupby(["item", "part"])["part_result"].first().unstack()
    assert by_part.to_dict("index") == {1: {0: True, 1: True}, 2: {0: True, 1: False}, 3: {0: False, 1: False}}
    assert preds.groupby("item")["item_result"].first().to_dict() == {1: True, 2: False, 3: False}
    for name in ("coverage.csv", "summary_seeds.csv", "published.csv", "report.md", "config.json"):
        assert (tmp_path / "out" / name).is_file()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Item criterion" in report and "Pairwise" in report and "GPT-2" in report


def test_an_item_with_an_oov_critical_word_is_excluded_and_counted(tmp_path):
    suite = _write(tmp_path, _suite())
    words = [w for w in WORDS if w not in ("cats", "happy")]      # 'cats' is critical, 'happy' is not
    summary = evaluate_suite([StubScorer(words)], [suite], tmp_path / "out").set_index("metric")
    assert (summary["n_items"] == 2).all() and (summary["n_excluded"] == 1).all() and (summary["n_total"] == 3).all()
    assert summary.loc["item", "value"] == pytest.approx(0.5) and summary.loc["pairwise", "value"] == 0.75
    assert summary.loc["item", "oov_critical"] == "cats"
    assert summary.loc["item", "token_coverage"] == pytest.approx(1 - 14 / 84, abs=1e-4)
    preds = pd.read_csv(tmp_path / "out" / "predictions.csv")
    gone = preds[preds["item"] == 3]
    assert gone["excluded"].all() and (gone["exclude_reason"] == "oov_critical").all() and gone["result"].isna().all()
    # --unk: scored through <unk>, marked, nothing excluded
    unk = evaluate_suite([StubScorer(words)], [suite], tmp_path / "unk", unk=True).set_index("metric")
    assert (unk["n_items"] == 3).all() and (unk["n_excluded"] == 0).all()
    assert pd.read_csv(tmp_path / "unk" / "predictions.csv").query("item == 3")["has_unk"].all()


def test_seeds_are_pooled_per_arch(tmp_path):
    suite = _write(tmp_path, _suite())
    models = [StubScorer(WORDS, "stub-s0", 0), StubScorer(WORDS, "stub-s1", 1)]
    evaluate_suite(models, [suite], tmp_path / "out")
    seeds = pd.read_csv(tmp_path / "out" / "summary_seeds.csv").set_index("metric")
    assert (seeds["n_seeds"] == 2).all() and seeds.loc["item", "value"] == pytest.approx(1 / 3)
    table = published_table(seeds.reset_index())
    assert table.loc[0, "model"] == "stub" and table.loc[0, "n_seeds"] == 2


def test_published_results_load_with_both_suites():
    data = load_published()
    assert data["citation"].startswith("Hu") and data["source"] and data["url"]
    assert {m["model"] for m in data["models"]} >= {"GPT-2", "Gulordava et al. LSTM"}
    for m in data["models"]:
        for suite in ("number_orc", "number_prep"):
            vals = m["results"][suite]
            assert len(vals) == m["n_seeds"]
            # SyntaxGym's shares are of 19 items, rounded to 2 decimals
            assert all(min(abs(v - k / 19) for k in range(20)) < 0.006 for v in vals)
    table = published_table(pd.DataFrame(columns=["arch", "suite", "metric", "value", "ci_low", "ci_high",
                                                  "n_seeds", "n_items", "per_seed"]), data)
    gpt2 = table.set_index("model").loc["GPT-2"]
    assert gpt2["number_orc"] == 0.63 and gpt2["number_prep"] == 0.79 and math.isnan(gpt2["number_orc_low"])
    assert "0.63 (n=19)" in published_markdown(table)


def test_published_json_ships_with_the_package():
    from pathlib import Path

    import probe

    setup = (Path(probe.__file__).parents[1] / "setup.py").read_text()
    assert '"resources/*.json"' in setup
    assert (Path(probe.__file__).parent / "resources" / "published.json").is_file()


def test_real_suites_through_cli_with_a_unigram_lacking_a_head(external, tmp_path):
    """number_orc / number_prep as shipped: a unigram ignores the head, so exactly one of an item's two
    comparisons holds (pairwise 0.5, item criterion 0); items whose head is 'clerks' are excluded."""
    from probe.cli import main
    from probe.data.importers.syntaxgym import region_tokens, load_suite
    from probe.scoring.ngram import UnigramLM

    paths = [external / "syntaxgym" / f"{n}.json" for n in ("number_orc", "number_prep")]
    if not all(p.is_file() for p in paths):
        pytest.skip("no SyntaxGym suites in shared/external")
    words = sorted({t for p in paths for it in load_suite(p)["items"] for c in it["conditions"]
                    for _, ts in region_tokens(c) for t in ts} - {"clerks"})
    vocab = Vocab(("<unk>", "<eos>", *words))
    UnigramLM(vocab, np.arange(len(vocab)) + 1).save(tmp_path / "uni")    # distinct counts: no ties
    args = ["suite", "--model", str(tmp_path / "uni"), "--out", str(tmp_path / "out")]
    assert main(args + [a for p in paths for a in ("--suite", str(p))]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(summary["suite"]) == {"number_orc", "number_prep"} and (summary["n_total"] == 19).all()
    assert (summary["n_excluded"] == 2).all() and (summary["n_items"] == 17).all()
    assert (summary.loc[summary["metric"] == "pairwise", "value"] == 0.5).all()
    assert (summary.loc[summary["metric"] == "item", "value"] == 0).all()
    published = pd.read_csv(tmp_path / "out" / "published.csv")
    assert {"number_orc", "number_prep"} <= set(published.columns) and "GPT-2" in set(published["model"])
    assert "probe suite --model" in (tmp_path / "out" / "report.md").read_text()
    assert main(["suite", "--model", str(tmp_path / "uni"), "--suite", str(paths[0]), "--out", str(tmp_path / "o2"),
                 "--ci-level", "2"]) == 2


def test_score_suites_returns_the_pooled_table_and_a_section(tmp_path):
    from probe.scoring.ngram import UnigramLM

    vocab = Vocab(("<unk>", "<eos>", *WORDS))
    dirs = []
    for k in range(2):
        UnigramLM(vocab, np.arange(len(vocab)) + 1 + k).save(tmp_path / f"u{k}")
        dirs.append(tmp_path / f"u{k}")
    seeds, text = score_suites(dirs, [_write(tmp_path, _suite())], tmp_path / "suites",
                               labels={str(dirs[0]): {"attractor_rate": 0.1}, str(dirs[1]): {"attractor_rate": 0.3}},
                               log=lambda _: None)
    assert sorted(seeds["attractor_rate"]) == [0.1, 0.1, 0.3, 0.3] and (seeds["n_seeds"] == 1).all()
    assert "Item criterion" in text and "Hu et al. 2020" in text and "attractor_rate=0.1" in text


def test_run_config_lists_suites(external, monkeypatch):
    from pathlib import Path

    from probe.core.errors import ProbeError
    from probe.run import load_run_config

    monkeypatch.chdir(Path(__file__).resolve().parents[1])     # the config's paths are from the repo root
    cfg = load_run_config(config_file="configs/ptb.json")
    assert [p.rsplit("/", 1)[-1] for p in cfg.suites] == ["number_orc.json", "number_prep.json"]
    with pytest.raises(ProbeError, match="suites: nope.json is not a file"):
        load_run_config(preset="quick", overrides={"suites": ["nope.json"]})


def test_a_suite_the_vocabulary_cannot_score_at_all(tmp_path):
    """The synthetic corpora's vocabularies lack most SyntaxGym words: every item excluded, no crash, '-'."""
    words = [w for w in WORDS if w != "is"]
    models = [StubScorer(words, "stub-s0", 0), StubScorer(words, "stub-s1", 1)]
    summary = evaluate_suite(models, [_write(tmp_path, _suite())], tmp_path / "out")
    assert (summary["n_items"] == 0).all() and (summary["n_excluded"] == 3).all() and summary["value"].isna().all()
    seeds = pd.read_csv(tmp_path / "out" / "summary_seeds.csv")
    assert (seeds["n_items"] == 0).all() and seeds["value"].isna().all()
    assert "| stub | as trained here | probe | 2 | - | - |" in (tmp_path / "out" / "report.md").read_text()


def test_models_from_several_corpora_pool_into_one_row_nested_in_the_corpora(tmp_path):
    """A ``corpus`` label is a random factor the seeds are nested in, not a group: one pooled row per suite and
    metric over both corpora's models (before, each corpus stood alone with one seed)."""
    from probe.scoring.ngram import UnigramLM

    vocab = Vocab(("<unk>", "<eos>", *WORDS))
    dirs = []
    for k in range(4):
        UnigramLM(vocab, np.arange(len(vocab)) + 1 + k).save(tmp_path / f"u{k}")
        dirs.append(tmp_path / f"u{k}")
    labels = {str(d): {"attractor_rate": 0.1, "corpus": k // 2} for k, d in enumerate(dirs)}
    seeds, text = score_suites(dirs, [_write(tmp_path, _suite())], tmp_path / "suites", labels=labels,
                               log=lambda _: None)
    assert "corpus" not in seeds.columns and len(seeds) == 2 and (seeds["n_seeds"] == 4).all()
    assert "seeds nested in the corpora drawn" in text and "degree(s) of freedom" not in text
    from probe.metrics import NESTED_METHOD

    # where the models differ, the interval is the nested one (where they agree on every item, the Wilson stand-in)
    assert (seeds["ci_method"] == NESTED_METHOD).any()
