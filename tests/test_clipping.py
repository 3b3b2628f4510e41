"""Clipping analysis: exact counts on a synthetic exploding case, trace parsing, outputs, bad input."""
from dataclasses import replace
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from probe.cli import main
from probe.analyses.clipping import (TRAIN, ClippingConfig, read_trace, run as run_clipping,
                                     trace_counts, train_clipping_run)
from probe.analyses.base import AnalysisInputs, working_corpus
from probe.core.errors import ProbeError
from probe.data.corpus import load_corpus
from toy import write_toy_corpus

torch.set_num_threads(1)

WORDS = ["the", "dog", "dogs", "cat", "cats", "near", "runs", "run", "sleeps", "sleep"]
RELU = "srn:nonlinearity=relu"


def item(prefix, good, bad, head, atts, cond):
    return {"id": f"{cond}.{prefix}", "construction": "pp", "condition": cond, "prefix": prefix, "verb_good": good,
            "verb_bad": bad, "sentence_good": f"{prefix} {good}", "sentence_bad": f"{prefix} {bad}",
            "head_index": head, "attractor_indices": atts, "verb_index": len(prefix.split()),
            "n_attractors": len(atts)}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clip")
    write_toy_corpus(root / "corpus", {"train": (200, 0), "valid": (40, 1), "test": (20, 2)}, words=WORDS)
    rows = [item("the dog near the cats", "runs", "run", 1, [4], "SP"),
            item("the dogs near the cat", "sleep", "sleeps", 1, [4], "PS"),
            item("the cat", "runs", "run", 1, [], "S"), item("the cats", "run", "runs", 1, [], "P")]
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def cfg(**kw):
    train = {"max_steps": 8, **{k: kw.pop(k) for k in ("lr", "max_steps") if k in kw}}
    return ClippingConfig(**{"archs": (RELU,), "n_items": 0, **kw},
                          train=replace(TRAIN, hidden=8, emb=8, batch_size=4, bptt=10, max_nonfinite=3, **train))


@pytest.mark.parametrize("lr,clip,status,steps,nonfinite,clipped", [
    (1e30, 0.0, "stopped", 4, 3, 0),      # step 1 finite, then every loss is NaN: 3 in a row stop the run
    (1e30, 1e-3, "stopped", 4, 3, 1),     # the one finite step is clipped, the update still explodes
    (0.1, 1e-6, "completed", 8, 0, 8),    # a tiny threshold clips every step, nothing explodes
])
def test_exploding_relu_srn_counts(data, tmp_path, lr, clip, status, steps, nonfinite, clipped):
    c = cfg(lr=lr, clips=(clip,))
    row, trace = train_clipping_run(c, RELU, clip, corpus_dir=data / "corpus", workdir=tmp_path)
    assert (row["status"], row["steps"], row["nonfinite_steps"], row["clipped_steps"]) == \
        (status, steps, nonfinite, clipped)
    assert row["clipped_share"] == pytest.approx(clipped / steps)
    assert len(trace) == steps and list(trace["step"]) == list(range(1, steps + 1))
    assert np.isnan(row["final_valid_ppl"]) == (status == "stopped")


