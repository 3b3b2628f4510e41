"""Diagnostic probes and ablation: a planted linear feature is recovered (control near chance), unit ranking,
ablation zeroes exactly the chosen units inside the recurrence, positions, control labels, analysis and CLI."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from probe.data.build import BuildConfig, build_dataset
from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.corpus import CorpusConfig, build_corpus
from probe.analyses.ablation import AblatedLM, unit_accuracies
from probe.analyses.diagnose import (DiagnoseConfig, StateCache, control_labels, position_indices, probe_accuracy,
                                     probe_states, run as run_diagnose)
from probe.analyses.base import AnalysisInputs
from probe.data.items import prepare_items
from probe.models.config import ModelConfig
from probe.models.lm import build_model
from probe.data.items import load_items
from probe.train import TrainConfig, train

torch.set_num_threads(1)


def planted(n=400, d=16, seed=0):
    """States where one random direction encodes the label; 40 'lemmas' carry no signal."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    X = rng.standard_normal((n, d)) + 1.5 * (2 * y - 1)[:, None] * w
    lemma = rng.integers(0, 40, n)
    control = rng.integers(0, 2, 40)[lemma]
    return X.astype(np.float32), y, control


def test_probe_recovers_a_planted_linear_feature():
    X, y, control = planted()
    assert probe_accuracy(X, y, folds=5) > 0.9
    majority = max(control.mean(), 1 - control.mean())     # chance for the (unbalanced) control labels
    assert probe_accuracy(X, control, folds=5) < majority + 0.08
    cache = StateCache({(0, "h"): X[:, None, :]}, np.ones(len(y), dtype=np.int64))
    rows = probe_states(cache, {"here": np.zeros(len(y), dtype=np.int64), "nowhere": np.full(len(y), -1)},
                        y, control, DiagnoseConfig(folds=5))
    assert len(rows) == 1 and rows[0]["position"] == "here" and rows[0]["n"] == len(y)
    assert rows[0]["accuracy"] > 0.9 and rows[0]["selectivity"] > 0.25
    # no signal at all: chance
    rng = np.random.default_rng(1)
    assert abs(probe_accuracy(rng.standard_normal((300, 8)), rng.integers(0, 2, 300)) - 0.5) < 0.12


def test_unit_accuracies_find_the_planted_unit():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    X = rng.standard_normal((300, 10))
    X[:, 7] -= 2.0 * y             # unit 7 is low for plurals
    acc = unit_accuracies(X, y)
    assert acc.argmax() == 7 and acc[7] > 0.8 and np.delete(acc, 7).max() < 0.65


def _cell(arch, rnn):
    cls = {"srn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}[arch]
    cell = cls(rnn.input_size, rnn.hidden_size)
    cell.load_state_dict({"weight_ih": rnn.weight_ih_l0, "weight_hh": rnn.weight_hh_l0,
                          "bias_ih": rnn.bias_ih_l0, "bias_hh": rnn.bias_hh_l0})
    return cell


@pytest.mark.parametrize("arch", ["srn", "gru", "lstm"])
@pytest.mark.parametrize("residual", [False, True])
def test_ablation_zeroes_exactly_the_chosen_units(arch, residual):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, vocab_size=13, emb=6, hidden=6, layers=2, skip="residual" if residual else "none")).eval()
    ids = torch.randint(13, (3, 9))
    intact = model(ids, return_states=True)
    with torch.no_grad():
        same = AblatedLM(model, {}).eval()(ids, return_states=True)
        torch.testing.assert_close(same.logits, intact.logits)
        out = AblatedLM(model, {0: [1, 4]}).eval()(ids, return_states=True)
    kinds = ("h", "c") if arch == "lstm" else ("h",)
    for kind in kinds:
        s = out.states[(0, kind)]
        assert (s[..., [1, 4]] == 0).all()
        assert (s[..., [0, 2, 3, 5]] != 0).any(dim=(0, 1)).all()
    # zeroed inside the recurrence: equal to a step-by-step cell whose units are zeroed after every step
    cell = _cell(arch, model.encoder.layers[0].rnn)
    keep = torch.ones(6)
    keep[[1, 4]] = 0
    x = model.encoder.embedding(ids)
    h = c = torch.zeros(3, 6)
    with torch.no_grad():
        for t in range(9):
            if arch == "lstm":
                h, c = cell(x[:, t], (h, c))
                h, c = h * keep, c * keep
            else:
                h = cell(x[:, t], h) * keep
            torch.testing.assert_close(out.states[(0, "h")][:, t], h, atol=1e-6, rtol=1e-5)
    # the next layer and the softmax see the ablation; ablating layer 1 leaves layer 0 alone
    assert not torch.allclose(out.states[(1, "h")], intact.states[(1, "h")])
    assert not torch.allclose(out.logits, intact.logits)
    with torch.no_grad():
        top = AblatedLM(model, {1: [0]}).eval()(ids, return_states=True)
    torch.testing.assert_close(top.states[(0, "h")], intact.states[(0, "h")])
    assert (top.states[(1, "h")][..., 0] == 0).all()


