"""Scoring: one interface for every model kind, prefix and sentence methods, batching, OOV accounting.

Two methods compare the two members of a minimal pair:

``prefix`` (Linzen et al. 2016, Gulordava et al. 2018; the default)
    log P(verb_good | <eos> prefix) vs log P(verb_bad | <eos> prefix), both read from one forward pass
    over the prefix. Only the verb is compared: what follows it plays no part.
``sentence`` (BLiMP, Marvin & Linzen 2018)
    the total log-probability of each whole sentence, log P(w_1 .. w_n <eos> | <eos>). The final
    ``<eos>`` is included by default (``final_eos=True``) so that a sentence's probability is that of a
    complete sentence, as the corpora end every sentence with ``<eos>``; ``final_eos=False`` compares
    prefix probabilities instead. The choice is recorded in ``config.json``.

The leading ``<eos>`` is the beginning-of-sentence context (sentences in the corpora are separated by
``<eos>``). All log-probabilities are natural logs.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir, save_config, write_text_atomic
from probe.core.device import resolve_device
from probe.data.corpus import EOS, Vocab
from probe.core.environment import environment
from probe.data.items import load_data, prepare_items

METHODS = ("prefix", "sentence")
# Bound on batch x time x vocabulary logits held at once (float32: 4 bytes each), so that the sentence
# method on a large vocabulary does not exhaust memory; batches shrink to fit, results do not change.
MAX_BATCH_LOGITS = 2**26
# Bound on the recurrent states (float32) held at once when prefixes are scored as a trie (64 MB).
MAX_TRIE_FLOATS = 2**24


@dataclass(frozen=True)
class EvalConfig:
    """Options of ``probe evaluate``."""

    models: tuple[str, ...] = ()             # checkpoints (file or training folder) and baseline folders
    hf_models: tuple[str, ...] = ()          # Hugging Face causal LMs: local folders or hub names (probe.hf)
    data: tuple[str, ...] = ()               # item datasets (folder written by `probe build`, or a .jsonl)
    method: str = "prefix"                   # prefix | sentence (see the module docstring)
    unk: bool = False                        # score OOV items through <unk> (marked has_unk) instead of excluding
    final_eos: bool = True                   # sentence method: include log P(<eos> | sentence)
    batch_size: int = 256                    # sequences per forward pass (results do not depend on it)
    device: str = "auto"                     # auto (cuda if available) | cpu | cuda | cuda:N
    split: str | None = None                 # only items of this split (None: all items)
    constructions: tuple[str, ...] = ()      # only these constructions (empty: all)
    baseline_corpus: str | None = None       # also train and score an n-gram and a unigram on this corpus
    ngram_order: int = 3                     # order of that n-gram baseline
    ci_level: float = 0.95                   # confidence level of every interval (items x seeds, metrics.py)


# ---------------------------------------------------------------------------------------------------
# The scoring interface


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


class LMScorer(TokenScorer):
    """A neural LM (``LanguageModel``: ids [B, T] -> ``.logits`` [B, T, V], causal) behind the Scorer API.

    Sequences are right-padded: causal models never look right, so padding cannot change a score.
    """

    def __init__(self, model: Any, vocab: Vocab, *, batch_size: int = 256, device: str | None = None,
                 info: dict | None = None, start_state: Any = None):
        import torch

        self.model, self.vocab, self.batch_size = model, vocab, int(batch_size)
        # the recurrent state every sequence starts from (one row, nesting as the model's state); None:
        # zeros, probe's convention (see ``conventions`` in config.json and bench/warm_state.py)
        self.start_state = start_state
        params = list(model.parameters()) if hasattr(model, "parameters") else []
        # the model's own device wins: moving a model that training still holds would break training
        self.device = params[0].device if params else torch.device(resolve_device(device or "cpu"))
        self.info = dict(info or {"model": type(model).__name__, "arch": "lm", "seed": 0, "path": ""})

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *, batch_size: int = 256, device: str = "auto",
                        name: str | None = None) -> "LMScorer":
        """Load ``path`` (a ``model.pt`` file or a training folder) with ``models.load_checkpoint``."""
        from probe.models import load_checkpoint

        ckpt = load_checkpoint(path, device=resolve_device(device))
        seed = ckpt.train_config.get("seed", 0) if isinstance(ckpt.train_config, dict) else 0
        arch = getattr(ckpt.model_config, "arch", "lm")
        info = {"model": name or model_name(path), "arch": str(arch), "seed": int(seed or 0), "path": str(path)}
        return cls(ckpt.model, ckpt.vocab, batch_size=batch_size, info=info)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode and no autograd for the duration; the model's own mode is restored after."""
        import torch

        was_training = getattr(self.model, "training", False)
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    def _forward(self, ids: np.ndarray):
        import torch

        if self.start_state is not None:
            raise ProbeError("a start state needs a recurrent model (scored as a trie); this model carries none")
        x = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        return self.model(x).logits.float()

    def next_word_logprobs(self, prefixes: Sequence[Sequence[int]], candidates: np.ndarray,
                           prefix_of: np.ndarray | None = None) -> np.ndarray:
        """See :class:`Scorer`. Identical prefixes are run once. Recurrent models (``carries_state``) run
        the prefixes as a trie, so a head shared by many prefixes ("<eos> the writer of the ...") is
        computed once too; other models run each unique prefix as one sequence."""
        import torch

        prefixes, candidates, prefix_of, out = start_next_word(prefixes, candidates, prefix_of)
        if not len(candidates):
            return out
        if getattr(self.model, "carries_state", False):
            return self._trie_next_word_logprobs(prefixes, candidates, prefix_of, out)
        def last_logits(x: np.ndarray, b_len: np.ndarray) -> Any:
            if hasattr(self.model, "logits_at"):  # only the prefix-final positions are needed
                return self.model.logits_at(torch.as_tensor(x, dtype=torch.long, device=self.device),
                                            torch.as_tensor(b_len - 1, device=self.device))
            logits = self._forward(x)
            return logits[torch.arange(len(x)), torch.as_tensor(b_len - 1, device=logits.device)]

        with self._inference():
            return batched_next_word(pad_right(prefixes), candidates, prefix_of, out, self.batch_size,
                                     len(self.vocab), last_logits)

    def _trie_chunks(self, seqs: Sequence[Sequence[int]]) -> Iterable[tuple[np.ndarray, PrefixTrie]]:
        """(sequence indices [n], their trie) over ``seqs`` sorted so that shared heads sit together. A trie
        holds as many sequences as MAX_TRIE_FLOATS of states allow (at least ``batch_size``): states cost
        H floats per node and layer, while wide steps keep the matmuls efficient."""
        ids, lengths = pad_right(seqs, pad=-1)
        order = np.lexsort(ids.T[::-1])                        # lexicographic: shared heads end up together
        cfg = self.model.encoder.config
        # per node: the old and new states of every layer (h and c) and one layer's gates (4 H)
        per_node = cfg.hidden * (2 * cfg.layers * (2 if cfg.arch == "lstm" else 1) + 4)
        size = max(self.batch_size, MAX_TRIE_FLOATS // per_node)
        for lo in range(0, len(order), size):
            chunk = order[lo: lo + size]
            yield chunk, build_prefix_trie(ids[chunk], lengths[chunk])

    def _input_table(self, seqs: Sequence[Sequence[int]]) -> Any:
        """The first layer's input projection of the vocabulary (a lookup instead of a matmul per token)
        when there are more tokens than words, else None."""
        return self.model.encoder.input_table() if sum(map(len, seqs)) > len(self.vocab) else None

    def _run_trie(self, trie: PrefixTrie, table: Any, keep: list[np.ndarray] | None = None) -> Iterable[tuple[int, Any]]:
        """Run the model over ``trie`` one depth at a time -> (depth d, top-layer outputs [W_d, H]).

        Each node starts from its parent's state. ``keep[d]`` (sorted node indices): only these nodes
        are run, and their outputs returned in that order; the parents of kept nodes must be kept.
        """
        import torch

        from probe.models import select_state

        dev, state = self.device, None
        for d, (tok, par) in enumerate(zip(trie.tokens, trie.parents)):
            if keep is not None:
                tok, par = tok[keep[d]], par[keep[d]]
                if d:
                    par = np.searchsorted(keep[d - 1], par)       # parents' places among the kept nodes
            if not len(tok):
                return
            if d:
                state = select_state(state, torch.as_tensor(par, device=dev))
            elif self.start_state is not None:
                state = select_state(self.start_state, torch.zeros(len(tok), dtype=torch.long, device=dev))
            hidden, state = self.model.encoder.step(torch.as_tensor(tok, device=dev), state, table)
            yield d, hidden

    def _head_batches(self, hidden: Any, nodes: np.ndarray) -> Iterable[tuple[int, Any]]:
        """(start, next-word logits [b, V]) after ``nodes`` (rows of ``hidden``), ``batch_size`` nodes at a time."""
        import torch

        for s in range(0, len(nodes), self.batch_size):
            yield s, self.model.head(hidden[torch.as_tensor(nodes[s: s + self.batch_size], device=self.device)])

    def _trie_next_word_logprobs(self, prefixes: Sequence[Sequence[int]], candidates: np.ndarray,
                                 prefix_of: np.ndarray, out: np.ndarray) -> np.ndarray:
        """next_word_logprobs for recurrent models: the prefixes run as tries (``_run_trie``); the softmax
        layer runs only at the nodes where prefixes end."""
        # candidate rows in prefix order, so a prefix's rows stay together
        row_order = np.argsort(prefix_of, kind="stable")
        with self._inference():
            table = self._input_table(prefixes)
            for chunk, trie in self._trie_chunks(prefixes):
                place = np.full(len(prefixes), -1, dtype=np.int64)
                place[chunk] = np.arange(len(chunk))
                rows = row_order[place[prefix_of[row_order]] >= 0]     # candidate rows of this trie
                local = place[prefix_of[rows]]                          # their prefix within the trie
                for d, hidden in self._run_trie(trie, table):
                    at_d = np.flatnonzero(trie.end_depth[local] == d)   # rows whose prefix ends here
                    if not len(at_d):
                        continue
                    nodes, which = np.unique(trie.end_node[local[at_d]], return_inverse=True)
                    by_node = np.argsort(which, kind="stable")
                    at_d, which = at_d[by_node], which[by_node]
                    for s, logits in self._head_batches(hidden, nodes):
                        i, j = np.searchsorted(which, [s, s + len(logits)])
                        r = rows[at_d[i:j]]
                        out[r] = pick_logprobs(logits, which[i:j] - s, candidates[r])
        return out

    def _trie_token_logprobs(self, sequences: Sequence[Sequence[int]]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(rows [n], token log-probs float64 [n, T] as ``target_logprobs``, 0 past each end) per trie, for
        recurrent models: a good and a bad sentence share the steps (and the softmax) before they differ.
        Each node's token is scored once from its parent's outputs; leaves are never run, since nothing is
        predicted after them."""
        with self._inference():
            table = self._input_table(sequences)
            for chunk, trie in self._trie_chunks(sequences):
                # nodes with children: the parents named by the next depth (sorted, as parents never decrease)
                inner = [np.unique(p) for p in trie.parents[1:]] + [np.zeros(0, dtype=np.int64)]
                logp_node = [np.zeros(len(t)) for t in trie.tokens]   # log P(node's token | its head)
                for d, hidden in self._run_trie(trie, table, keep=inner):
                    child_par, child_tok = trie.parents[d + 1], trie.tokens[d + 1]
                    for s, logits in self._head_batches(hidden, np.arange(len(inner[d]))):
                        # children of kept nodes s .. s+b: one slice, since parents never decrease
                        i = np.searchsorted(child_par, inner[d][s], side="left")
                        j = np.searchsorted(child_par, inner[d][s + len(logits) - 1], side="right")
                        slot = np.searchsorted(inner[d], child_par[i:j]) - s
                        logp_node[d + 1][i:j] = pick_logprobs(logits, slot, child_tok[i:j, None])[:, 0]
                tok = np.zeros(trie.path.shape)
                for t in range(1, tok.shape[1]):                  # each depth's token scores, along the paths
                    m = trie.path[:, t] >= 0
                    tok[m, t] = logp_node[t][trie.path[m, t]]
                yield chunk, tok

    def _token_batches(self, sequences: Sequence[Sequence[int]]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(rows, token log-probs [b, W]) over ``sequences``: a trie for recurrent models, else batches."""
        if getattr(self.model, "carries_state", False):
            yield from self._trie_token_logprobs(sequences)
            return
        ids, lengths = pad_right(sequences)
        with self._inference():
            yield from batched_token_logprobs(ids, lengths, self.batch_size, len(self.vocab),
                                              lambda x, rows: self._forward(x))


def warm_state(model: Any, ids: Sequence[int], *, device: Any = None) -> Any:
    """The recurrent state after reading ``ids`` (a 1-D token-id sequence, e.g. corpus text ending in
    ``<eos>``) from zeros: one row (state tensors [1, H]), for ``LMScorer(start_state=...)``."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(ids, dtype=np.int64)[None, :], device=device)
            return model(x).state
    finally:
        model.train(was_training)


def model_name(path: str | os.PathLike) -> str:
    """A readable name for a model path: the training folder's name (``runs/lstm-s0/model.pt`` -> lstm-s0)."""
    return _model_parts(str(path))[-1]


def load_scorer(path: str | os.PathLike, *, batch_size: int = 256, device: str = "auto",
                name: str | None = None) -> Scorer:
    """Open any model folder: a checkpoint (``model.pt``, file or folder) or a baseline (``baseline.json``)."""
    p = Path(path)
    if p.is_dir() and (p / "baseline.json").is_file():
        from probe.baselines import load_baseline

        scorer = load_baseline(p)
        scorer.info["model"] = name or model_name(p)
        return scorer
    if (p.is_dir() and (p / "model.pt").is_file()) or (p.is_file() and p.suffix == ".pt"):
        return LMScorer.from_checkpoint(p, batch_size=batch_size, device=device, name=name)
    check_model_path(p)
    raise ProbeError(f"{p} is not a model; give a checkpoint file or folder")


# ---------------------------------------------------------------------------------------------------
# Items -> scores



def _encode_column(values: pd.Series, vocab: Vocab, prepend_eos: bool) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Space-separated strings -> (unique id lists, index per row [N], any-OOV flag per unique [U])."""
    codes, uniques = pd.factorize(values.astype(str), sort=False)
    stoi = vocab.stoi
    head = [vocab.eos_id] if prepend_eos else []
    toks = [u.split() for u in uniques]
    ids = [head + [stoi.get(t, 0) for t in ts] for ts in toks]
    oov = np.fromiter((any(t not in stoi for t in ts) for ts in toks), dtype=bool, count=len(toks))
    return ids, codes.astype(np.int64), oov


def score_items(scorer: Scorer, items: pd.DataFrame, *, method: str = "prefix", unk: bool = False,
                final_eos: bool = True) -> pd.DataFrame:
    """Score prepared items (see :func:`prepare_items`) with one model -> per-item score rows.

    Returns the SCORE_FEATURES columns (records.py); excluded items keep a row with NaN scores,
    ``excluded=True`` and an ``exclude_reason``, so that every exclusion is counted.
    """
    if method not in METHODS:
        raise ProbeError(f"unknown scoring method {method!r}; choose from {', '.join(METHODS)}")
    vocab = scorer.vocab
    n = len(items)
    reason = np.array([""] * n, dtype=object)
    good_s, bad_s = items["verb_good"].astype(str), items["verb_bad"].astype(str)
    words = isinstance(scorer, WordScorer)
    if words:
        # subword models tokenize the words themselves: nothing is out of vocabulary, and a word of
        # several tokens (or several words) is scored as the sum of its tokens
        ctx = items["prefix"].astype(str) if method == "prefix" else pd.Series([""] * n, dtype=object)
        w_good, w_bad = (good_s, bad_s) if method == "prefix" else \
            (items["sentence_good"].astype(str), items["sentence_bad"].astype(str))
        oov = multi = np.zeros(n, dtype=bool)
        tie = (w_good.str.strip() == w_bad.str.strip()).to_numpy()
        if not scorer.scores_first_word:
            # no start token: a text's first word is context only, so a pair differing there is not comparable
            first_differs = (w_good.str.split().str[0] != w_bad.str.split().str[0]).to_numpy()
            reason[(ctx.str.strip() == "").to_numpy() & first_differs] = "first_word"
    elif method == "prefix":
        p_ids, p_of, p_oov = _encode_column(items["prefix"], vocab, prepend_eos=True)
        multi = (good_s.str.contains(r"\s") | bad_s.str.contains(r"\s")).to_numpy()
        g_id = good_s.map(lambda w: vocab.stoi.get(w, 0)).to_numpy(np.int64)
        b_id = bad_s.map(lambda w: vocab.stoi.get(w, 0)).to_numpy(np.int64)
        oov = p_oov[p_of] | ~good_s.isin(vocab.stoi).to_numpy() | ~bad_s.isin(vocab.stoi).to_numpy()
        tie = g_id == b_id
        reason[multi] = "multi_token"
    else:
        suffix = f" {EOS}" if final_eos else ""
        g_ids, g_of, g_oov = _encode_column(items["sentence_good"] + suffix, vocab, prepend_eos=True)
        b_ids, b_of, b_oov = _encode_column(items["sentence_bad"] + suffix, vocab, prepend_eos=True)
        oov = g_oov[g_of] | b_oov[b_of]
        tie = np.fromiter((g_ids[i] == b_ids[j] for i, j in zip(g_of, b_of)), dtype=bool, count=n)
        multi = np.zeros(n, dtype=bool)
    same_words = (good_s == bad_s).to_numpy() if method == "prefix" else \
        (items["sentence_good"].astype(str) == items["sentence_bad"].astype(str)).to_numpy()
    free = reason == ""
    if unk:
        # through <unk>: still scorable unless the two members become the same ids (a forced tie)
        reason[free & tie & ~same_words] = "unk_tie"
    else:
        reason[free & oov] = "oov"
    reason[(reason == "") & tie] = "tie"
    scored = reason == ""
    logp = np.full((n, 2), np.nan)
    if scored.any():
        if words:
            rows = np.flatnonzero(scored)
            c = ctx.to_numpy()[rows]
            vals = scorer.word_logprobs(np.concatenate([c, c]),
                                        np.concatenate([w_good.to_numpy()[rows], w_bad.to_numpy()[rows]]),
                                        final_eos=final_eos and method == "sentence")
            logp[rows, 0], logp[rows, 1] = vals[: len(rows)], vals[len(rows):]
        elif method == "prefix":
            rows = np.flatnonzero(scored)
            logp[rows] = scorer.next_word_logprobs(p_ids, np.stack([g_id[rows], b_id[rows]], axis=1), p_of[rows])
        else:
            seqs = g_ids + b_ids
            which = np.concatenate([g_of[scored], b_of[scored] + len(g_ids)])
            uniq_used, inv = np.unique(which, return_inverse=True)
            sub = [seqs[i] for i in uniq_used]
            vals = scorer.sequence_logprobs(sub, np.ones(len(sub), dtype=np.int64))[inv]
            k = int(scored.sum())
            logp[scored, 0], logp[scored, 1] = vals[:k], vals[k:]
    margin = logp[:, 0] - logp[:, 1]
    correct = pd.array(np.where(scored, margin > 0, False), dtype="boolean")
    correct[~scored] = pd.NA
    known = items["nearest_number"].isin(["sg", "pl"]) & items["head_number"].isin(["sg", "pl"])
    same_as_head = (items["nearest_number"] == items["head_number"]).to_numpy()
    seq = pd.array(np.where(same_as_head, correct.fillna(False), ~correct.fillna(False)), dtype="boolean")
    seq[~(scored & known.to_numpy())] = pd.NA
    info = scorer.info
    out = pd.DataFrame({
        "id": items["id"].astype(str).to_numpy(),
        "data": items["data"].to_numpy() if "data" in items.columns else "",
        "model": info.get("model", ""),
        "arch": info.get("arch", ""),
        "seed": int(info.get("seed", 0) or 0),
        "method": method,
        "construction": items["construction"].astype(str).to_numpy(),
        "condition": items["condition"].astype(str).to_numpy(),
        "n_attractors": items["n_attractors"].to_numpy(np.int64),
        "match": items["match"].to_numpy(),
        "n_mismatched": items["n_mismatched"].to_numpy(np.int64),
        "verb_type": items["verb_type"].astype(str).to_numpy(),
        "nonce": items["nonce"].astype(bool).to_numpy(),
        "head_number": items["head_number"].to_numpy(),
        "attractor_numbers": items["attractor_numbers"].to_numpy(),
        "nearest_number": items["nearest_number"].to_numpy(),
        "distance": items["distance"].fillna(-1).astype(np.int64).to_numpy(),
        "verb_good": good_s.to_numpy(),
        "verb_bad": bad_s.to_numpy(),
        "logp_good": logp[:, 0],
        "logp_bad": logp[:, 1],
        "margin": margin,
        "correct": correct,
        "choice_syntactic": correct.copy(),
        "choice_sequential": seq,
        "excluded": ~scored,
        "exclude_reason": reason.astype(str),
        "has_unk": scored & oov,
    })
    return out


# ---------------------------------------------------------------------------------------------------
# Learning curves during training


def agreement_accuracy(model: Any, vocab: Vocab, items: Any, *, batch_size: int = 256, device: str = "cpu") -> float:
    """Share of in-vocabulary items where log P(verb_good | <eos> prefix) > log P(verb_bad | <eos> prefix).

    ``model``: a LanguageModel (ids [B, T] -> logits [B, T, V]); its training mode is restored after.
    ``items``: a Dataset, DataFrame or list of item dicts. NaN when no item is in the vocabulary.
    Runs on the model's own device (``device`` is used only for a model without parameters).
    """
    df = items if isinstance(items, pd.DataFrame) and "match" in items.columns else prepare_items(items)
    scorer = LMScorer(model, vocab, batch_size=batch_size, device=device)
    scores = score_items(scorer, df, method="prefix")
    kept = scores.loc[~scores["excluded"], "correct"]
    return float(kept.astype(float).mean()) if len(kept) else float("nan")


# ---------------------------------------------------------------------------------------------------
# The evaluate stage


def check_config(cfg: EvalConfig) -> None:
    """Reject impossible options with one-line errors before anything is loaded or written."""
    if cfg.method not in METHODS:
        raise ProbeError(f"unknown --method {cfg.method!r}; choose from {', '.join(METHODS)}")
    if not cfg.models and not cfg.hf_models and not cfg.baseline_corpus:
        raise ProbeError("no models to evaluate; give --model DIR, --hf-model NAME_OR_PATH or --baseline-corpus DIR")
    if not cfg.data:
        raise ProbeError("no item data; give --data DIR (a folder written by `probe build`)")
    if cfg.batch_size <= 0:
        raise ProbeError(f"--batch-size must be positive, got {cfg.batch_size}")
    if cfg.ngram_order < 1:
        raise ProbeError(f"--ngram-order must be at least 1, got {cfg.ngram_order}")
    if not 0 < cfg.ci_level < 1:
        raise ProbeError(f"--ci-level must lie between 0 and 1, got {cfg.ci_level}")


def _model_parts(path: str) -> tuple[str, ...]:
    """The path parts that name a model: a training folder's, or a checkpoint file's stem."""
    p = Path(path).resolve()
    if p.suffix == ".pt":
        p = p.parent if p.name in ("model.pt", "last.pt") else p.with_suffix("")
    return p.parts


def unique_names(paths: Sequence[str]) -> list[str]:
    """Readable, unique model names: folder names, lengthened with parent folders where they collide."""
    parts = [_model_parts(p) for p in paths]
    for depth in range(1, 6):
        names = ["/".join(ps[-depth:]) for ps in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{n}#{i}" for i, n in enumerate(names)]


def check_model_path(path: str | os.PathLike) -> None:
    """Fail before any scoring if ``path`` is neither a checkpoint nor a baseline folder."""
    p = Path(path)
    ok = (p.is_dir() and ((p / "baseline.json").is_file() or (p / "model.pt").is_file())) or \
        (p.is_file() and p.suffix == ".pt")
    if not ok:
        raise ProbeError(f"{p} is not a model: no model.pt (train one with `probe train --out DIR`) "
                         "and no baseline.json (make one with `probe baseline --out DIR`)")


def evaluate(models: Sequence[str | os.PathLike] = (), data: Sequence[str | os.PathLike] = (),
             out: str | os.PathLike | None = None, *, method: str = "prefix", unk: bool = False,
             final_eos: bool = True, batch_size: int = 256, device: str = "auto", split: str | None = None,
             constructions: Sequence[str] = (), baseline_corpus: str | os.PathLike | None = None,
             ngram_order: int = 3, ci_level: float = 0.95,
             labels: Mapping[str, Mapping[str, Any]] | None = None, overwrite: bool = False,
             progress: bool = True, hf_models: Sequence[str | os.PathLike] = ()) -> pd.DataFrame:
    """Score every model on every dataset; write ``out`` (if given) and return the per-item scores.

    ``labels`` maps a model path (as given; for ``baseline_corpus`` baselines
    ``baseline:3-gram:CORPUS`` / ``baseline:unigram:CORPUS``) to extra columns for its rows, e.g.
    ``{"runs/lstm-r0.1-s0": {"attractor_rate": 0.1}}``; metrics group by such columns.
    ``hf_models``: Hugging Face causal LMs (local folders or hub names), scored through :mod:`probe.hf`.
    ``out`` gets: scores.jsonl, scores.parquet, summary.csv, summary_seeds.csv, summary.json,
    config.json (see :func:`write_results`). Nothing appears at ``out`` unless everything succeeded.
    """
    cfg = EvalConfig(models=tuple(map(str, models)), hf_models=tuple(map(str, hf_models)),
                     data=tuple(map(str, data)), method=method, unk=unk, final_eos=final_eos,
                     batch_size=batch_size, device=device, split=split, constructions=tuple(constructions),
                     baseline_corpus=str(baseline_corpus) if baseline_corpus else None,
                     ngram_order=ngram_order, ci_level=ci_level)
    check_config(cfg)
    if out is not None:
        check_output_dir(out, overwrite)
    for path in cfg.models:
        check_model_path(path)
    items = load_data(cfg.data, split=cfg.split, constructions=cfg.constructions)
    labels = {str(k): dict(v) for k, v in (labels or {}).items()}
    label_cols = sorted({k for v in labels.values() for k in v})
    scorers: list[tuple[str, Any]] = []
    names = unique_names(cfg.models + cfg.hf_models)
    for path, name in zip(cfg.models, names):
        scorers.append((path, lambda p=path, nm=name: load_scorer(p, batch_size=cfg.batch_size, device=cfg.device,
                                                                   name=nm)))
    if cfg.hf_models:
        from probe.hf import HFScorer

        for path, name in zip(cfg.hf_models, names[len(cfg.models):]):
            scorers.append((path, lambda p=path, nm=name: HFScorer.from_pretrained(
                p, device=cfg.device, batch_size=cfg.batch_size, name=nm)))
    if cfg.baseline_corpus:
        from probe.baselines import train_baselines

        for scorer in train_baselines(cfg.baseline_corpus, order=cfg.ngram_order):
            scorers.append((scorer.info["path"], lambda s=scorer: s))
    frames, infos = [], []
    from tqdm import tqdm

    for path, make in tqdm(scorers, desc="evaluate", unit="model", disable=not progress or None):
        scorer = make()
        frame = score_items(scorer, items, method=cfg.method, unk=cfg.unk, final_eos=cfg.final_eos)
        for col in label_cols:
            frame[col] = labels.get(path, {}).get(col)
        frames.append(frame)
        vocab_size = len(scorer.vocab) if scorer.vocab is not None else scorer.info.get("vocab_size")
        infos.append({k: scorer.info.get(k) for k in ("model", "arch", "seed", "path")} | {"vocab_size": vocab_size} |
                     {k: scorer.info[k] for k in ("dtype", "conventions") if k in scorer.info})
    scores = pd.concat(frames, ignore_index=True)
    if out is not None:
        write_results(scores, out, config=cfg, models=infos, labels=labels, overwrite=overwrite)
    return scores


def _records(df: pd.DataFrame) -> list[dict]:
    """DataFrame -> JSON-safe records (NaN/NA -> null)."""
    return json.loads(df.to_json(orient="records"))


def write_results(scores: pd.DataFrame, out: str | os.PathLike, *, config: EvalConfig, models: list[dict],
                  labels: Mapping[str, Mapping[str, Any]] | None = None, overwrite: bool = False) -> Path:
    """Write a results folder atomically.

    scores.jsonl / scores.parquet   one row per item x model (records.SCORE_FEATURES + label columns)
    summary.csv                     long format, one row per model x cell x metric (metrics.summarize)
    summary_seeds.csv               the same cells, mean and CI over training seeds (metrics.aggregate_seeds)
    summary.json                    the scoring options, counts, exclusion counts by reason (the tables are the CSVs)
    config.json                     the EvalConfig, the models' info, the scoring conventions, versions, and
                                    model_paths: each model also from the results folder and absolute
    """
    from probe.metrics import aggregate_seeds, exclusion_counts, summarize

    summary = summarize(scores, level=config.ci_level)
    seeds = aggregate_seeds(scores, level=config.ci_level)
    excl = exclusion_counts(scores)
    with atomic_dir(out, overwrite) as tmp:
        write_text_atomic(tmp / "scores.jsonl", scores.to_json(orient="records", lines=True))
        scores.to_parquet(tmp / "scores.parquet", index=False)
        write_text_atomic(tmp / "summary.csv", summary.to_csv(index=False))
        write_text_atomic(tmp / "summary_seeds.csv", seeds.to_csv(index=False))
        write_text_atomic(tmp / "summary.json", json.dumps({
            "method": config.method, "final_eos": config.final_eos, "unk": config.unk,
            "ci_level": config.ci_level,
            "n_scores": int(len(scores)), "n_excluded": int(scores["excluded"].sum()),
            "excluded": _records(excl), "tables": {"summary": "summary.csv", "over_seeds": "summary_seeds.csv"},
        }, indent=1) + "\n")
        conventions = {
            "logprob": "natural log",
            "context": "<eos> followed by the prefix tokens",
            "initial_state": "recurrent models start every item from a zero state (as the published evaluations score "
                             "sentences on their own), although training carries the state across sentences; "
                             "bench/warm_state.py measures what a state warmed on preceding text changes",
            "prefix_method": "log P(verb | <eos> prefix) for verb_good and verb_bad, one forward pass",
            "sentence_method": "sum of log P(w_t | <eos> w_<t) over the sentence"
                               + (" and the final <eos>" if config.final_eos else " (final <eos> not included)"),
            "correct": "logp_good > logp_bad (ties never count as correct; exact ties are excluded)",
            "oov": "scored through <unk> and marked has_unk" if config.unk else "excluded and counted per condition",
        }
        if config.hf_models:
            conventions["hf_models"] = ("subword models: the start token replaces <eos> as context, nothing is OOV, "
                                        "a multi-token word sums its tokens; see models_info[].conventions")
        # model paths as given are relative to the directory the command ran in; also store each one from the
        # results folder and absolutely, so that readers (probe plot) still find the models after a move
        home = Path(out).resolve()
        model_paths = {m: {"absolute": str(Path(m).resolve()), "from_results": os.path.relpath(Path(m).resolve(), home)}
                       for m in config.models}
        save_config(config, tmp, extra={"models_info": models, "labels": dict(labels or {}), "model_paths": model_paths,
                                        "conventions": conventions, "environment": environment()})
    return Path(out)


# ---------------------------------------------------------------------------------------------------
# SyntaxGym suites: the suite's own prediction formulas on summed region surprisals


def token_surprisals(scorer: Scorer, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Per-token surprisal in nats, -log P(w_t | <eos> w_<t), of each sentence -> list of float64 [len].

    Out-of-vocabulary words are read as ``<unk>``. From the scorer's ``token_logprobs`` where it has one
    (neural and Hugging Face models); otherwise from ``sequence_logprobs`` tail sums (one batched call for
    all sentences), which works for every Scorer: log P(w_t) = tail(t) - tail(t+1).
    """
    vocab = scorer.vocab
    if hasattr(scorer, "token_logprobs"):     # one pass per sentence instead of one per tail
        seqs = [[vocab.eos_id] + vocab.encode(list(s)) for s in sentences]
        return [-t for t in scorer.token_logprobs(seqs)]
    rows, starts = [], []
    for s in sentences:
        ids = [vocab.eos_id] + vocab.encode(list(s))
        for t in range(1, len(ids) + 1):  # the last start is past the end: an empty tail, 0
            rows.append(ids)
            starts.append(t)
    tail = scorer.sequence_logprobs(rows, np.asarray(starts, dtype=np.int64)) if rows else np.zeros(0)
    out, k = [], 0
    for s in sentences:
        sums = tail[k:k + len(s) + 1]
        k += len(s) + 1
        out.append(-(sums[:-1] - sums[1:]))
    return out


def evaluate_suite(models: Sequence[str | os.PathLike], suites: Sequence[str | os.PathLike],
                   out: str | os.PathLike, *, batch_size: int = 256, device: str = "auto",
                   overwrite: bool = False) -> pd.DataFrame:
    """Score SyntaxGym suites with each model and evaluate the suites' own prediction formulas.

    Writes ``out/predictions.csv`` (one row per model x suite x item x prediction: result True/False),
    ``out/summary.csv`` (share of items meeting each prediction) and ``out/config.json``. Surprisals are
    in nats, summed over each region's tokens (formulas compare sums, so the unit does not matter).
    """
    from probe.scoring.suites import evaluate_predictions, region_surprisals, suite_formulas
    from probe.data.importers.syntaxgym import load_suite

    if not models:
        raise ProbeError("no models given; pass --model DIR (a checkpoint or baseline folder)")
    if not suites:
        raise ProbeError("no suites given; pass --suite FILE (a SyntaxGym suite JSON)")
    check_output_dir(out, overwrite)
    loaded = [(Path(p).stem, load_suite(p)) for p in suites]
    rows = []
    for path, name in zip(models, unique_names([str(m) for m in models])):
        scorer = load_scorer(path, batch_size=batch_size, device=device, name=name)
        for suite_name, suite in loaded:
            wanted: list[list[str]] = []
            region_surprisals(suite, lambda toks: wanted.append(list(toks)) or np.zeros(len(toks)))
            values = dict(zip(map(tuple, wanted), token_surprisals(scorer, wanted)))
            sums = region_surprisals(suite, lambda toks: values[tuple(toks)])
            formulas = suite_formulas(suite)
            for item, results in evaluate_predictions(suite, sums).items():
                for k, ok in enumerate(results):
                    rows.append({"model": scorer.info["model"], "arch": scorer.info.get("arch", ""),
                                 "seed": scorer.info.get("seed", 0), "suite": suite_name, "item": item,
                                 "prediction": k, "formula": formulas[k], "result": bool(ok)})
    df = pd.DataFrame(rows)
    summary = (df.groupby(["model", "arch", "seed", "suite", "prediction", "formula"], sort=False)["result"]
               .agg(accuracy="mean", n_items="size").reset_index())
    with atomic_dir(out, overwrite) as tmp:
        write_text_atomic(tmp / "predictions.csv", df.to_csv(index=False))
        write_text_atomic(tmp / "summary.csv", summary.to_csv(index=False))
        save_config({"models": [str(m) for m in models], "suites": [str(s) for s in suites],
                     "surprisal": "nats, -log P(w | <eos> preceding words), summed per region; OOV words as <unk>"},
                    tmp)
    return summary
