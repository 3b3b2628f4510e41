"""Recurrent cells as one table: each cell's gates, state, torch module, reference formula and fast kernels.

A cell is one :class:`Cell` entry registered with :func:`register_cell`. Everything that depends on the
cell reads the entry: the layers (``probe.models.recurrent``), the trie scorer's one-step inference, the
gradient taps and unit ablation (``probe.analyses``), the number classifier, state sizing, and the plots.
Only ``name``, ``gates`` and ``reference`` are required: without a ``module`` the weights live in a
:class:`StepRecurrence`, which runs the reference formula step by step (slower, same numbers).

Weights follow PyTorch's one-layer naming (``weight_ih_l0`` [gates*H, I], ``weight_hh_l0`` [gates*H, H],
``bias_ih_l0``, ``bias_hh_l0``), so checkpoints of the built-in cells are plain ``nn.RNN/GRU/LSTM`` state.
A layer's state is one tensor [B, H] for a one-state cell, or a tuple in ``Cell.state`` order.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from probe.core.registry import Registry


@dataclass(frozen=True)
class Cell:
    """One recurrent cell kind. Functions take the layer's weight module ``rnn`` (torch naming, above)."""

    name: str
    gates: int                                   # gate blocks: weight rows are gates * hidden
    # reference(rnn, xw_t [B, gates*H] = x W_ih^T + b_ih, state tuple) -> new state tuple (differentiable;
    # the formula everything else is tested against, and what gradient taps and ablation step through)
    reference: Callable[[nn.Module, torch.Tensor, tuple], tuple]
    state: tuple[str, ...] = ("h",)              # state tensors in order; "h" is the output
    # module(input_size, hidden, **torch_kwargs) -> time-major module with the weights (None: StepRecurrence);
    # torch_kwargs: nonlinearity, num_layers, bidirectional, batch_first, dropout (the classifier's)
    module: Callable[..., nn.Module] | None = None
    options: tuple[str, ...] = ()                # ModelConfig fields this cell reads (nonlinearity, forget_bias)
    # fast_step(rnn, xw_t [B, gates*H] from ``project``, state tuple) -> state tuple: in-place inference step
    fast_step: Callable[[nn.Module, torch.Tensor, tuple], tuple] | None = None
    # fused(rnn, xw [T, B, gates*H] from ``project``, h0 [B, H]) -> h [T, B, H]: a fused CPU recurrence
    fused: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    # direct(rnn, x [T, B, I], state tuple or None) -> (h [T, B, H], final state tuple): the module's own kernel
    # called without its Python wrapper (the same numbers; the wrapper's checks cost ~1% of a short step)
    direct: Callable[[nn.Module, torch.Tensor, tuple | None], tuple[torch.Tensor, tuple]] | None = None
    hh_bias_in_projection: bool = True           # b_hh adds to the gates as is (srn, lstm), not inside a gate (gru)
    memory: str = "h"                            # the state that carries number (analyses rank units on it)
    init: Callable[[nn.Module, dict], None] | None = None   # after construction: (rnn, options) -> None
    # every step's other states [T, B, H] per name, rebuilt from the torch module's outputs (lstm: "c")
    rebuild_states: Callable[[nn.Module, torch.Tensor, torch.Tensor, tuple], dict] | None = None

    @property
    def state_size(self) -> int:
        """State tensors per layer (sizes trie memory and state caches: hidden x state_size floats per token)."""
        return len(self.state)


CELLS: Registry[Cell] = Registry("cell", how="probe.models.cells.register_cell adds one")


def register_cell(cell: Cell) -> Cell:
    """Add ``cell`` to the table under ``cell.name`` (a name may be registered once); returns it."""
    if not cell.name.isidentifier() or cell.name == "transformer":
        raise ValueError(f"cell name {cell.name!r} must be an identifier other than 'transformer'")
    if cell.state[0] != "h":
        raise ValueError(f"cell {cell.name}: the first state must be 'h' (the output), got {cell.state}")
    if cell.direct is not None and cell.module is None:
        raise ValueError(f"cell {cell.name}: a direct kernel runs the cell's torch module; it has none")
    if cell.fused is not None and (cell.fast_step is None or cell.state_size != 1):
        raise ValueError(f"cell {cell.name}: a fused kernel needs a fast step and a single state (h)")
    return CELLS.register(cell.name, cell)


def get_cell(name: str) -> Cell:
    """The table entry for ``name`` (an unknown name is a ProbeError listing the cells)."""
    return CELLS[name]


def recurrent_cells() -> tuple[str, ...]:
    """Names of every registered cell, built-ins first."""
    return CELLS.names()


def as_tuple(state: Any) -> tuple:
    """A layer state as a tuple (one-state cells keep a bare tensor)."""
    return state if isinstance(state, tuple) else (state,)


def from_tuple(cell: Cell, state: tuple) -> Any:
    """The layer-state form of a tuple: a bare tensor for one-state cells."""
    return state if cell.state_size > 1 else state[0]


