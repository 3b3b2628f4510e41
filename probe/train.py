"""Training: truncated BPTT over a corpus' token stream, checkpoints, resume, non-finite guards, DDP.

One job, a little over 600 lines: the training loop and what it keeps at hand (its config and checks, stream
batching, the step, validation perplexity); torchrun's plumbing lives in ``probe.core.distributed``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, NamedTuple

import numpy as np
import torch

from probe import __version__
from probe.core.errors import ProbeError
from probe.core.io import check_output_dir, save_config, write_text_atomic
from probe.core.config import (FLAGS, CheckedConfig, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                               Range, config_from_layers, config_to_dict)
from probe.core.device import resolve_device
from probe.core.distributed import gather_state, init_distributed, rng_states, shard_state
from probe.data.corpus import Vocab, load_corpus
from probe.models.config import ModelConfig, check_model_config
from probe.models.lm import build_model, count_parameters
from probe.models.recurrent import detach_state
from probe.models.checkpoint import read_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam")
STATES = ("sentence", "stream")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_LR = {"sgd": 20.0, "adam": 1e-3}
# A model that stops improving above this multiple of the corpus' entropy floor did not learn: it has stalled
# (plain 4-layer stacks stop near 5.7x the floor, at the unigram distribution; every model that learns the
# grammar ends within 1.2x). Only corpora with a floor (the synthetic ones) can tell.
STALL_RATIO = 1.5
# Options that may change when a run is resumed (how long and how chattily it runs); every other option
# shapes the model or the update and must match the run being resumed.
RESUMABLE = ("epochs", "max_steps", "log_every", "eval_every", "checkpoint_every", "max_nonfinite", "device",
             "eval_batch_size", "stop_after", "evals_per_epoch", "stop_on", "agreement_delta")
STOP_ON = ("ppl", "ppl+agreement")


# TrainConfig's fractions: an lr factor in (0, 1], a relative improvement in [0, 1)
DecayFactor = Annotated[float, Range(0, 1, low_open=True)]
RelativeDelta = Annotated[float, Range(0, 1, high_open=True)]


@dataclass(frozen=True)
class TrainConfig(CheckedConfig):
    """Options of `probe train` (model shape, optimisation, bookkeeping); saved in config.json and checkpoints."""

    arch: str = "lstm"                 # srn | gru | lstm | transformer
    layers: PositiveInt = 2            # stacked recurrent layers / transformer blocks
    hidden: PositiveInt = 200          # units per layer (transformer: model width)
    emb: PositiveInt = 200             # embedding size
    dropout: float = 0.0               # on embeddings, between layers, before the output layer
    tied: bool = False                 # tie input embedding and output weights
    skip: str = "none"                 # how stacked recurrent layers connect: none | residual | dense | highway
    nonlinearity: str = "tanh"         # srn: tanh | relu
    forget_bias: float | None = None   # lstm: initial forget-gate bias (None: PyTorch's init)
    bidirectional: bool = False        # refused: a language model cannot read the word it predicts
    heads: PositiveInt = 4             # transformer attention heads
    kernel: str = "auto"               # auto: fastest kernel with equal numbers; torch: plain nn.RNN/GRU/LSTM
    softmax: str = "full"              # full | adaptive (large vocabularies: exact log-probs, a fraction of the cost)
    cutoffs: tuple[int, ...] = ()      # adaptive softmax clusters (ids); empty: chosen from the corpus' counts,
                                       #   the head covering 60% of training tokens, then 80% and 95%
    div_value: float = 4.0             # adaptive softmax: how much narrower each tail cluster's projection is
    optimizer: str = "sgd"             # sgd | adam
    lr: PositiveFloat | None = None    # learning rate (None: 20 for sgd, 1e-3 for adam)
    lr_decay: DecayFactor = 0.25       # lr *= lr_decay when validation perplexity stops improving
    patience: NonNegativeInt = 0       # evaluations without improvement tolerated before a decay
    min_delta: RelativeDelta = 0.0     # relative drop in valid ppl that counts as an improvement (0.002 = 0.2%)
    stop_after: NonNegativeInt = 0     # stop (converged) after this many evaluations in a row without an
                                       #   improvement; 0 = run every epoch (epochs and max_steps stay as caps)
    stop_on: str = "ppl"               # what must stop improving: ppl (validation perplexity) | ppl+agreement
                                       #   (and agreement on held-out items, --items: the mean over item classes)
    agreement_delta: RelativeDelta = 0.005   # rise in held-out agreement that counts as an improvement (absolute)
    batch_size: PositiveInt = 32       # parallel streams (split across DDP processes); state sentence: sentences
    bptt: PositiveInt = 35             # truncated-BPTT segment length (transformer: context length); with
                                       #   state sentence, sentences are never cut
    state: str = "sentence"            # sentence: every sentence from a zero state after <eos>, as items are scored
                                       #   (length-bucketed batches of batch_size sentences, seeded order) |
                                       #   stream: one token stream, the state carried across sentences
    epochs: PositiveInt = 10           # passes over the training split
    max_steps: NonNegativeInt = 0      # stop after this many steps (0 = no limit)
    clip: NonNegativeFloat = 0.25      # gradient-norm clipping threshold (0 = off)
    seed: NonNegativeInt = 0           # seeds initialisation and dropout
    device: str = "auto"               # auto (CUDA when present) | cpu | cuda
    amp: bool = False                  # CUDA only: bfloat16 autocast for the forward pass and loss
    log_every: PositiveInt = 50        # steps between metrics.jsonl training lines
    eval_every: NonNegativeInt = 0     # steps between validations (0 = evals_per_epoch times per epoch)
    evals_per_epoch: PositiveInt = 1   # validations per epoch, evenly spaced, when eval_every is 0
    checkpoint_every: NonNegativeInt = 0  # steps between last.pt saves (0 = at each validation)
    max_nonfinite: PositiveInt = 20    # consecutive non-finite steps before the run stops
    eval_batch_size: PositiveInt = 10  # streams for validation/test perplexity (state sentence: sentences a batch,
                                       #   at least batch_size)


class StepResult(NamedTuple):
    loss: float          # mean token cross-entropy of the step (averaged over DDP processes)
    grad_norm: float     # global gradient norm before clipping (nan when the loss was not finite)
    clipped: bool        # the norm exceeded --clip and the gradient was scaled down
    finite: bool         # False: the update was skipped
    state: Any           # the carried recurrent state, detached (None after a skipped step)


# ---------------------------------------------------------------------------------------------------
# Configuration


def resolve_train_config(cfg: TrainConfig) -> TrainConfig:
    """Fill the defaults that depend on other options (the learning rate per optimizer)."""
    if cfg.lr is None and cfg.optimizer in DEFAULT_LR:
        return dataclasses.replace(cfg, lr=DEFAULT_LR[cfg.optimizer])
    return cfg


def check_train_config(cfg: TrainConfig) -> None:
    """One-line ProbeErrors for impossible options (before anything is loaded or written); the ranges of the
    numbers are declared on TrainConfig's fields and checked where a config is made."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ProbeError(f"unknown --optimizer {cfg.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")
    if cfg.stop_on not in STOP_ON:
        raise ProbeError(f"unknown --stop-on {cfg.stop_on!r}: choose from {', '.join(STOP_ON)}")
    if cfg.state not in STATES:
        raise ProbeError(f"unknown --state {cfg.state!r}: choose from {', '.join(STATES)}")
    if cfg.device not in DEVICES:
        raise ProbeError(f"unknown --device {cfg.device!r}: choose from {', '.join(DEVICES)}")
    if cfg.amp and (cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())):
        raise ProbeError("--amp (bfloat16 autocast) is for CUDA training; drop it, or add --device cuda on a GPU")
    # the model's own checks; adaptive-softmax cutoffs are checked against the vocabulary once the corpus is read
    shape_only = dataclasses.replace(cfg, cutoffs=(1,)) if cfg.softmax == "adaptive" else cfg
    check_model_config(model_config_for(shape_only, vocab_size=2))


