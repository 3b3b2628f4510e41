"""Language models (SRN/GRU/LSTM stacks, a small causal transformer) behind one interface, and checkpoints."""
from __future__ import annotations

import contextlib
import math
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from probe.core.errors import ProbeError
from probe.core.config import config_from_dict, config_to_dict
from probe.data.corpus import Vocab

ARCHS = ("srn", "gru", "lstm", "transformer")
RECURRENT = ("srn", "gru", "lstm")
# How stacked recurrent layers connect (from the second layer on, where sizes allow):
#   none      x_{l+1} = f_l(x_l)
#   residual  x_{l+1} = f_l(x_l) + x_l                       (ResNet, He et al. 2016)
#   dense     layer l reads [embedding, h_1, ..., h_{l-1}]    (DenseNet, Huang et al. 2017: every earlier output)
#   highway   x_{l+1} = g * f_l(x_l) + (1 - g) * x_l, g = sigmoid(W x_l + b), b = -1 at init: a gate decides how
#             much of the input to carry (Srivastava et al. 2015)
SKIPS = ("none", "residual", "dense", "highway")
SOFTMAXES = ("full", "adaptive")
HIGHWAY_BIAS = -1.0
KERNELS = ("auto", "torch")
CHECKPOINT_FORMAT = "probe-checkpoint-1"

# Gates per cell: the rows of weight_ih / weight_hh are GATES * hidden.
_GATES = {"srn": 1, "gru": 3, "lstm": 4}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (saved in every checkpoint; never a pickled object)."""

    arch: str = "lstm"                # srn | gru | lstm | transformer
    vocab_size: int = 0               # token types, set from the corpus vocabulary (ids 0 <unk>, 1 <eos>)
    emb: int = 200                    # embedding size
    hidden: int = 200                 # units per recurrent layer; transformer: model width
    layers: int = 2                   # stacked recurrent layers / transformer blocks
    dropout: float = 0.0              # on embeddings, between layers and before the output layer
    tied: bool = False                # output weights = input embedding (hidden -> emb projection if sizes differ)
    skip: str = "none"                # recurrent stacks: none | residual | dense | highway (see SKIPS)
    nonlinearity: str = "tanh"        # srn only: tanh | relu
    forget_bias: float | None = None  # lstm only: initial forget-gate bias (None: PyTorch's default init)
    bidirectional: bool = False       # encoders of a classifier only; a language model must read left to right
    heads: int = 4                    # transformer: attention heads (must divide hidden)
    ff: int = 0                       # transformer: feed-forward width (0 = 4 * hidden)
    max_len: int = 512                # transformer: longest input (learned positions)
    kernel: str = "auto"              # recurrent: auto = fastest kernel with the same numbers; torch = nn.RNN/GRU/LSTM
    softmax: str = "full"             # full | adaptive (Grave et al. 2017: frequent words in a head, rare ones in
                                      #   clusters; exact normalised log-probabilities, far cheaper for big vocabularies)
    cutoffs: tuple[int, ...] = ()     # adaptive: ids where the head and each tail cluster end (ids frequency-sorted)
    div_value: float = 4.0            # adaptive: each tail cluster's projection is div_value times narrower


def check_model_config(cfg: ModelConfig, *, language_model: bool = True) -> None:
    """Reject impossible model options with one-line ProbeErrors (called before anything is built or written)."""
    if cfg.arch not in ARCHS:
        raise ProbeError(f"unknown arch {cfg.arch!r}: choose from {', '.join(ARCHS)}")
    if cfg.bidirectional and language_model:
        raise ProbeError(
            "a language model cannot be bidirectional: it predicts each word from the words before it, and a "
            "backward pass would read the very word it must predict; drop --bidirectional")
    if cfg.bidirectional:
        raise ProbeError("bidirectional encoders come with the number classifier (--objective number), "
                         "which this version does not have yet")
    for name in ("emb", "hidden", "layers"):
        if getattr(cfg, name) <= 0:
            raise ProbeError(f"--{name} must be a positive integer, got {getattr(cfg, name)}")
    if cfg.vocab_size < 2:
        raise ProbeError(f"vocabulary size must be at least 2 (<unk>, <eos>), got {cfg.vocab_size}; "
                         "check the corpus' vocab.json")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ProbeError(f"--dropout must be in [0, 1), got {cfg.dropout}")
    if cfg.nonlinearity not in ("tanh", "relu"):
        raise ProbeError(f"unknown --nonlinearity {cfg.nonlinearity!r}: choose tanh or relu")
    if cfg.nonlinearity != "tanh" and cfg.arch != "srn":
        raise ProbeError(f"--nonlinearity applies to the srn only, not to {cfg.arch}")
    if cfg.forget_bias is not None and cfg.arch != "lstm":
        raise ProbeError(f"--forget-bias applies to the lstm only, not to {cfg.arch}")
    if cfg.forget_bias is not None and not math.isfinite(cfg.forget_bias):
        raise ProbeError(f"--forget-bias must be a finite number, got {cfg.forget_bias}")
    if cfg.softmax not in SOFTMAXES:
        raise ProbeError(f"unknown --softmax {cfg.softmax!r}: choose from {', '.join(SOFTMAXES)}")
    if cfg.softmax == "adaptive":
        cuts = list(cfg.cutoffs)
        if not cuts or cuts != sorted(set(cuts)) or cuts[0] <= 0 or cuts[-1] >= cfg.vocab_size:
            raise ProbeError(f"adaptive softmax cutoffs {cuts} must be increasing ids between 1 and the vocabulary "
                             f"size {cfg.vocab_size} - 1; leave them empty to have them chosen from the corpus")
        if cfg.tied:
            raise ProbeError("--tied cannot be combined with the adaptive softmax (its clusters have their own "
                             "projections); drop one of them")
        if not cfg.div_value > 1:
            raise ProbeError(f"--div-value must be above 1, got {cfg.div_value}")
    elif cfg.cutoffs:
        raise ProbeError("cutoffs apply to the adaptive softmax only; add --softmax adaptive or drop them")
    if cfg.skip not in SKIPS:
        raise ProbeError(f"unknown --skip {cfg.skip!r}: choose from {', '.join(SKIPS)}")
    if cfg.skip != "none" and cfg.arch == "transformer":
        raise ProbeError("--skip applies to recurrent stacks; the transformer's blocks are residual already")
    if cfg.kernel not in KERNELS:
        raise ProbeError(f"unknown kernel {cfg.kernel!r}: choose from {', '.join(KERNELS)}")
    if cfg.arch == "transformer":
        if cfg.heads <= 0 or cfg.hidden % cfg.heads:
            raise ProbeError(f"--heads must be positive and divide --hidden ({cfg.hidden}), got {cfg.heads}")
        if cfg.ff < 0 or cfg.max_len <= 0:
            raise ProbeError(f"transformer sizes must be positive (ff={cfg.ff}, max_len={cfg.max_len})")


class ModelOutput(NamedTuple):
    """What ``LanguageModel.forward`` returns (a NamedTuple, so DistributedDataParallel can walk it)."""

    logits: torch.Tensor | None   # [B, T, V] next-token scores (full softmax: unnormalised; adaptive: log-probs);
                                  #   None when ``forward`` was given targets
    state: Any                    # recurrent: tuple per layer of h [B, H] (lstm: (h, c)); transformer: None
    states: dict | None           # {(layer, "h"|"c"): [B, T, H]} when asked for, else None
    loss: torch.Tensor | None = None   # mean token cross-entropy, when ``forward`` was given targets


class EncoderOutput(NamedTuple):
    """What an encoder returns: the top layer's outputs, the carried state and (optionally) every layer's."""

    hidden: torch.Tensor          # [B, T, H]
    state: Any
    states: dict | None


def select_state(state: Any, rows: torch.Tensor) -> Any:
    """Rows ``rows`` [B'] of a recurrent state (same nesting as ``state``; each tensor [B, H] -> [B', H])."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, rows)
    return type(state)(select_state(s, rows) for s in state)


