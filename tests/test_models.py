"""Models: shapes and states per arch, fused kernels equal to nn.RNN/nn.GRU, causality, overfitting, checkpoints."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from probe.core.errors import ProbeError
from probe.data.corpus import Vocab
from probe.models.config import archs
from probe.models.lm import LanguageModel, build_model
from probe.models.config import ModelConfig
from probe.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from probe.models.cells import _GRUFunction, _SRNFunction

torch.set_num_threads(1)

V = 13


def make(arch, **kw):
    torch.manual_seed(0)
    base = dict(arch=arch, vocab_size=V, emb=8, hidden=8, layers=2, heads=2)
    return build_model(ModelConfig(**{**base, **kw}))


@pytest.mark.parametrize("arch", archs())
def test_shapes_and_states(arch):
    model = make(arch).eval()
    ids = torch.randint(V, (3, 7))
    out = model(ids, return_states=True)
    assert out.logits.shape == (3, 7, V)
    kinds = {"h", "c"} if arch == "lstm" else {"h"}
    assert set(out.states) == {(layer, k) for layer in range(2) for k in kinds}
    for value in out.states.values():
        assert value.shape == (3, 7, 8)
    if arch == "transformer":
        assert out.state is None
    else:
        assert len(out.state) == 2
        h_last = out.state[1][0] if arch == "lstm" else out.state[1]
        # the carried state is the top layer's hidden state at the last step
        torch.testing.assert_close(h_last, out.states[(1, "h")][:, -1])
    assert model(ids).states is None


@pytest.mark.parametrize("arch", ["srn", "gru", "lstm"])
def test_state_continues_a_sequence(arch):
    model = make(arch).eval()
    ids = torch.randint(V, (2, 10))
    whole = model(ids).logits
    first = model(ids[:, :4])
    second = model(ids[:, 4:], first.state).logits
    torch.testing.assert_close(torch.cat([first.logits, second], 1), whole, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("arch", ["srn", "gru", "lstm"])
def test_no_state_is_the_zero_state(arch):
    """state=None (each layer starts from its own zeros, built by nn.LSTM itself for the LSTM) computes what an
    explicit zero state does: logits, the carried state and every step's states (the LSTM's c included).
    To float tolerance: the two calls reach the kernel by different routes."""
    model = make(arch).eval()
    ids = torch.randint(V, (3, 6))
    zeros = torch.zeros(3, 8)
    start = tuple((zeros, zeros) if arch == "lstm" else zeros for _ in range(2))
    a, b = model(ids, None, return_states=True), model(ids, start, return_states=True)
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.state, b.state)
    assert a.states.keys() == b.states.keys()
    for key in a.states:
        torch.testing.assert_close(a.states[key], b.states[key])


@pytest.mark.parametrize("arch", ["srn", "gru", "lstm"])
def test_dropout_zero_trains_as_it_evaluates(arch):
    """With dropout 0 the training-mode forward (which skips the dropout calls) equals eval mode and draws no
    random numbers; with dropout > 0 it differs, so the comparison can see a dropout that is applied."""
    ids = torch.randint(V, (3, 6))
    model = make(arch, dropout=0.0)
    rng = torch.get_rng_state()
    train_out = model.train()(ids).logits
    assert torch.equal(rng, torch.get_rng_state())
    torch.testing.assert_close(train_out, model.eval()(ids).logits)
    noisy = make(arch, dropout=0.5)
    assert not torch.allclose(noisy.train()(ids).logits, noisy.eval()(ids).logits)


@pytest.mark.parametrize("arch,extra", [("srn", {}), ("srn", {"nonlinearity": "relu"}), ("gru", {}),
                                        ("lstm", {}), ("lstm", {"skip": "residual", "forget_bias": 1.0}),
                                        ("gru", {"skip": "residual", "layers": 3}), ("srn", {"skip": "dense", "layers": 3}),
                                        ("lstm", {"skip": "highway", "layers": 3}), ("gru", {"skip": "dense", "layers": 2})])
@pytest.mark.parametrize("use_table", [False, True])
def test_step_equals_forward_one_token_at_a_time(arch, extra, use_table):
    model = make(arch, **extra).eval()
    ids = torch.randint(V, (4, 6))
    whole = model(ids)
    table = model.encoder.input_table() if use_table else None
    state, outs = None, []
    with torch.no_grad():
        for t in range(ids.shape[1]):
            h, state = model.encoder.step(ids[:, t], state, table)
            outs.append(model.head(h))
    torch.testing.assert_close(torch.stack(outs, 1), whole.logits.detach(), atol=1e-5, rtol=1e-5)
    flat = lambda st: torch.cat([torch.cat(s, -1) if isinstance(s, tuple) else s for s in st], -1)  # noqa: E731
    torch.testing.assert_close(flat(state), flat(whole.state).detach(), atol=1e-5, rtol=1e-5)
    assert model.carries_state and not make("transformer").carries_state


@pytest.mark.parametrize("arch", archs())
def test_causal_right_padding_never_changes_earlier_scores(arch):
    model = make(arch, dropout=0.3).eval()
    ids = torch.randint(V, (2, 6))
    padded = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], 1)
    torch.testing.assert_close(model(padded).logits[:, :6], model(ids).logits, atol=1e-6, rtol=1e-5)


def test_lstm_cell_states_match_a_step_by_step_cell():
    model = make("lstm", layers=1).eval()
    ids = torch.randint(V, (3, 9))
    out = model(ids, return_states=True)
    rnn = model.encoder.layers[0].rnn
    cell = nn.LSTMCell(8, 8)
    cell.load_state_dict({"weight_ih": rnn.weight_ih_l0, "weight_hh": rnn.weight_hh_l0,
                          "bias_ih": rnn.bias_ih_l0, "bias_hh": rnn.bias_hh_l0})
    x = model.encoder.embedding(ids)
    h = c = torch.zeros(3, 8)
    for t in range(9):
        h, c = cell(x[:, t], (h, c))
        torch.testing.assert_close(out.states[(0, "h")][:, t], h, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out.states[(0, "c")][:, t], c, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("arch,nonlinearity", [("srn", "tanh"), ("srn", "relu"), ("gru", "tanh")])
@pytest.mark.parametrize("batch", [2, 16])   # 16 x 9 tokens > V: the layer-0 projection becomes a table lookup
def test_fused_kernels_equal_torch_modules(arch, nonlinearity, batch):
    """probe's fused CPU recurrence vs nn.RNN/nn.GRU with the same weights: outputs, states and gradients."""
    fused = make(arch, nonlinearity=nonlinearity, skip="residual", layers=2)
    ref = make(arch, nonlinearity=nonlinearity, skip="residual", layers=2, kernel="torch")
    ref.load_state_dict(fused.state_dict())
    assert fused.encoder.layers[0].uses_fused(torch.zeros(1)) and not ref.encoder.layers[0].uses_fused(torch.zeros(1))
    ids = torch.randint(V, (batch, 9))
    h0 = tuple(torch.randn(batch, 8, requires_grad=True) for _ in range(2))
    h0_ref = tuple(h.detach().clone().requires_grad_() for h in h0)
    a, b = fused(ids, h0, return_states=True), ref(ids, h0_ref, return_states=True)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
    for key in b.states:
        torch.testing.assert_close(a.states[key], b.states[key], atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(a.logits)
    ((a.logits * weights).sum() + a.state[1].sum()).backward()
    ((b.logits * weights).sum() + b.state[1].sum()).backward()
    for (name, p), q in zip(fused.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-5, msg=name)
    for h, g in zip(h0, h0_ref):
        torch.testing.assert_close(h.grad, g.grad, atol=1e-5, rtol=1e-5)


def test_lstm_direct_kernel_equals_the_module(monkeypatch):
    """kernel 'auto' calls the LSTM's kernel without nn.LSTM.forward, 'torch' through it: the same outputs,
    states and gradients, from a given state and from none."""
    direct = make("lstm", skip="residual", layers=2)
    module = make("lstm", skip="residual", layers=2, kernel="torch")
    module.load_state_dict(direct.state_dict())
    ids = torch.randint(V, (4, 9))
    h0 = tuple((torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)) for _ in range(2))
    h0_ref = tuple(tuple(h.detach().clone().requires_grad_() for h in layer) for layer in h0)
    real_forward = nn.LSTM.forward
    calls = []
    monkeypatch.setattr(nn.LSTM, "forward", lambda self, *a, **k: calls.append(1) or real_forward(self, *a, **k))
    for state, state_ref in ((h0, h0_ref), (None, None)):
        calls.clear()
        a = direct(ids, state, return_states=True)
        assert not calls
        b = module(ids, state_ref, return_states=True)
        assert len(calls) == 2                  # one call per layer
        torch.testing.assert_close(a.logits, b.logits, atol=1e-6, rtol=1e-5)
        for key in b.states:
            torch.testing.assert_close(a.states[key], b.states[key], atol=1e-6, rtol=1e-5)
        for s, r in zip(a.state, b.state):
            torch.testing.assert_close(torch.stack(s), torch.stack(r), atol=1e-6, rtol=1e-5)
    weights = torch.randn_like(a.logits)
    a, b = direct(ids, h0), module(ids, h0_ref)
    ((a.logits * weights).sum() + a.state[1][1].sum()).backward()
    ((b.logits * weights).sum() + b.state[1][1].sum()).backward()
    for (name, p), q in zip(direct.named_parameters(), module.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-5, msg=name)
    for layer, layer_ref in zip(h0, h0_ref):
        for h, g in zip(layer, layer_ref):
            torch.testing.assert_close(h.grad, g.grad, atol=1e-5, rtol=1e-5)


