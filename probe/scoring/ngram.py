"""Baselines behind the Scorer interface: an interpolated Kneser-Ney n-gram LM and a unigram LM.

The n-gram is the reference for pure sequential recency: an order-n model sees only the n-1 words
before the verb, so when the head lies further back it can only follow the nearest nouns. The unigram
always picks the more frequent verb form (the majority baseline).

Both are trained on a corpus folder's token ids (``probe corpus``), with counting vectorised in numpy,
and saved as small folders: ``baseline.json`` (kind, order, discounts), ``vocab.json`` and
``counts.npz`` (no pickle), which ``probe evaluate --model DIR`` accepts like a checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from probe.core.config import PositiveInt
from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir, save_config, write_bytes_atomic, write_text_atomic
from probe.data.corpus import Vocab, load_corpus


FORMAT = "probe-baseline-1"
KINDS = ("ngram", "unigram")
# Used when a count-of-counts needed by the modified-KN estimate is zero (tiny or synthetic corpora).
DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)


@dataclass(frozen=True)
class BaselineConfig:
    """Options of ``probe baseline``."""

    corpus: str = ""            # corpus folder written by `probe corpus`
    kind: str = "ngram"         # ngram (interpolated modified Kneser-Ney) | unigram (add-one)
    order: PositiveInt = 3      # n-gram order (ignored by the unigram)
    split: str = "train"        # corpus split to count


def kn_discounts(counts: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from the count-of-counts of ``counts`` (Chen & Goodman).

    A discount that cannot be estimated (a zero count-of-count) or falls outside (0, r) takes its default.
    """
    n = np.bincount(np.minimum(counts[counts > 0], 5), minlength=6).astype(np.float64)
    out = np.array(DEFAULT_DISCOUNTS)
    if n[1] > 0 and n[2] > 0:
        y = n[1] / (n[1] + 2 * n[2])
        for r in (1, 2, 3):
            if n[r] > 0:
                d = r - (r + 1) * y * n[r + 1] / n[r]
                if 0 < d < r:
                    out[r - 1] = d
    return out


