"""Training corpora: vocabulary, token-id files on disk, and loading them back (memory-mapped)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .config import ProbeError, write_text_atomic

UNK, EOS = "<unk>", "<eos>"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Vocab:
    """Token <-> id mapping. Id 0 is ``<unk>``, id 1 is ``<eos>`` (appended after every sentence)."""

    itos: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.itos[:2] != (UNK, EOS):
            raise ValueError(f"a vocabulary must start with {UNK!r}, {EOS!r}")
        object.__setattr__(self, "stoi", {w: i for i, w in enumerate(self.itos)})
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in vocabulary")

    @property
    def unk_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Map tokens to ids; unknown tokens become ``<unk>`` (id 0)."""
        get = self.stoi.get
        return [get(t, 0) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def save(self, path: str | os.PathLike) -> None:
        """Write ``vocab.json``: {"itos": [...]} with index = id."""
        write_text_atomic(path, json.dumps({"itos": list(self.itos)}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(tuple(data["itos"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProbeError(f"cannot read vocabulary {path}: {exc}; rebuild the corpus with `probe corpus`") from exc


@dataclass(frozen=True)
class Corpus:
    """A corpus folder loaded back: vocabulary, 1-D token-id arrays per split (memory-mapped), stats."""

    path: Path
    vocab: Vocab
    splits: dict  # split name -> np.ndarray of shape (n_tokens,), integer ids, <eos> after each sentence
    stats: dict


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id (uint16 up to 65,536 types, else uint32)."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def write_ids(path: str | os.PathLike, ids: np.ndarray) -> None:
    """Write a 1-D id array as ``.npy`` (self-describing dtype, memory-mappable), atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(ids))
    os.replace(tmp, path)


def load_corpus(path: str | os.PathLike) -> Corpus:
    """Load a folder written by ``probe corpus``: ``vocab.json``, ``{train,valid,test}.npy``, ``stats.json``.

    The id arrays are memory-mapped, so loading is instant whatever the corpus size.
    """
    p = Path(path)
    if not p.is_dir():
        raise ProbeError(f"corpus folder {p} does not exist; build one with `probe corpus --out {p}`")
    if not (p / "vocab.json").is_file() or not (p / "train.npy").is_file():
        raise ProbeError(f"{p} is not a probe corpus (no vocab.json / train.npy); build one with `probe corpus`")
    vocab = Vocab.load(p / "vocab.json")
    splits = {}
    for name in SPLITS:
        f = p / f"{name}.npy"
        if f.is_file():
            try:
                splits[name] = np.load(f, mmap_mode="r")
            except ValueError as exc:
                raise ProbeError(f"corpus file {f} is corrupted ({exc}); rebuild the corpus") from exc
            if splits[name].size and int(splits[name].max()) >= len(vocab):
                raise ProbeError(f"corpus file {f} has ids beyond the vocabulary ({len(vocab)} types); rebuild the corpus")
    stats_f = p / "stats.json"
    stats = json.loads(stats_f.read_text()) if stats_f.is_file() else {}
    return Corpus(path=p, vocab=vocab, splits=splits, stats=stats)
