"""Hugging Face causal language models behind probe's scoring interface (subword tokens -> word scores).

An ``HFScorer`` wraps any ``transformers`` causal LM and its tokenizer. It offers both levels that
``probe.evaluate`` knows:

``word_logprobs(contexts, continuations)`` (the word-level hook ``score_items`` uses)
    log P(continuation | start token + context), summed over every subword token of the continuation.
``next_word_logprobs`` / ``sequence_logprobs`` (the token-level Scorer methods)
    the same computations on lists of the tokenizer's own ids.

Conventions (all recorded in ``info["conventions"]`` and from there in ``config.json``):

text
    The words of an item are joined by single spaces. A text starts right after the start token,
    with no space; a continuation follows its context after one space. The continuation's tokens are
    those of the whole text ``context + " " + continuation`` after the context's own tokens (as
    lm-evaluation-harness does), so a GPT-2 verb is scored with its leading space ('Ġis'), exactly as
    it is tokenized inside the sentence, and a prefix score always equals the difference of the two
    sentence scores.
start token
    The tokenizer's ``bos_token`` (GPT-2's is ``<|endoftext|>``); a tokenizer without one starts with
    its ``eos_token`` (which separates documents in training, as ``<eos>`` does in probe's corpora);
    special tokens the tokenizer would add by itself are never added. The known trap: with no start
    token (``bos=False`` or a tokenizer with neither token) a text's first token is context only and
    its probability is never scored, so pairs that differ at the first word cannot be compared;
    ``score_items`` excludes them (reason ``first_word``).
padding
    Batches are right-padded with an attention mask and explicit positions 0..T-1: a causal model never
    looks right, so padding cannot change a score (tested: batch size 1 vs N).
"""
from __future__ import annotations

import contextlib
import inspect
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from probe.core.device import resolve_device
from probe.core.errors import ProbeError
from probe.core.hub import hub_access
from probe.scoring.base import TokenScorer, batched_next_word, batched_token_logprobs, pad_right, start_next_word


INSTALL_HINT = "pip install probe[hf] (or pip install 'transformers>=4.36')"


def import_transformers() -> Any:
    """The ``transformers`` module, or a ProbeError saying how to install it."""
    try:
        import transformers
    except ImportError as exc:
        raise ProbeError(f"Hugging Face models need the transformers package ({exc}); {INSTALL_HINT}") from None
    return transformers


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hf_model_name(name_or_path: str | os.PathLike) -> str:
    """A readable name: a local folder's name, or the hub id as given ('EleutherAI/pythia-70m')."""
    p = Path(name_or_path)
    return p.resolve().name if p.exists() else str(name_or_path)