def test_lstm_direct_kernel_refuses_a_state_of_another_batch_and_leaves_other_modules_alone():
    """A state that does not fit the batch is an error, as the module's wrapper made it (the CPU kernel would
    corrupt memory); a module of another kind under the LSTM's table entry is called as a module."""
    import dataclasses

    from probe.models.cells import CELLS, get_cell, register_cell

    model = make("lstm", layers=1)
    ids = torch.randint(V, (4, 5))
    for rows, units in ((3, 8), (5, 8), (4, 7)):
        bad = ((torch.zeros(rows, units), torch.zeros(rows, units)),)
        with pytest.raises(RuntimeError, match="does not fit a batch of 4 rows and 8 units"):
            model(ids, bad)

    class Doubled(nn.LSTM):
        def forward(self, x, hx=None):
            return super().forward(2 * x, hx)

    entry = register_cell(dataclasses.replace(get_cell("lstm"), name="lstm_doubled",
                                              module=lambda i, h, **kw: Doubled(i, h, **kw)))
    try:
        doubled = make("lstm_doubled", layers=1)
        doubled.load_state_dict(model.state_dict())
        plain = make("lstm_doubled", layers=1, kernel="torch")
        plain.load_state_dict(model.state_dict())
        torch.testing.assert_close(doubled(ids).logits, plain(ids).logits)
        assert not torch.allclose(doubled(ids).logits, model(ids).logits)
    finally:
        del CELLS[entry.name]


