"""The language model: an encoder from the cell table or the transformer, dropout, and a full or adaptive softmax."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from probe.models.config import ModelConfig, ModelOutput, check_model_config
from probe.models.recurrent import RecurrentEncoder, apply_dropout
from probe.models.transformer import TransformerEncoder


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
        h = apply_dropout(self.drop, hidden)
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
        """Token cross-entropy of ``targets`` [B, T] after encoder outputs ``hidden`` [B, T, H] ('mean' or 'sum').

        A negative target marks padding (sentence batches): it is left out of the loss and of the mean.
        """
        h = self.features(hidden)
        flat = targets.reshape(-1)
        if flat.numel() and int(flat.min()) < 0:
            keep = flat >= 0
            h, flat = h.reshape(-1, h.shape[-1])[keep], flat[keep]
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
    check_model_config(cfg)
    return LanguageModel(cfg)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


# ---------------------------------------------------------------------------------------------------
# Checkpoints


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (tied weights counted once)."""
    return sum(p.numel() for p in unwrap_model(model).parameters() if p.requires_grad)
