"""Scoring probe's own neural language models: batched forward passes and a prefix trie over the recurrent step."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from probe.core.device import resolve_device
from probe.core.errors import ProbeError
from probe.data.corpus import Vocab
from probe.scoring.base import (
    MAX_TRIE_FLOATS, PrefixTrie, TokenScorer, batched_next_word, batched_token_logprobs, build_prefix_trie, model_name,
    pad_right, pick_logprobs, start_next_word
)


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
        from probe.models.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path, device=resolve_device(device))
        seed = ckpt.train_config.get("seed", 0) if isinstance(ckpt.train_config, dict) else 0
        arch = getattr(ckpt.model_config, "arch", "lm")
        info = {"model": name or model_name(path), "arch": str(arch), "seed": int(seed or 0), "path": str(path)}
        if isinstance(ckpt.train_config, dict) and ckpt.model.carries_state:
            # the state convention it was trained in (checkpoints written before the option: one carried stream)
            info["training_state"] = ckpt.train_config.get("state", "stream")
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
        from probe.models.cells import get_cell

        per_node = cfg.hidden * (2 * cfg.layers * get_cell(cfg.arch).state_size + 4)
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

        from probe.models.recurrent import select_state

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