def detach_state(state: Any) -> Any:
    """Cut the graph behind a recurrent state (truncated BPTT): same nesting, detached tensors."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


# ---------------------------------------------------------------------------------------------------
# Fused CPU recurrences for the SRN and the GRU.
#
# On CPU only nn.LSTM reaches a fused kernel (oneDNN, whole sequence in one call). nn.RNN and nn.GRU run
# PyTorch's generic loop, which records every per-step op (GRU: ~10) in the autograd graph and replays
# each one backwards. Here autograd sees one node per layer: the input projection for all timesteps is
# one big matmul done outside, the forward loop does 2 (SRN) or 5 (GRU) ops per step, and the backward
# loop 2 (SRN) or 3 (GRU): everything that does not feed the recurrence (gate derivatives, weight
# gradients) is computed for all timesteps at once. Same formulas as nn.RNN/nn.GRU (tested to 1e-5).
#
# _tanh_note: the forward loops compute tanh(p) as 2 sigmoid(2p) - 1. PyTorch's CPU tanh kernel costs
# about three sigmoids at these sizes (bench/train_speed.py prints both), and it is the one
# transcendental on the SRN's and GRU's critical path. Doubling is exact in floating point, so the
# only difference from tanh is the identity's rounding: under 1e-6, far inside the 1e-5 tests.


class _SRNFunction(torch.autograd.Function):
    """h_t = act(xw_t + h_{t-1} W_hh^T); xw [T, B, H] already holds x W_ih^T + b_ih + b_hh."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, relu: bool) -> torch.Tensor:
        T, B, H = xw.shape
        hs = xw.new_empty(T + 1, B, H)      # h_0 .. h_T: hs[:-1] is every step's h_prev, hs[1:] the output
        hs[0] = h0
        h = hs[0]
        # per-step views come from one unbind each: indexing inside the loop costs as much as the math
        if relu:
            w_t = w_hh.t()
            for x_t, o_t in zip(xw.unbind(0), hs[1:].unbind(0)):
                h = torch.addmm(x_t, h, w_t, out=o_t).relu_()
        else:
            # tanh(p) = 2 sigmoid(2p) - 1 (see _tanh_note); 2p = 2x + h (2W)^T exactly
            w2_t = (2 * w_hh).t()
            for x_t, o_t in zip((2 * xw).unbind(0), hs[1:].unbind(0)):
                h = torch.addmm(x_t, h, w2_t, out=o_t).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(w_hh, hs)
        ctx.relu = relu
        return hs[1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        w_hh, hs = ctx.saved_tensors
        out = hs[1:]
        T, B, H = out.shape
        grad_out = grad_out.contiguous()
        slope = (out > 0).to(out.dtype) if ctx.relu else 1 - out * out   # act'(pre) from the outputs
        dpre = torch.empty_like(out)
        g, sl, dp = grad_out.unbind(0), slope.unbind(0), dpre.unbind(0)
        dh = g[T - 1]
        for t in range(T - 1, 0, -1):
            dh = torch.addmm(g[t - 1], torch.mul(dh, sl[t], out=dp[t]), w_hh)
        torch.mul(dh, sl[0], out=dp[0])
        grad_h0 = dpre[0] @ w_hh if ctx.needs_input_grad[1] else None
        grad_w = dpre.view(T * B, H).t() @ hs[:-1].reshape(T * B, H) if ctx.needs_input_grad[2] else None
        return dpre, grad_h0, grad_w, None


class _GRUFunction(torch.autograd.Function):
    """PyTorch's GRU: r, z = sigmoid(xw_rz + gh_rz); n = tanh(xw_n + r * gh_n); h = n + z * (h_prev - n),
    with gh = h_prev W_hh^T + b_hh and xw [T, B, 3H] = x W_ih^T + b_ih (gate order r, z, n)."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        T, B, H3 = xw.shape
        H = H3 // 3
        hs = xw.new_empty(T + 1, B, H)      # h_0 .. h_T, as in the SRN
        hs[0] = h0
        rz_all = xw.new_empty(T, B, 2 * H)
        n_all = xw.new_empty(T, B, H)
        gh_all = xw.new_empty(T, B, H3)
        w_t = w_hh.t()
        bias = b_hh.expand(B, H3).contiguous()    # addmm copies its first argument: keep that copy contiguous
        h = hs[0]
        steps = zip(gh_all.unbind(0), gh_all[..., : 2 * H].unbind(0), gh_all[..., 2 * H:].unbind(0),
                    xw[..., : 2 * H].unbind(0), (2 * xw[..., 2 * H:]).unbind(0), rz_all.unbind(0),
                    rz_all[..., :H].unbind(0), rz_all[..., H:].unbind(0), n_all.unbind(0), hs[1:].unbind(0))
        for gh, gh_rz, gh_n, x_rz, x2_n, rz, r, z, n, o in steps:
            torch.addmm(bias, h, w_t, out=gh)
            torch.add(x_rz, gh_rz, out=rz).sigmoid_()
            # n = tanh(x_n + r gh_n) as 2 sigmoid(2 x_n + 2 r gh_n) - 1 (see _tanh_note)
            torch.addcmul(x2_n, r, gh_n, value=2, out=n).sigmoid_().mul_(2).sub_(1)
            h = torch.lerp(n, h, z, out=o)
        ctx.save_for_backward(w_hh, hs, rz_all, n_all, gh_all)
        return hs[1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        w_hh, hs, rz, n, gh = ctx.saved_tensors
        T, B, H = n.shape
        grad_out = grad_out.contiguous()
        r, z = rz[..., :H], rz[..., H:]
        # Every gradient inside a step is dh_t times a factor known from the forward pass, so the
        # factors come first, for all steps at once: d gh_t = dh_t * k_t (k per gate r, z, n).
        k = n.new_empty(T, B, 3, H)
        one_minus_z = 1 - z
        a = torch.addcmul(one_minus_z, one_minus_z * n, n, value=-1)    # (1 - z)(1 - n^2) = dh / d pre_n
        torch.mul(a, r, out=k[:, :, 2])                                  # d gh_n = dh * a * r
        ar_gn = k[:, :, 2] * gh[..., 2 * H:]
        torch.addcmul(ar_gn, ar_gn, r, value=-1, out=k[:, :, 0])         # d gh_r = dh * a * gh_n * r (1 - r)
        torch.mul((hs[:-1] - n) * z, one_minus_z, out=k[:, :, 1])        # d gh_z = dh * (h_prev - n) z (1 - z)
        dh_all = torch.empty_like(n)
        dgh = torch.empty_like(k)
        dh_all[T - 1] = grad_out[T - 1]
        dh_, dh1, k_, dgh_, dgh2, g_, z_ = (dh_all.unbind(0), dh_all.unsqueeze(2).unbind(0), k.unbind(0),
                                            dgh.unbind(0), dgh.view(T, B, 3 * H).unbind(0), grad_out.unbind(0),
                                            z.unbind(0))
        for t in range(T - 1, 0, -1):
            torch.mul(dh1[t], k_[t], out=dgh_[t])
            torch.addmm(torch.addcmul(g_[t - 1], dh_[t], z_[t]), dgh2[t], w_hh, out=dh_[t - 1])
        torch.mul(dh1[0], k_[0], out=dgh_[0])
        grad_h0 = torch.addmm(dh_all[0] * z[0], dgh2[0], w_hh) if ctx.needs_input_grad[1] else None
        flat = dgh.view(T * B, 3 * H)
        grad_w = flat.t() @ hs[:-1].reshape(T * B, H) if ctx.needs_input_grad[2] else None
        grad_b = flat.sum(0) if ctx.needs_input_grad[3] else None
        grad_xw = None
        if ctx.needs_input_grad[0]:
            # d xw equals d gh except for the n gate (no factor r there): reuse the buffer
            grad_xw = dgh.view(T, B, 3 * H)
            torch.mul(dh_all, a, out=grad_xw[..., 2 * H:])
        return grad_xw, grad_h0, grad_w, grad_b


# ---------------------------------------------------------------------------------------------------
# Recurrent layers and encoder


class RecurrentLayer(nn.Module):
    """One recurrent layer: an ``nn.RNN``/``nn.GRU``/``nn.LSTM`` of one layer (time-major).

    The module holds the weights, so the state dict is the torch module's; ``forward`` picks the kernel:
    the torch module (cuDNN on GPU, oneDNN for the LSTM on CPU) or probe's fused CPU recurrence for the
    SRN and the GRU, which computes the same function faster.
    """

    def __init__(self, cell: str, input_size: int, hidden: int, *, nonlinearity: str = "tanh",
                 forget_bias: float | None = None, kernel: str = "auto"):
        super().__init__()
        self.cell, self.hidden, self.kernel = cell, hidden, kernel
        if cell == "srn":
            self.rnn = nn.RNN(input_size, hidden, 1, nonlinearity=nonlinearity)
        elif cell == "gru":
            self.rnn = nn.GRU(input_size, hidden, 1)
        else:
            self.rnn = nn.LSTM(input_size, hidden, 1)
            if forget_bias is not None:
                with torch.no_grad():   # gate order i, f, g, o; the two biases add up
                    self.rnn.bias_ih_l0[hidden: 2 * hidden].fill_(forget_bias)
                    self.rnn.bias_hh_l0[hidden: 2 * hidden].zero_()

    def uses_fused(self, x: torch.Tensor) -> bool:
        """Whether ``forward`` runs probe's fused recurrence for input ``x`` (SRN/GRU on CPU)."""
        return self.kernel == "auto" and self.cell in ("srn", "gru") and x.device.type == "cpu"

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Input projection of every timestep at once (fused path, ``step``): [..., I] -> [..., gates * H].

        Holds every bias that adds to the gates as they are (SRN, LSTM: both; GRU: b_ih only, since b_hh
        sits inside r * (h W_hn^T + b_hn)).
        """
        r = self.rnn
        bias = r.bias_ih_l0 if self.cell == "gru" else r.bias_ih_l0 + r.bias_hh_l0
        return F.linear(x, r.weight_ih_l0, bias)

    def step(self, xw: torch.Tensor, state: Any = None) -> Any:
        """One timestep for inference: xw [B, gates * H] (``project`` of the input), state as in ``forward``
        (None: zeros) -> the new state (h [B, H]; lstm: (h, c)).

        Each gate block is one matmul plus a few elementwise ops: at T = 1 this beats the torch modules,
        whose per-call setup (oneDNN's in particular) costs more than the step itself. Same formulas as
        ``forward`` (tested to 1e-5); no dropout. Inference only: the gate math runs in place, which
        autograd cannot differentiate, so call it under ``torch.no_grad()``.
        """
        r, H = self.rnn, self.hidden
        if state is None:
            zeros = xw.new_zeros(xw.shape[0], H)
            state = (zeros, zeros) if self.cell == "lstm" else zeros
        # tanh(p) is computed as 2 sigmoid(2p) - 1, as in the fused recurrences (see _tanh_note)
        if self.cell == "srn":
            pre = torch.addmm(xw, state, r.weight_hh_l0.t())
            return pre.relu_() if r.nonlinearity == "relu" else pre.mul_(2).sigmoid_().mul_(2).sub_(1)
        if self.cell == "gru":
            gh = torch.addmm(r.bias_hh_l0, state, r.weight_hh_l0.t())
            rz = torch.add(xw[:, : 2 * H], gh[:, : 2 * H]).sigmoid_()
            n = torch.addcmul(xw[:, 2 * H:], rz[:, :H], gh[:, 2 * H:]).mul_(2).sigmoid_().mul_(2).sub_(1)
            return torch.lerp(n, state, rz[:, H:])
        h, c = state
        gates = torch.addmm(xw, h, r.weight_hh_l0.t())      # gate order i, f, g, o
        gates[:, 2 * H: 3 * H].mul_(2)
        gates.sigmoid_()                                     # one call for all four gates
        g = gates[:, 2 * H: 3 * H].mul_(2).sub_(1)
        c = torch.addcmul(gates[:, H: 2 * H] * c, gates[:, :H], g)
        return c.mul(2).sigmoid_().mul_(2).sub_(1).mul_(gates[:, 3 * H:]), c

    def forward(self, x: torch.Tensor | None, state: Any = None, *, xw: torch.Tensor | None = None,
                cells: bool = False) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """x [T, B, I] (time-major), state h [B, H] (lstm: (h, c)) or None for zeros.

        ``xw``: the input projection [T, B, gates * H], if the caller already has it (then ``x`` may be
        None; fused path only). Returns (h for every step [T, B, H], final state, LSTM cell state per
        step [T, B, H] if ``cells``).
        """
        ref = x if x is not None else xw
        B = ref.shape[1]
        if self.uses_fused(ref):
            r = self.rnn
            h0 = state if state is not None else ref.new_zeros(B, self.hidden)
            xw = self.project(x) if xw is None else xw
            if self.cell == "srn":
                out = _SRNFunction.apply(xw, h0, r.weight_hh_l0, r.nonlinearity == "relu")
            else:
                out = _GRUFunction.apply(xw, h0, r.weight_hh_l0, r.bias_hh_l0)
            return out, out[-1], None
        if self.cell == "lstm":
            if state is None:
                zeros = x.new_zeros(B, self.hidden)
                state = (zeros, zeros)
            out, (h, c) = self.rnn(x, (state[0].unsqueeze(0), state[1].unsqueeze(0)))
            c_all = self._cell_states(x, out, state) if cells else None
            return out, (h.squeeze(0), c.squeeze(0)), c_all
        out, h = self.rnn(x, None if state is None else state.unsqueeze(0))
        return out, h.squeeze(0), None

    def _cell_states(self, x: torch.Tensor, out: torch.Tensor, state: tuple) -> torch.Tensor:
        """LSTM cell states of every step [T, B, H], rebuilt from the outputs (nn.LSTM returns only the last).

        The gates need h_{t-1}, which ``out`` already holds, so they come in one batched matmul; only
        c_t = f_t * c_{t-1} + i_t * g_t is left as a (cheap, elementwise) scan over time.
        """
        r = self.rnn
        h_prev = torch.cat([state[0].unsqueeze(0), out[:-1]])
        gates = F.linear(x, r.weight_ih_l0, r.bias_ih_l0) + F.linear(h_prev, r.weight_hh_l0, r.bias_hh_l0)
        i, f, g, _ = gates.chunk(4, dim=-1)
        ig = torch.sigmoid(i) * torch.tanh(g)
        f = torch.sigmoid(f)
        c, cs = state[1], []
        for t in range(x.shape[0]):
            c = torch.addcmul(ig[t], f[t], c)
            cs.append(c)
        return torch.stack(cs)


class RecurrentEncoder(nn.Module):
    """Embedding + stacked one-layer recurrent modules (dropout between them) joined by ``cfg.skip``.

    ``layer_input`` and ``combine`` are the stacking rule, used by ``forward``, ``step`` and the gradient
    taps (``probe.gradients``) alike, so a skip connection is written once.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            RecurrentLayer(cfg.arch, self.input_size(i), cfg.hidden, nonlinearity=cfg.nonlinearity,
                           forget_bias=cfg.forget_bias, kernel=cfg.kernel)
            for i in range(cfg.layers))
        # highway transform gates of layers 1.. (layer 0 changes the size, so it carries nothing)
        self.gates = nn.ModuleList(nn.Linear(cfg.hidden, cfg.hidden) for _ in range(cfg.layers - 1)) \
            if cfg.skip == "highway" else None
        if self.gates is not None:
            for g in self.gates:
                nn.init.constant_(g.bias, HIGHWAY_BIAS)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    @property
    def out_size(self) -> int:
        return self.config.hidden

    def input_size(self, i: int) -> int:
        """Features layer ``i`` reads: the embedding (layer 0), all earlier outputs (dense) or the layer below."""
        cfg = self.config
        if i == 0:
            return cfg.emb
        return cfg.emb + i * cfg.hidden if cfg.skip == "dense" else cfg.hidden

    def layer_input(self, i: int, stack: list) -> torch.Tensor:
        """Layer ``i``'s input from ``stack`` = [embedding, x_1, ..., x_i] ([..., features] each, any layout)."""
        return torch.cat(stack, dim=-1) if self.config.skip == "dense" and i > 0 else stack[-1]

    def combine(self, i: int, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The stack's value after layer ``i``: its output ``out`` joined with its input ``x`` by the skip rule."""
        skip = self.config.skip
        if i == 0 or skip in ("none", "dense"):
            return out
        if skip == "residual":
            return out + x
        g = torch.sigmoid(self.gates[i - 1](x))
        return torch.lerp(x, out, g)             # g * out + (1 - g) * x

    def forward(self, ids: torch.Tensor, state: Any = None, return_states: bool = False,
                layer_runs: Mapping[int, Callable] | None = None) -> EncoderOutput:
        """ids [B, T] -> hidden [B, T, H]; ``state``: tuple per layer (from a previous call) or None.

        ``layer_runs``: {i: fn}, where fn(layer, x [T, B, I], state) -> (out [T, B, H], final state, LSTM
        cell states [T, B, H] or None) runs layer i instead of the layer itself (interventions such as
        unit ablation); everything around it (dropout, skip connections, the states returned) stays the same.
        """
        layer_runs = layer_runs or {}
        ids_t = ids.t()                         # the recurrences run time-major: [T, B]
        T, B = ids_t.shape
        first, weight = self.layers[0], self.embedding.weight
        x = xw = None
        if first.uses_fused(weight) and not (self.training and self.drop.p > 0) and self.config.vocab_size < T * B \
                and 0 not in layer_runs:
            # Without embedding dropout, emb[ids] W^T + b = (emb W^T + b)[ids]: project the vocabulary
            # once and look rows up, instead of projecting all T * B tokens (exact, and cheaper when V < T*B).
            xw = F.embedding(ids_t, first.project(weight))
        if xw is None or self.config.skip == "dense":   # dense stacks read the embedding again higher up
            x = self.drop(self.embedding(ids_t))    # [T, B, E]
        stack = [x]
        new_state, states = [], ({} if return_states else None)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.drop(self.layer_input(i, stack))
            st_in = None if state is None else state[i]
            if i in layer_runs:
                out, st, c_all = layer_runs[i](layer, x, st_in)
            else:
                out, st, c_all = layer(x, st_in, xw=xw if i == 0 else None, cells=return_states)
            new_state.append(st)
            if return_states:
                states[(i, "h")] = out.transpose(0, 1).contiguous()
                if c_all is not None:
                    states[(i, "c")] = c_all.transpose(0, 1).contiguous()
            stack.append(self.combine(i, out, x))
        return EncoderOutput(stack[-1].transpose(0, 1).contiguous(), tuple(new_state), states)

    def input_table(self) -> torch.Tensor:
        """The first layer's input projection of every vocabulary entry [V, gates * H], for ``step``."""
        return self.layers[0].project(self.embedding.weight)

    def step(self, tokens: torch.Tensor, state: Any = None, table: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple]:
        """One timestep for inference: tokens [B] -> (top layer's output [B, H], new state: tuple per layer).

        Equals ``forward(tokens[:, None], state)`` in eval mode. ``table`` (``input_table()``) replaces
        the first layer's input matmul by a row lookup when a caller runs many steps.
        """
        emb = self.embedding(tokens) if table is None or self.config.skip == "dense" else None
        stack, new_state = [emb], []
        for i, layer in enumerate(self.layers):
            if i == 0:
                x = emb
                xw = table[tokens] if table is not None else layer.project(emb)
            else:
                x = self.layer_input(i, stack)
                xw = layer.project(x)
            st = layer.step(xw, None if state is None else state[i])
            new_state.append(st)
            stack.append(self.combine(i, st[0] if isinstance(st, tuple) else st, x))
        return stack[-1], tuple(new_state)


class TransformerEncoder(nn.Module):
    """A small causal (decoder-only) transformer: token + learned position embeddings, pre-norm blocks."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb)
        self.in_proj = nn.Linear(cfg.emb, cfg.hidden, bias=False) if cfg.emb != cfg.hidden else nn.Identity()
        self.positions = nn.Embedding(cfg.max_len, cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, cfg.ff or 4 * cfg.hidden, cfg.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)
        nn.init.normal_(self.embedding.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    @property
    def out_size(self) -> int:
        return self.config.hidden

    def forward(self, ids: torch.Tensor, state: Any = None, return_states: bool = False) -> EncoderOutput:
        """ids [B, T] -> hidden [B, T, H]. No state is carried: each call sees only its own T tokens."""
        B, T = ids.shape
        if T > self.config.max_len:
            raise ProbeError(f"input of {T} tokens exceeds the transformer's max_len {self.config.max_len}")
        pos = torch.arange(T, device=ids.device)
        x = self.drop(self.in_proj(self.embedding(ids)) + self.positions(pos))
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device, dtype=x.dtype)
        states = {} if return_states else None
        for i, block in enumerate(self.blocks):
            x = block(x, src_mask=mask, is_causal=True)
            if return_states:
                states[(i, "h")] = x        # the residual stream after block i
        return EncoderOutput(self.norm(x), None, states)


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """The encoder for ``cfg.arch``: ids [B, T] -> EncoderOutput (hidden [B, T, H]).

    Heads go on top: the language model's softmax here, a number classifier later.
    """
    return TransformerEncoder(cfg) if cfg.arch == "transformer" else RecurrentEncoder(cfg)


class LanguageModel(nn.Module):
    """Encoder + dropout + (projection when tied and sizes differ) + softmax layer over the vocabulary."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = build_encoder(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        out_size = self.encoder.out_size
        self.proj = None
        if cfg.tied and cfg.emb != out_size:
            self.proj = nn.Linear(out_size, cfg.emb, bias=False)
            out_size = cfg.emb
        if cfg.softmax == "adaptive":
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(out_size, cfg.vocab_size, list(cfg.cutoffs),
                                                         div_value=cfg.div_value)
            return
        self.decoder = nn.Linear(out_size, cfg.vocab_size)
        nn.init.zeros_(self.decoder.bias)
        if cfg.tied:
            self.decoder.weight = self.encoder.embedding.weight
        else:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, ids: torch.Tensor, state: Any = None, return_states: bool = False,
                targets: torch.Tensor | None = None) -> ModelOutput:
        """ids [B, T] (LongTensor) -> ModelOutput(logits [B, T, V], state, states).

        Causal: the logits at position t depend on ids[:, :t+1] (and ``state``) only, so right padding
        never changes earlier scores. ``state`` continues a previous call (recurrent archs). With
        ``targets`` [B, T] the output holds the mean token cross-entropy instead of the logits: training
        never needs the full distribution, which the adaptive softmax then never computes.
        """
        enc = self.encoder(ids, state, return_states)
        if targets is not None:
            return ModelOutput(None, enc.state, enc.states, self.nll(enc.hidden, targets))
        return ModelOutput(self.head(enc.hidden), enc.state, enc.states)

    def features(self, hidden: torch.Tensor) -> torch.Tensor:
        """Encoder outputs [..., H] -> what the softmax layer reads (dropout, projection when tied)."""
        h = self.drop(hidden)
        return self.proj(h) if self.proj is not None else h

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """The softmax layer: features [..., F] -> logits [..., V]. The adaptive softmax returns its exact
        log-probabilities, which serve as logits: log_softmax leaves them as they are."""
        if self.config.softmax == "adaptive":
            return self.decoder.log_prob(h.reshape(-1, h.shape[-1])).reshape(*h.shape[:-1], self.config.vocab_size)
        return self.decoder(h)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Encoder outputs [..., H] -> logits [..., V] (dropout, projection when tied, softmax layer)."""
        return self.output(self.features(hidden))

    def nll(self, hidden: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Token cross-entropy of ``targets`` [B, T] after encoder outputs ``hidden`` [B, T, H] ('mean' or 'sum')."""
        h = self.features(hidden)
        flat = targets.reshape(-1)
        if self.config.softmax == "adaptive":
            loss = self.decoder(h.reshape(-1, h.shape[-1]), flat).loss
            return loss * flat.numel() if reduction == "sum" else loss
        logits = self.decoder(h)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), flat, reduction=reduction)

    @property
    def carries_state(self) -> bool:
        """True when ``forward(ids, state)`` continues a previous call exactly (the recurrent archs)."""
        return isinstance(self.encoder, RecurrentEncoder)

    def logits_at(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """ids [B, T], positions [B] -> logits [B, V] at one position per row.

        The scorer needs the next-word distribution after each prefix only; applying the softmax
        layer at those positions alone skips most of the output layer's work.
        """
        return self.head(self.encoder(ids).hidden[torch.arange(ids.shape[0], device=ids.device), positions])


def choose_cutoffs(counts: Sequence[int], coverage: tuple[float, ...] = (0.6, 0.8, 0.95),
                   step: int = 100) -> tuple[int, ...]:
    """Adaptive-softmax cutoffs from the training counts of a frequency-sorted vocabulary ([V], id order):
    the head holds the words that cover ``coverage[0]`` of the tokens, each tail cluster the next share;
    ids rounded up to multiples of ``step`` (Grave et al.'s clusters of frequent-to-rare words). A small head
    and three clusters: on PTB (cutoffs 200 / 1,000 / 4,500-ish) the softmax layer's forward and backward
    took 56 ms per 2,240 tokens on one CPU thread, against 107 ms with a 1,000-word head and two clusters."""
    import numpy as np

    counts = np.asarray(counts, dtype=np.float64)
    share = np.cumsum(counts) / max(counts.sum(), 1.0)
    V = len(counts)
    cuts = []
    for c in coverage:
        cut = int(np.ceil((np.searchsorted(share, c) + 1) / step) * step)
        if cut < V and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return tuple(cuts) or ((V // 2,) if V > 2 else ())


def build_model(cfg: ModelConfig) -> LanguageModel:
    """Check ``cfg`` (ProbeError on bad options) and build a freshly initialised language model."""
    check_model_config(cfg, language_model=True)
    return LanguageModel(cfg)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


# ---------------------------------------------------------------------------------------------------
# Checkpoints


class Checkpoint(NamedTuple):
    model: LanguageModel           # in eval mode, on the requested device
    model_config: ModelConfig
    vocab: Vocab
    train_config: dict
    train_state: dict


def save_checkpoint(path: str | os.PathLike, *, model: nn.Module, model_config: ModelConfig, vocab: Vocab,
                    train_config: dict, train_state: dict) -> None:
    """Write {"format", "state_dict", "model_config", "vocab", "train_config", "train_state"} atomically.

    Only tensors and plain data are stored (loadable with ``weights_only=True``), never a pickled model.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()},
        "model_config": config_to_dict(model_config),
        "vocab": list(vocab.itos),
        "train_config": dict(train_config),
        "train_state": dict(train_state),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_checkpoint(path_or_dir: str | os.PathLike) -> dict:
    """The raw checkpoint dict (tensors on CPU), checked for format; ProbeError for anything else."""
    p = Path(path_or_dir)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise ProbeError(f"checkpoint {p} does not exist; train a model with `probe train --out DIR`")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError, zipfile.BadZipFile,
            KeyError, AttributeError, TypeError, ImportError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ProbeError(f"{p} is not a readable probe checkpoint ({first}); retrain or point at another file") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ProbeError(f"{p} is not a probe checkpoint (format {CHECKPOINT_FORMAT!r} expected); "
                         "point at a model.pt written by `probe train`")
    missing = [k for k in ("state_dict", "model_config", "vocab", "train_config", "train_state") if k not in data]
    if missing:
        raise ProbeError(f"checkpoint {p} lacks {', '.join(missing)}; it is damaged, retrain the model")
    data["path"] = str(p)
    return data


def upgrade_model_config(data: dict) -> dict:
    """A saved model config in today's keys: checkpoints before skip connections had ``residual: bool``."""
    if isinstance(data, dict) and "residual" in data and "skip" not in data:
        residual = bool(data["residual"])
        data = {k: v for k, v in data.items() if k != "residual"}
        data["skip"] = "residual" if residual else "none"
    return data


def load_checkpoint(path_or_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file (or ``DIR/model.pt``) into a model in eval mode on ``device``.

    Uses ``torch.load(weights_only=True)``; a file that is not a probe checkpoint, or whose vocabulary
    and weights disagree, is a ProbeError.
    """
    data = read_checkpoint(path_or_dir)
    p = data["path"]
    cfg = config_from_dict(ModelConfig, upgrade_model_config(data["model_config"]), where=f"{p}: model_config")
    try:
        vocab = Vocab(tuple(data["vocab"]))
    except (ValueError, TypeError) as exc:
        raise ProbeError(f"checkpoint {p} has a damaged vocabulary ({exc}); retrain the model") from exc
    if len(vocab) != cfg.vocab_size:
        raise ProbeError(f"checkpoint {p}: vocabulary of {len(vocab)} types but a model for {cfg.vocab_size}; "
                         "the file is inconsistent, retrain the model")
    model = build_model(cfg)
    state_dict = data["state_dict"]
    emb = state_dict.get("encoder.embedding.weight") if isinstance(state_dict, dict) else None
    if emb is None or tuple(emb.shape) != (cfg.vocab_size, cfg.emb):
        raise ProbeError(f"checkpoint {p}: embedding weights do not match a vocabulary of {len(vocab)} types; "
                         "the file is inconsistent, retrain the model")
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise ProbeError(f"checkpoint {p}: weights do not fit its model config ({first}); retrain the model") from exc
    model.to(device).eval()
    return Checkpoint(model, cfg, vocab, dict(data["train_config"]), dict(data["train_state"]))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (tied weights counted once)."""
    return sum(p.numel() for p in unwrap_model(model).parameters() if p.requires_grad)