class HFScorer(TokenScorer):
    """A ``transformers`` causal LM and its tokenizer behind the Scorer API (see the module docstring).

    ``model``: ids [B, T] (+ attention_mask, position_ids) -> ``.logits`` [B, T, V].
    ``vocab`` is None: a subword model has no closed word vocabulary, so nothing is out of vocabulary.
    """

    vocab = None

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64, bos: bool = True,
                 info: dict | None = None):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, int(batch_size)
        self.model.eval()
        self.device = next(model.parameters()).device
        out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.n_logits = int(out_emb.weight.shape[0]) if out_emb is not None else int(model.config.vocab_size)
        cfg = model.config
        self.max_length = next((int(v) for k in ("n_positions", "max_position_embeddings")
                                if isinstance(v := getattr(cfg, k, None), int) and v > 0), None)
        params = inspect.signature(model.forward).parameters
        # models without a position_ids argument (e.g. OPT in older transformers) derive positions from
        # the attention mask, which right-padding leaves at 0..T-1 anyway
        self._pass_positions = "position_ids" in params
        self._pass_use_cache = "use_cache" in params
        if bos and tokenizer.bos_token_id is not None:
            self.start = [int(tokenizer.bos_token_id)]
            start_desc = f"bos_token {tokenizer.bos_token!r} (id {tokenizer.bos_token_id}) before every text"
        elif bos and tokenizer.eos_token_id is not None:
            self.start = [int(tokenizer.eos_token_id)]
            start_desc = (f"the tokenizer has no bos_token: eos_token {tokenizer.eos_token!r} "
                          f"(id {tokenizer.eos_token_id}) before every text")
        else:
            self.start = []
            start_desc = ("none: a text's first token is context only and never scored; pairs that differ "
                          "at the first word are excluded (reason first_word)")
        self.scores_first_word = bool(self.start)
        self.eos = None if tokenizer.eos_token_id is None else int(tokenizer.eos_token_id)
        self.pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos or 0)
        self.info = dict(info or {"model": type(model).__name__, "seed": 0, "path": ""})
        self.info.setdefault("arch", f"hf:{getattr(cfg, 'model_type', 'lm')}")
        self.info["vocab_size"] = len(tokenizer)
        self.info["dtype"] = str(next(model.parameters()).dtype).replace("torch.", "")
        self.info["conventions"] = {
            "tokenizer": type(tokenizer).__name__,
            "start_token": start_desc,
            "special_tokens": "added by probe only (tokenizer called with add_special_tokens=False)",
            "leading_space": "words joined by single spaces; no space after the start token; the "
                             "continuation is tokenized inside the whole text 'context continuation', "
                             f"so it carries its leading space (e.g. {self._space_example()})",
            "multi_token": "a word split into several subword tokens scores the sum of their log-probs",
            "final_eos": (f"sentence method with final_eos: eos_token {tokenizer.eos_token!r} scored after "
                          "the sentence" if self.eos is not None else "the tokenizer has no eos_token: none scored"),
            "padding": "right-padding, attention mask, positions 0..T-1 (scores do not depend on batch size)",
        }

    def _space_example(self) -> str:
        ids = self.tokenizer("the is", add_special_tokens=False)["input_ids"]
        ctx = self.tokenizer("the", add_special_tokens=False)["input_ids"]
        toks = self.tokenizer.convert_ids_to_tokens(ids[len(ctx):])
        return f"'is' after 'the' -> {toks}"

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, device: str = "auto", batch_size: int = 64,
                        bos: bool = True, name: str | None = None) -> "HFScorer":
        """Load ``AutoModelForCausalLM`` + ``AutoTokenizer`` from a local folder (offline) or a hub name.

        float32 on CPU; on a GPU the checkpoint's own dtype. Any loading failure is one ProbeError line.
        """
        tf = import_transformers()
        src = os.path.expanduser(str(name_or_path))
        local = Path(src).exists()
        # a hub id is 'name' or 'owner/name'; anything else that does not exist is a mistyped folder
        if not local and (src.startswith((".", os.sep, "~")) or src.count("/") > 1):
            raise ProbeError(f"{src} is not a folder; give a folder written by save_pretrained or a hub "
                             "name such as openai-community/gpt2")
        dev = resolve_device(device)
        # an unreachable hub fails in seconds (the cache still serves a name loaded before), not after retries
        with contextlib.nullcontext(True) if local else hub_access() as online:
            try:
                tokenizer = tf.AutoTokenizer.from_pretrained(src, local_files_only=local)
                model = tf.AutoModelForCausalLM.from_pretrained(src, local_files_only=local)
            except (OSError, ValueError, KeyError, ImportError) as exc:
                if not online:
                    raise ProbeError(f"cannot load Hugging Face causal LM {src!r}: the hub is offline or unreachable "
                                     "and the model is not in the local cache; give the path of a folder written by "
                                     "save_pretrained (--hf-model PATH), or load the name once with the network"
                                     ) from None
                where = "the folder" if local else "the hub"
                raise ProbeError(f"cannot load Hugging Face causal LM {src!r} from {where}: {_one_line(exc)}") from None
        if dev == "cpu":
            model = model.float()
        model.to(dev)
        seed = getattr(model.config, "seed", 0)
        info = {"model": name or hf_model_name(src), "arch": f"hf:{getattr(model.config, 'model_type', 'lm')}",
                "seed": int(seed) if isinstance(seed, int) else 0, "path": src}
        return cls(model, tokenizer, batch_size=batch_size, bos=bos, info=info)

    # ---------------------------------------------------------------------------------------------
    # Word level

    def encode(self, contexts: Sequence[str], continuations: Sequence[str], *,
               final_eos: bool = False) -> tuple[list[list[int]], np.ndarray, list[list[int]], np.ndarray]:
        """Tokenize N (context, continuation) pairs.

        -> (sequences: start + tokens of the whole text (+ eos) per pair, starts int64 [N]: index of the
        first scored token, contexts: start + tokens per unique context, context_of int64 [N]).
        """
        tok = self.tokenizer
        ctx = pd.Series(list(contexts), dtype=object).astype(str).str.split().str.join(" ")
        cont = pd.Series(list(continuations), dtype=object).astype(str).str.split().str.join(" ")
        whole = ctx + np.where((ctx != "") & (cont != ""), " ", "") + cont
        ctx_u = pd.unique(ctx)
        ctx_index = {c: i for i, c in enumerate(ctx_u)}
        ctx_ids = [self.start + ids for ids in tok(list(ctx_u), add_special_tokens=False)["input_ids"]]
        tail = [self.eos] if final_eos and self.eos is not None else []
        seqs = [self.start + ids + tail for ids in tok(list(whole), add_special_tokens=False)["input_ids"]]
        ctx_of = ctx.map(ctx_index).to_numpy(np.int64)
        # the first token that differs from the context's own tokens (a tokenizer could merge across the
        # space; for space-splitting tokenizers such as GPT-2's this is always len(context tokens))
        starts = np.fromiter((_common_prefix(s, ctx_ids[c]) for s, c in zip(seqs, ctx_of)), dtype=np.int64,
                             count=len(seqs))
        np.maximum(starts, 1, out=starts)  # with no start token the first token has no context to score it
        return seqs, starts, ctx_ids, ctx_of

    def word_logprobs(self, contexts: Sequence[str], continuations: Sequence[str], *,
                      final_eos: bool = False) -> np.ndarray:
        """log P(continuation | start + context), summed over the continuation's subword tokens -> float64 [N].

        contexts, continuations: N strings of space-separated words (context may be '': whole sentences).
        Identical pairs are scored once; identical contexts run once for single-token continuations.
        """
        n = len(contexts)
        if len(continuations) != n:
            raise ProbeError(f"{n} contexts but {len(continuations)} continuations; give one per context")
        out = np.full(n, np.nan)
        if not n:
            return out
        pairs = pd.MultiIndex.from_arrays([pd.Series(list(contexts), dtype=object).astype(str),
                                           pd.Series(list(continuations), dtype=object).astype(str)])
        codes, uniq = pd.factorize(pairs)
        u_ctx, u_cont = uniq.get_level_values(0), uniq.get_level_values(1)
        seqs, starts, ctx_ids, ctx_of = self.encode(u_ctx, u_cont, final_eos=final_eos)
        self._check_lengths(seqs)
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        ctx_len = np.fromiter((len(ctx_ids[c]) for c in ctx_of), dtype=np.int64, count=len(seqs))
        # one token after the full context: read it from the context's own pass (shared by all its verbs)
        single = (lengths - starts == 1) & (starts == ctx_len)
        vals = np.full(len(seqs), np.nan)
        if single.any():
            rows = np.flatnonzero(single)
            last = np.fromiter((seqs[i][-1] for i in rows), dtype=np.int64, count=len(rows))
            vals[rows] = self.next_word_logprobs(ctx_ids, last[:, None], ctx_of[rows])[:, 0]
        if (~single).any():
            rows = np.flatnonzero(~single)
            vals[rows] = self.sequence_logprobs([seqs[i] for i in rows], starts[rows])
        out[:] = vals[codes]
        return out

    # ---------------------------------------------------------------------------------------------
    # Token level (ids of the tokenizer)

    def _check_lengths(self, seqs: Sequence[Sequence[int]]) -> None:
        longest = max((len(s) for s in seqs), default=0)
        if self.max_length is not None and longest > self.max_length:
            raise ProbeError(f"a text is {longest} tokens long but {self.info.get('model')} takes at most "
                             f"{self.max_length}; select shorter items (--constructions)")

    def _logits(self, ids: np.ndarray, lengths: np.ndarray):
        """ids int64 [B, T] right-padded, lengths int64 [B] -> float32 logits [B, T, V]."""
        import torch

        x = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        width = x.shape[1]
        pos = torch.arange(width, device=self.device)
        kwargs = {"attention_mask": (pos[None, :] < torch.as_tensor(lengths, device=self.device)[:, None]).long()}
        if self._pass_positions:
            kwargs["position_ids"] = pos.expand(x.shape[0], width)
        if self._pass_use_cache:
            kwargs["use_cache"] = False
        return self.model(input_ids=x, **kwargs).logits.float()

    def next_word_logprobs(self, prefixes: Sequence[Sequence[int]], candidates: np.ndarray,
                           prefix_of: np.ndarray | None = None) -> np.ndarray:
        """log P(candidate token | prefix): candidates [N, K] token ids -> float64 [N, K].

        Row i continues ``prefixes[prefix_of[i]]`` (None: ``prefixes[i]``); each unique prefix runs once.
        """
        import torch

        prefixes, candidates, prefix_of, out = start_next_word(prefixes, candidates, prefix_of)
        if not len(candidates):
            return out
        def last_logits(x: np.ndarray, b_len: np.ndarray) -> Any:
            logits = self._logits(x, b_len)
            return logits[torch.arange(len(x)), torch.as_tensor(b_len - 1, device=logits.device)]

        with torch.no_grad():
            return batched_next_word(pad_right(prefixes, self.pad), candidates, prefix_of, out, self.batch_size,
                                     self.n_logits, last_logits)

    def _token_batches(self, sequences: Sequence[Sequence[int]]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(rows, token log-probs [b, W]) per length-sorted batch (see ``TokenScorer``)."""
        import torch

        ids, lengths = pad_right(sequences, self.pad)
        with torch.no_grad():
            yield from batched_token_logprobs(ids, lengths, self.batch_size, self.n_logits,
                                              lambda x, rows: self._logits(x, np.minimum(lengths[rows], x.shape[1])))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id lists (one slice comparison in the usual case)."""
    if len(a) >= len(b) and a[: len(b)] == b:
        return len(b)
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
