"""Gradient decay: step-by-step forward = the model's, one-pass norms = per-distance autograd = finite differences."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from probe.cli import main
from probe.core.errors import ProbeError
from probe.analyses.gradients import (GradientsConfig, cell_jacobian_norms, item_gradients, plot_item_gradients,
                                      run as run_gradients)
from probe.analyses.base import AnalysisInputs, analysis_copy
from probe.analyses.taps import decay_norms, fit_decay, forward_with_taps, parse_variant, variant_name
from probe.models.config import ModelConfig
from probe.models.lm import build_model

torch.set_num_threads(1)

CELLS = [dict(arch="srn"), dict(arch="srn", nonlinearity="relu"), dict(arch="gru"), dict(arch="lstm"),
         dict(arch="lstm", forget_bias=1.0)]


def tiny(layers=1, skip="none", **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(**{"vocab_size": 7, "emb": 5, "hidden": 4, "layers": layers, "skip": skip, **kw})
    return build_model(cfg)


@pytest.mark.parametrize("skip", ["residual", "dense", "highway"])
@pytest.mark.parametrize("kw", CELLS, ids=lambda k: "-".join(map(str, k.values())))
def test_step_by_step_forward_equals_the_model(kw, skip):
    model = tiny(layers=2, skip=skip, tied=True, **kw).eval()
    ids = torch.randint(0, 7, (3, 9), generator=torch.Generator().manual_seed(1))
    a = analysis_copy(model)
    logits, taps = forward_with_taps(a, ids)
    ref = a(ids).logits          # the model's own (fused) forward, float64
    assert torch.allclose(logits, ref, atol=1e-10)
    assert set(taps) == {"emb", (0, "h"), (1, "h")} and not any(t.abs().sum() for t in taps.values())
    at = torch.tensor([8, 0, 4])
    # the decoder on the gathered positions vs on every position: two matmul shapes, whose kernels (and so
    # the last bits of float64) depend on the CPU; a wrong position would differ by O(1)
    torch.testing.assert_close(forward_with_taps(a, ids, at=at)[0], logits[torch.arange(3), at], rtol=0, atol=1e-12)


def _loss_after(model, ids, target, p, h_p):
    """J from state h_p (top layer h at position p), continuing with the model's own forward over ids[:, p+1:]."""
    if p == ids.shape[1] - 1:
        logits = model.decoder(h_p)
    else:
        state = model(ids[:, : p + 1]).state[0]
        state = (h_p, state[1]) if isinstance(state, tuple) else h_p   # LSTM: the cell state is held fixed
        logits = model(ids[:, p + 1:], state=(state,)).logits[:, -1]
    return F.cross_entropy(logits, target, reduction="sum")


@pytest.mark.parametrize("kw", CELLS, ids=lambda k: "-".join(map(str, k.values())))
def test_one_pass_norms_equal_per_distance_autograd_and_finite_differences(kw):
    model = analysis_copy(tiny(**kw))
    windows = torch.randint(0, 7, (2, 9), generator=torch.Generator().manual_seed(2)).numpy()
    L = 6
    norms = decay_norms(model, windows, max_distance=L, batch_size=1)[(0, "h")]     # [2, L+1], two batches
    ids, target = torch.as_tensor(windows[:, :-1]), torch.as_tensor(windows[:, -1])
    t = ids.shape[1] - 1
    for l in range(L + 1):
        p = t - l
        h_p = model(ids[:, : p + 1]).state[0]
        h_p = (h_p[0] if isinstance(h_p, tuple) else h_p).detach().requires_grad_(True)
        for b in range(2):      # per window: the loop the one-pass estimator replaces
            (g,) = torch.autograd.grad(_loss_after(model, ids[b:b + 1], target[b:b + 1], p, h_p[b:b + 1]), h_p)
            assert norms[b, l] == pytest.approx(float(g.norm()), rel=1e-8, abs=1e-14)
        # central finite differences, unit by unit, on the first window
        eps, fd = 1e-6, []
        with torch.no_grad():
            for u in torch.eye(4, dtype=torch.float64):
                plus = _loss_after(model, ids[:1], target[:1], p, h_p[:1] + eps * u)
                minus = _loss_after(model, ids[:1], target[:1], p, h_p[:1] - eps * u)
                fd.append(float(plus - minus) / (2 * eps))
        assert norms[0, l] == pytest.approx(float(np.linalg.norm(fd)), rel=1e-5, abs=1e-9)


