"""A toy agreement language for tests that train models: 'the N (near the N) V <eos>' as token ids."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from probe.data.corpus import Vocab, write_ids


def agreement_stream(n_sentences: int, seed: int, *, words: Sequence[str], verbs: Sequence[str] = ("run", "sleep"),
                     modifier_rate: float = 0.4) -> np.ndarray:
    """Ids (vocabulary ``<unk> <eos> *words``) of sentences whose verb agrees with the first noun; a share
    ``modifier_rate`` of subjects carry 'near the N' with a noun of random number -> uint16 [tokens]."""
    rng = np.random.default_rng(seed)
    vocab = Vocab(("<unk>", "<eos>", *words))
    ids: list[int] = []
    for _ in range(n_sentences):
        plural = rng.random() < 0.5
        sentence = ["the", ["dog", "cat"][rng.integers(2)] + ("s" if plural else "")]
        if rng.random() < modifier_rate:
            sentence += ["near", "the", ["dog", "cat"][rng.integers(2)] + ("s" if rng.random() < 0.5 else "")]
        # a single verb draws nothing, so each caller's stream stays what it was
        verb = verbs[rng.integers(len(verbs))] if len(verbs) > 1 else verbs[0]
        ids += vocab.encode(sentence + [verb if plural else verb + "s"]) + [vocab.eos_id]
    return np.asarray(ids, dtype=np.uint16)


def write_toy_corpus(folder: Path, splits: Mapping[str, tuple[int, int]], *, words: Sequence[str],
                     **stream_options) -> Path:
    """A corpus folder as ``probe corpus`` writes one (vocab.json, SPLIT.npy): {split: (sentences, seed)}."""
    folder.mkdir(parents=True, exist_ok=True)
    Vocab(("<unk>", "<eos>", *words)).save(folder / "vocab.json")
    for split, (n, seed) in splits.items():
        write_ids(folder / f"{split}.npy", agreement_stream(n, seed, words=words, **stream_options))
    return folder