def test_lstm_direct_kernel_reads_swapped_weights():
    """torch.func.functional_call's parameters reach the direct kernel (it reads the weights by name per call)."""
    model = make("lstm").eval()
    other = make("lstm").eval()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p))
    ids = torch.randint(V, (2, 5))
    swapped = torch.func.functional_call(model, dict(other.named_parameters()), (ids,))
    torch.testing.assert_close(swapped.logits, other(ids).logits)
    assert not torch.allclose(swapped.logits, model(ids).logits)


@pytest.mark.parametrize("cell", ["srn", "gru"])
def test_fused_functions_against_nn_modules_in_double(cell):
    """The autograd Functions alone, in float64, against a fresh nn.RNN/nn.GRU with copied weights."""
    torch.manual_seed(1)
    T, B, E, H = 6, 3, 5, 4
    ref = (nn.GRU(E, H) if cell == "gru" else nn.RNN(E, H)).double()
    x = torch.randn(T, B, E, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.double, requires_grad=True)
    out_ref, _ = ref(x, h0.unsqueeze(0))
    xw = torch.nn.functional.linear(x, ref.weight_ih_l0, ref.bias_ih_l0 + (0 if cell == "gru" else ref.bias_hh_l0))
    if cell == "gru":
        out = _GRUFunction.apply(xw, h0, ref.weight_hh_l0, ref.bias_hh_l0)
    else:
        out = _SRNFunction.apply(xw, h0, ref.weight_hh_l0, False)
    torch.testing.assert_close(out, out_ref, atol=1e-12, rtol=1e-10)
    inputs = (x, h0, *ref.parameters())
    g = torch.randn_like(out)
    ga = torch.autograd.grad(out, inputs, g, retain_graph=True)
    gb = torch.autograd.grad(out_ref, inputs, g)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=1e-10)


