"""A small causal transformer encoder behind the same interface as the recurrent stacks."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from probe.core.errors import ProbeError
from probe.models.config import EncoderOutput, ModelConfig


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
