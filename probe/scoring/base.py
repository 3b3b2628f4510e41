"""The scoring interface every model kind implements, and the batching and prefix-trie machinery behind it."""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from probe.core.errors import ProbeError
from probe.data.corpus import Vocab


METHODS = ("prefix", "sentence")


# Bound on batch x time x vocabulary logits held at once (float32: 4 bytes each), so that the sentence
# method on a large vocabulary does not exhaust memory; batches shrink to fit, results do not change.
MAX_BATCH_LOGITS = 2**26


# Bound on the recurrent states (float32) held at once when prefixes are scored as a trie (64 MB).
MAX_TRIE_FLOATS = 2**24


@runtime_checkable
class Scorer(Protocol):
    """What every model kind offers the evaluator (neural LMs, n-grams, anything else).

    Sequences are lists of token ids in the scorer's ``vocab`` and start with ``<eos>`` (the
    beginning-of-sentence context). ``info`` holds ``model``, ``arch``, ``seed`` and ``path``.
    """

    vocab: Vocab
    info: dict

    def next_word_logprobs(self, prefixes: Sequence[Sequence[int]], candidates: np.ndarray,
                           prefix_of: np.ndarray | None = None) -> np.ndarray:
        """log P(candidate | prefix): candidates [N, K] int ids -> float64 [N, K].

        Row i of ``candidates`` continues ``prefixes[prefix_of[i]]`` (``prefix_of=None``: ``prefixes[i]``).
        """

    def sequence_logprobs(self, sequences: Sequence[Sequence[int]], starts: np.ndarray) -> np.ndarray:
        """sum_{t >= starts[i]} log P(seq_i[t] | seq_i[:t]) -> float64 [N]; ``starts`` >= 1, int [N]."""


@runtime_checkable
class WordScorer(Protocol):
    """The word-level hook: a model with its own (subword) tokenizer and no closed word vocabulary.

    ``score_items`` uses ``word_logprobs`` instead of encoding through ``vocab`` whenever a scorer has
    it: nothing is out of vocabulary, and a word spanning several tokens scores the sum of their
    log-probs. ``scores_first_word`` is False when the model has no beginning-of-text token, so a
    text's first word is never scored; pairs that differ there are excluded (reason ``first_word``).
    ``info`` may hold ``conventions`` (tokenization, start token), recorded in ``config.json``.
    """

    info: dict
    scores_first_word: bool

    def word_logprobs(self, contexts: Sequence[str], continuations: Sequence[str], *,
                      final_eos: bool = False) -> np.ndarray:
        """log P(continuation | start + context), words space-separated: N strings each -> float64 [N].

        ``final_eos``: also score the model's end-of-text token after the continuation.
        """


def score_continuations(scorer: Scorer, contexts: list[list[str]], continuations: list[list[str]]) -> np.ndarray:
    """minicons-style: log P(continuation | <eos> context) per pair, words mapped through ``<unk>``.

    contexts, continuations: N lists of words -> float64 [N] (sums over the continuation's tokens).
    """
    if len(contexts) != len(continuations):
        raise ProbeError(f"{len(contexts)} contexts but {len(continuations)} continuations; give one per context")
    if isinstance(scorer, WordScorer):
        return scorer.word_logprobs([" ".join(c) for c in contexts], [" ".join(w) for w in continuations])
    eos = scorer.vocab.eos_id
    seqs = [[eos, *scorer.vocab.encode(c), *scorer.vocab.encode(w)] for c, w in zip(contexts, continuations)]
    starts = np.array([1 + len(c) for c in contexts], dtype=np.int64)
    return scorer.sequence_logprobs(seqs, starts)


def dedupe(seqs: Sequence[Sequence[int]]) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Unique sequences in first-seen order and, per input, the index of its unique sequence [N]."""
    index: dict[tuple[int, ...], int] = {}
    inverse = np.fromiter((index.setdefault(tuple(s), len(index)) for s in seqs), dtype=np.int64, count=len(seqs))
    return list(index), inverse


def start_next_word(prefixes: Sequence[Sequence[int]], candidates: Any, prefix_of: Any
                    ) -> tuple[Sequence[Sequence[int]], np.ndarray, np.ndarray, np.ndarray]:
    """The common start of ``Scorer.next_word_logprobs``: -> (prefixes, deduplicated when ``prefix_of`` is
    None and cut to those ``prefix_of`` names otherwise, so no model runs a prefix nobody asked about;
    candidates int64 [N, K]; prefix_of int64 [N] into the returned prefixes; the output, NaN float64 [N, K])."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if prefix_of is None:
        prefixes, prefix_of = dedupe(prefixes)
    else:
        used, prefix_of = np.unique(np.asarray(prefix_of, dtype=np.int64), return_inverse=True)
        if len(used) < len(prefixes):
            prefixes = [prefixes[i] for i in used]
    return prefixes, candidates, np.asarray(prefix_of, dtype=np.int64).reshape(-1), np.full(candidates.shape, np.nan)


