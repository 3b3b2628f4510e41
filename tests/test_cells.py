"""Tests for probe.models.cells: every table entry's formulas agree, and a new cell is one table entry."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from probe.data.corpus import Vocab
from probe.analyses.taps import forward_with_taps
from probe.models.cells import CELLS, Cell, as_tuple, recurrent_cells, register_cell
from probe.models.config import ModelConfig, archs, check_model_config
from probe.models.lm import build_model
from probe.scoring.neural import LMScorer


@pytest.mark.parametrize("name", list(CELLS))
def test_reference_formula_equals_the_cells_kernels(name):
    """The reference step, run over a sequence, gives the module's (and the fused kernel's) outputs."""
    torch.manual_seed(0)
    cell = CELLS[name]
    model = build_model(ModelConfig(arch=name, vocab_size=11, emb=6, hidden=5, layers=1)).double().eval()
    layer = model.encoder.layers[0]
    x = torch.randn(7, 3, 6, dtype=torch.float64)
    out, final, _ = layer(x)
    xw = F.linear(x, layer.rnn.weight_ih_l0, layer.rnn.bias_ih_l0)
    st = tuple(torch.zeros(3, 5, dtype=torch.float64) for _ in cell.state)
    ref = []
    for t in range(7):
        st = cell.reference(layer.rnn, xw[t], st)
        ref.append(st[0])
    assert torch.allclose(torch.stack(ref), out, atol=1e-10)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(st, as_tuple(final)))


def _mgu_reference(rnn, xw, state):
    """Minimal gated unit (Zhou et al. 2016): f = sigmoid(.), n = tanh(W_n x + U_n (f * h)), h' = h + f (n - h)."""
    h = state[0]
    H = h.shape[-1]
    w_f, w_n = rnn.weight_hh_l0[:H], rnn.weight_hh_l0[H:]
    b_f, b_n = rnn.bias_hh_l0[:H], rnn.bias_hh_l0[H:]
    f = torch.sigmoid(xw[:, :H] + F.linear(h, w_f, b_f))
    n = torch.tanh(xw[:, H:] + F.linear(f * h, w_n, b_n))
    return (h + f * (n - h),)


@pytest.fixture
def mgu():
    """A toy cell added through the public registry: one table entry, nothing else."""
    cell = register_cell(Cell("mgu", gates=2, reference=_mgu_reference, hh_bias_in_projection=False))
    yield cell
    del CELLS["mgu"]


def test_a_new_cell_is_one_table_entry(mgu, tmp_path):
    assert "mgu" in recurrent_cells() and "mgu" in archs()
    cfg = ModelConfig(arch="mgu", vocab_size=12, emb=8, hidden=6, layers=2, skip="residual")
    check_model_config(cfg)
    torch.manual_seed(0)
    model = build_model(cfg).double().eval()
    ids = torch.randint(0, 12, (3, 9))
    out = model(ids, return_states=True)
    assert out.logits.shape == (3, 9, 12) and out.states[(1, "h")].shape == (3, 9, 6)
    # one-step inference (what the trie scorer runs) equals the full forward pass
    with torch.no_grad():
        state, table = None, model.encoder.input_table()
        for t in range(9):
            h, state = model.encoder.step(ids[:, t], state, table)
        assert torch.allclose(h, model.encoder(ids).hidden[:, -1], atol=1e-10)
    # gradient taps step through the cell's reference formula: same logits as the model
    logits, taps = forward_with_taps(model, ids)
    assert torch.allclose(logits, out.logits, atol=1e-10) and (0, "h") in taps
    # the trie scorer's sentence log-probabilities equal a plain forward pass
    vocab = Vocab(("<unk>", "<eos>", *(f"w{i}" for i in range(10))))
    scorer = LMScorer(model.float(), vocab, batch_size=4)
    seqs = [[1, 3, 4, 5], [1, 3, 4, 6], [1, 7]]
    got = scorer.sequence_logprobs(seqs, np.ones(3, dtype=np.int64))
    with torch.no_grad():
        want = []
        for s in seqs:
            lp = torch.log_softmax(model(torch.tensor([s])).logits[0], -1)
            want.append(float(sum(lp[t - 1, s[t]] for t in range(1, len(s)))))
    assert np.allclose(got, want, atol=1e-4)
    # it trains: a few steps lower the loss on a fixed batch
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = ids[:, :-1], ids[:, 1:]
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x).logits.reshape(-1, 12), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_registered_cell_must_name_h_first():
    with pytest.raises(ValueError, match="first state"):
        register_cell(Cell("bad", gates=1, reference=_mgu_reference, state=("c", "h")))
    assert "bad" not in CELLS


def test_a_cell_without_kernels_keeps_its_memory_state_and_steps_exactly():
    """The LSTM's table entry without its torch module and kernels (reference formula only) returns the
    same outputs, c states (under the cell's memory name) and single steps as the built-in LSTM."""
    import dataclasses

    from probe.models.cells import CELLS, get_cell

    ref = register_cell(dataclasses.replace(get_cell("lstm"), name="lstm_ref", module=None, fast_step=None,
                                            direct=None, rebuild_states=None, init=None))
    try:
        torch.manual_seed(0)
        lstm = build_model(ModelConfig(arch="lstm", vocab_size=12, emb=8, hidden=6, layers=2)).double().eval()
        plain = build_model(ModelConfig(arch="lstm_ref", vocab_size=12, emb=8, hidden=6, layers=2)).double().eval()
        plain.load_state_dict(lstm.state_dict())
        ids = torch.randint(0, 12, (3, 9))
        a, b = lstm(ids, return_states=True), plain(ids, return_states=True)
        assert set(a.states) == set(b.states) == {(0, "h"), (0, "c"), (1, "h"), (1, "c")}
        for key in a.states:
            torch.testing.assert_close(a.states[key], b.states[key])
        with torch.no_grad():
            table = plain.encoder.input_table()
            _, step = plain.encoder.step(ids[:, 0], None, table=table)
            full = plain.encoder(ids[:, :1]).state
        for s_step, s_full in zip(step, full):      # per layer (h, c): the reference step is exact
            torch.testing.assert_close(torch.stack(list(s_step)), torch.stack(list(s_full)), rtol=0, atol=1e-12)
    finally:
        del CELLS[ref.name]
    # its options reach the reference formula too (a relu SRN without its module stays relu)
    ref = register_cell(dataclasses.replace(get_cell("srn"), name="srn_ref", module=None, fast_step=None, fused=None))
    try:
        torch.manual_seed(0)
        cfg = dict(vocab_size=12, emb=8, hidden=6, layers=1, nonlinearity="relu")
        srn = build_model(ModelConfig(arch="srn", **cfg)).double().eval()
        plain = build_model(ModelConfig(arch="srn_ref", **cfg)).double().eval()
        plain.load_state_dict(srn.state_dict())
        ids = torch.randint(0, 12, (3, 9))
        torch.testing.assert_close(srn(ids).logits, plain(ids).logits)
    finally:
        del CELLS[ref.name]
    with pytest.raises(ValueError, match="fused kernel needs a fast step"):
        register_cell(dataclasses.replace(get_cell("srn"), name="srn_bad", fast_step=None))
    with pytest.raises(ValueError, match="direct kernel runs the cell's torch module"):
        register_cell(dataclasses.replace(get_cell("lstm"), name="lstm_bad", module=None))
