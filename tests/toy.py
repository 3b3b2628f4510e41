"""A toy agreement language for tests that train models: 'the N (near the N) V <eos>' as token ids."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from probe.corpus import Vocab


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