def pick_logprobs(logits: Any, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """log_softmax(logits [B, V]) at row ``rows[i]`` [N], columns ``columns[i]`` [N, K] -> float64 [N, K].

    The gather happens where the logits are: only N x K numbers leave the device, not B x V.
    """
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    r = torch.as_tensor(rows, device=logp.device)
    c = torch.as_tensor(columns, device=logp.device)
    return logp[r[:, None], c].double().cpu().numpy()


def pad_right(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences: -> (ids int64 [N, T_max], lengths int64 [N]), without a loop over tokens."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    width = int(lengths.max()) if len(seqs) else 0
    out = np.full((len(seqs), width), pad, dtype=np.int64)
    if len(seqs):
        flat = np.fromiter((t for s in seqs for t in s), dtype=np.int64, count=int(lengths.sum()))
        out[np.arange(width)[None, :] < lengths[:, None]] = flat
    return out, lengths


@dataclass(frozen=True)
class PrefixTrie:
    """Prefixes merged on their shared heads: each node is one token after one distinct prefix head.

    ``tokens[d]`` [W_d] are the token ids of the nodes at depth d (0 = the first token) and ``parents[d]``
    [W_d] their parents' indices in depth d-1 (``parents[0]`` is all -1); within a depth, nodes are in
    lexicographic order, so ``parents[d]`` never decreases. Prefix i passes node ``path[i, d]`` at depth d
    (-1 past its end) and ends at node ``end_node[i]`` of depth ``end_depth[i]``. Running a recurrent model
    depth by depth over the nodes computes every shared head once, instead of once per prefix.
    """

    tokens: list[np.ndarray]
    parents: list[np.ndarray]
    path: np.ndarray             # [N, T]
    end_depth: np.ndarray        # [N]
    end_node: np.ndarray         # [N]

    @property
    def n_nodes(self) -> int:
        """Tokens the model reads: sum over depths of the nodes there."""
        return sum(len(t) for t in self.tokens)


def build_prefix_trie(ids: np.ndarray, lengths: np.ndarray) -> PrefixTrie:
    """The trie of N non-empty id sequences, right-padded: ids int [N, T], lengths int [N] (as ``pad_right``
    returns them; the padding value does not matter). Array operations only, no loop over tokens."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.min() < 1:
        raise ValueError("an empty prefix has no next-word distribution; every prefix needs its <eos> at least")
    width = ids.shape[1] if len(lengths) else 0
    valid = np.arange(width)[None, :] < lengths[:, None]
    ids = np.where(valid, ids, -1)               # -1 never equals a token, so padding never merges nodes
    order = np.lexsort(ids.T[::-1]) if width else np.arange(len(lengths))
    srt, valid = ids[order], valid[order]
    # a sorted row opens a new node at depth d when its first d+1 tokens differ from the row above;
    # rows sharing a head are contiguous after a lexicographic sort, so a running count numbers the nodes
    differs = np.logical_or.accumulate(srt[1:] != srt[:-1], axis=1)
    opens = np.concatenate([np.ones((min(1, len(srt)), width), dtype=bool), differs]) & valid
    node = np.cumsum(opens, axis=0) - 1                                          # [N, T]
    tokens, parents = [], []
    for d in range(width):                      # one step per depth, each over all nodes there
        rows = np.flatnonzero(opens[:, d])
        tokens.append(srt[rows, d])
        parents.append(node[rows, d - 1] if d else np.full(len(rows), -1, dtype=np.int64))
    path = np.empty_like(node)
    path[order] = np.where(valid, node, -1)
    end_depth = lengths - 1
    return PrefixTrie(tokens, parents, path, end_depth, path[np.arange(len(lengths)), end_depth])


def target_logprobs(logits: Any, ids: np.ndarray) -> np.ndarray:
    """Token log-probs from one batch's logits: logits [B, W-1, V] at positions 0..W-2 (position t-1 predicts
    ids[:, t]), ids int [B, W] right-padded -> float64 [B, W]: column t = log P(ids[b, t] | ids[b, :t]),
    column 0 = 0. Columns past a row's length hold padding's scores: callers mask them."""
    import torch

    x = torch.as_tensor(ids, device=logits.device)
    tok = logits.gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    out = np.zeros(ids.shape)
    out[:, 1:] = tok.double().cpu().numpy()
    return out


def batched_token_logprobs(ids: np.ndarray, lengths: np.ndarray, batch_size: int, n_logits: int,
                           logits_of: Callable[[np.ndarray, np.ndarray], Any]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(rows [b], token log-probs float64 [b, W] as ``target_logprobs``) per length-sorted batch of the padded
    sequences ids [N, T], lengths [N]; ``logits_of(ids [b, W-1], rows)`` -> logits [b, W-1, V]."""
    for batch in length_batches(lengths, batch_size, n_logits):
        width = int(lengths[batch].max())
        if width < 2:
            yield batch, np.zeros((len(batch), width))
        else:
            yield batch, target_logprobs(logits_of(ids[batch, : width - 1], batch), ids[batch, :width])


def batched_next_word(padded: tuple[np.ndarray, np.ndarray], candidates: np.ndarray, prefix_of: np.ndarray,
                      out: np.ndarray, batch_size: int, n_logits: int,
                      last_logits: Callable[[np.ndarray, np.ndarray], Any]) -> np.ndarray:
    """Fill ``out`` [N, K] with log P(candidates | prefix), one pass per length-sorted batch of the padded
    prefixes (ids [P, T], lengths [P]); ``last_logits(ids [b, W], lengths [b])`` -> logits [b, V] after
    each prefix. Candidate rows are visited grouped by the batch holding their prefix (sorted once)."""
    ids, lengths = padded
    batches = list(length_batches(lengths, batch_size, n_logits))
    rank = np.empty(len(lengths), dtype=np.int64)
    rank[np.concatenate(batches)] = np.arange(len(lengths))
    row_rank = rank[prefix_of]
    row_order = np.argsort(row_rank, kind="stable")
    sorted_rank = row_rank[row_order]
    first = 0
    for batch in batches:
        b_len = lengths[batch]
        last = last_logits(ids[batch, : int(b_len.max())], b_len)
        lo, hi = np.searchsorted(sorted_rank, [first, first + len(batch)])
        rows = row_order[lo:hi]
        out[rows] = pick_logprobs(last, row_rank[rows] - first, candidates[rows])
        first += len(batch)
    return out


def sum_token_logprobs(tok: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """tok [N, W] (column t = log P(token t)), starts [N], lengths [N] -> float64 [N]: the sum over
    starts <= t < lengths."""
    t = np.arange(tok.shape[1])[None, :]
    return np.where((t >= starts[:, None]) & (t < lengths[:, None]), tok, 0.0).sum(axis=1)


def length_batches(lengths: np.ndarray, batch_size: int, vocab_size: int) -> Iterable[np.ndarray]:
    """Indices in batches of similar length (sorted, so little padding), capped by MAX_BATCH_LOGITS."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        end = min(start + batch_size, len(order))
        # the longest sequence of a batch is its last one (sorted); shrink until the logits fit
        while end - start > 1 and (end - start) * int(lengths[order[end - 1]]) * vocab_size > MAX_BATCH_LOGITS:
            end = start + max(1, (end - start) // 2)
        yield order[start:end]
        start = end


class TokenScorer:
    """``sequence_logprobs`` and ``token_logprobs`` from a scorer's ``_token_batches(sequences)``, which
    yields (rows [b], token log-probs float64 [b, W]: column t = log P(token t | tokens before), column 0
    and columns past a row's end unused)."""

    def _token_batches(self, sequences: Sequence[Sequence[int]]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """What each scorer defines: its batches of token log-probs."""
        raise NotImplementedError

    def sequence_logprobs(self, sequences: Sequence[Sequence[int]], starts: np.ndarray) -> np.ndarray:
        """See :class:`Scorer`: sum_{t >= starts[i]} log P(seq_i[t] | seq_i[:t]) -> float64 [N]."""
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        out = np.zeros(len(sequences))
        if len(sequences):
            for rows, tok in self._token_batches(sequences):
                out[rows] = sum_token_logprobs(tok, starts[rows], lengths[rows])
        return out

    def token_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """log P(seq_i[t] | seq_i[:t]) for t = 1 .. len-1 of each sequence -> list of float64 [len - 1]."""
        out: list = [np.zeros(0)] * len(sequences)
        if len(sequences):
            for rows, tok in self._token_batches(sequences):
                for r, row in zip(rows, tok):
                    out[r] = row[1: len(sequences[r])]
        return out


def model_name(path: str | os.PathLike) -> str:
    """A readable name for a model path: the training folder's name (``runs/lstm-s0/model.pt`` -> lstm-s0)."""
    return model_path_parts(str(path))[-1]


def model_path_parts(path: str) -> tuple[str, ...]:
    """The path parts that name a model: a training folder's, or a checkpoint file's stem."""
    p = Path(path).resolve()
    if p.suffix == ".pt":
        p = p.parent if p.name in ("model.pt", "last.pt") else p.with_suffix("")
    return p.parts