def test_tied_projection_residual_and_forget_bias():
    tied = make("lstm", tied=True, emb=6, forget_bias=1.0)
    assert tied.decoder.weight is tied.encoder.embedding.weight
    assert tied.proj is not None and tied.proj.weight.shape == (6, 8)
    rnn = tied.encoder.layers[0].rnn
    assert torch.all(rnn.bias_ih_l0[8:16] + rnn.bias_hh_l0[8:16] == 1.0)
    assert make("gru", tied=True).proj is None
    ids = torch.randint(V, (2, 5))
    plain, residual = make("gru").eval(), make("gru", skip="residual").eval()
    assert not torch.allclose(plain(ids).logits, residual(ids).logits)


@pytest.mark.parametrize("change,words", [
    (dict(arch="cnn"), "unknown arch"),
    (dict(bidirectional=True), "predict"),
    (dict(hidden=0), "ModelConfig.hidden must be a positive integer"),
    (dict(layers=-1), "ModelConfig.layers must be a positive integer"),
    (dict(dropout=1.0), r"ModelConfig.dropout must be a number in \[0, 1\)"),
    (dict(arch="lstm", nonlinearity="relu"), "srn only"),
    (dict(arch="gru", forget_bias=1.0), "lstm only"),
    (dict(arch="transformer", heads=3), "heads must divide hidden"),
])
def test_bad_model_configs(change, words):
    with pytest.raises(ProbeError, match=words):
        build_model(ModelConfig(**{**dict(arch="srn", vocab_size=V, emb=8, hidden=8), **change}))


