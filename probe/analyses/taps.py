"""What the gradient analyses share: cell variants, a step-by-step forward with taps on every state, decay fits."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from probe.core.errors import ProbeError
from probe.models.cells import get_cell, recurrent_cells, reference_scan
from probe.models.config import ModelConfig
from probe.models.lm import LanguageModel


_VARIANT_KEYS = {"nonlinearity": str, "forget_bias": float}


def parse_variant(spec: str) -> dict:
    """'lstm:forget_bias=1' -> {'arch': 'lstm', 'forget_bias': 1.0}; keys: nonlinearity (srn), forget_bias (lstm)."""
    arch, _, rest = str(spec).partition(":")
    if arch not in recurrent_cells():
        raise ProbeError(f"unknown cell {arch!r} in variant {spec!r}: choose from {', '.join(recurrent_cells())}")
    out: dict = {"arch": arch}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key not in _VARIANT_KEYS:
            raise ProbeError(f"bad variant option {part!r} in {spec!r}: "
                             "use nonlinearity=tanh|relu or forget_bias=NUMBER")
        try:
            out[key] = _VARIANT_KEYS[key](value)
        except ValueError:
            raise ProbeError(f"bad value {value!r} for {key} in variant {spec!r}") from None
    options = get_cell(arch).options
    if "nonlinearity" in out and ("nonlinearity" not in options or out["nonlinearity"] not in ("tanh", "relu")):
        raise ProbeError(f"variant {spec!r}: nonlinearity=tanh|relu applies to cells with that option (srn)")
    if "forget_bias" in out and ("forget_bias" not in options or not math.isfinite(out["forget_bias"])):
        raise ProbeError(f"variant {spec!r}: forget_bias=NUMBER applies to cells with that option (lstm)")
    return out


def variant_name(cfg: ModelConfig) -> str:
    """The variant column: srn -> its nonlinearity; lstm -> forget_bias=default|VALUE; others -> default."""
    options = get_cell(cfg.arch).options
    if "nonlinearity" in options:
        return cfg.nonlinearity
    if "forget_bias" in options and cfg.forget_bias is not None:
        return f"forget_bias={cfg.forget_bias:g}"
    return "default"


def forward_with_taps(model: LanguageModel, ids: torch.Tensor,
                      at: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Run a recurrent LM step by step with zero taps on every state: ids [B, T] -> (logits [B, T, V], taps);
    with ``at`` (positions [B]) the logits at one position per row [B, V], the only ones a caller reads,
    so the softmax layer runs B times instead of B x T, forwards and backwards.

    ``taps``: {"emb": [B, T, E], (layer, "h"): [B, T, H]} leaf tensors of zeros (requires_grad), added to
    the embedding and to each layer's hidden state at every step, so that d(anything)/d tap[:, t] is the
    total derivative with respect to that state at step t. Same numbers as ``model(ids).logits`` (eval
    mode: dropout is not applied); the taps take the dtype of the model's weights.
    """
    enc = model.encoder
    cfg = model.config
    if cfg.arch not in recurrent_cells():
        raise ProbeError(f"gradients by distance need a recurrent model (srn, gru, lstm), not {cfg.arch}")
    emb = enc.embedding(ids)
    taps: dict = {"emb": torch.zeros_like(emb, requires_grad=True)}
    stack = [emb + taps["emb"]]
    for i, layer in enumerate(enc.layers):
        x = enc.layer_input(i, stack)
        tap = x.new_zeros(x.shape[0], x.shape[1], cfg.hidden, requires_grad=True)
        taps[(i, "h")] = tap
        stack.append(enc.combine(i, tapped_layer(layer, x, tap), x))
    x = stack[-1]
    if at is not None:
        x = x[torch.arange(x.shape[0]), at]
    h = x if model.proj is None else model.proj(x)      # no dropout, whatever the model's mode
    return model.output(h), taps


def tapped_layer(layer: torch.nn.Module, x: torch.Tensor, tap: torch.Tensor) -> torch.Tensor:
    """One recurrent layer stepped by its cell's reference formula (``probe.models.cells.reference_scan``, the
    layer's own weights): x [B, T, I] -> h [B, T, H], with ``tap[:, t]`` added to h at every step."""
    spec, rnn = layer.spec, layer.rnn
    B = x.shape[0]
    xw = F.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0).transpose(0, 1)     # every step's input projection at once
    st = tuple(x.new_zeros(B, tap.shape[-1]) for _ in spec.state)
    out, _, _ = reference_scan(spec, rnn, xw, st, tap=tap.transpose(0, 1))
    return out.transpose(0, 1).contiguous()     # batch-first, laid out as the rest of the encoder expects


