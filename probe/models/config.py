"""Model configuration, its checks, and what models return: the bottom of probe.models."""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, NamedTuple

import torch

from probe.core.errors import ProbeError
from probe.models.cells import CELLS, recurrent_cells


def archs() -> tuple[str, ...]:
    """Every model architecture: the registered recurrent cells, then the transformer."""
    return (*recurrent_cells(), "transformer")


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


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (saved in every checkpoint; never a pickled object)."""

    arch: str = "lstm"                # a cell of probe.models.cells (srn | gru | lstm | ...) or transformer
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
    if cfg.arch not in archs():
        raise ProbeError(f"unknown arch {cfg.arch!r}: choose from {', '.join(archs())}")
    options = CELLS[cfg.arch].options if cfg.arch in CELLS else ()
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
    if cfg.nonlinearity != "tanh" and "nonlinearity" not in options:
        raise ProbeError(f"--nonlinearity applies to the srn only, not to {cfg.arch}")
    if cfg.forget_bias is not None and "forget_bias" not in options:
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
    states: dict | None           # {(layer, "h" | the cell's memory state, e.g. lstm "c"): [B, T, H]} when asked
    loss: torch.Tensor | None = None   # mean token cross-entropy, when ``forward`` was given targets


class EncoderOutput(NamedTuple):
    """What an encoder returns: the top layer's outputs, the carried state and (optionally) every layer's."""

    hidden: torch.Tensor          # [B, T, H]
    state: Any
    states: dict | None
