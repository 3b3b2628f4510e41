"""Recurrent layers and stacks (skip connections, one-step inference) built from the cell table."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from probe.models.cells import StepRecurrence, as_tuple, from_tuple, get_cell
from probe.models.config import HIGHWAY_BIAS, EncoderOutput, ModelConfig


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


def apply_dropout(drop: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    """``drop(x)`` ([...] -> [...]), without the module call when p = 0: it would return its input, the same
    numbers and no random draws, and the call alone costs a few microseconds of every short training step."""
    return drop(x) if drop.p > 0 else x


class RecurrentLayer(nn.Module):
    """One recurrent layer of a cell from the table (``probe.models.cells``), time-major.

    ``self.rnn`` holds the weights (for the built-in cells a one-layer ``nn.RNN``/``nn.GRU``/``nn.LSTM``,
    so the state dict is the torch module's); ``forward`` picks the kernel: with ``kernel='auto'`` the cell's
    fused CPU recurrence when it has one (SRN, GRU), else the module's own kernel called directly when the
    cell has a ``direct`` entry (LSTM: oneDNN on CPU, cuDNN on GPU, without ``nn.LSTM.forward``), else the
    module; ``kernel='torch'`` always calls the module. All compute the same function.
    """

    def __init__(self, cell: str, input_size: int, hidden: int, *, nonlinearity: str = "tanh",
                 forget_bias: float | None = None, kernel: str = "auto"):
        super().__init__()
        self.spec = get_cell(cell)
        self.cell, self.hidden, self.kernel = cell, hidden, kernel
        options = {"nonlinearity": nonlinearity, "forget_bias": forget_bias}
        kw = {"nonlinearity": nonlinearity} if "nonlinearity" in self.spec.options else {}
        if self.spec.module is None:
            self.rnn = StepRecurrence(self.spec, input_size, hidden, **kw)
        else:
            self.rnn = self.spec.module(input_size, hidden, **kw)
        if self.spec.init is not None:
            self.spec.init(self.rnn, options)

    def uses_fused(self, x: torch.Tensor) -> bool:
        """Whether ``forward`` runs the cell's fused recurrence for input ``x`` (SRN/GRU on CPU)."""
        return self.kernel == "auto" and self.spec.fused is not None and x.device.type == "cpu"

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Input projection of every timestep at once (fused path, ``step``): [..., I] -> [..., gates * H].

        For a cell with fast kernels, holds every bias that adds to the gates as they are (SRN, LSTM: both;
        GRU: b_ih only, since b_hh sits inside r * (h W_hn^T + b_hn)); a cell run by its reference formula
        gets x W_ih^T + b_ih, what that formula takes.
        """
        r = self.rnn
        fold = self.spec.hh_bias_in_projection and self.spec.fast_step is not None
        bias = r.bias_ih_l0 + r.bias_hh_l0 if fold else r.bias_ih_l0
        return F.linear(x, r.weight_ih_l0, bias)

    def zero_state(self, ref: torch.Tensor, batch: int) -> Any:
        """Zeros in the layer's state form: h [B, H], or a tuple of [B, H] per state of the cell."""
        zeros = ref.new_zeros(batch, self.hidden)
        return from_tuple(self.spec, tuple(zeros for _ in self.spec.state))

    def step(self, xw: torch.Tensor, state: Any = None) -> Any:
        """One timestep for inference: xw [B, gates * H] (``project`` of the input), state as in ``forward``
        (None: zeros) -> the new state (h [B, H]; lstm: (h, c)).

        The cell's fast step (one matmul plus a few in-place elementwise ops: at T = 1 this beats the
        torch modules, whose per-call setup costs more than the step itself), else its reference formula.
        Same formulas as ``forward`` (tested to 1e-5); no dropout; call it under ``torch.no_grad()``.
        """
        spec = self.spec
        st = as_tuple(self.zero_state(xw, xw.shape[0]) if state is None else state)
        if spec.fast_step is not None:
            return from_tuple(spec, spec.fast_step(self.rnn, xw, st))
        return from_tuple(spec, spec.reference(self.rnn, xw, st))

    def forward(self, x: torch.Tensor | None, state: Any = None, *, xw: torch.Tensor | None = None,
                cells: bool = False) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """x [T, B, I] (time-major), state h [B, H] (lstm: (h, c)) or None for zeros.

        ``xw``: the input projection [T, B, gates * H], if the caller already has it (then ``x`` may be
        None; fused path only). Returns (h for every step [T, B, H], final state, the memory state of
        every step [T, B, H] (lstm: c) if ``cells`` and the cell has one besides h, else None).
        """
        ref = x if x is not None else xw
        B = ref.shape[1]
        spec = self.spec
        if self.uses_fused(ref):
            h0 = state if state is not None else ref.new_zeros(B, self.hidden)
            xw = self.project(x) if xw is None else xw
            out = spec.fused(self.rnn, xw, h0)
            return out, out[-1], None
        if spec.module is None:
            return self.rnn(x, state, memory=True) if cells else (*self.rnn(x, state), None)
        if spec.direct is not None and self.kernel == "auto":
            out, final = spec.direct(self.rnn, x, None if state is None else as_tuple(state))
        elif spec.state_size > 1:
            # no state: the module starts from its own zeros (the same numbers, without building them here)
            out, final = self.rnn(x, None if state is None else tuple(s.unsqueeze(0) for s in as_tuple(state)))
            final = tuple(s.squeeze(0) for s in final)
        else:
            out, h = self.rnn(x, None if state is None else state.unsqueeze(0))
            return out, h.squeeze(0), None
        extra = {}
        if cells and spec.rebuild_states:
            start = as_tuple(self.zero_state(x, B) if state is None else state)
            extra = spec.rebuild_states(self.rnn, x, out, start)
        return out, from_tuple(spec, final), extra.get(spec.memory)


class RecurrentEncoder(nn.Module):
    """Embedding + stacked one-layer recurrent modules (dropout between them) joined by ``cfg.skip``.

    ``layer_input`` and ``combine`` are the stacking rule, used by ``forward``, ``step`` and the gradient
    taps (``probe.analyses.taps``) alike, so a skip connection is written once.
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
            x = apply_dropout(self.drop, self.embedding(ids_t))    # [T, B, E]
        stack = [x]
        new_state, states = [], ({} if return_states else None)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = apply_dropout(self.drop, self.layer_input(i, stack))
            st_in = None if state is None else state[i]
            if i in layer_runs:
                out, st, c_all = layer_runs[i](layer, x, st_in)
            else:
                out, st, c_all = layer(x, st_in, xw=xw if i == 0 else None, cells=return_states)
            new_state.append(st)
            if return_states:
                states[(i, "h")] = out.transpose(0, 1).contiguous()
                if c_all is not None:       # the cell's memory state, under its name in the cell table
                    states[(i, layer.spec.memory)] = c_all.transpose(0, 1).contiguous()
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