def test_gradients_vanish_with_distance_and_forget_bias_slows_it():
    ids = np.random.default_rng(0).integers(0, 7, size=(8, 33))
    srn = decay_norms(analysis_copy(tiny(arch="srn", hidden=16)), ids, max_distance=30)[(0, "h")].mean(0)
    lstm1 = decay_norms(analysis_copy(tiny(arch="lstm", hidden=16, forget_bias=3.0)), ids,
                        max_distance=30)[(0, "h")].mean(0)
    assert srn[30] < 1e-3 * srn[0]
    assert lstm1[30] / lstm1[1] > 100 * srn[30] / srn[1]


def test_fit_recovers_a_planted_decay():
    d = np.arange(0, 61)
    f = fit_decay(d, 3.0 * 0.8 ** d * np.exp(0.01 * np.sin(d)), fit_min=5)
    assert f["per_step"] == pytest.approx(0.8, rel=1e-3) and f["r2"] > 0.999
    assert f["tau"] == pytest.approx(-1 / np.log(0.8), rel=1e-2)
    assert fit_decay(d, np.zeros(61))["n_points"] == 0


def test_bare_cell_simulation_matches_the_jacobian():
    spec = parse_variant("gru")
    norms = cell_jacobian_norms(spec, hidden=3, max_distance=4, n_sequences=2, seed=0)
    assert norms.shape == (2, 5)
    assert norms[:, 0] == pytest.approx(np.sqrt(3.0))        # dh(t)/dh(t) is the identity
    assert (np.diff(norms, axis=1) < 0).all()


def test_variant_specs():
    assert parse_variant("lstm:forget_bias=1") == {"arch": "lstm", "forget_bias": 1.0}
    assert variant_name(ModelConfig(arch="lstm", forget_bias=1.0)) == "forget_bias=1"
    assert variant_name(ModelConfig(arch="srn", nonlinearity="relu")) == "relu"
    for bad in ("transformer", "gru:forget_bias=1", "srn:nonlinearity=gelu", "lstm:forget_bias=x", "srn:foo=1"):
        with pytest.raises(ProbeError):
            parse_variant(bad)


def test_item_gradients_are_per_item_whatever_the_batch():
    from probe.data.corpus import Vocab

    vocab = Vocab(("<unk>", "<eos>", "the", "dog", "dogs", "near", "cat", "cats", "runs", "run"))
    model = analysis_copy(build_model(ModelConfig(arch="lstm", vocab_size=len(vocab), emb=6, hidden=5)))
    items = pd.DataFrame([
        {"id": "a", "construction": "pp", "condition": "SP", "prefix": "the dog near the cats", "verb_good": "runs",
         "verb_bad": "run", "sentence_good": "", "sentence_bad": "", "head_index": 1, "head_number": "sg",
         "attractor_indices": [4], "attractor_numbers": ["pl"], "verb_index": 5, "n_attractors": 1},
        {"id": "b", "construction": "simple", "condition": "P", "prefix": "the dogs", "verb_good": "run",
         "verb_bad": "runs", "sentence_good": "", "sentence_bad": "", "head_index": 1, "head_number": "pl",
         "attractor_indices": [], "attractor_numbers": [], "verb_index": 2, "n_attractors": 0},
        {"id": "c", "construction": "simple", "condition": "S", "prefix": "the zebra", "verb_good": "runs",
         "verb_bad": "run", "sentence_good": "", "sentence_bad": "", "head_index": 1, "head_number": "sg",
         "attractor_indices": [], "attractor_numbers": [], "verb_index": 2, "n_attractors": 0},   # OOV: left out
    ])
    both = item_gradients(model, vocab, items, batch_size=8)
    alone = pd.concat([item_gradients(model, vocab, items.iloc[[i]], batch_size=1) for i in range(2)])
    assert list(both["item"]) == ["a", "b", "a"] and list(both["role"]) == ["head", "head", "attractor"]
    assert list(both["distance"]) == [4, 1, 1]
    key = ["item", "role"]
    m = both.merge(alone, on=key, suffixes=("", "_1"))
    assert np.allclose(m["grad_emb"], m["grad_emb_1"], rtol=1e-10) and np.allclose(m["grad_h"], m["grad_h_1"])
    assert (both["grad_h"] > 0).all()


