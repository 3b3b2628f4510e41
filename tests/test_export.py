"""Tests for probe.data.export: the lm-evaluation-harness task folder, and lm-eval and minicons scoring it on a tiny
offline GPT-2 exactly as ``probe evaluate --hf-model`` does (the cross-checks skip without lm-eval / minicons)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.build import BuildConfig, build_dataset
from probe.data.export import LmEvalExportConfig, export_lm_eval, task_names
from probe.data.items import read_items
from toy import save_tiny_gpt2

LMEVAL_SKIP = "lm-eval not installed (pip install -e '.[lmeval]')"
MINICONS_SKIP = "minicons not installed (pip install -e '.[lmeval]')"


@pytest.fixture(scope="module")
def lm_eval():
    """lm-eval, or a skip; asked for first, so nothing is scored when it is absent."""
    return pytest.importorskip("lm_eval", reason=LMEVAL_SKIP)


@pytest.fixture(scope="module")
def minicons_scorer():
    """minicons' scorer module, or a skip; asked for first, so nothing is scored when it is absent."""
    return pytest.importorskip("minicons.scorer", reason=MINICONS_SKIP)


@pytest.fixture(scope="module")
def items_dir(tmp_path_factory):
    """Items of every class with attractors: simple (none), pp up to 2 attractors, sent_comp (attractor first)."""
    out = tmp_path_factory.mktemp("items") / "bench"
    build_dataset(BuildConfig(per_condition=2, seed=1, constructions=("simple", "pp", "sent_comp"), max_attractors=2),
                  out=out, workers=1)
    return out


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    pytest.importorskip("transformers")
    return save_tiny_gpt2(tmp_path_factory.mktemp("hf") / "tiny-gpt2")


@pytest.fixture(scope="module")
def probe_scores(items_dir, tiny_gpt2, tmp_path_factory):
    """method -> (per-item scores, summary) of `probe evaluate --hf-model` (sentence: without the final eos,
    which lm-eval does not score)."""
    cache = {}

    def get(method):
        if method not in cache:
            out = tmp_path_factory.mktemp(f"eval-{method}") / "eval"
            args = ["evaluate", "--hf-model", str(tiny_gpt2), "--data", str(items_dir), "--out", str(out),
                    "--method", method, "--device", "cpu", "--no-figures"]
            assert main(args + (["--no-final-eos"] if method == "sentence" else [])) == 0
            scores = pd.read_parquet(out / "scores.parquet").set_index("id")
            assert not scores["excluded"].any()
            cache[method] = scores, pd.read_csv(out / "summary.csv")
        return cache[method]

    return get


def test_export_writes_one_task_per_class_and_attractor_count(items_dir, tmp_path):
    out = tmp_path / "tasks"
    summary = export_lm_eval(LmEvalExportConfig(data=str(items_dir)), out)
    assert "--tasks probe_agreement" in summary and "add_bos_token=True" in summary
    items = read_items(items_dir)
    expected = items.groupby(task_names(items, "probe_agreement"))["id"].apply(set).to_dict()
    assert {"probe_agreement_none_0", "probe_agreement_matched_2", "probe_agreement_conflict_1",
            "probe_agreement_mismatched_no_conflict_1", "probe_agreement_mixed_2"} <= set(expected)
    # SPS and SSP: mixed attractor numbers, their own class whatever their nearest noun
    mixed = yaml.safe_load((out / "probe_agreement_mixed.yaml").read_text())["task"]
    assert set(items.loc[items["condition"].isin(["SPS", "SSP", "PSP", "PPS"]), "id"]) \
        <= set().union(*(expected[t] for t in mixed))
    for task, ids in expected.items():
        spec = yaml.safe_load((out / f"{task}.yaml").read_text())
        assert spec["task"] == task and spec["include"] == "_probe_agreement_template_yaml"
        data = spec["dataset_kwargs"]["data_files"]["test"]
        assert data == str((out / "data" / f"{task}.jsonl").resolve())     # absolute: lm-eval reads it from any cwd
        rows = [json.loads(line) for line in open(data, encoding="utf-8")]
        assert {r["id"] for r in rows} == ids and len(rows) == len(ids)
        cls, n = rows[0]["match"], rows[0]["n_attractors"]
        assert all((r["match"] == cls or "_mixed_" in task) and r["n_attractors"] == n for r in rows)
    group = yaml.safe_load((out / "probe_agreement.yaml").read_text())
    assert sorted(group["task"]) == sorted(expected)
    assert group["aggregate_metric_list"] == [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}]
    conflict = yaml.safe_load((out / "probe_agreement_conflict.yaml").read_text())
    assert conflict["task"] == ["probe_agreement_conflict_1", "probe_agreement_conflict_2"]
    template = yaml.safe_load((out / "_probe_agreement_template_yaml").read_text())
    assert template["output_type"] == "multiple_choice" and template["doc_to_target"] == 0
    assert template["dataset_path"] == "json" and template["doc_to_text"] == "{{prefix}}"
    assert template["target_delimiter"] == ""
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "prefix" and sum(cfg["tasks"].values()) == cfg["n_items"] == len(items)