def model_config_for(cfg: TrainConfig, vocab_size: int) -> ModelConfig:
    """The ModelConfig a training config describes, for a vocabulary of ``vocab_size`` types."""
    return ModelConfig(arch=cfg.arch, vocab_size=vocab_size, emb=cfg.emb, hidden=cfg.hidden, layers=cfg.layers,
                       dropout=cfg.dropout, tied=cfg.tied, skip=cfg.skip, nonlinearity=cfg.nonlinearity,
                       forget_bias=cfg.forget_bias, bidirectional=cfg.bidirectional, heads=cfg.heads,
                       max_len=max(512, cfg.bptt), kernel=cfg.kernel, softmax=cfg.softmax, cutoffs=tuple(cfg.cutoffs),
                       div_value=cfg.div_value)


def train_config_from_options(options: dict, *, resume_dir: str | os.PathLike | None = None) -> TrainConfig:
    """A TrainConfig from command-line options (None = not given): defaults, or the resumed run's config."""
    given = {k: v for k, v in options.items() if v is not None}
    layers = [(given, FLAGS)]
    if resume_dir is not None:
        saved = dict(read_run_config(resume_dir)["train"])
        saved.setdefault("state", "stream")   # written before the option existed: trained on one carried stream
        layers.insert(0, (saved, str(Path(resume_dir) / "config.json")))
    return config_from_layers(TrainConfig, {}, layers)