def test_ablation_refuses_transformers_and_bad_units():
    tr = build_model(ModelConfig(arch="transformer", vocab_size=13, emb=8, hidden=8, layers=1, heads=2))
    with pytest.raises(ProbeError, match="recurrent"):
        AblatedLM(tr, {0: [1]})
    lstm = build_model(ModelConfig(arch="lstm", vocab_size=13, emb=8, hidden=8, layers=1))
    with pytest.raises(ProbeError, match="cannot ablate"):
        AblatedLM(lstm, {1: [0]})
    with pytest.raises(ProbeError, match="cannot ablate"):
        AblatedLM(lstm, {0: [8]})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnose")
    items = root / "items"
    build_dataset(BuildConfig(per_condition=6, constructions=("pp", "src"), max_attractors=2), out=items)
    corpus = root / "corpus"
    build_corpus(CorpusConfig(n_sentences=300, attractor_rate=0.2, exclude_items=str(items)), out=corpus)
    models = []
    for arch in ("srn", "lstm"):
        out = root / f"lm-{arch}"
        train(TrainConfig(arch=arch, layers=1, hidden=8, emb=8, batch_size=8, bptt=10, epochs=1, max_steps=6,
                          log_every=3, optimizer="adam", lr=1e-2), corpus_dir=corpus, out=out, progress=False)
        models.append({"path": str(out), "arch": arch, "attractor_rate": 0.2, "seed": 0})
    return root, items, models


def test_positions_and_control_labels(setup):
    _, items, _ = setup
    df = prepare_items(load_items(items))
    pos = position_indices(df, along=True, max_offset=3)
    toks = df["prefix"].str.split()
    for i in range(len(df)):
        seq = ["<eos>", *toks[i]]
        assert seq[pos["head"][i]] == df["head"][i]
        assert seq[pos["before_verb"][i]] == toks[i][-1]
        for k, a in enumerate(df["attractors"][i]):
            assert seq[pos[f"attractor{k + 1}"][i]] == a
        assert pos["attractor3"][i] == -1          # max_attractors=2
        assert pos["head+0"][i] == pos["head"][i]
    ctl = control_labels(pd.DataFrame({"head": ["author", "authors", "authors", "table"]}))
    assert ctl[0] == ctl[1] == ctl[2]               # one bit per lemma, whatever the number


def test_run_diagnose_analysis_and_cli(setup, tmp_path, capsys):
    _, items, models = setup
    cfg = DiagnoseConfig(max_items=150, folds=3, ablate=2, random_draws=2, n_boot=20, constructions=("pp", "src"))
    res = run_diagnose(AnalysisInputs(models=tuple(models), items=items, out=str(tmp_path)), cfg)
    diag = pd.read_csv(tmp_path / "diagnose.csv")
    assert list(diag.columns) == ["arch", "seed", "attractor_rate", "layer", "kind", "position", "accuracy",
                                  "control_accuracy", "selectivity", "n"]
    assert set(diag["arch"]) == {"srn", "lstm"} and set(diag.loc[diag["arch"] == "lstm", "kind"]) == {"h", "c"}
    assert {"head", "attractor1", "before_verb"} <= set(diag["position"])
    np.testing.assert_allclose(diag["selectivity"], diag["accuracy"] - diag["control_accuracy"])
    abl = pd.read_csv(tmp_path / "ablation.csv")
    assert set(abl["ablation"]) == {"none", "number", "random"}
    assert (abl.loc[abl["ablation"] != "none", "k"] == 2).all()
    assert abl.loc[abl["ablation"] == "random", "draw"].nunique() == 2
    for f in ("figures/diagnose.png", "figures/diagnose.pdf", "figures/ablation.png", "figures/ablation.pdf"):
        assert (tmp_path / f).is_file()
    assert "selectivity" in res["markdown"] and "Ablation" in res["markdown"]

    out = tmp_path / "cli"
    args = ["diagnose", "--items", str(items), "--out", str(out), "--max-items", "60", "--folds", "3",
            "--ablate", "0", "--no-progress"]
    assert main(args + ["--model", models[0]["path"]]) == 0
    assert (out / "diagnose.csv").is_file() and not (out / "ablation.csv").exists()
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(args[:4] + [str(bad)] + args[5:] + ["--model", str(tmp_path / "missing")]) == 2
    assert "error" in capsys.readouterr().err and not bad.exists()
    assert main(args[:4] + [str(bad)] + args[5:] + ["--model", models[0]["path"], "--folds", "1"]) == 2
    assert not bad.exists()


def test_diagnose_figure_keeps_the_cell_state_visible_beside_h():
    """Where h and c decode the head's number equally well (both at 1.0), the c line is drawn beside h in its
    own colour, not hidden under it."""
    from probe.analyses.diagnose import plot_diagnose
    from probe.core.style import figure_problems

    rows = [{"arch": "lstm", "seed": 0, "layer": 0, "kind": kind, "position": pos, "accuracy": 1.0,
             "control_accuracy": 0.6, "selectivity": 0.4, "n": 50}
            for kind in ("h", "c") for pos in ("head", "attractor1", "before_verb")]
    fig = plot_diagnose(pd.DataFrame(rows))
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    h, c = lines["layer 0 h"], lines["layer 0 c"]
    assert list(h.get_ydata()) == list(c.get_ydata()) == [1.0, 1.0, 1.0]
    assert all(xc > xh for xh, xc in zip(h.get_xdata(), c.get_xdata()))
    assert h.get_color() != c.get_color() and h.get_linestyle() != c.get_linestyle()
    assert figure_problems(fig) == []
