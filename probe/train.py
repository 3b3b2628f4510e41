"""Training: truncated BPTT over a corpus' token stream, checkpoints, resume, non-finite guards, DDP.

One job: the training loop and what it keeps at hand (its config and checks, batching, the step, validation
perplexity, the :class:`Trainer` that runs them); torchrun's plumbing lives in ``probe.core.distributed``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
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
from probe.core.config import (FLAGS, NonNegativeFloat, NonNegativeInt, OneOf, PositiveFloat, PositiveInt, Range,
                               config_from_layers, config_to_dict, field_values)
from probe.core.device import resolve_device
from probe.core.distributed import Dist, gather_state, init_distributed, rng_states, shard_state
from probe.data.corpus import Vocab, load_corpus
from probe.models.config import ModelConfig, ModelShape, check_model_config
from probe.models.lm import build_model, choose_cutoffs, count_parameters
from probe.models.recurrent import detach_state
from probe.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint


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
class TrainConfig(ModelShape):
    """Options of `probe train`: the model's shape (the fields of ``ModelShape``: arch, layers, hidden, emb, ...,
    declared there), optimisation and bookkeeping; saved in config.json and checkpoints."""

    optimizer: Annotated[str, OneOf(OPTIMIZERS)] = "sgd"   # sgd | adam
    lr: PositiveFloat | None = None    # learning rate (None: 20 for sgd, 1e-3 for adam)
    lr_decay: DecayFactor = 0.25       # lr *= lr_decay when validation perplexity stops improving
    patience: NonNegativeInt = 0       # evaluations without improvement tolerated before a decay
    min_delta: RelativeDelta = 0.0     # relative drop in valid ppl that counts as an improvement (0.002 = 0.2%)
    stop_after: NonNegativeInt = 0     # stop (converged) after this many evaluations in a row without an
                                       #   improvement; 0 = run every epoch (epochs and max_steps stay as caps)
    stop_on: Annotated[str, OneOf(STOP_ON)] = "ppl"   # what must stop improving: ppl (validation perplexity) |
                                       #   ppl+agreement (and agreement on held-out items, --items: the mean over
                                       #   item classes)
    agreement_delta: RelativeDelta = 0.005   # rise in held-out agreement that counts as an improvement (absolute)
    batch_size: PositiveInt = 32       # parallel streams (split across DDP processes); state sentence: sentences
    bptt: PositiveInt = 35             # truncated-BPTT segment length (transformer: context length); with
                                       #   state sentence, sentences are never cut
    state: Annotated[str, OneOf(STATES)] = "sentence"   # sentence: every sentence from a zero state after <eos>,
                                       #   as items are scored (length-bucketed batches of batch_size sentences,
                                       #   seeded order) | stream: one token stream, the state carried across
                                       #   sentences
    epochs: PositiveInt = 10           # passes over the training split
    max_steps: NonNegativeInt = 0      # stop after this many steps (0 = no limit)
    clip: NonNegativeFloat = 0.25      # gradient-norm clipping threshold (0 = off)
    seed: NonNegativeInt = 0           # seeds initialisation and dropout
    device: Annotated[str, OneOf(DEVICES)] = "auto"   # auto (CUDA when present) | cpu | cuda
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


def resolve_train_config(cfg: TrainConfig, corpus: Any = None) -> TrainConfig:
    """``cfg`` with the defaults that depend on other options filled in: the optimizer's learning rate and, given
    the ``corpus`` (a Corpus or its folder) and the adaptive softmax without cutoffs, the cutoffs chosen from its
    counts (the corpus is read only then). What a run records in its config.json, and what a restart compares
    a finished model with."""
    if cfg.lr is None and cfg.optimizer in DEFAULT_LR:
        cfg = dataclasses.replace(cfg, lr=DEFAULT_LR[cfg.optimizer])
    if corpus is not None and cfg.softmax == "adaptive" and not cfg.cutoffs:
        corpus = load_corpus(corpus) if isinstance(corpus, (str, os.PathLike)) else corpus
        cfg = dataclasses.replace(cfg, cutoffs=adaptive_cutoffs(corpus))
    return cfg


def check_train_config(cfg: TrainConfig) -> None:
    """One-line ProbeErrors for impossible combinations of options (before anything is loaded or written); each
    field's own range and choices are checked where a config is made."""
    if cfg.amp and (cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())):
        raise ProbeError("amp (bfloat16 autocast) is for CUDA training; drop it, or set device cuda on a GPU")
    # the model's own checks; adaptive-softmax cutoffs are checked against the vocabulary once the corpus is read
    shape_only = dataclasses.replace(cfg, cutoffs=(1,)) if cfg.softmax == "adaptive" else cfg
    check_model_config(model_config_for(shape_only, vocab_size=2))