def resolved_train_config(cfg: TrainConfig, corpus: Any) -> TrainConfig:
    """The config a run of ``cfg`` on ``corpus`` (a Corpus or its folder) records in its config.json: the
    optimizer's default lr filled in and, for the adaptive softmax without cutoffs, the cutoffs chosen from
    the corpus' counts (the corpus is read only then). What a restart compares a finished model with."""
    cfg = resolve_train_config(cfg)
    if cfg.softmax == "adaptive" and not cfg.cutoffs:
        corpus = load_corpus(corpus) if isinstance(corpus, (str, os.PathLike)) else corpus
        cfg = dataclasses.replace(cfg, cutoffs=adaptive_cutoffs(corpus))
    return cfg


def adaptive_cutoffs(corpus) -> tuple[int, ...]:
    """Cutoffs for the adaptive softmax from the training split's counts (``models.choose_cutoffs``); the
    vocabulary must be frequency-sorted, as ``probe corpus`` builds it (ids after <unk>, <eos> by count)."""
    from probe.models.lm import choose_cutoffs

    counts = np.bincount(np.asarray(corpus.splits["train"], dtype=np.int64), minlength=len(corpus.vocab))
    words = counts[2:]
    if len(words) > 1 and (np.diff(words) > 0).any():
        raise ProbeError(f"the vocabulary of {corpus.path} is not sorted by frequency, which the adaptive softmax "
                         "needs (its head holds the lowest ids); rebuild the corpus with `probe corpus` or give "
                         "--cutoffs")
    return choose_cutoffs(counts)


def read_run_config(out: str | os.PathLike) -> dict:
    """The config.json of a training folder (ProbeError if there is none)."""
    path = Path(out) / "config.json"
    if not path.is_file():
        raise ProbeError(f"nothing to resume: {path} does not exist; start the run without --resume")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{out} has no readable config.json ({exc}); resume a folder written by `probe train`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("train"), dict):
        raise ProbeError(f"{path} is not a probe training config; resume a folder written by `probe train`")
    return data


# ---------------------------------------------------------------------------------------------------
# Data: contiguous streams cut into BPTT segments (as pytorch/examples' word_language_model)


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """[N] token ids -> [batch_size, N // batch_size]: row b is a contiguous stream (a view, no copy)."""
    n = len(ids) // batch_size
    return ids[: n * batch_size].reshape(batch_size, n)


def segment_starts(n_cols: int, bptt: int) -> range:
    """Start columns of the BPTT segments of a batchified split (the last one may be shorter)."""
    return range(0, n_cols - 1, bptt)


