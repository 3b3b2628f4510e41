"""Model configuration, its checks, and what models return: the bottom of probe.models."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import torch

from probe.core.config import CheckedConfig, NonNegativeInt, OneOf, PositiveInt, Range
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


NONLINEARITIES = ("tanh", "relu")    # the srn's (a cell reads it when its table entry lists the option)


# A probability: dropout in [0, 1)
Dropout = Annotated[float, Range(0, 1, high_open=True)]
FiniteFloat = Annotated[float, Range(text="a finite number")]


@dataclass(frozen=True)
class ModelShape(CheckedConfig):
    """A model's shape: the options its user chooses (declared once here; ``TrainConfig`` inherits them and
    :class:`ModelConfig` adds what the corpus and the training decide)."""

    arch: str = "lstm"                 # srn | gru | lstm | transformer (or a cell registered in probe.models.cells)
    layers: PositiveInt = 2            # stacked recurrent layers / transformer blocks
    hidden: PositiveInt = 200          # units per layer (transformer: model width)
    emb: PositiveInt = 200             # embedding size
    dropout: Dropout = 0.0             # on embeddings, between layers, before the output layer
    tied: bool = False                 # tie input embedding and output weights
    skip: Annotated[str, OneOf(SKIPS)] = "none"   # how stacked recurrent layers connect: none | residual | dense |
                                                  #   highway
    nonlinearity: Annotated[str, OneOf(NONLINEARITIES)] = "tanh"   # srn: tanh | relu
    forget_bias: FiniteFloat | None = None   # lstm: initial forget-gate bias (None: PyTorch's init)
    bidirectional: bool = False        # refused: a language model cannot read the word it predicts
    heads: PositiveInt = 4             # transformer attention heads
    kernel: Annotated[str, OneOf(KERNELS)] = "auto"   # auto: fastest kernel with equal numbers; torch: plain
                                                      #   nn.RNN/GRU/LSTM modules, called as modules
    softmax: Annotated[str, OneOf(SOFTMAXES)] = "full"   # full | adaptive (large vocabularies: exact log-probs, a
                                                         #   fraction of the cost)
    cutoffs: tuple[int, ...] = ()      # adaptive softmax clusters (ids); empty: chosen from the corpus' counts,
                                       #   the head covering 60% of training tokens, then 80% and 95%
    div_value: Annotated[float, Range(1, low_open=True, text="a number above 1")] = 4.0   # adaptive softmax: how
                                       #   much narrower each tail cluster's projection is


@dataclass(frozen=True)
class ModelConfig(ModelShape):
    """Everything needed to rebuild a model (saved in every checkpoint; never a pickled object): its shape, and
    the sizes the corpus and the training decide."""

    vocab_size: NonNegativeInt = 0    # token types, set from the corpus vocabulary (ids 0 <unk>, 1 <eos>)
    ff: NonNegativeInt = 0            # transformer: feed-forward width (0 = 4 * hidden)
    max_len: PositiveInt = 512        # transformer: longest input (learned positions)

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """A saved model config in today's keys: checkpoints before skip connections had ``residual: bool``."""
        if "residual" in data and "skip" not in data:
            residual = bool(data["residual"])
            data = {k: v for k, v in data.items() if k != "residual"}
            data["skip"] = "residual" if residual else "none"
        return data


def check_model_config(cfg: ModelConfig) -> None:
    """Reject impossible combinations of model options with one-line ProbeErrors (called before anything is built
    or written); each field's own range and choices are checked where the config is made."""
    if cfg.arch not in archs():
        raise ProbeError(f"unknown arch {cfg.arch!r}: choose from {', '.join(archs())}")
    options = CELLS[cfg.arch].options if cfg.arch in CELLS else ()
    if cfg.bidirectional:
        raise ProbeError(
            "a language model cannot be bidirectional: it predicts each word from the words before it, and a "
            "backward pass would read the very word it must predict; drop bidirectional")
    if cfg.vocab_size < 2:
        raise ProbeError(f"vocabulary size must be at least 2 (<unk>, <eos>), got {cfg.vocab_size}; "
                         "check the corpus' vocab.json")
    if cfg.nonlinearity != "tanh" and "nonlinearity" not in options:
        raise ProbeError(f"nonlinearity applies to the srn only, not to {cfg.arch}")
    if cfg.forget_bias is not None and "forget_bias" not in options:
        raise ProbeError(f"forget_bias applies to the lstm only, not to {cfg.arch}")
    if cfg.softmax == "adaptive":
        cuts = list(cfg.cutoffs)
        if not cuts or cuts != sorted(set(cuts)) or cuts[0] <= 0 or cuts[-1] >= cfg.vocab_size:
            raise ProbeError(f"adaptive softmax cutoffs {cuts} must be increasing ids between 1 and the vocabulary "
                             f"size {cfg.vocab_size} - 1; leave them empty to have them chosen from the corpus")
        if cfg.tied:
            raise ProbeError("tied cannot be combined with the adaptive softmax (its clusters have their own "
                             "projections); drop one of them")
    elif cfg.cutoffs:
        raise ProbeError("cutoffs apply to the adaptive softmax only; set softmax adaptive or drop them")
    if cfg.skip != "none" and cfg.arch == "transformer":
        raise ProbeError("skip applies to recurrent stacks; the transformer's blocks are residual already")
    if cfg.arch == "transformer" and cfg.hidden % cfg.heads:
        raise ProbeError(f"heads must divide hidden ({cfg.hidden}), got {cfg.heads}")


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
