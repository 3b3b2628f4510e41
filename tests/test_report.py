"""Tests for probe.report: report.md from a results folder's summary files and figures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from probe.core.errors import ProbeError
from probe.evaluate import EvalConfig, write_results
from probe.report.plots import make_figures
from probe.core.tables import fmt_ci, markdown_table
from probe.report.report import write_report

from test_plots import fake_scores  # noqa: E402  (tests/ is on sys.path under pytest)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "res"
    scores = fake_scores(archs=("lstm", "3-gram"), rates=[0.1, 0.5], n=20)
    write_results(scores, out, config=EvalConfig(models=("a",), data=("d",)),
                  models=[{"model": "lstm-s0-0.1", "arch": "lstm", "seed": 0, "path": "runs/x", "vocab_size": 10}])
    make_figures(out, formats=("png",))
    return out


def test_report_has_tables_figures_commands_environment(results):
    path = write_report(results, title="Toy run", commands=["probe run --preset quick"],
                        sections={"Why these sizes": "Measured: 12 s per model."})
    text = path.read_text()
    assert text.startswith("# Toy run")
    assert "```sh\nprobe run --preset quick\n```" in text
    assert "## Why these sizes\n\nMeasured: 12 s per model." in text
    for heading in ("## Headline", "## Where agreement turns syntactic", "## Attraction effects",
                    "## Accuracy per item class", "## Mismatched items without conflict",
                    "## Accuracy per construction and condition", "## Figures", "## Environment",
                    "## Scoring conventions", "## Models"):
        assert heading in text, heading
    for fig in ("attractors.png", "headline.png", "preference.png", "asymmetry.png", "attractor_rate.png"):
        assert f"(figures/{fig})" in text
    for key in ("python:", "torch:", "datasets:", "spacy:", "cpu:", "gpu:", "torch threads:", "date:", "git commit:"):
        assert f"- {key}" in text
    # the headline numbers are the summary's, formatted
    seeds = pd.read_csv(results / "summary_seeds.csv")
    row = seeds[(seeds["arch"] == "3-gram") & (seeds["construction"] == "all") & (seeds["level"] == "match")
                & (seeds["condition"] == "conflict") & (seeds["n_attractors"] == 1) & (seeds["metric"] == "accuracy")
                & (seeds["attractor_rate"] == 0.5)].iloc[0]
    assert fmt_ci(row["value"], row["ci_low"], row["ci_high"]) in text
    # the third class has its own line and never enters the conflict number
    no_conflict = seeds[(seeds["arch"] == "lstm") & (seeds["construction"] == "sent_comp")
                        & (seeds["condition"] == "mismatched_no_conflict") & (seeds["metric"] == "accuracy")
                        & (seeds["attractor_rate"] == 0.5)].iloc[0]
    assert fmt_ci(no_conflict["value"], no_conflict["ci_low"], no_conflict["ci_high"]) in text
    assert "False-positive check" not in text or "as it must be" in text
    assert "None: all" in text  # no exclusions in this run


def test_report_lists_exclusions(tmp_path):
    scores = fake_scores(archs=("lstm",), seeds=(0,), n=10)
    scores.loc[:2, "excluded"] = True
    scores.loc[:2, "exclude_reason"] = "oov"
    scores.loc[:2, "correct"] = pd.NA
    write_results(scores, tmp_path / "res", config=EvalConfig(models=("a",), data=("d",)), models=[])
    text = write_report(tmp_path / "res").read_text()
    assert "| d | pp | SS | oov | 3 |" in text


def test_helpers_and_bad_folder(tmp_path):
    assert fmt_ci(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    assert fmt_ci(float("nan"), 0, 1) == "-"
    assert markdown_table(pd.DataFrame({"a": [1], "b": ["x"]})) == "| a | b |\n|---|---|\n| 1 | x |\n"
    with pytest.raises(ProbeError, match="summary_seeds.csv"):
        write_report(tmp_path)
    assert not (tmp_path / "report.md").exists()


def test_conflict_by_construction_names_columns_by_cell_rate_and_data_set():
    """Columns per cell x rate (and data set, where several were scored), in cell order then rate order."""
    from probe.metrics import aggregate_seeds
    from probe.report.report import conflict_by_construction

    scores = fake_scores(rates=[0.01, 0.3])
    table = conflict_by_construction(aggregate_seeds(scores), ["pp", "src"])
    assert list(table.columns) == ["construction", "srn r0.01", "srn r0.3", "lstm r0.01", "lstm r0.3",
                                   "3-gram r0.01", "3-gram r0.3"]
    two = pd.concat([scores.assign(data="a"), scores.assign(data="b")])
    table = conflict_by_construction(aggregate_seeds(two), ["pp"])
    assert list(table.columns)[:3] == ["construction", "srn data a r0.01", "srn data a r0.3"]


def test_without_a_pool_the_headline_compares_matched_and_conflict_items_of_the_same_constructions(tmp_path):
    """Real text has no attested pool: where 'all' holds matched items of a construction without conflict
    items, the summaries add pooled_conflict over those that have them, and the headline reads it there."""
    import json

    from probe.report.report import headline_constructions

    scores = fake_scores(archs=("lstm",), seeds=(0, 1), n=20)
    extra = scores[(scores["construction"] == "pp") & scores["condition"].isin(["SS", "PP"])].copy()
    extra["construction"] = "within_orc"
    extra["correct"] = pd.array([True] * len(extra), dtype="boolean")       # matched items all right
    extra["id"] = "w" + extra["id"]
    write_results(pd.concat([scores, extra], ignore_index=True), tmp_path / "res",
                  config=EvalConfig(models=("a",), data=("d",)), models=[])
    assert json.loads((tmp_path / "res" / "summary.json").read_text())["pools"] == {"pooled_conflict": ["pp", "src"]}
    seeds = pd.read_csv(tmp_path / "res" / "summary_seeds.csv")
    assert headline_constructions(seeds) == ("all", "pooled_conflict")
    matched = {c: seeds[(seeds["construction"] == c) & (seeds["level"] == "match") & (seeds["condition"] == "matched")
                        & (seeds["n_attractors"] == 1) & (seeds["metric"] == "accuracy")].iloc[0]
               for c in ("all", "pooled_conflict")}
    assert matched["all"]["n_items"] > matched["pooled_conflict"]["n_items"]
    text = write_report(tmp_path / "res").read_text()
    assert "over those with conflict items (`pp`, `src`)" in text
    m = matched["pooled_conflict"]
    assert fmt_ci(m["value"], m["ci_low"], m["ci_high"]) in text