@pytest.mark.parametrize("arch", archs())
def test_each_arch_overfits_a_tiny_batch(arch):
    torch.manual_seed(0)
    model = make(arch, hidden=32, emb=32, layers=1)
    ids = torch.randint(2, V, (4, 13))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(80):
        loss = nn.functional.cross_entropy(model(ids[:, :-1]).logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.25, loss.item()


def _vocab():
    return Vocab(("<unk>", "<eos>", *[f"w{i}" for i in range(V - 2)]))


def test_checkpoint_round_trip(tmp_path):
    model = make("gru", tied=True, emb=6)
    save_checkpoint(tmp_path / "model.pt", model=model, model_config=model.config, vocab=_vocab(),
                    train_config={"seed": 3}, train_state={"step": 7})
    ckpt = load_checkpoint(tmp_path)     # a folder means DIR/model.pt
    assert isinstance(ckpt.model, LanguageModel) and not ckpt.model.training
    assert ckpt.model_config == model.config and ckpt.vocab == _vocab()
    assert ckpt.train_config == {"seed": 3} and ckpt.train_state == {"step": 7}
    assert ckpt.model.decoder.weight is ckpt.model.encoder.embedding.weight
    ids = torch.randint(V, (2, 5))
    torch.testing.assert_close(ckpt.model(ids).logits, model.eval()(ids).logits)
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_checkpoints_are_probe_errors(tmp_path):
    model = make("srn")
    good = tmp_path / "good.pt"
    save_checkpoint(good, model=model, model_config=model.config, vocab=_vocab(), train_config={}, train_state={})
    data = good.read_bytes()
    cases = {
        "truncated.pt": data[: len(data) // 2],
        "noise.pt": bytes(range(256)) * 10,
        "text.pt": b'{"format": "probe-checkpoint-1"}',
        "empty.pt": b"",
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "foreign.pt")
    torch.save(model, tmp_path / "pickled_model.pt")            # refused by weights_only loading
    for name in [*cases, "foreign.pt", "pickled_model.pt", "missing.pt"]:
        with pytest.raises(ProbeError):
            load_checkpoint(tmp_path / name)
    raw = read_checkpoint(good)
    raw["vocab"] = raw["vocab"][:-1]
    raw.pop("path")
    torch.save(raw, tmp_path / "short_vocab.pt")
    with pytest.raises(ProbeError, match="vocabulary"):
        load_checkpoint(tmp_path / "short_vocab.pt")
    raw = read_checkpoint(good)
    raw["model_config"] = {**raw["model_config"], "hidden": 9}
    raw.pop("path")
    torch.save(raw, tmp_path / "wrong_shape.pt")
    with pytest.raises(ProbeError, match="do not fit"):
        load_checkpoint(tmp_path / "wrong_shape.pt")


def test_kernel_choice_does_not_change_the_state_dict():
    a, b = make("gru"), make("gru", kernel="torch")
    assert list(a.state_dict()) == list(b.state_dict())
    assert dataclasses.replace(a.config, kernel="torch") == b.config


@pytest.mark.parametrize("skip", ["none", "residual", "dense", "highway"])
def test_skip_connections_are_what_they_say(skip):
    """Each stacking rule, checked against its definition on a 3-layer model built from the same layers."""
    torch.manual_seed(0)
    model = make("gru", skip=skip, layers=3).eval()
    enc = model.encoder
    ids = torch.randint(V, (2, 5))
    with torch.no_grad():
        x0 = enc.embedding(ids.t())
        h1 = enc.layers[0](x0)[0]
        if skip == "dense":
            assert enc.layers[1].rnn.input_size == enc.config.emb + enc.config.hidden
            h2 = enc.layers[1](torch.cat([x0, h1], -1))[0]
            top = enc.layers[2](torch.cat([x0, h1, h2], -1))[0]
        else:
            h2 = enc.layers[1](h1)[0]
            if skip == "residual":
                x2 = h2 + h1
                top = enc.layers[2](x2)[0] + x2
            elif skip == "highway":
                g1 = torch.sigmoid(enc.gates[0](h1))
                x2 = g1 * h2 + (1 - g1) * h1
                g2 = torch.sigmoid(enc.gates[1](x2))
                top = g2 * enc.layers[2](x2)[0] + (1 - g2) * x2
                assert torch.all(enc.gates[0].bias == -1.0)      # carry-biased at initialisation
            else:
                top = enc.layers[2](h2)[0]
        torch.testing.assert_close(enc(ids).hidden, top.transpose(0, 1), atol=1e-6, rtol=1e-5)


def test_old_checkpoints_with_residual_load(tmp_path):
    """Checkpoints written before skip connections (model_config with residual: bool) still load."""
    from probe.data.corpus import Vocab
    from probe.models.checkpoint import load_checkpoint, save_checkpoint

    model = make("srn", skip="residual", layers=2)
    vocab = Vocab(("<unk>", "<eos>", *[f"w{i}" for i in range(V - 2)]))
    save_checkpoint(tmp_path / "model.pt", model=model, model_config=model.config, vocab=vocab, train_config={},
                    train_state={})
    data = torch.load(tmp_path / "model.pt", weights_only=True)
    old = {k: v for k, v in data["model_config"].items() if k != "skip"}
    data["model_config"] = {**old, "residual": True}
    torch.save(data, tmp_path / "model.pt")
    assert load_checkpoint(tmp_path).model_config.skip == "residual"


def test_adaptive_softmax_is_a_normalised_distribution_and_trains():
    """The adaptive softmax's outputs are exact log-probabilities (exp sums to 1 over the vocabulary), the
    loss from forward(targets=...) is their cross-entropy, and gradients reach the encoder."""
    from probe.models.lm import choose_cutoffs

    torch.manual_seed(0)
    model = make("lstm", vocab_size=40, softmax="adaptive", cutoffs=(10, 25)).eval()
    ids = torch.randint(40, (3, 7))
    logp = model(ids).logits
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(3, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.log_softmax(logp, -1), logp, atol=1e-5, rtol=0)   # log_softmax leaves them
    targets = torch.randint(40, (3, 7))
    out = model(ids, targets=targets)
    assert out.logits is None
    want = -logp.gather(-1, targets.unsqueeze(-1)).mean()
    torch.testing.assert_close(out.loss, want, atol=1e-5, rtol=0)
    model.train()
    model(ids, targets=targets).loss.backward()
    assert model.encoder.embedding.weight.grad.abs().sum() > 0
    # cutoffs from counts: the head covers 80% of the tokens, the first cluster 95%, in steps of `step`
    counts = np.array([50, 30, 10, 5, 3, 1, 1, 0, 0, 0])
    assert choose_cutoffs(counts, step=1) == (2, 4)
    with pytest.raises(ProbeError, match="cutoffs"):
        make("lstm", vocab_size=40, softmax="adaptive", cutoffs=(30, 20))
    with pytest.raises(ProbeError, match="tied"):
        make("lstm", vocab_size=40, softmax="adaptive", cutoffs=(10,), tied=True)
