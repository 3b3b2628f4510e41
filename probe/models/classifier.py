"""The number classifier (Linzen et al. 2016's task): an encoder over the prefix, a softmax over {sg, pl}."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn as nn

from probe.core.config import CheckedConfig, NonNegativeInt, OneOf, PositiveInt
from probe.core.errors import ProbeError
from probe.models.cells import get_cell
from probe.models.config import NONLINEARITIES, Dropout


POOLINGS = ("final", "mean")


LABELS = ("sg", "pl")              # class 0, class 1


OBJECTIVE = "number"               # written into every classifier checkpoint's train_state


@dataclass(frozen=True)
class ClassifierShape(CheckedConfig):
    """A number classifier's shape: the options its user chooses (declared once here; ``NumberConfig`` inherits
    them and :class:`ClassifierConfig` adds the vocabulary)."""

    arch: str = "lstm"            # srn | gru | lstm (a registered cell with a torch module)
    bidirectional: bool = False   # read the prefix in both directions
    layers: PositiveInt = 1       # stacked layers
    hidden: PositiveInt = 64      # units per layer and direction
    emb: PositiveInt = 64         # embedding size
    dropout: Dropout = 0.0        # on embeddings, between layers and before the softmax
    nonlinearity: Annotated[str, OneOf(NONLINEARITIES)] = "tanh"   # srn only: tanh | relu
    pooling: Annotated[str, OneOf(POOLINGS)] = "final"   # final | mean (see probe.train_number)


@dataclass(frozen=True)
class ClassifierConfig(ClassifierShape):
    """What rebuilds a number classifier (saved as ``model_config`` in its checkpoint)."""

    vocab_size: NonNegativeInt = 0   # from the vocabulary (ids 0 <unk>, 1 <eos>)
    objective: str = OBJECTIVE       # marks the checkpoint as a number classifier, not a language model


class NumberClassifier(nn.Module):
    """Embedding + a (bi)directional multi-layer recurrence of a table cell (its torch module) + a linear layer."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb)
        spec = get_cell(cfg.arch)
        if spec.module is None:
            raise ProbeError(f"cell {cfg.arch!r} has no multi-layer torch module (Cell.module), which the number "
                             "classifier needs for bidirectional, packed sequences; give the cell one")
        rnn_kw = dict(num_layers=cfg.layers, batch_first=True, bidirectional=cfg.bidirectional,
                      dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        if "nonlinearity" in spec.options:
            rnn_kw["nonlinearity"] = cfg.nonlinearity
        self.rnn = spec.module(cfg.emb, cfg.hidden, **rnn_kw)
        self.drop = nn.Dropout(cfg.dropout)
        self.directions = 2 if cfg.bidirectional else 1
        self.out = nn.Linear(self.directions * cfg.hidden, len(LABELS))
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """ids [B, T] (right-padded; ``lengths`` [B] on CPU, None = no padding) -> features [B, dirs * H]."""
        x = self.drop(self.embedding(ids))
        padded = lengths is not None and bool((lengths != ids.shape[1]).any())
        if padded:
            # packing keeps padding out of the backward direction (and out of the final states)
            x = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(x)
        if self.config.pooling == "final":
            h_n = h_n[0] if isinstance(h_n, tuple) else h_n            # cells with more states: (h_n, c_n, ...)
            # h_n [layers * dirs, B, H]: the top layer's forward (and backward) final states
            return torch.cat(list(h_n[-self.directions:]), dim=-1)
        if padded:
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
            mask = (torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None])
            return (out * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return out.mean(1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """ids [B, T] -> logits [B, 2] (class 0 sg, class 1 pl)."""
        return self.out(self.drop(self.features(ids, lengths)))