class StepRecurrence(nn.Module):
    """Weights of one layer of a cell without a torch module, run by its reference formula step by step.

    forward(x [T, B, I], state or None) -> (h [T, B, H], final state), like a one-layer nn.RNN; with
    ``memory=True`` also the cell's memory state at every step [T, B, H] (None when the memory is h).
    ``options``: the cell's ModelConfig options (e.g. nonlinearity), attributes its reference step reads.
    """

    def __init__(self, cell: Cell, input_size: int, hidden: int, **options: Any):
        super().__init__()
        self.cell, self.hidden_size = cell, hidden
        for name, value in options.items():
            setattr(self, name, value)
        G = cell.gates * hidden
        self.weight_ih_l0 = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(G, hidden))
        self.bias_ih_l0 = nn.Parameter(torch.empty(G))
        self.bias_hh_l0 = nn.Parameter(torch.empty(G))
        bound = 1.0 / math.sqrt(hidden)          # PyTorch's recurrent initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, state: Any = None, *, memory: bool = False) -> tuple:
        T, B, _ = x.shape
        st = tuple(x.new_zeros(B, self.hidden_size) for _ in self.cell.state) if state is None else as_tuple(state)
        out, final, mem = reference_scan(self.cell, self, F.linear(x, self.weight_ih_l0, self.bias_ih_l0), st,
                                         memory=memory)
        return (out, from_tuple(self.cell, final), mem) if memory else (out, from_tuple(self.cell, final))


def reference_scan(cell: Cell, rnn: nn.Module, xw: torch.Tensor, state: tuple, *, tap: torch.Tensor | None = None,
                   memory: bool = False) -> tuple[torch.Tensor, tuple, torch.Tensor | None]:
    """Run ``cell``'s reference formula over time with ``rnn``'s weights: xw [T, B, gates * H] (x W_ih^T + b_ih),
    state tuple of [B, H] -> (h [T, B, H], final state tuple, the memory state [T, B, H] when ``memory`` and it
    is not h, else None). ``tap`` [T, B, H] is added to h after every step (the gradient analyses' taps:
    d/d tap[t] is the total derivative with respect to h(t)). The one step-by-step loop of the package."""
    keep = cell.state.index(cell.memory) if memory and cell.memory != "h" else None
    outs, mems = [], []
    st = state
    for t in range(xw.shape[0]):
        st = cell.reference(rnn, xw[t], st)
        if tap is not None:
            st = (st[0] + tap[t],) + tuple(st[1:])
        outs.append(st[0])
        if keep is not None:
            mems.append(st[keep])
    return torch.stack(outs), st, torch.stack(mems) if mems else None


# ---------------------------------------------------------------------------------------------------
# The built-in cells: PyTorch's formulas


def _srn_reference(rnn, xw, state):
    pre = xw + F.linear(state[0], rnn.weight_hh_l0, rnn.bias_hh_l0)
    return (torch.relu(pre) if getattr(rnn, "nonlinearity", "tanh") == "relu" else torch.tanh(pre),)