def _find(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each query in sorted ``keys`` [M], or -1 (queries < 0 are never found)."""
    if not len(keys):
        return np.full(query.shape, -1, dtype=np.int64)
    idx = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where((keys[idx] == query) & (query >= 0), idx, -1)


class NgramLM:
    """Interpolated modified Kneser-Ney LM of order N over a Vocab, implementing the Scorer interface.

    ``<eos>`` separates sentences: an n-gram's context may hold ``<eos>`` only as its first token, so no
    context spans a sentence boundary, and n-grams whose context starts with ``<eos>`` keep their raw
    counts (nothing can precede a sentence start; as KenLM does for ``<s>``). Other lower-order counts
    are continuation counts. Level 0 is the uniform distribution, so no word has probability 0.
    """

    def __init__(self, vocab: Vocab, order: int, keys: Sequence[np.ndarray], counts: Sequence[np.ndarray],
                 discounts: np.ndarray, info: dict | None = None):
        if order < 1 or len(keys) != order or len(counts) != order:
            raise ProbeError(f"n-gram tables do not match order {order}; retrain the baseline")
        self.vocab, self.order = vocab, int(order)
        self.keys = [np.asarray(k, dtype=np.int64) for k in keys]       # level k: sorted prefix_id * V + word
        self.counts = [np.asarray(c, dtype=np.int64) for c in counts]   # adjusted counts per k-gram id
        self.discounts = np.asarray(discounts, dtype=np.float64).reshape(order, 3)
        self.info = dict(info or {"model": f"{order}-gram", "arch": f"{order}-gram", "seed": 0, "path": ""})
        V = len(vocab)
        # per-context totals and gamma (the mass given to the lower order), per level
        self.total, self.gamma = [], []
        for k in range(order):
            n_ctx = 1 if k == 0 else (V if k == 1 else len(self.keys[k - 1]))
            ctx = np.zeros(len(self.counts[k]), dtype=np.int64) if k == 0 else self.keys[k] // V
            c = self.counts[k]
            d = self.discounts[k][np.minimum(np.maximum(c, 1), 3) - 1] * (c > 0)
            tot = np.bincount(ctx, weights=c, minlength=n_ctx)
            mass = np.bincount(ctx, weights=d, minlength=n_ctx)
            self.total.append(tot)
            self.gamma.append(np.divide(mass, tot, out=np.zeros_like(tot), where=tot > 0))

    @classmethod
    def train(cls, ids: np.ndarray, vocab: Vocab, order: int = 3, info: dict | None = None) -> "NgramLM":
        """Count a token stream [L] (``<eos>`` after each sentence) into KN tables, vectorised."""
        if order < 1:
            raise ProbeError(f"n-gram order must be at least 1, got {order}")
        V, eos = len(vocab), vocab.eos_id
        s = np.concatenate([[eos], np.asarray(ids, dtype=np.int64)])  # the stream starts a sentence
        L = len(s)
        is_eos = s == eos
        raw = [np.bincount(s, minlength=V).astype(np.int64)]
        keys = [np.arange(V, dtype=np.int64)]
        first_tok = [np.arange(V, dtype=np.int64)]
        cont: list[np.ndarray] = []
        prev_ids = s.copy()                  # id of the (k-1)-gram starting at each position
        for k in range(2, order + 1):
            m = L - k + 1
            if m <= 0:
                keys.append(np.zeros(0, np.int64)); raw.append(np.zeros(0, np.int64))
                first_tok.append(np.zeros(0, np.int64)); cont.append(np.zeros(len(keys[-2]), np.int64))
                prev_ids = np.zeros(0, np.int64)
                continue
            prev = prev_ids[:m]
            # the new context position i+k-2 may hold <eos> only when it is the context's first token
            ok = prev >= 0
            if k >= 3:
                ok &= ~is_eos[k - 2:k - 2 + m]
            key = prev * V + s[k - 1:k - 1 + m]
            pos = np.flatnonzero(ok)
            uniq, first, inv = np.unique(key[pos], return_index=True, return_inverse=True)
            ids_k = np.full(m, -1, dtype=np.int64)
            ids_k[pos] = inv
            rep = pos[first]                 # one position per k-gram
            # continuation count of a (k-1)-gram = distinct words seen before it = distinct k-grams ending in it
            suffix = prev_ids[rep + 1]
            cont.append(np.bincount(suffix, minlength=len(keys[-1])).astype(np.int64))
            keys.append(uniq)
            raw.append(np.bincount(inv, minlength=len(uniq)).astype(np.int64))
            first_tok.append(s[rep])
            prev_ids = ids_k
        counts = []
        for k in range(order):
            if k == order - 1:
                counts.append(raw[k])
            elif k == 0:
                counts.append(cont[0])
            else:
                counts.append(np.where(first_tok[k] == eos, raw[k], cont[k]))
        discounts = np.stack([kn_discounts(c) for c in counts])
        return cls(vocab, order, keys, counts, discounts, info)

    def _windows(self, ctx: np.ndarray) -> np.ndarray:
        """Contexts [Q, N-1] (left-padded with -1): blank out everything before the last <eos>."""
        if ctx.shape[1] == 0:
            return ctx
        is_eos = ctx == self.vocab.eos_id
        cols = np.arange(ctx.shape[1])
        last = np.where(is_eos.any(axis=1), (is_eos * cols).max(axis=1), -1)
        return np.where(cols[None, :] < last[:, None], -1, ctx)

    def probs(self, ctx: np.ndarray, words: np.ndarray) -> np.ndarray:
        """P(word | context): contexts int [Q, N-1] (left-padded with -1, <eos> at most first), words [Q] -> [Q]."""
        V, N = len(self.vocab), self.order
        ctx = self._windows(np.asarray(ctx, dtype=np.int64).reshape(len(words), N - 1))
        w = np.asarray(words, dtype=np.int64)
        p = np.full(len(w), 1.0 / V)
        for k in range(N):                   # level k uses the last k context tokens
            if k == 0:
                cid = np.zeros(len(w), dtype=np.int64)
                gid = w
            else:
                toks = ctx[:, N - 1 - k:]
                cid = toks[:, 0].copy()
                for j in range(1, k):
                    cid = _find(self.keys[j], np.where(cid >= 0, cid * V + toks[:, j], -1))
                safe = np.maximum(cid, 0)
                gid = _find(self.keys[k], np.where(cid >= 0, safe * V + w, -1))
                cid = np.where(toks.min(axis=1) >= 0, cid, -1)
            safe = np.maximum(cid, 0)
            tot = np.where(cid >= 0, self.total[k][safe], 0.0)
            c = np.where(gid >= 0, self.counts[k][np.maximum(gid, 0)], 0)
            d = self.discounts[k][np.minimum(np.maximum(c, 1), 3) - 1] * (c > 0)
            seen = tot > 0
            p = np.where(seen, (np.maximum(c - d, 0) + self.gamma[k][safe] * tot * p) / np.where(seen, tot, 1), p)
        return p

    def _contexts_of(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        from probe.scoring.base import pad_right

        k = self.order - 1
        ids, lengths = pad_right([list(p)[-k:] if k else [] for p in prefixes], pad=-1)
        # right-padded -> left-padded: roll each row by its missing length
        out = np.full((len(prefixes), k), -1, dtype=np.int64)
        if k and len(prefixes):
            cols = np.arange(k)[None, :] - (k - lengths)[:, None]
            valid = cols >= 0
            out[valid] = ids[np.nonzero(valid)[0], cols[valid]]
        return out

    def next_word_logprobs(self, prefixes: Sequence[Sequence[int]], candidates: np.ndarray,
                           prefix_of: np.ndarray | None = None) -> np.ndarray:
        """See evaluate.Scorer: candidates [N, K] -> log-probs [N, K]."""
        cand = np.asarray(candidates, dtype=np.int64)
        ctx = self._contexts_of(prefixes)
        rows = np.arange(len(cand)) if prefix_of is None else np.asarray(prefix_of, dtype=np.int64)
        n, kk = cand.shape
        p = self.probs(np.repeat(ctx[rows], kk, axis=0), cand.reshape(-1))
        return np.log(p).reshape(n, kk)

    def sequence_logprobs(self, sequences: Sequence[Sequence[int]], starts: np.ndarray) -> np.ndarray:
        """See evaluate.Scorer: sum of log P(seq[t] | seq[:t]) for t >= start -> [N]."""
        from numpy.lib.stride_tricks import sliding_window_view

        from probe.scoring.base import pad_right

        ids, lengths = pad_right(sequences, pad=-1)
        n, T = ids.shape
        if T < 2:
            return np.zeros(n)
        k = self.order - 1
        padded = np.concatenate([np.full((n, k), -1, dtype=np.int64), ids], axis=1)
        win = sliding_window_view(padded, k, axis=1)[:, 1:T] if k else np.zeros((n, T - 1, 0), np.int64)
        t = np.arange(1, T)[None, :]
        keep = (t >= np.asarray(starts)[:, None]) & (t < lengths[:, None])
        rows, cols = np.nonzero(keep)
        lp = np.log(self.probs(win[rows, cols], ids[rows, cols + 1]))
        return np.bincount(rows, weights=lp, minlength=n)

    def save(self, out: str | os.PathLike, *, config: BaselineConfig | None = None, overwrite: bool = False) -> Path:
        """Write the folder (baseline.json, vocab.json, counts.npz, config.json) atomically."""
        with atomic_dir(out, overwrite) as tmp:
            arrays = {f"keys{k + 1}": self.keys[k] for k in range(1, self.order)}
            arrays |= {f"counts{k + 1}": self.counts[k] for k in range(self.order)}
            _save_npz(tmp / "counts.npz", arrays)
            self.vocab.save(tmp / "vocab.json")
            write_text_atomic(tmp / "baseline.json", json.dumps({
                "format": FORMAT, "kind": "ngram", "order": self.order, "discounts": self.discounts.tolist(),
                "arch": self.info.get("arch"), "source": self.info.get("path", ""),
                "n_ngrams": [int(len(c)) for c in self.counts]}, indent=1) + "\n")
            if config is not None:
                save_config(config, tmp)
        return Path(out)


class UnigramLM:
    """Add-one unigram LM: every context gives the same distribution, so it always picks the more frequent form."""

    def __init__(self, vocab: Vocab, counts: np.ndarray, info: dict | None = None):
        self.vocab = vocab
        self.counts = np.asarray(counts, dtype=np.int64)
        self.logp = np.log((self.counts + 1.0) / (self.counts.sum() + len(vocab)))
        self.info = dict(info or {"model": "unigram", "arch": "unigram", "seed": 0, "path": ""})

    @classmethod
    def train(cls, ids: np.ndarray, vocab: Vocab, info: dict | None = None) -> "UnigramLM":
        return cls(vocab, np.bincount(np.asarray(ids, dtype=np.int64), minlength=len(vocab)), info)

    def next_word_logprobs(self, prefixes: Sequence[Sequence[int]], candidates: np.ndarray,
                           prefix_of: np.ndarray | None = None) -> np.ndarray:
        """See evaluate.Scorer: candidates [N, K] -> log-probs [N, K] (context ignored)."""
        return self.logp[np.asarray(candidates, dtype=np.int64)]

    def sequence_logprobs(self, sequences: Sequence[Sequence[int]], starts: np.ndarray) -> np.ndarray:
        """See evaluate.Scorer: [N]."""
        from probe.scoring.base import pad_right

        ids, lengths = pad_right(sequences, pad=0)
        t = np.arange(ids.shape[1])[None, :]
        keep = (t >= np.asarray(starts)[:, None]) & (t < lengths[:, None])
        return (self.logp[ids] * keep).sum(axis=1)

    def save(self, out: str | os.PathLike, *, config: BaselineConfig | None = None, overwrite: bool = False) -> Path:
        """Write the folder (baseline.json, vocab.json, counts.npz, config.json) atomically."""
        with atomic_dir(out, overwrite) as tmp:
            _save_npz(tmp / "counts.npz", {"counts1": self.counts})
            self.vocab.save(tmp / "vocab.json")
            write_text_atomic(tmp / "baseline.json", json.dumps({
                "format": FORMAT, "kind": "unigram", "order": 1, "arch": "unigram",
                "source": self.info.get("path", "")}, indent=1) + "\n")
            if config is not None:
                save_config(config, tmp)
        return Path(out)


def _save_npz(path: Path, arrays: dict) -> None:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def _corpus_ids(corpus: str | os.PathLike, split: str) -> tuple[np.ndarray, Vocab]:
    c = load_corpus(corpus)
    if split not in c.splits:
        raise ProbeError(f"corpus {corpus} has no {split!r} split; it has {', '.join(c.splits) or 'none'}")
    return np.asarray(c.splits[split]), c.vocab


def train_baseline(cfg: BaselineConfig, corpus_ids: tuple[np.ndarray, Vocab] | None = None) -> NgramLM | UnigramLM:
    """Train one baseline from ``cfg`` (in memory); ``corpus_ids``: (ids, vocab) of ``cfg.corpus``'s split
    when the caller has read them already."""
    if cfg.kind not in KINDS:
        raise ProbeError(f"unknown baseline kind {cfg.kind!r}; choose from {', '.join(KINDS)}")
    if cfg.kind == "ngram" and cfg.order < 1:
        raise ProbeError(f"--order must be at least 1, got {cfg.order}")
    ids, vocab = corpus_ids or _corpus_ids(cfg.corpus, cfg.split)
    if cfg.kind == "unigram":
        return UnigramLM.train(ids, vocab, info={"model": "unigram", "arch": "unigram", "seed": 0,
                                                 "path": f"baseline:unigram:{cfg.corpus}"})
    name = f"{cfg.order}-gram"
    return NgramLM.train(ids, vocab, cfg.order, info={"model": name, "arch": name, "seed": 0,
                                                       "path": f"baseline:{name}:{cfg.corpus}"})


def train_baselines(corpus: str | os.PathLike, *, order: int = 3, split: str = "train") -> list:
    """The n-gram of ``order`` and the unigram on one corpus (what ``evaluate --baseline-corpus`` scores),
    from one read of the corpus."""
    data = _corpus_ids(corpus, split)
    return [train_baseline(BaselineConfig(corpus=str(corpus), kind=kind, order=order, split=split), data)
            for kind in ("ngram", "unigram")]


def build_baseline(cfg: BaselineConfig, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Train a baseline and write its folder (what ``probe baseline`` does)."""
    check_output_dir(out, overwrite)
    model = train_baseline(cfg)
    return model.save(out, config=cfg, overwrite=overwrite)


def load_baseline(path: str | os.PathLike) -> NgramLM | UnigramLM:
    """Load a baseline folder; anything else is a ProbeError."""
    p = Path(path)
    try:
        meta = json.loads((p / "baseline.json").read_text(encoding="utf-8"))
        vocab = Vocab.load(p / "vocab.json")
        with np.load(p / "counts.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ProbeError(f"{p} is not a readable baseline folder ({exc}); rebuild it with `probe baseline`") from exc
    if meta.get("format") != FORMAT or meta.get("kind") not in KINDS:
        raise ProbeError(f"{p}/baseline.json is not a {FORMAT} file; rebuild it with `probe baseline`")
    info = {"model": p.name, "arch": meta.get("arch") or meta["kind"], "seed": 0, "path": str(p)}
    try:
        if meta["kind"] == "unigram":
            return UnigramLM(vocab, arrays["counts1"], info)
        order = int(meta["order"])
        keys = [np.arange(len(vocab), dtype=np.int64)] + [arrays[f"keys{k}"] for k in range(2, order + 1)]
        counts = [arrays[f"counts{k}"] for k in range(1, order + 1)]
        return NgramLM(vocab, order, keys, counts, np.asarray(meta["discounts"]), info)
    except KeyError as exc:
        raise ProbeError(f"{p}/counts.npz lacks the table {exc}; rebuild it with `probe baseline`") from exc