def test_trace_counts_from_metrics_with_non_finite_strings(tmp_path):
    lines = [{"kind": "train", "step": 1, "loss": 5.0, "grad_norm": 3.0, "clipped": True},
             {"kind": "skip", "step": 2, "loss": "nan", "grad_norm": "inf", "nonfinite": 1},
             {"kind": "eval", "step": 2, "valid_ppl": 9.0},
             {"kind": "train", "step": 3, "loss": 4.0, "grad_norm": 0.5, "clipped": False},
             {"kind": "train", "step": 4, "loss": 4.0, "grad_norm": 7.0, "clipped": True}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    t = read_trace(tmp_path)
    assert list(t["finite"]) == [True, False, True, True]
    c = trace_counts(t)
    assert (c["steps"], c["nonfinite_steps"], c["clipped_steps"]) == (4, 1, 2)
    assert c["clipped_share"] == 0.5 and c["max_grad_norm"] == 7.0 and c["median_grad_norm"] == 3.0


def test_working_corpus_links_train_and_cuts_valid(data, tmp_path):
    w = load_corpus(working_corpus(data / "corpus", tmp_path / "w", valid_tokens=50))
    src = load_corpus(data / "corpus")
    assert w.vocab == src.vocab and np.array_equal(w.splits["train"], src.splits["train"])
    assert np.array_equal(w.splits["valid"], src.splits["valid"][:50]) and "test" not in w.splits


def test_analysis_writes_tables_and_figure_and_never_crashes(data):
    out = data / "results"
    res = run_clipping(AnalysisInputs(corpus_dirs={0.0: str(data / "corpus")}, items=str(data / "items.jsonl"),
                                      out=str(out)), cfg(lr=1e30, clips=(0.0, 1.0), valid_tokens=40, max_steps=5))
    runs = pd.read_csv(out / "clipping.csv")
    assert list(runs["clip"]) == [0.0, 1.0] and set(runs["status"]) == {"stopped"}
    assert {"arch", "nonlinearity", "lr", "clip", "steps", "nonfinite_steps", "clipped_share", "final_valid_ppl",
            "agreement_accuracy", "max_grad_norm"} - set(runs.columns) == {"nonlinearity"}
    assert list(runs["variant"]) == ["relu", "relu"]
    traces = pd.read_csv(out / "clipping_traces.csv")
    assert len(traces) == runs["steps"].sum()
    assert (out / "figures" / "clipping.png").stat().st_size > 0 and (out / "figures" / "clipping.pdf").is_file()
    assert "| srn (relu) | off | stopped |" in res["markdown"]
    ok = run_clipping(AnalysisInputs(corpus_dirs={0.0: str(data / "corpus")}, items=str(data / "items.jsonl"),
                                     out=str(out)), cfg(lr=0.5, clips=(1.0,), max_steps=3))
    assert ok["runs"][0]["status"] == "completed" and 0 <= ok["runs"][0]["agreement_accuracy"] <= 1
    assert ok["runs"][0]["n_items"] == 4


def test_bad_input_is_one_line_and_writes_nothing(data, capsys):
    bad = data / "bad"
    assert main(["clipping", "--corpus", str(data / "nope"), "--out", str(bad)]) == 2
    assert main(["clipping", "--corpus", str(data / "corpus"), "--clips", "-1", "--out", str(bad)]) == 2
    assert main(["clipping", "--corpus", str(data / "corpus"), "--archs", "gru:forget_bias=1", "--out", str(bad)]) == 2
    assert main(["clipping", "--corpus", str(data / "corpus"), "--train-lr", "0", "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("probe clipping: error:") for e in err)
    # a training option is its train config's field, flagged --train-FIELD and named so when it is wrong
    assert err[-1] == "probe clipping: error: --train-lr must be a positive number, got 0.0"
    assert not bad.exists()
    novalid = write_toy_corpus(data / "novalid", {"train": (20, 0)}, words=WORDS)
    with pytest.raises(ProbeError, match="no valid split"):
        working_corpus(novalid, data / "w")


def test_run_entries_need_a_corpus_and_take_the_richest(tmp_path):
    from probe.analyses.base import richest_corpus
    from probe.analyses.base import run_analysis

    for name in ("clipping", "depth"):
        with pytest.raises(ProbeError, match="needs a corpus"):
            run_analysis(name, AnalysisInputs(out=str(tmp_path / "x")))
    assert richest_corpus({0.01: "a", 0.3: "b", 0.1: "c"}, "depth").name == "b"


def test_clipping_figure_a_panel_per_threshold_and_a_capped_axis():
    """One panel per cell x threshold (no tangle of traces); an explosion to 1e15 does not squash the other
    traces: it is drawn at a ceiling with its largest value written beside it, non-finite steps as crosses."""
    from probe.analyses.clipping import plot_clipping
    from probe.core.style import figure_problems

    steps = np.arange(1, 21)
    calm = pd.DataFrame({"arch": "srn", "variant": "relu", "clip": 1.0, "step": steps, "loss": 1.0,
                         "grad_norm": np.full(20, 2.0), "clipped": True, "finite": True})
    wild = calm.assign(clip=0.0, clipped=False, grad_norm=np.where(steps == 5, 1e15, 0.5), finite=steps < 10)
    runs = pd.DataFrame([{"arch": "srn", "variant": "relu", "optimizer": "sgd", "lr": 5.0, "clip": c, "status": s,
                          "steps": 20, "nonfinite_steps": n, "clipped_share": share}
                         for c, s, n, share in ((0.0, "stopped", 11, 0.0), (1.0, "completed", 0, 1.0))])
    fig = plot_clipping(pd.concat([wild, calm]), runs)
    off, on = fig.axes
    assert off.get_title() == "no clipping: stopped, 11 non-finite"
    assert on.get_title().startswith("clip 1: 0 non-finite")
    assert off.get_ylim()[1] < 1e6                               # the explosion does not set the scale
    assert max(off.lines[0].get_ydata()) == 200      # capped at 100 x the row's median norm (2 > the threshold 1)
    assert any(t.get_text() == "max 1.0e+15" for t in off.texts)
    crosses = [line for line in off.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and len(crosses[0].get_xdata()) == 11
    assert figure_problems(fig) == []