def sample_windows(ids: np.ndarray, *, n: int, length: int, seed: int) -> np.ndarray:
    """``n`` windows of ``length`` consecutive ids at seeded random offsets: [N] -> int64 [n, length]."""
    ids = np.asarray(ids)
    if len(ids) < length:
        raise ProbeError(f"the corpus split has {len(ids)} tokens, fewer than one window of {length}; "
                         "use a bigger corpus or a smaller --max-distance")
    starts = np.random.default_rng(seed).integers(0, len(ids) - length + 1, size=n)
    return np.lib.stride_tricks.sliding_window_view(ids, length)[starts].astype(np.int64)


def random_windows(vocab_size: int, *, n: int, length: int, seed: int) -> np.ndarray:
    """Uniformly random token windows (for fresh models without a corpus): int64 [n, length]."""
    return np.random.default_rng(seed).integers(0, vocab_size, size=(n, length), dtype=np.int64)


def decay_norms(model: LanguageModel, windows: np.ndarray, *, max_distance: int, batch_size: int = 128,
                taps: Sequence[Any] | None = None) -> dict:
    """Per-window norms ||dJ/dstate(t - l)||, l = 0..max_distance, from one backward pass per batch.

    ``windows`` int64 [N, T + 1]: the model reads [:, :T]; J is the cross-entropy of windows[:, T] at the
    last input position t = T - 1 (T > max_distance). ``model``: as returned by ``analysis_copy``.
    ``taps``: which states (keys of ``forward_with_taps``' taps; default: the top layer's h).
    Returns {tap: float64 [N, max_distance + 1]}, column l = distance l.
    """
    windows = np.asarray(windows, dtype=np.int64)
    T = windows.shape[1] - 1
    if T <= max_distance:
        raise ProbeError(f"windows of {T} inputs are too short for distance {max_distance}")
    keys = list(taps) if taps is not None else [(model.config.layers - 1, "h")]
    out: dict = {k: [] for k in keys}
    for s in range(0, len(windows), batch_size):
        w = torch.as_tensor(windows[s: s + batch_size])
        last, tap = forward_with_taps(model, w[:, :-1], at=torch.full((len(w),), T - 1))
        loss = F.cross_entropy(last, w[:, -1], reduction="sum")             # J summed over independent windows
        grads = torch.autograd.grad(loss, [tap[k] for k in keys])
        for k, g in zip(keys, grads):
            norms = g.norm(dim=-1)[:, T - 1 - max_distance:]               # positions t-L .. t
            out[k].append(norms.flip(1).double().numpy())                 # column l = distance l
    return {k: np.concatenate(v) for k, v in out.items()}


def summarize_norms(norms: np.ndarray, *, n_boot: int, seed: int) -> pd.DataFrame:
    """Per-window norms [N, L+1] -> per distance: grad_norm (mean), ci_low/high (bootstrap), median, rel, n."""
    norms = np.asarray(norms, dtype=np.float64)
    n = len(norms)
    rng = np.random.default_rng(seed)
    boots = norms[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)        # [n_boot, L+1]
    lo, hi = np.quantile(boots, [0.025, 0.975], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = norms / norms[:, :1]
    return pd.DataFrame({
        "distance": np.arange(norms.shape[1]),
        "grad_norm": norms.mean(axis=0), "ci_low": lo, "ci_high": hi,
        "grad_norm_median": np.median(norms, axis=0),
        "grad_norm_rel": np.nanmean(np.where(np.isfinite(rel), rel, np.nan), axis=0) if n else np.nan,
        "n": n,
    })


def fit_decay(distance: np.ndarray, grad_norm: np.ndarray, *, fit_min: int = 5) -> dict:
    """Least-squares fit log(grad_norm) = a - distance / tau over distance >= fit_min (finite, positive values).

    Returns per_step (the factor per step, exp(-1/tau)), tau (steps per e-fold; inf when not decaying),
    decades_per_10 (log10 drop over 10 steps), r2 and n_points.
    """
    d, g = np.asarray(distance, dtype=float), np.asarray(grad_norm, dtype=float)
    keep = (d >= fit_min) & np.isfinite(g) & (g > 0)
    if keep.sum() < 3:
        return {"per_step": float("nan"), "tau": float("nan"), "decades_per_10": float("nan"), "r2": float("nan"),
                "n_points": int(keep.sum())}
    x, y = d[keep], np.log(g[keep])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((resid ** 2).sum()) / ss if ss > 0 else float("nan")
    return {"per_step": float(math.exp(slope)), "tau": float(-1 / slope) if slope < 0 else float("inf"),
            "decades_per_10": float(-10 * slope / math.log(10)), "r2": r2, "n_points": int(keep.sum())}