WORDS = ("the", "dog", "dogs", "near", "cat", "cats", "runs", "run")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny corpus, items over its vocabulary and a saved SRN checkpoint (weights as initialised: the
    analysis only needs a checkpoint, not a good model)."""
    from probe.data.corpus import Vocab, write_ids
    from probe.models.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("grad")
    vocab = Vocab(("<unk>", "<eos>", *WORDS))
    (root / "corpus").mkdir()
    vocab.save(root / "corpus" / "vocab.json")
    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        write_ids(root / "corpus" / f"{split}.npy", rng.integers(0, len(vocab), size=400).astype(np.uint16))
    rows = [{"id": f"i{k}", "construction": "pp", "condition": c, "prefix": p, "verb_good": g, "verb_bad": b,
             "sentence_good": "", "sentence_bad": "", "head_index": 1, "head_number": "sg" if c[0] == "S" else "pl",
             "attractor_indices": [4], "attractor_numbers": ["pl" if c[1] == "P" else "sg"], "verb_index": 5,
             "n_attractors": 1}
            for k, (c, p, g, b) in enumerate([("SP", "the dog near the cats", "runs", "run"),
                                               ("PS", "the dogs near the cat", "run", "runs")])]
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.manual_seed(0)
    cfg = ModelConfig(arch="srn", vocab_size=len(vocab), emb=8, hidden=8, layers=1)
    (root / "srn").mkdir()
    save_checkpoint(root / "srn" / "model.pt", model=build_model(cfg), model_config=cfg, vocab=vocab,
                    train_config={"seed": 0}, train_state={})
    (root / "srn" / "config.json").write_text(json.dumps({"corpus": str(root / "corpus")}))
    return root


def test_analysis_end_to_end_and_cli_errors(trained, capsys):
    out = trained / "results"
    cfg = GradientsConfig(max_distance=12, burn_in=2, n_sequences=6, batch_size=3, fit_min=2, n_items=20,
                          n_boot=20, variants=("srn", "lstm:forget_bias=1"), sim_models=1, sim_sequences=1,
                          sim_hidden=4)
    res = run_gradients(AnalysisInputs(models=({"path": str(trained / "srn"), "arch": "srn", "attractor_rate": 0.1,
                                                "seed": 0},), corpus_dirs={0.1: str(trained / "corpus")},
                                       items=str(trained / "items.jsonl"), out=str(out)), cfg)
    names = {Path(f).name for f in res["files"]}
    assert {"gradients.csv", "gradients_fit.csv", "gradients_items.csv", "gradients.png", "gradients.pdf",
            "gradients_items.png", "gradients_sim.csv", "gradients.json"} <= names
    table = pd.read_csv(out / "gradients.csv")
    assert {"arch", "variant", "state", "distance", "grad_norm", "n"} <= set(table.columns)
    assert set(zip(table["arch"], table["variant"], table["state"])) == {
        ("srn", "tanh", "init"), ("lstm", "forget_bias=1", "init"), ("srn", "tanh", "trained")}
    assert table["distance"].max() == 12 and (table["n"] == 6).all()
    fit = pd.read_csv(out / "gradients_fit.csv")
    assert fit["per_step"].between(0, 1.5).all()
    assert "| srn (tanh) | init |" in res["markdown"]
    items = pd.read_csv(out / "gradients_items.csv")
    assert set(items["role"]) == {"head", "attractor"} and set(items["distance"]) == {1, 4}
    # the figure counts the items the report's table counts (items with attractors) and names the rate
    table_items = int(re.search(r"\| srn \(tanh\) \| (\d+) \|", res["markdown"]).group(1))
    assert items.loc[items["role"] == "head", "n"].sum() == table_items and (items["attractor_rate"] == 0.1).all()
    assert "corpus attractor rate 0.1" in plot_item_gradients(items)._suptitle.get_text()
    assert json.loads((out / "gradients.json").read_text())["config"]["max_distance"] == 12
    # bad input: one line, exit 2, nothing written
    bad = trained / "bad"
    assert main(["gradients", "--model", str(trained / "nope"), "--out", str(bad)]) == 2
    assert main(["gradients", "--variants", "lstm:nonlinearity=relu", "--out", str(bad)]) == 2
    assert main(["gradients", "--items", str(trained / "items.jsonl"), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("probe gradients: error:") for e in err)
    assert not bad.exists()
    with pytest.raises(ProbeError, match="fewer than one window"):
        run_gradients(AnalysisInputs(corpus_dirs={None: str(trained / "corpus")}, out=str(bad)),
                      GradientsConfig(max_distance=5000))
    assert not bad.exists()


def test_log_axis_labels_share_one_style():
    from probe.core.style import log_label

    assert [log_label(v) for v in (1e20, 1e8, 1e5, 1e4, 100, 1, 0.001, 1e-6)] == \
        ["1e20", "1e8", "1e5", "10000", "100", "1", "0.001", "1e-6"]