def test_sentence_export_scores_whole_sentences_after_the_start_token(items_dir, tmp_path):
    out = tmp_path / "tasks"
    export_lm_eval(LmEvalExportConfig(data=str(items_dir), method="sentence", name="agr", constructions=("pp",)), out)
    template = yaml.safe_load((out / "_agr_template_yaml").read_text())
    assert template["doc_to_text"] == "" and template["target_delimiter"] == ""   # no space before the sentence
    assert template["doc_to_choice"] == "{{[sentence_good, sentence_bad]}}"
    assert not (out / "agr_none_0.yaml").exists() and (out / "agr_conflict_2.yaml").exists()


def test_pairs_without_two_verbs_are_left_out_and_an_empty_prefix_has_no_space(tmp_path):
    lm_eval_utils = pytest.importorskip("lm_eval.utils", reason=LMEVAL_SKIP)
    rows = [{"id": "whole", "construction": "c", "condition": "S", "prefix": "", "verb_good": "", "verb_bad": "",
             "sentence_good": "the dog is here", "sentence_bad": "the dogs are here"},
            {"id": "first", "construction": "c", "condition": "S", "prefix": "", "verb_good": "is", "verb_bad": "are",
             "sentence_good": "is the dog here", "sentence_bad": "are the dog here"},
            {"id": "spaced", "construction": "c", "condition": "S", "prefix": "the  dog", "verb_good": "is",
             "verb_bad": "are", "sentence_good": "the dog is", "sentence_bad": "the dog are"}]
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "(1 left out: no two different verbs)" in export_lm_eval(LmEvalExportConfig(data=str(data)), tmp_path / "p")
    docs = [json.loads(line) for line in open(tmp_path / "p" / "data" / "probe_agreement_none_0.jsonl")]
    assert [d["id"] for d in docs] == ["first", "spaced"] and docs[1]["prefix"] == "the dog"   # single spaces
    choice = yaml.safe_load((tmp_path / "p" / "_probe_agreement_template_yaml").read_text())["doc_to_choice"]
    # lm-eval's own template engine: the verb opening a text has no space before it, as in probe
    assert [lm_eval_utils.apply_template(choice, d) for d in docs] == ["['is', 'are']", "[' is', ' are']"]
    assert json.loads((tmp_path / "p" / "config.json").read_text())["n_left_out"] == 1
    (tmp_path / "whole.jsonl").write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(ProbeError, match="--method sentence"):
        export_lm_eval(LmEvalExportConfig(data=str(tmp_path / "whole.jsonl")), tmp_path / "q")
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize("change, message", [
    ({"method": "cloze"}, "unknown --method 'cloze'"),
    ({"name": "probe-agreement"}, "not a task name"),
    ({"constructions": ("nope",)}, "no items selected"),
    ({"data": "/no/such/folder"}, "not an item dataset"),
])
def test_bad_exports_are_one_line_errors_and_write_nothing(items_dir, tmp_path, change, message):
    out = tmp_path / "tasks"
    cfg = LmEvalExportConfig(**{"data": str(items_dir), **change})
    with pytest.raises(ProbeError, match=message) as err:
        export_lm_eval(cfg, out)
    assert "\n" not in str(err.value) and not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_export(items_dir, tmp_path, capsys):
    out = tmp_path / "tasks"
    assert main(["export", "lm-eval", "--data", str(items_dir), "--out", str(out), "--method", "sentence"]) == 0
    assert "lm_eval --model hf" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["method"] == "sentence"
    assert main(["export", "lm-eval", "--data", str(items_dir), "--out", str(out)]) == 2   # not empty
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", "lm-eval", "--data", str(items_dir), "--out", str(tmp_path / "b"), "--name", "1x"]) == 2
    assert not (tmp_path / "b").exists()