def model_config_for(cfg: TrainConfig, vocab_size: int) -> ModelConfig:
    """The ModelConfig a training config describes, for a vocabulary of ``vocab_size`` types."""
    return ModelConfig(**field_values(cfg, ModelShape), vocab_size=vocab_size, max_len=max(512, cfg.bptt))


def train_config_from_options(options: dict, *, resume_dir: str | os.PathLike | None = None) -> TrainConfig:
    """A TrainConfig from command-line options (None = not given): defaults, or the resumed run's config."""
    given = {k: v for k, v in options.items() if v is not None}
    layers = [(given, FLAGS)]
    if resume_dir is not None:
        saved = dict(read_run_config(resume_dir)["train"])
        saved.setdefault("state", "stream")   # written before the option existed: trained on one carried stream
        layers.insert(0, (saved, str(Path(resume_dir) / "config.json")))
    return config_from_layers(TrainConfig, {}, layers)


def adaptive_cutoffs(corpus) -> tuple[int, ...]:
    """Cutoffs for the adaptive softmax from the training split's counts (``models.choose_cutoffs``); the
    vocabulary must be frequency-sorted, as ``probe corpus`` builds it (ids after <unk>, <eos> by count)."""
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
        raise ProbeError(f"{out} has no readable config.json ({exc}); resume a folder written by `probe train`"
                         ) from exc
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

    The gradient norm and the clipping cover the parameters ``optimizer`` updates (all of the model's, as
    ``build_optimizer`` builds it).

    x, y: LongTensors [B, L]. A non-finite loss or gradient norm skips the update (the decision is the
    same on every DDP process: the loss is averaged across them before anyone calls backward). ``amp``:
    the forward pass and the loss under CUDA bfloat16 autocast (backward and the update outside it, as
    PyTorch's autocast documentation asks); without it the step enters no autocast of its own, so one the
    caller holds stays in force.
    """
    # entering even a disabled autocast costs a few microseconds per step, which a 1x64 step notices
    with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
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
    # the optimizer's parameters are the model's (build_optimizer), and a list kept there costs nothing to
    # read, where walking the model's modules costs ~1/3% of a short step; parameters without a gradient
    # are left out by clip_grad_norm_ itself
    params = [p for group in optimizer.param_groups for p in group["params"]]
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
# The training run: counters, the metrics log, restore, the trainer


@dataclass
class TrainCounters:
    """Everything that must survive an interruption besides weights and optimizer state (a checkpoint's
    ``train_state["progress"]``)."""

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


class MetricsLog:
    """A run's metrics.jsonl: one JSON row a line, flushed at once. Only the main process writes (the others
    hold no file); a resumed run first drops the lines written after its checkpoint (``keep_bytes``)."""

    def __init__(self, path: Path, *, enabled: bool, keep_bytes: int | None = None):
        self.file = None
        if not enabled:
            return
        if keep_bytes is None:
            path.write_text("")
        else:
            with open(path, "ab") as fh:
                fh.truncate(keep_bytes)
        self.file = open(path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        if self.file is not None:
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()

    def tell(self) -> int:
        """Bytes written so far (what a checkpoint records)."""
        return self.file.tell() if self.file is not None else 0

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def restore(data: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, rank: int, world: int,
            device: torch.device, path: Path) -> tuple[TrainCounters, Any]:
    """Load a last.pt (``data``, read from ``path``) into a fresh run: weights, optimizer state and random
    number generators -> (counters, this process' share of the carried state)."""
    try:
        model.load_state_dict(data["state_dict"])
        ts = data["train_state"]
        optimizer.load_state_dict(ts["optimizer"])
        counters = TrainCounters(**ts["progress"])
        state = shard_state(ts["hidden"], rank, world, device)
        rngs = ts["rng"]
        torch.set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
        if device.type == "cuda" and ts.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ts["cuda_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ProbeError(f"{path} cannot be resumed ({first}); it is damaged or from another probe version: "
                         "train into a new --out") from exc
    return counters, state


class TrainBatches:
    """One process' training batches, step by step: its rows of each sentence batch (state sentence) or the
    BPTT segments of its share of the carried streams (state stream)."""

    def __init__(self, cfg: TrainConfig, ids: np.ndarray, *, eos: int, rank: int, world: int):
        shard = cfg.batch_size // world
        self.rows, self.bptt = slice(rank * shard, (rank + 1) * shard), cfg.bptt
        self.sentences, self.plan = None, (None, None)    # plan: (epoch, its sentence batches)
        if cfg.state == "sentence":
            self.sentences = SentenceBatches(ids, batch_size=cfg.batch_size, seed=cfg.seed, eos=eos)
            self.steps = len(self.sentences)
        else:
            self.streams = batchify(ids, cfg.batch_size)[self.rows]
            self.starts = segment_starts(self.streams.shape[1], cfg.bptt)
            self.steps = len(self.starts)

    def __len__(self) -> int:
        """Steps per epoch."""
        return self.steps

    def get(self, epoch: int, segment: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets [B, L] of step ``segment`` of ``epoch`` (sentence rows: targets -1 where padded)."""
        if self.sentences is None:
            return get_batch(self.streams, self.starts[segment], self.bptt, device)
        if self.plan[0] != epoch:
            self.plan = (epoch, self.sentences.plan(epoch))
        return self.sentences.rows(self.plan[1][segment][self.rows], device)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class Trainer:
    """One training run: the model, its optimizer and carried state, the counters, the schedule (validations,
    checkpoints, lr decay, stopping) and the outputs (metrics.jsonl, model.pt, last.pt).

    ``fit()`` trains to the end and returns why it stopped; ``summary()`` is then summary.json's content. A
    ``resume_data`` (a last.pt, read and checked) continues that run exactly where it was saved.
    """

    def __init__(self, cfg: TrainConfig, mcfg: ModelConfig, corpus: Any, out: Path, *, device: torch.device,
                 dist: Dist, resume_data: dict | None = None, on_eval: Callable | None = None,
                 overwrite: bool = False, progress: bool = True):
        from tqdm.auto import tqdm

        self.cfg, self.mcfg, self.corpus, self.out, self.device = cfg, mcfg, corpus, out, device
        self.rank, self.world, self.on_eval = dist.rank, dist.world, on_eval
        self.is_main = self.rank == 0
        self.model, self.optimizer = self._build()
        self.counters, self.state = TrainCounters(lr=cfg.lr), None
        if resume_data is not None:
            self.counters, self.state = restore(resume_data, self.model, self.optimizer, rank=self.rank,
                                                world=self.world, device=device, path=out / "last.pt")
        set_lr(self.optimizer, self.counters.lr)
        self.ddp = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.batches = TrainBatches(cfg, corpus.splits["train"], eos=corpus.vocab.eos_id, rank=self.rank,
                                    world=self.world)
        self.eval_batch = cfg.eval_batch_size if cfg.state == "stream" else max(cfg.eval_batch_size, cfg.batch_size)
        steps = len(self.batches)
        # validations inside an epoch (the one at its end is separate): evals_per_epoch - 1 evenly spaced segments
        self.inner_evals = set() if cfg.eval_every else \
            {round(k * steps / cfg.evals_per_epoch) for k in range(1, cfg.evals_per_epoch)} - {0, steps}
        self.metrics = self._start_outputs(resume_data is not None, overwrite)
        self.train_config = config_to_dict(cfg)
        self.saved_step, self.stop_reason = -1, "epochs"
        total = min(cfg.epochs * steps, cfg.max_steps) if cfg.max_steps else cfg.epochs * steps
        self.bar = tqdm(total=total, initial=min(self.counters.step, total), desc=f"train {cfg.arch}", unit="step",
                        disable=None if (progress and self.is_main) else True, dynamic_ncols=True)  # None: tty only
        self.window_start, self.window_tokens = time.perf_counter(), 0    # the stretch tokens_per_s measures

    def _build(self) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """The seeded model and its optimizer: the same initial weights on every process, and on more than one a
        different dropout stream each."""
        torch.manual_seed(self.cfg.seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(self.cfg.seed)
        model = build_model(self.mcfg).to(self.device)
        if self.world > 1:
            torch.manual_seed(self.cfg.seed + self.rank)
        return model, build_optimizer(self.cfg, model)

    def _start_outputs(self, resumed: bool, overwrite: bool) -> MetricsLog:
        """The output folder (emptied with ``overwrite``), its config.json and the metrics log (main process)."""
        metrics_path = self.out / "metrics.jsonl"
        if self.is_main:
            if not resumed:
                if overwrite and self.out.exists():
                    shutil.rmtree(self.out)
                self.out.mkdir(parents=True, exist_ok=True)
            run_info = {"train": config_to_dict(self.cfg), "model": config_to_dict(self.mcfg),
                        "corpus": str(self.corpus.path.resolve()), "items": getattr(self.on_eval, "source", None),
                        "world_size": self.world, "parameters": count_parameters(self.model), "probe": __version__,
                        "torch": torch.__version__}
            metrics = MetricsLog(metrics_path, enabled=True,
                                 keep_bytes=self.counters.metrics_bytes if resumed else None)
            save_config(run_info, self.out)
            return metrics
        return MetricsLog(metrics_path, enabled=False)

    def epochs_done(self) -> float:
        """Epochs done, as a fraction (1.0 = the end of the first epoch)."""
        return round(self.counters.epoch + self.counters.segment / len(self.batches), 4)

    def converged(self) -> bool:
        """Validation perplexity has not improved (by min_delta) in ``stop_after`` evaluations in a row, nor,
        with stop_on ppl+agreement, held-out agreement (by agreement_delta)."""
        cfg, c = self.cfg, self.counters
        if not cfg.stop_after or c.stale < cfg.stop_after:
            return False
        return cfg.stop_on == "ppl" or c.agreement_stale >= cfg.stop_after

    def fit(self) -> str:
        """Train until the epochs, max_steps or convergence end the run; validate and save its final state;
        return why it stopped (epochs | max_steps | converged)."""
        self.model.train()
        try:
            while self.counters.epoch < self.cfg.epochs and not self.converged():
                if not self.epoch():
                    break
            if self.converged():
                self.stop_reason = "converged"
            self.counters.train_seconds += time.perf_counter() - self.window_start
            self.window_start = time.perf_counter()
            if self.counters.eval_step != self.counters.step:
                self.validate(scheduled=False)   # final numbers; the lr schedule is left as a resumed run finds it
            if self.saved_step != self.counters.step:
                self.save()
        finally:
            self.bar.close()
            self.metrics.close()
        return self.stop_reason

    def epoch(self) -> bool:
        """Step to the end of the epoch, validating and saving on schedule; False when the run stops inside it
        (max_steps or convergence)."""
        cfg, c = self.cfg, self.counters
        while c.segment < len(self.batches) and not self.converged():
            if cfg.max_steps and c.step >= cfg.max_steps:
                self.stop_reason = "max_steps"
                return False
            self.step()
            eval_due = (cfg.eval_every and c.step % cfg.eval_every == 0) or c.segment in self.inner_evals
            if eval_due:
                self.validate_between_steps()
            checkpoint_due = (cfg.checkpoint_every and c.step % cfg.checkpoint_every == 0) or \
                (not cfg.checkpoint_every and eval_due)
            if checkpoint_due and c.streak == 0:   # during a non-finite streak, keep the last good one
                self.save()
        if c.segment < len(self.batches):
            return False
        c.epoch += 1
        c.segment = 0
        self.state = None
        if not cfg.eval_every:
            self.validate_between_steps()
            if c.streak == 0:
                self.save()
        return True

    def step(self) -> StepResult:
        """One update on the next batch (skipped when its loss or gradient is not finite), counted and logged."""
        cfg, c = self.cfg, self.counters
        x, y = self.batches.get(c.epoch, c.segment, self.device)
        res = train_step(self.ddp, self.optimizer, x, y, self.state, clip=cfg.clip, world_size=self.world,
                         amp=cfg.amp and self.device.type == "cuda")
        self.state = res.state if cfg.state == "stream" else None
        c.step += 1
        c.segment += 1
        n_tokens = (y.numel() if cfg.state == "stream" else int((y >= 0).sum())) * self.world
        c.tokens += n_tokens
        self.window_tokens += n_tokens
        self.bar.update(1)
        if res.finite:
            c.streak = 0
        else:
            self._skipped(res)
        if c.step % cfg.log_every == 0 and res.finite:
            self._log_train(res)
        return res

    def _skipped(self, res: StepResult) -> None:
        """Count a skipped step; stop the run (a ProbeError) after ``max_nonfinite`` of them in a row."""
        c = self.counters
        c.nonfinite += 1
        c.streak += 1
        self.metrics.write({"kind": "skip", "step": c.step, "epoch": self.epochs_done(),
                            "loss": res.loss if math.isfinite(res.loss) else str(res.loss),
                            "grad_norm": res.grad_norm if math.isfinite(res.grad_norm) else str(res.grad_norm),
                            "nonfinite": c.nonfinite})
        if c.streak >= self.cfg.max_nonfinite:
            self.metrics.write({"kind": "stop", "step": c.step, "reason": "nonfinite", "streak": c.streak})
            kept = (f"{self.out / 'last.pt'} keeps the last good state" if (self.out / "last.pt").exists()
                    else "no checkpoint had been saved yet")
            raise ProbeError(f"training stopped at step {c.step}: {c.streak} consecutive steps had a non-finite "
                             f"loss or gradient ({c.nonfinite} in all); {kept}; lower --lr or set --clip")

    def _log_train(self, res: StepResult) -> None:
        """A metrics.jsonl training line (and the bar's numbers); tokens_per_s over the steps since the last."""
        c = self.counters
        now = time.perf_counter()
        tps = self.window_tokens / max(now - self.window_start, 1e-9)
        c.train_seconds += now - self.window_start
        self.window_start, self.window_tokens = now, 0
        self.metrics.write({"kind": "train", "step": c.step, "epoch": self.epochs_done(), "loss": res.loss,
                            "grad_norm": res.grad_norm, "clipped": res.clipped, "lr": c.lr, "tokens_per_s": tps,
                            "nonfinite": c.nonfinite})
        self.bar.set_postfix(loss=f"{res.loss:.3f}", ppl=f"{math.exp(min(res.loss, 50)):.1f}", tok_s=f"{tps:,.0f}",
                             refresh=False)

    def validate_between_steps(self) -> None:
        """A scheduled validation, its time kept out of train_seconds."""
        self.counters.train_seconds += time.perf_counter() - self.window_start
        self.validate(scheduled=True)
        self.window_start = time.perf_counter()

    def validate(self, scheduled: bool) -> None:
        """Validation perplexity (and the callback's values) as a metrics.jsonl row; model.pt when it is the best
        so far. ``scheduled``: it counts for the lr schedule and for stopping (the final one does not)."""
        cfg, c = self.cfg, self.counters
        valid_loss, ppl = evaluate_perplexity(self.model, self.corpus.splits["valid"], bptt=cfg.bptt,
                                              batch_size=self.eval_batch, device=self.device, state=cfg.state,
                                              eos=self.corpus.vocab.eos_id)
        c.last_ppl, c.eval_step = ppl, c.step
        row = {"kind": "eval", "step": c.step, "epoch": self.epochs_done(), "valid_loss": valid_loss,
               "valid_ppl": ppl, "lr": c.lr}
        if scheduled:
            self._schedule(ppl)
        row["best"] = best = ppl < c.best_ppl
        if best:
            c.best_ppl = ppl
            if self.is_main:
                save_checkpoint(self.out / "model.pt", model=self.model, model_config=self.mcfg,
                                vocab=self.corpus.vocab, train_config=self.train_config,
                                train_state={"step": c.step, "epoch": self.epochs_done(), "valid_ppl": ppl,
                                             "tokens": c.tokens})
        if self.on_eval is not None:
            # every process computes it (DDP processes must agree on when to stop); rank 0 records it
            row.update(self.on_eval(self.model, self.corpus.vocab, self.device))
        self._watch_agreement(row.get("agreement"), best=best, scheduled=scheduled)
        self.metrics.write(row)

    def _schedule(self, ppl: float) -> None:
        """The lr schedule and early stopping's count. An improvement must beat the best of the schedule by
        min_delta (relative), so that a long crawl of tiny gains still ends: they add up until one counts."""
        cfg, c = self.cfg, self.counters
        if ppl < c.plateau_best * (1 - cfg.min_delta):
            c.plateau_best, c.bad_evals, c.stale = ppl, 0, 0
            return
        c.stale += 1
        c.bad_evals += 1
        if c.bad_evals > cfg.patience:
            c.lr *= cfg.lr_decay
            c.bad_evals = 0
            set_lr(self.optimizer, c.lr)

    def _watch_agreement(self, agreement: float | None, *, best: bool, scheduled: bool) -> None:
        """Held-out agreement of the best checkpoint, and stopping's count of validations without a rise."""
        c = self.counters
        if agreement is None or not math.isfinite(agreement):
            return
        if best:
            c.agreement_at_best = agreement
        if scheduled:
            if agreement > c.agreement_best + self.cfg.agreement_delta:
                c.agreement_best, c.agreement_stale = agreement, 0
            else:
                c.agreement_stale += 1

    def save(self) -> None:
        """last.pt, what a resumed run continues from (every process takes part: the carried state and the random
        number generators are gathered from all)."""
        c = self.counters
        self.saved_step = c.step
        hidden = gather_state(self.state, self.world)     # None for a model that carries no state (the transformer)
        rngs = rng_states(self.world)
        if self.is_main:
            c.metrics_bytes = self.metrics.tell()
            train_state = {"progress": dataclasses.asdict(c), "optimizer": self.optimizer.state_dict(),
                           "hidden": hidden, "world_batch": self.cfg.batch_size, "rng": rngs,
                           "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None}
            save_checkpoint(self.out / "last.pt", model=self.model, model_config=self.mcfg, vocab=self.corpus.vocab,
                            train_config=self.train_config, train_state=train_state)

    def summary(self) -> dict:
        """summary.json: steps, tokens, perplexities (against the corpus' entropy floor where it has one), why
        training stopped and its status; the main process adds the best checkpoint's test perplexity."""
        cfg, c = self.cfg, self.counters
        summary = {"out": str(self.out), "rank": self.rank, "arch": cfg.arch, "steps": c.step,
                   "epochs": self.epochs_done(), "tokens": c.tokens, "best_valid_ppl": c.best_ppl,
                   "last_valid_ppl": c.last_ppl, "nonfinite_steps": c.nonfinite, "train_seconds": c.train_seconds,
                   "tokens_per_s": c.tokens / c.train_seconds if c.train_seconds > 0 else None,
                   "parameters": count_parameters(self.model), "stopped": self.stop_reason, "world_size": self.world,
                   "converged": self.stop_reason == "converged", "stop_reason": _stop_text(self.stop_reason, cfg),
                   "stop_on": cfg.stop_on}
        if math.isfinite(c.agreement_at_best):
            summary["agreement_at_best"] = c.agreement_at_best    # held-out agreement of the scored checkpoint
            summary["agreement_best"] = c.agreement_best
        floor = self.corpus.stats.get("entropy_floor") or {}
        if isinstance(floor.get("valid"), dict):
            # the best possible model's perplexity on the same sentences (synthetic corpora: probe.grammar)
            summary["floor_valid_ppl"] = floor["valid"]["ppl"]
            summary["valid_ppl_ratio"] = c.best_ppl / floor["valid"]["ppl"]
        summary["status"] = training_status(summary)
        test = self.corpus.splits.get("test")
        if self.is_main and test is not None and len(test) >= 2 and (self.out / "model.pt").exists():
            best = load_checkpoint(self.out, device=self.device).model
            summary["test_ppl"] = evaluate_perplexity(best, test, bptt=cfg.bptt, batch_size=self.eval_batch,
                                                      device=self.device, state=cfg.state,
                                                      eos=self.corpus.vocab.eos_id)[1]
            if isinstance(floor.get("test"), dict):
                summary["floor_test_ppl"] = floor["test"]["ppl"]
                summary["test_ppl_ratio"] = summary["test_ppl"] / floor["test"]["ppl"]
        return summary


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


def check_corpus_for(cfg: TrainConfig, corpus: Any, on_eval: Callable | None) -> None:
    """One-line ProbeErrors for a corpus ``cfg`` cannot train on (splits missing or too small for a batch)."""
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


def read_resumable(out: Path, cfg: TrainConfig, vocab: Vocab, mcfg: ModelConfig) -> dict:
    """The last.pt of the run in ``out``, checked against the options and corpus of its continuation."""
    if not (out / "last.pt").is_file():
        raise ProbeError(f"nothing to resume: {out}/last.pt does not exist; start the run without --resume")
    data = read_checkpoint(out / "last.pt")
    _check_resume(data, cfg, vocab, mcfg, out / "last.pt")
    return data


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
    check_train_config(cfg)
    device = torch.device(resolve_device(cfg.device))
    corpus = load_corpus(corpus_dir)
    check_corpus_for(cfg, corpus, on_eval)
    cfg = resolve_train_config(cfg, corpus)
    mcfg = model_config_for(cfg, len(corpus.vocab))
    check_model_config(mcfg)
    out = Path(out)
    resume_data = read_resumable(out, cfg, corpus.vocab, mcfg) if resume else None
    if not resume:
        check_output_dir(out, overwrite)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.batch_size % world:
        raise ProbeError(f"--batch-size {cfg.batch_size} must be divisible by the {world} DDP processes")
    dist = init_distributed(device)
    if dist.local_rank and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    try:
        trainer = Trainer(cfg, mcfg, corpus, out, device=device, dist=dist, resume_data=resume_data,
                          on_eval=on_eval, overwrite=overwrite, progress=progress)
        trainer.fit()
        summary = trainer.summary()
        if trainer.is_main:
            write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return summary
    finally:
        if dist.initialised_here:
            torch.distributed.destroy_process_group()
