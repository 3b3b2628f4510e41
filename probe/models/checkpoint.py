"""Checkpoints: state_dict + the config that rebuilds the model, written atomically, read with clear errors."""
from __future__ import annotations

import io
import os
from pathlib import Path
import pickle
from typing import NamedTuple
import zipfile

import torch
import torch.nn as nn

from probe.core.config import config_from_dict, config_to_dict
from probe.core.errors import ProbeError
from probe.core.io import write_bytes_atomic
from probe.data.corpus import Vocab
from probe.models.config import ModelConfig
from probe.models.lm import LanguageModel, build_model, unwrap_model


CHECKPOINT_FORMAT = "probe-checkpoint-1"


class Checkpoint(NamedTuple):
    model: LanguageModel           # in eval mode, on the requested device
    model_config: ModelConfig
    vocab: Vocab
    train_config: dict
    train_state: dict


def save_checkpoint(path: str | os.PathLike, *, model: nn.Module, model_config: ModelConfig, vocab: Vocab,
                    train_config: dict, train_state: dict) -> None:
    """Write {"format", "state_dict", "model_config", "vocab", "train_config", "train_state"} atomically.

    Only tensors and plain data are stored (loadable with ``weights_only=True``), never a pickled model.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()},
        "model_config": config_to_dict(model_config),
        "vocab": list(vocab.itos),
        "train_config": dict(train_config),
        "train_state": dict(train_state),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_bytes_atomic(path, buf.getvalue())     # the one atomic writer: readers never see half a checkpoint


def read_checkpoint(path_or_dir: str | os.PathLike) -> dict:
    """The raw checkpoint dict (tensors on CPU), checked for format; ProbeError for anything else."""
    p = Path(path_or_dir)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise ProbeError(f"checkpoint {p} does not exist; train a model with `probe train --out DIR`")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError, zipfile.BadZipFile,
            KeyError, AttributeError, TypeError, ImportError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ProbeError(f"{p} is not a readable probe checkpoint ({first}); retrain or point at another file") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ProbeError(f"{p} is not a probe checkpoint (format {CHECKPOINT_FORMAT!r} expected); "
                         "point at a model.pt written by `probe train`")
    missing = [k for k in ("state_dict", "model_config", "vocab", "train_config", "train_state") if k not in data]
    if missing:
        raise ProbeError(f"checkpoint {p} lacks {', '.join(missing)}; it is damaged, retrain the model")
    data["path"] = str(p)
    return data


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a readable probe checkpoint (truncated, damaged, missing), or None when it is one."""
    try:
        read_checkpoint(path)
    except ProbeError as exc:
        return str(exc)
    return None


def load_checkpoint(path_or_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file (or ``DIR/model.pt``) into a model in eval mode on ``device``.

    Uses ``torch.load(weights_only=True)``; a file that is not a probe checkpoint, or whose vocabulary
    and weights disagree, is a ProbeError.
    """
    data = read_checkpoint(path_or_dir)
    p = data["path"]
    cfg = config_from_dict(ModelConfig, data["model_config"], where=f"{p}: model_config")
    try:
        vocab = Vocab(tuple(data["vocab"]))
    except (ValueError, TypeError) as exc:
        raise ProbeError(f"checkpoint {p} has a damaged vocabulary ({exc}); retrain the model") from exc
    if len(vocab) != cfg.vocab_size:
        raise ProbeError(f"checkpoint {p}: vocabulary of {len(vocab)} types but a model for {cfg.vocab_size}; "
                         "the file is inconsistent, retrain the model")
    model = build_model(cfg)
    state_dict = data["state_dict"]
    emb = state_dict.get("encoder.embedding.weight") if isinstance(state_dict, dict) else None
    if emb is None or tuple(emb.shape) != (cfg.vocab_size, cfg.emb):
        raise ProbeError(f"checkpoint {p}: embedding weights do not match a vocabulary of {len(vocab)} types; "
                         "the file is inconsistent, retrain the model")
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise ProbeError(f"checkpoint {p}: weights do not fit its model config ({first}); retrain the model") from exc
    model.to(device).eval()
    return Checkpoint(model, cfg, vocab, dict(data["train_config"]), dict(data["train_state"]))