def _gru_reference(rnn, xw, state):
    H = state[0].shape[-1]
    gh = F.linear(state[0], rnn.weight_hh_l0, rnn.bias_hh_l0)
    r = torch.sigmoid(xw[:, :H] + gh[:, :H])
    z = torch.sigmoid(xw[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(xw[:, 2 * H:] + r * gh[:, 2 * H:])
    return ((1 - z) * n + z * state[0],)


def _lstm_reference(rnn, xw, state):
    h, c = state
    i, f, g, o = (xw + F.linear(h, rnn.weight_hh_l0, rnn.bias_hh_l0)).chunk(4, dim=-1)   # gate order i, f, g, o
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


# The fast steps compute tanh(p) as 2 sigmoid(2p) - 1, as the fused recurrences do (see _tanh_note below).

def _srn_fast(rnn, xw, state):
    pre = torch.addmm(xw, state[0], rnn.weight_hh_l0.t())
    return (pre.relu_() if rnn.nonlinearity == "relu" else pre.mul_(2).sigmoid_().mul_(2).sub_(1),)


def _gru_fast(rnn, xw, state):
    h = state[0]
    H = h.shape[-1]
    gh = torch.addmm(rnn.bias_hh_l0, h, rnn.weight_hh_l0.t())
    rz = torch.add(xw[:, : 2 * H], gh[:, : 2 * H]).sigmoid_()
    n = torch.addcmul(xw[:, 2 * H:], rz[:, :H], gh[:, 2 * H:]).mul_(2).sigmoid_().mul_(2).sub_(1)
    return (torch.lerp(n, h, rz[:, H:]),)


def _lstm_fast(rnn, xw, state):
    h, c = state
    H = h.shape[-1]
    gates = torch.addmm(xw, h, rnn.weight_hh_l0.t())      # gate order i, f, g, o
    gates[:, 2 * H: 3 * H].mul_(2)
    gates.sigmoid_()                                     # one call for all four gates
    g = gates[:, 2 * H: 3 * H].mul_(2).sub_(1)
    c = torch.addcmul(gates[:, H: 2 * H] * c, gates[:, :H], g)
    return c.mul(2).sigmoid_().mul_(2).sub_(1).mul_(gates[:, 3 * H:]), c


def _srn_fused(rnn, xw, h0):
    return _SRNFunction.apply(xw, h0, rnn.weight_hh_l0, rnn.nonlinearity == "relu")


def _gru_fused(rnn, xw, h0):
    return _GRUFunction.apply(xw, h0, rnn.weight_hh_l0, rnn.bias_hh_l0)


def _lstm_init(rnn: nn.Module, options: dict) -> None:
    forget_bias = options.get("forget_bias")
    if forget_bias is not None:
        H = rnn.hidden_size
        with torch.no_grad():   # gate order i, f, g, o; the two biases add up
            rnn.bias_ih_l0[H: 2 * H].fill_(forget_bias)
            rnn.bias_hh_l0[H: 2 * H].zero_()


def _lstm_cell_states(rnn: nn.Module, x: torch.Tensor, out: torch.Tensor, state: tuple) -> dict:
    """LSTM cell states of every step [T, B, H], rebuilt from the outputs (nn.LSTM returns only the last).

    The gates need h_{t-1}, which ``out`` already holds, so they come in one batched matmul; only
    c_t = f_t * c_{t-1} + i_t * g_t is left as a (cheap, elementwise) scan over time.
    """
    h_prev = torch.cat([state[0].unsqueeze(0), out[:-1]])
    gates = F.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0) + F.linear(h_prev, rnn.weight_hh_l0, rnn.bias_hh_l0)
    i, f, g, _ = gates.chunk(4, dim=-1)
    ig = torch.sigmoid(i) * torch.tanh(g)
    f = torch.sigmoid(f)
    c, cs = state[1], []
    for t in range(x.shape[0]):
        c = torch.addcmul(ig[t], f[t], c)
        cs.append(c)
    return {"c": torch.stack(cs)}


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


def _srn_module(input_size: int, hidden: int, **kw) -> nn.Module:
    return nn.RNN(input_size, hidden, **kw)


def _gru_module(input_size: int, hidden: int, **kw) -> nn.Module:
    return nn.GRU(input_size, hidden, **kw)


def _lstm_module(input_size: int, hidden: int, **kw) -> nn.Module:
    return nn.LSTM(input_size, hidden, **kw)


def _lstm_direct(rnn: nn.Module, x: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, tuple]:
    """What a one-layer time-major ``nn.LSTM`` computes (oneDNN on CPU, cuDNN on GPU), called without
    ``nn.LSTM.forward``: x [T, B, I], state (h, c) of [B, H] or None for zeros -> (h [T, B, H], (h_T, c_T)).

    The same kernel call with the same arguments as the module makes; its Python wrapper (argument checks,
    two zero states, the weight list's refresh) costs about 1% of a 1x64 sentence-batch training step.
    The weights are read by name on every call, so a swapped parameter (``torch.func.functional_call``) is used.
    A module of another kind or shape (a subclass, several layers, a projection) is called as a module.
    """
    B, H = x.shape[1], rnn.hidden_size
    hx = None if state is None else (state[0].unsqueeze(0), state[1].unsqueeze(0))
    if not (type(rnn) is nn.LSTM and rnn.num_layers == 1 and rnn.bias and rnn.proj_size == 0
            and not rnn.batch_first and not rnn.bidirectional):
        out, (h, c) = rnn(x, hx)
        return out, (h.squeeze(0), c.squeeze(0))
    if hx is None:
        zeros = x.new_zeros(1, B, H)        # read-only: h0 and c0 can share it
        hx = (zeros, zeros)
    elif hx[0].shape != (1, B, H) or hx[1].shape != (1, B, H):
        # the CPU kernel does not check (a wrong batch corrupts memory); the module's wrapper did
        raise RuntimeError(f"LSTM state (h {tuple(state[0].shape)}, c {tuple(state[1].shape)}) does not fit a "
                           f"batch of {B} rows and {H} units: pass the state returned for this batch, or None")
    weights = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    out, h, c = torch.lstm(x, hx, weights, True, 1, 0.0, rnn.training, False, False)
    return out, (h.squeeze(0), c.squeeze(0))


register_cell(Cell("srn", 1, _srn_reference, module=_srn_module, options=("nonlinearity",),
                   fast_step=_srn_fast, fused=_srn_fused))
register_cell(Cell("gru", 3, _gru_reference, module=_gru_module, fast_step=_gru_fast,
                   fused=_gru_fused, hh_bias_in_projection=False))
register_cell(Cell("lstm", 4, _lstm_reference, state=("h", "c"), module=_lstm_module,
                   options=("forget_bias",), fast_step=_lstm_fast, direct=_lstm_direct, memory="c",
                   init=_lstm_init, rebuild_states=_lstm_cell_states))