def get_batch(data: np.ndarray, start: int, bptt: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets of one segment: two LongTensors [B, L], L = min(bptt, cols - 1 - start)."""
    length = min(bptt, data.shape[1] - 1 - start)
    chunk = torch.from_numpy(np.asarray(data[:, start: start + length + 1], dtype=np.int64))
    chunk = chunk.to(device, non_blocking=True)
    return chunk[:, :-1], chunk[:, 1:]


class SentenceBatches:
    """A split's sentences as training batches, every sentence its own row from a zero state.

    Row k reads ``<eos> w_1 .. w_n`` and predicts ``w_1 .. w_n <eos>``: the state a model starts each
    sentence from is the one items are scored from. Each epoch, a seeded permutation orders the sentences,
    a stable sort groups them by length (so a batch pads at most to its longest row, and most batches not
    at all), and the batches are shuffled; the last incomplete batch of an epoch is dropped. The order is
    a function of (seed, epoch) alone, so a resumed run replays it.
    """

    def __init__(self, ids: np.ndarray, *, batch_size: int, seed: int, eos: int):
        arr = np.concatenate([[eos], np.asarray(ids, dtype=np.int64)])
        ends = np.flatnonzero(arr == eos)
        if arr[-1] != eos:     # a split that does not end with <eos>: its last words form a sentence too
            arr = np.concatenate([arr, [eos]])
            ends = np.append(ends, len(arr) - 1)
        self.tokens = arr
        self.starts = ends[:-1]                  # the <eos> before each sentence
        self.lengths = np.diff(ends)             # words + 1: the row length, inputs and targets alike
        self.batch_size, self.seed = batch_size, seed

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.starts) // self.batch_size

    def plan(self, epoch: int) -> np.ndarray:
        """The epoch's batches as sentence indices: int64 [len(self), batch_size]."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.starts))
        order = order[np.argsort(self.lengths[order], kind="stable")]
        batches = order[: len(self) * self.batch_size].reshape(len(self), self.batch_size)
        return batches[rng.permutation(len(batches))]

    def rows(self, sentences: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets [B, L] of the given sentences (L: the longest); targets -1 where a row is padded."""
        lengths = self.lengths[sentences]
        width = int(lengths.max())
        offsets = np.arange(width)
        inside = offsets[None, :] < lengths[:, None]
        pos = np.where(inside, self.starts[sentences][:, None] + offsets[None, :], 0)
        x = self.tokens[pos]
        y = np.where(inside, self.tokens[pos + 1], -1)
        return (torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(y).to(device, non_blocking=True))


def sentence_rows(ids: np.ndarray, eos: int, batch_size: int) -> Iterable[tuple[np.ndarray, SentenceBatches]]:
    """Every sentence of ``ids`` once, in batches of about ``batch_size`` sorted by length (evaluation)."""
    data = SentenceBatches(ids, batch_size=batch_size, seed=0, eos=eos)
    order = np.argsort(data.lengths, kind="stable")
    for i in range(0, len(order), batch_size):
        yield order[i: i + batch_size], data


# ---------------------------------------------------------------------------------------------------
# One step, evaluation


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Plain SGD (as word_language_model) or Adam, at ``cfg.lr`` (resolved)."""
    lr = resolve_train_config(cfg).lr
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    return torch.optim.SGD(model.parameters(), lr=lr)


def _loss(out) -> torch.Tensor:
    """The step's loss from the model's output (the mean token cross-entropy; a seam tests wrap)."""
    return out.loss


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               state: Any, *, clip: float, world_size: int = 1, amp: bool = False) -> StepResult:
    """One truncated-BPTT update: forward from ``state``, loss, backward, norm, clip, optimizer step.

    x, y: LongTensors [B, L]. A non-finite loss or gradient norm skips the update (the decision is the
    same on every DDP process: the loss is averaged across them before anyone calls backward). ``amp``:
    the forward pass and the loss under CUDA bfloat16 autocast (backward and the update outside it, as
    PyTorch's autocast documentation asks).
    """
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        out = model(x, state, targets=y)
        loss = _loss(out)
    if world_size > 1:
        # each process' mean over its own tokens, weighted by its share of the batch's tokens (padded sentence
        # rows make the shares unequal), so that DDP's average of the gradients is the whole batch's mean
        mine = (y >= 0).sum().float()
        total = mine.clone()
        torch.distributed.all_reduce(total)
        loss = loss * (mine * world_size / total)
    loss_value = loss.detach().float()
    if world_size > 1:
        torch.distributed.all_reduce(loss_value)
        loss_value /= world_size
    loss_f = float(loss_value)
    optimizer.zero_grad(set_to_none=True)
    if not math.isfinite(loss_f):
        return StepResult(loss_f, float("nan"), False, False, None)
    loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    norm = float(torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf")))
    if not math.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        return StepResult(loss_f, norm, False, False, None)
    optimizer.step()
    return StepResult(loss_f, norm, bool(clip > 0 and norm > clip), True, detach_state(out.state))


def evaluate_perplexity(model: torch.nn.Module, ids: np.ndarray, *, bptt: int = 35, batch_size: int = 10,
                        device: str | torch.device = "cpu", state: str = "stream", eos: int = 1
                        ) -> tuple[float, float]:
    """(mean token cross-entropy, perplexity) of ``model`` on a 1-D id array, in the training convention ``state``.

    stream: ``batch_size`` contiguous streams, the state carried across segments of ``bptt`` tokens (the
    transformer sees each segment on its own). sentence: every sentence from a zero state after ``<eos>``
    (id ``eos``), predicting its words and closing ``<eos>``, ``batch_size`` sentences a batch. Training mode
    is restored after.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    total, count, carried = 0.0, 0, None
    try:
        with torch.no_grad():
            if state == "sentence":
                for rows, data in sentence_rows(ids, eos, batch_size):
                    x, y = data.rows(rows, device)
                    total += float(model.nll(model.encoder(x).hidden, y, reduction="sum"))
                    count += int((y >= 0).sum())
            else:
                batch_size = max(1, min(batch_size, len(ids) // 2))
                data = batchify(np.asarray(ids), batch_size)
                if data.shape[1] < 2:
                    raise ProbeError(f"a split of {len(ids)} tokens is too short to evaluate; use a bigger corpus")
                for start in segment_starts(data.shape[1], bptt):
                    x, y = get_batch(data, start, bptt, device)
                    enc = model.encoder(x, carried)
                    total += float(model.nll(enc.hidden, y, reduction="sum"))
                    count += y.numel()
                    carried = enc.state
    finally:
        model.train(was_training)
    if not count:
        raise ProbeError(f"a split of {len(ids)} tokens is too short to evaluate; use a bigger corpus")
    loss = total / count
    return loss, math.exp(min(loss, 700.0))


# ---------------------------------------------------------------------------------------------------
# The training run


@dataclass
class _Progress:
    """Everything that must survive an interruption besides weights and optimizer state."""

    step: int = 0                 # training segments processed (updates + skipped)
    epoch: int = 0                # current epoch (0-based)
    segment: int = 0              # next segment within the epoch
    tokens: int = 0               # training tokens processed, all processes
    lr: float = 0.0
    plateau_best: float = math.inf  # best valid ppl seen by the lr schedule
    bad_evals: int = 0            # evaluations since plateau_best improved or the lr last decayed
    stale: int = 0                # evaluations in a row without an improvement (early stopping)
    best_ppl: float = math.inf    # best valid ppl saved as model.pt
    last_ppl: float = math.nan
    eval_step: int = -1           # step of the latest validation
    nonfinite: int = 0            # skipped steps in total
    streak: int = 0               # consecutive skipped steps
    metrics_bytes: int = 0        # size of metrics.jsonl at the checkpoint (resume truncates to it)
    train_seconds: float = 0.0
    agreement_best: float = -math.inf   # best held-out agreement seen (stop_on ppl+agreement)
    agreement_stale: int = 0      # evaluations in a row without a rise of agreement_delta
    agreement_at_best: float = math.nan   # held-out agreement of the checkpoint saved as model.pt


def _check_resume(data: dict, cfg: TrainConfig, vocab: Vocab, mcfg: ModelConfig, path: Path) -> None:
    if tuple(data["vocab"]) != vocab.itos:
        raise ProbeError(f"the corpus vocabulary ({len(vocab)} types) differs from the one in {path} "
                         f"({len(data['vocab'])} types); resume with the corpus the run was trained on")
    saved = data["train_config"]
    for key, value in config_to_dict(cfg).items():
        if key not in RESUMABLE and key in saved and saved[key] != value:
            raise ProbeError(f"--{key.replace('_', '-')} {value} differs from the run being resumed ({saved[key]}); "
                             "resume with the same options or train into a new --out")
    if data["model_config"] != config_to_dict(mcfg):
        raise ProbeError(f"the model config in {path} differs from the one these options describe; "
                         "resume with the same options or train into a new --out")


def training_status(summary: dict) -> str:
    """'converged' (validation stopped improving), 'stalled' (it stopped improving above STALL_RATIO x the
    entropy floor: the model did not learn) or 'not converged' (stopped by a cap while still improving)."""
    if not summary.get("converged"):
        return "not converged"
    ratio = summary.get("valid_ppl_ratio")
    return "stalled" if ratio is not None and ratio > STALL_RATIO else "converged"


def _stop_text(reason: str, cfg: TrainConfig) -> str:
    """Why training stopped, in words (summary.json's ``stop_reason``)."""
    if reason == "converged":
        gain = f"by {cfg.min_delta:.2%} " if cfg.min_delta else ""
        if cfg.stop_on == "ppl+agreement":
            return (f"converged: neither validation perplexity ({gain or 'any gain'}) nor held-out agreement (by "
                    f"{cfg.agreement_delta:g}) improved in {cfg.stop_after} evaluations in a row")
        return f"converged: validation perplexity did not improve {gain}in {cfg.stop_after} evaluations in a row"
    if reason == "max_steps":
        return f"step cap: stopped at --max-steps {cfg.max_steps}" + (" before converging" if cfg.stop_after else "")
    return f"epoch cap: ran all {cfg.epochs} epochs" + (" without converging" if cfg.stop_after else "")


def train(cfg: TrainConfig, *, corpus_dir: str | os.PathLike, out: str | os.PathLike, resume: bool = False,
          on_eval: Callable[[torch.nn.Module, Vocab, torch.device], dict] | None = None, overwrite: bool = False,
          progress: bool = True) -> dict:
    """Train a language model on ``corpus_dir`` into ``out`` and return a summary dict.

    ``out`` gets model.pt (best validation perplexity), last.pt (for ``resume``), config.json and
    metrics.jsonl. Every option and input is checked before ``out`` is created or touched. Under
    ``torchrun`` the batch's streams are split across processes (DistributedDataParallel); only rank 0
    writes. ``on_eval(model, vocab, device) -> dict``: called at each validation on rank 0, its values
    join that row of metrics.jsonl (learning curves; e.g. ``probe.scoring.items.AgreementCurve``, whose
    ``source`` is recorded). A callback, so that the training loop needs no scorer.
    """
    cfg = resolve_train_config(cfg)
    check_train_config(cfg)
    device = torch.device(resolve_device(cfg.device))
    corpus = load_corpus(corpus_dir)
    for split in ("train", "valid"):
        if split not in corpus.splits:
            raise ProbeError(f"corpus {corpus.path} has no {split} split ({split}.npy); rebuild it with `probe corpus`")
    if len(corpus.splits["train"]) < 2 * cfg.batch_size:
        raise ProbeError(f"the training split has {len(corpus.splits['train'])} tokens, too few for --batch-size "
                         f"{cfg.batch_size}; use a smaller batch or a bigger corpus")
    n_sentences = int((np.asarray(corpus.splits["train"]) == corpus.vocab.eos_id).sum())
    if cfg.state == "sentence" and n_sentences < cfg.batch_size:
        raise ProbeError(f"the training split has {n_sentences} sentences, too few for --batch-size {cfg.batch_size} "
                         "sentences a batch; use a smaller batch, a bigger corpus or --state stream")
    if len(corpus.splits["valid"]) < 2:
        raise ProbeError(f"the validation split of {corpus.path} is empty; rebuild the corpus with a valid split")
    if cfg.stop_on == "ppl+agreement" and on_eval is None:
        raise ProbeError("--stop-on ppl+agreement needs held-out agreement items to watch: give --items DIR "
                         "(disjoint from the benchmark)")
    vocab = corpus.vocab
    cfg = resolved_train_config(cfg, corpus)
    mcfg = model_config_for(cfg, len(vocab))
    check_model_config(mcfg)
    out = Path(out)
    resume_data = None
    if resume:
        if not (out / "last.pt").is_file():
            raise ProbeError(f"nothing to resume: {out}/last.pt does not exist; start the run without --resume")
        resume_data = read_checkpoint(out / "last.pt")
        _check_resume(resume_data, cfg, vocab, mcfg, out / "last.pt")
    else:
        check_output_dir(out, overwrite)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.batch_size % world:
        raise ProbeError(f"--batch-size {cfg.batch_size} must be divisible by the {world} DDP processes")
    dist_info = init_distributed(device)
    if dist_info.local_rank and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    try:
        return _run(cfg, mcfg, corpus, out, resume_data, on_eval, device, dist_info,
                    overwrite=overwrite, progress=progress)
    finally:
        if dist_info.initialised_here:
            torch.distributed.destroy_process_group()


def _run(cfg, mcfg, corpus, out: Path, resume_data, on_eval, device, dist_info,
         *, overwrite: bool, progress: bool) -> dict:
    from tqdm.auto import tqdm

    rank, world = dist_info.rank, dist_info.world
    is_main = rank == 0
    vocab = corpus.vocab
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(cfg.seed)
    model = build_model(mcfg).to(device)
    if world > 1:
        torch.manual_seed(cfg.seed + rank)   # the same init everywhere, a different dropout stream per process
    optimizer = build_optimizer(cfg, model)
    prog = _Progress(lr=cfg.lr)
    state = None
    shard = cfg.batch_size // world
    if resume_data is not None:
        try:
            model.load_state_dict(resume_data["state_dict"])
            ts = resume_data["train_state"]
            optimizer.load_state_dict(ts["optimizer"])
            prog = _Progress(**ts["progress"])
            state = shard_state(ts["hidden"], rank, world, device)
            rngs = ts["rng"]
            torch.set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
            if device.type == "cuda" and ts.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(ts["cuda_rng"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise ProbeError(f"{out / 'last.pt'} cannot be resumed ({first}); it is damaged or from another "
                             "probe version: train into a new --out") from exc
    for group in optimizer.param_groups:
        group["lr"] = prog.lr
    ddp = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    valid_ids = corpus.splits["valid"]
    if cfg.state == "sentence":
        sentences = SentenceBatches(corpus.splits["train"], batch_size=cfg.batch_size, seed=cfg.seed,
                                    eos=vocab.eos_id)
        steps_per_epoch = len(sentences)
        plans = {}

        def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
            if prog.epoch not in plans:
                plans.clear()
                plans[prog.epoch] = sentences.plan(prog.epoch)
            return sentences.rows(plans[prog.epoch][prog.segment][rank * shard: (rank + 1) * shard], device)
    else:
        train_data = batchify(corpus.splits["train"], cfg.batch_size)[rank * shard: (rank + 1) * shard]
        starts = segment_starts(train_data.shape[1], cfg.bptt)
        steps_per_epoch = len(starts)

        def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
            return get_batch(train_data, starts[prog.segment], cfg.bptt, device)
    eval_batch = cfg.eval_batch_size if cfg.state == "stream" else max(cfg.eval_batch_size, cfg.batch_size)
    # validations inside an epoch (the one at its end is separate): evals_per_epoch - 1 evenly spaced segments
    inner_evals = set() if cfg.eval_every else \
        {round(k * steps_per_epoch / cfg.evals_per_epoch) for k in range(1, cfg.evals_per_epoch)} - {0, steps_per_epoch}
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)

    metrics_path = out / "metrics.jsonl"
    run_info = {"train": config_to_dict(cfg), "model": config_to_dict(mcfg), "corpus": str(corpus.path.resolve()),
                "items": getattr(on_eval, "source", None), "world_size": world,
                "parameters": count_parameters(model), "probe": __version__, "torch": torch.__version__}
    if is_main:
        if resume_data is None:
            if overwrite and out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True, exist_ok=True)
            metrics_path.write_text("")
        else:
            with open(metrics_path, "ab") as fh:   # drop lines written after the checkpoint
                fh.truncate(prog.metrics_bytes)
        save_config(run_info, out)
    metrics = open(metrics_path, "a", encoding="utf-8") if is_main else None

    def write_metrics(row: dict) -> None:
        if metrics is not None:
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()

    train_cfg_dict = config_to_dict(cfg)

    def epoch_now() -> float:
        """Epochs done, as a fraction (1.0 = the end of the first epoch)."""
        return round(prog.epoch + prog.segment / steps_per_epoch, 4)

    saved_step = -1

    def save_last() -> None:
        nonlocal saved_step
        saved_step = prog.step
        hidden = gather_state(state, world)     # None for a model that carries no state (the transformer)
        rngs = rng_states(world)
        if is_main:
            prog.metrics_bytes = metrics.tell()
            train_state = {"progress": dataclasses.asdict(prog), "optimizer": optimizer.state_dict(),
                           "hidden": hidden, "world_batch": cfg.batch_size, "rng": rngs,
                           "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None}
            save_checkpoint(out / "last.pt", model=model, model_config=mcfg, vocab=vocab,
                            train_config=train_cfg_dict, train_state=train_state)

    def validate(scheduled: bool) -> None:
        valid_loss, ppl = evaluate_perplexity(model, valid_ids, bptt=cfg.bptt, batch_size=eval_batch,
                                              device=device, state=cfg.state, eos=vocab.eos_id)
        prog.last_ppl, prog.eval_step = ppl, prog.step
        row = {"kind": "eval", "step": prog.step, "epoch": epoch_now(), "valid_loss": valid_loss, "valid_ppl": ppl,
               "lr": prog.lr}
        if scheduled:
            # an improvement must beat the best of the schedule by min_delta (relative), so that a long
            # crawl of tiny gains still ends: they add up until one counts
            if ppl < prog.plateau_best * (1 - cfg.min_delta):
                prog.plateau_best, prog.bad_evals, prog.stale = ppl, 0, 0
            else:
                prog.stale += 1
                prog.bad_evals += 1
                if prog.bad_evals > cfg.patience:
                    prog.lr *= cfg.lr_decay
                    prog.bad_evals = 0
                    for group in optimizer.param_groups:
                        group["lr"] = prog.lr
        best = ppl < prog.best_ppl
        if best:
            prog.best_ppl = ppl
            if is_main:
                save_checkpoint(out / "model.pt", model=model, model_config=mcfg, vocab=vocab,
                                train_config=train_cfg_dict,
                                train_state={"step": prog.step, "epoch": epoch_now(), "valid_ppl": ppl,
                                             "tokens": prog.tokens})
        row["best"] = best
        if on_eval is not None:
            # every process computes it (DDP processes must agree on when to stop); rank 0 records it
            row.update(on_eval(model, vocab, device))
        agreement = row.get("agreement")
        if agreement is not None and math.isfinite(agreement):
            if best:
                prog.agreement_at_best = agreement
            if scheduled:
                if agreement > prog.agreement_best + cfg.agreement_delta:
                    prog.agreement_best, prog.agreement_stale = agreement, 0
                else:
                    prog.agreement_stale += 1
        write_metrics(row)

    bar = tqdm(total=total_steps, initial=min(prog.step, total_steps), desc=f"train {cfg.arch}", unit="step",
               disable=None if (progress and is_main) else True, dynamic_ncols=True)   # None: off when not a tty
    started = time.perf_counter()
    window_start, window_tokens = started, 0
    stop_reason = "epochs"

    def converged() -> bool:
        """Validation perplexity has not improved (by min_delta) in ``stop_after`` evaluations in a row, nor,
        with stop_on ppl+agreement, held-out agreement (by agreement_delta)."""
        if not cfg.stop_after or prog.stale < cfg.stop_after:
            return False
        return cfg.stop_on == "ppl" or prog.agreement_stale >= cfg.stop_after

    model.train()
    try:
        while prog.epoch < cfg.epochs and not converged():
            while prog.segment < steps_per_epoch and not converged():
                if cfg.max_steps and prog.step >= cfg.max_steps:
                    stop_reason = "max_steps"
                    break
                x, y = next_batch()
                res = train_step(ddp, optimizer, x, y, state, clip=cfg.clip, world_size=world,
                                 amp=cfg.amp and device.type == "cuda")
                state = res.state if cfg.state == "stream" else None
                prog.step += 1
                prog.segment += 1
                n_tokens = (y.numel() if cfg.state == "stream" else int((y >= 0).sum())) * world
                prog.tokens += n_tokens
                window_tokens += n_tokens
                bar.update(1)
                if res.finite:
                    prog.streak = 0
                else:
                    prog.nonfinite += 1
                    prog.streak += 1
                    write_metrics({"kind": "skip", "step": prog.step, "epoch": epoch_now(),
                                   "loss": res.loss if math.isfinite(res.loss) else str(res.loss),
                                   "grad_norm": res.grad_norm if math.isfinite(res.grad_norm) else str(res.grad_norm),
                                   "nonfinite": prog.nonfinite})
                    if prog.streak >= cfg.max_nonfinite:
                        write_metrics({"kind": "stop", "step": prog.step, "reason": "nonfinite",
                                       "streak": prog.streak})
                        kept = (f"{out / 'last.pt'} keeps the last good state" if (out / "last.pt").exists()
                                else "no checkpoint had been saved yet")
                        raise ProbeError(
                            f"training stopped at step {prog.step}: {prog.streak} consecutive steps had a non-finite "
                            f"loss or gradient ({prog.nonfinite} in all); {kept}; lower --lr or set --clip")
                if prog.step % cfg.log_every == 0 and res.finite:
                    now = time.perf_counter()
                    tps = window_tokens / max(now - window_start, 1e-9)
                    prog.train_seconds += now - window_start
                    window_start, window_tokens = now, 0
                    write_metrics({"kind": "train", "step": prog.step, "epoch": epoch_now(), "loss": res.loss,
                                   "grad_norm": res.grad_norm, "clipped": res.clipped, "lr": prog.lr,
                                   "tokens_per_s": tps, "nonfinite": prog.nonfinite})
                    bar.set_postfix(loss=f"{res.loss:.3f}", ppl=f"{math.exp(min(res.loss, 50)):.1f}",
                                    tok_s=f"{tps:,.0f}", refresh=False)
                eval_due = (cfg.eval_every and prog.step % cfg.eval_every == 0) or prog.segment in inner_evals
                if eval_due:
                    prog.train_seconds += time.perf_counter() - window_start
                    validate(scheduled=True)
                    window_start = time.perf_counter()
                checkpoint_due = (cfg.checkpoint_every and prog.step % cfg.checkpoint_every == 0) or \
                    (not cfg.checkpoint_every and eval_due)
                if checkpoint_due and prog.streak == 0:   # during a non-finite streak, keep the last good one
                    save_last()
            if prog.segment < steps_per_epoch:    # stopped by max_steps or convergence inside the epoch
                break
            prog.epoch += 1
            prog.segment = 0
            state = None
            if not cfg.eval_every:
                prog.train_seconds += time.perf_counter() - window_start
                validate(scheduled=True)
                window_start = time.perf_counter()
                if prog.streak == 0:
                    save_last()
        if converged():
            stop_reason = "converged"
        prog.train_seconds += time.perf_counter() - window_start
        window_start = time.perf_counter()
        if prog.eval_step != prog.step:
            validate(scheduled=False)   # final numbers; the lr schedule is left as a resumed run would find it
        if saved_step != prog.step:
            save_last()
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()

    summary = {"out": str(out), "rank": rank, "arch": cfg.arch, "steps": prog.step,
               "epochs": epoch_now(), "tokens": prog.tokens,
               "best_valid_ppl": prog.best_ppl, "last_valid_ppl": prog.last_ppl, "nonfinite_steps": prog.nonfinite,
               "train_seconds": prog.train_seconds,
               "tokens_per_s": prog.tokens / prog.train_seconds if prog.train_seconds > 0 else None,
               "parameters": count_parameters(model), "stopped": stop_reason, "world_size": world,
               "converged": stop_reason == "converged", "stop_reason": _stop_text(stop_reason, cfg),
               "stop_on": cfg.stop_on}
    if math.isfinite(prog.agreement_at_best):
        summary["agreement_at_best"] = prog.agreement_at_best    # held-out agreement of the scored checkpoint
        summary["agreement_best"] = prog.agreement_best
    floor = corpus.stats.get("entropy_floor") or {}
    if isinstance(floor.get("valid"), dict):
        # the best possible model's perplexity on the same sentences (synthetic corpora: probe.grammar)
        summary["floor_valid_ppl"] = floor["valid"]["ppl"]
        summary["valid_ppl_ratio"] = prog.best_ppl / floor["valid"]["ppl"]
    summary["status"] = training_status(summary)
    if is_main and "test" in corpus.splits and len(corpus.splits["test"]) >= 2 and (out / "model.pt").exists():
        from probe.models.checkpoint import load_checkpoint

        best = load_checkpoint(out, device=device).model
        summary["test_ppl"] = evaluate_perplexity(best, corpus.splits["test"], bptt=cfg.bptt, batch_size=eval_batch,
                                                  device=device, state=cfg.state, eos=vocab.eos_id)[1]
        if isinstance(floor.get("test"), dict):
            summary["floor_test_ppl"] = floor["test"]["ppl"]
            summary["test_ppl_ratio"] = summary["test_ppl"] / floor["test"]["ppl"]
    if is_main:
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
