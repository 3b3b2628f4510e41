"""Depth sweep: which models are trained, gradients through depth (residuals help), a tiny end-to-end run."""
from dataclasses import replace
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from probe.cli import main
from probe.analyses.depth import TRAIN, DepthConfig, depth_gradients, models_to_train, run as run_depth
from probe.analyses.base import AnalysisInputs
from probe.models.config import ModelConfig
from probe.models.lm import build_model
from toy import write_toy_corpus

torch.set_num_threads(1)

WORDS = ["the", "dog", "dogs", "cat", "cats", "near", "runs", "run"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("depth")
    write_toy_corpus(root / "corpus", {"train": (150, 0), "valid": (40, 1)}, words=WORDS, verbs=("run",))
    rows = [{"id": "a", "construction": "pp", "condition": "SP", "prefix": "the dog near the cats", "verb_good": "runs",
             "verb_bad": "run", "sentence_good": "", "sentence_bad": "", "n_attractors": 1, "nearest_number": "pl"},
            {"id": "b", "construction": "pp", "condition": "PP", "prefix": "the dogs near the cats", "verb_good": "run",
             "verb_bad": "runs", "sentence_good": "", "sentence_bad": "", "n_attractors": 1,
             "nearest_number": "pl"}]
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_models_to_train_trains_one_layer_once():
    jobs = models_to_train(DepthConfig(archs=("srn", "lstm"), layers=(2, 1, 4)))
    assert jobs[:5] == [("srn", 1, "none", 0), ("srn", 2, "none", 0), ("srn", 2, "residual", 0),
                        ("srn", 2, "dense", 0), ("srn", 2, "highway", 0)]
    assert len(jobs) == 2 * (1 + 4 + 4)
    assert models_to_train(DepthConfig(archs=("gru",), layers=(1, 3), skips=("highway",), train_seeds=(0, 4))) == \
        [("gru", 1, "none", 0), ("gru", 1, "none", 4), ("gru", 3, "highway", 0), ("gru", 3, "highway", 4)]


def test_gradients_vanish_through_depth_and_residuals_keep_them():
    ids = np.random.default_rng(0).integers(0, 10, size=(8, 9))

    def grads(residual):
        torch.manual_seed(0)
        m = build_model(ModelConfig(arch="lstm", vocab_size=10, emb=16, hidden=16, layers=6,
                                    skip="residual" if residual else "none"))
        return depth_gradients(m, ids, distance=5)

    plain, res = grads(False), grads(True)
    assert res["grad_emb_d0"] > 10 * plain["grad_emb_d0"]
    assert plain["grad_first_d0"] > plain["grad_emb_d0"]          # the input sits one layer further down
    one = depth_gradients(build_model(ModelConfig(arch="gru", vocab_size=10, emb=4, hidden=4, layers=1)), ids,
                          distance=5)
    assert one["grad_first_dk"] == one["grad_top_dk"]


def test_tiny_sweep_end_to_end_and_bad_input(data, capsys):
    out = data / "results"
    cfg = DepthConfig(archs=("gru",), layers=(2,), skips=("none", "residual"),
                      train=replace(TRAIN, hidden=4, emb=4, batch_size=4, bptt=5, max_steps=2, stop_after=0),
                      distance=3, burn_in=1, n_sequences=4, n_items=0)
    res = run_depth(AnalysisInputs(corpus_dirs={0.0: str(data / "corpus")}, items=str(data / "items.jsonl"),
                                   out=str(out), workers=2), cfg)
    table = pd.read_csv(out / "depth.csv")
    assert list(zip(table["layers"], table["skip"], table["state"])) == [
        (2, "none", "init"), (2, "none", "trained"), (2, "residual", "init"), (2, "residual", "trained")]
    trained = table[table["state"] == "trained"]
    assert trained["acc_conflict"].between(0, 1).all() and (trained["n_conflict"] == 1).all()
    assert (trained["steps"] == 2).all() and table["grad_emb_d0"].gt(0).all()
    assert table.loc[table["state"] == "init", "acc_conflict"].isna().all()
    assert (out / "figures" / "depth.png").is_file() and (out / "figures" / "depth.pdf").is_file()
    assert "| gru (default) | 2 | residual | not converged |" in res["markdown"]    # 2 steps, and it says so
    bad = data / "bad"
    assert main(["depth", "--corpus", str(data / "corpus"), "--layers", "0", "--out", str(bad)]) == 2
    assert main(["depth", "--corpus", str(data / "corpus"), "--archs", "lstm:forget_bias=inf", "--out", str(bad)]) == 2
    assert main(["depth", "--corpus", str(data / "nope"), "--out", str(bad)]) == 2
    assert main(["depth", "--corpus", str(data / "corpus"), "--items", str(data / "nope"), "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("probe depth: error:") == 4 and "--layers must be a positive integer, got 0" in err
    assert not bad.exists()


def test_depth_figure_shows_each_seed_and_their_mean_set_apart():
    """Several training seeds per variant: a point per seed, a line through their mean; the lines of the skip
    connections are set apart sideways, so that equal values stay visible."""
    from probe.analyses.depth import plot_depth
    from probe.core.style import figure_problems

    rows = []
    for seed, acc in ((0, 0.2), (1, 0.6), (2, 1.0)):
        for layers, skip in ((1, "none"), (4, "none"), (4, "residual")):
            for state in ("init", "trained"):
                rows.append({"arch": "lstm", "variant": "default", "layers": layers, "skip": skip, "seed": seed,
                             "state": state, "status": "converged", "distance": 10, "n_sequences": 8,
                             "acc_conflict": acc if state == "trained" else np.nan,
                             "grad_emb_d0": 0.01 * (seed + 1), "grad_emb_dk": 1e-4 * (seed + 1)})
    fig = plot_depth(pd.DataFrame(rows))
    acc_panel = fig.axes[0]
    means = [line for line in acc_panel.lines if line.get_linestyle() not in ("None", ":")]
    assert len(means) == 2                                       # residual, plain
    for line in means:
        np.testing.assert_allclose(line.get_ydata(), [0.6, 0.6])    # the mean of 0.2, 0.6 and 1.0
    xs = sorted(float(line.get_xdata()[1]) for line in means)
    assert xs[0] < xs[1] < xs[0] + 0.3                           # set apart, near the same depth
    points = [line for line in acc_panel.lines if line.get_linestyle() == "None"]
    # each model once: the one-layer models (shared by every line), four-layer plain and residual
    values = sorted(np.concatenate([p.get_ydata() for p in points]))
    np.testing.assert_allclose(values, [0.2] * 3 + [0.6] * 3 + [1.0] * 3)
    assert "3 training seeds" in fig._suptitle.get_text() and figure_problems(fig) == []