def run_lm_eval(lm_eval, model, tasks_dir, name, *, add_bos_token=True):
    """lm-eval's Python API as the lm_eval command runs it -> (results, per-item frame: acc, ll_good, ll_bad)."""
    from lm_eval.tasks import TaskManager

    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model},add_bos_token={add_bos_token}",
                                  tasks=[name], task_manager=TaskManager(include_path=str(tasks_dir),
                                                                         include_defaults=False),
                                  device="cpu", batch_size=8, log_samples=True)
    rows = [{"id": s["doc"]["id"], "task": task, "acc": s["acc"], "ll_good": float(s["filtered_resps"][0][0]),
             "ll_bad": float(s["filtered_resps"][1][0])} for task, samples in res["samples"].items() for s in samples]
    return res["results"], pd.DataFrame(rows).set_index("id")


@pytest.mark.parametrize("method", ["prefix", "sentence"])
def test_lm_eval_scores_the_export_as_probe_evaluate_does(lm_eval, items_dir, tiny_gpt2, probe_scores, tmp_path,
                                                          method, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")   # lm-eval's load_dataset
    scores, summary = probe_scores(method)
    export_lm_eval(LmEvalExportConfig(data=str(items_dir), method=method), tmp_path / "tasks")
    results, lm = run_lm_eval(lm_eval, tiny_gpt2, tmp_path / "tasks", "probe_agreement")
    lm = lm.loc[scores.index]
    # every item: the same choice, the same log-probabilities (lm-eval's float32 sums: within 1e-4)
    assert (lm["acc"].astype(bool) == scores["correct"].astype(bool)).all()
    np.testing.assert_allclose(lm["ll_good"], scores["logp_good"], atol=1e-4)
    np.testing.assert_allclose(lm["ll_good"] - lm["ll_bad"], scores["margin"], atol=1e-4)
    assert 0 < scores["correct"].mean() < 1 and scores["margin"].nunique() > len(scores) // 2   # choices vary
    # the group's accuracy is probe's over all items; each task's is probe's per class x attractor count
    assert results["probe_agreement"]["acc,none"] == pytest.approx(scores["correct"].mean(), abs=1e-12)
    cells = summary[(summary["level"] == "match") & (summary["construction"] == "all")
                    & (summary["metric"] == "accuracy")]
    # items whose attractors mix numbers are in no class cell of probe's: lm-eval gets them as class 'mixed'
    mixed = [t for t in results if t.startswith("probe_agreement_mixed_")]
    assert len(cells) == len(results) - 1 - len(mixed)
    for cell in cells.itertuples():
        task = f"probe_agreement_{cell.condition}_{cell.n_attractors}"
        assert results[task]["acc,none"] == pytest.approx(cell.value, abs=1e-12), task
    if method == "prefix":
        # lm-eval puts no start token before a GPT-2 context by itself: every prefix score then differs
        _, no_bos = run_lm_eval(lm_eval, tiny_gpt2, tmp_path / "tasks", "probe_agreement_conflict", add_bos_token=False)
        diff = (no_bos["ll_good"] - scores.loc[no_bos.index, "logp_good"]).abs()
        assert (diff > 1e-2).all()


@pytest.mark.parametrize("method", ["prefix", "sentence"])
def test_minicons_gives_probe_evaluates_margins(minicons_scorer, items_dir, tiny_gpt2, probe_scores, method):
    scores, _ = probe_scores(method)
    items = read_items(items_dir).set_index("id").loc[scores.index]
    lm = minicons_scorer.IncrementalLMScorer(str(tiny_gpt2), device="cpu")

    def total(x):
        return x.sum(0).item()

    # bos_token=True: minicons writes the tokenizer's bos_token before the text, as probe puts it first
    if method == "prefix":
        good, bad = (lm.conditional_score(list(items["prefix"]), list(items[verb]), bos_token=True, reduction=total)
                     for verb in ("verb_good", "verb_bad"))
    else:
        good, bad = (lm.sequence_score(list(items[col]), bos_token=True, reduction=total)
                     for col in ("sentence_good", "sentence_bad"))
    np.testing.assert_allclose(good, scores["logp_good"], atol=1e-4)
    np.testing.assert_allclose(np.subtract(good, bad), scores["margin"], atol=1e-4)
