"""Items -> scores: compare the two members of each minimal pair with any scorer, count what is out of vocabulary.

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

import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from probe.core.errors import ProbeError
from probe.data.corpus import EOS, Vocab
from probe.data.items import prepare_items, read_items
from probe.scoring.base import METHODS, Scorer, WordScorer
from probe.scoring.neural import LMScorer, warm_state


def encode_column(values: pd.Series, vocab: Vocab, prepend_eos: bool) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Space-separated strings -> (unique id lists, index per row [N], any-OOV flag per unique [U]); each
    distinct string is encoded once. Out of vocabulary: not ``vocab.is_known`` (a literal <unk> included)."""
    codes, uniques = pd.factorize(values.astype(str), sort=False)
    stoi = vocab.stoi
    head = [vocab.eos_id] if prepend_eos else []
    toks = [u.split() for u in uniques]
    ids = [head + [stoi.get(t, 0) for t in ts] for ts in toks]
    known = vocab.is_known
    oov = np.fromiter((not all(map(known, ts)) for ts in toks), dtype=bool, count=len(toks))
    return ids, codes.astype(np.int64), oov


class _Pairs(NamedTuple):
    """How one method reads a set of items: what keeps each pair from being scored, and how scored pairs are."""

    reason: np.ndarray       # object [N]: why a pair cannot be scored whatever the vocabulary ('' = it can)
    oov: np.ndarray          # bool [N]: a word is out of the model's vocabulary
    tie: np.ndarray          # bool [N]: both members are the same token ids
    same_words: np.ndarray   # bool [N]: both members are the same words
    logprobs: Callable[[np.ndarray], np.ndarray]   # bool [N] (the pairs scored) -> [k, 2] log P (good, bad)


def _word_pairs(scorer: WordScorer, items: pd.DataFrame, method: str, final_eos: bool) -> _Pairs:
    """Subword models tokenize the words themselves: nothing is out of vocabulary, and a word of several tokens
    (or several words) is scored as the sum of its tokens."""
    n = len(items)
    prefix = method == "prefix"
    ctx = items["prefix"].astype(str) if prefix else pd.Series([""] * n, dtype=object)
    good, bad = (items["verb_good"].astype(str), items["verb_bad"].astype(str)) if prefix else \
        (items["sentence_good"].astype(str), items["sentence_bad"].astype(str))
    reason = np.array([""] * n, dtype=object)
    if not scorer.scores_first_word:
        # no start token: a text's first word is context only, so a pair differing there is not comparable
        first_differs = (good.str.split().str[0] != bad.str.split().str[0]).to_numpy()
        reason[(ctx.str.strip() == "").to_numpy() & first_differs] = "first_word"

    def logprobs(scored: np.ndarray) -> np.ndarray:
        c = ctx.to_numpy()[scored]
        vals = scorer.word_logprobs(np.concatenate([c, c]), np.concatenate([good.to_numpy()[scored],
                                                                            bad.to_numpy()[scored]]),
                                    final_eos=final_eos and not prefix)
        return np.stack([vals[: len(c)], vals[len(c):]], axis=1)

    return _Pairs(reason, np.zeros(n, dtype=bool), (good.str.strip() == bad.str.strip()).to_numpy(),
                  (good == bad).to_numpy(), logprobs)


def _prefix_pairs(scorer: Scorer, items: pd.DataFrame) -> _Pairs:
    """log P(verb | <eos> prefix) for both verbs from one pass over each distinct prefix; a verb of several
    tokens cannot be compared so."""
    vocab = scorer.vocab
    good, bad = items["verb_good"].astype(str), items["verb_bad"].astype(str)
    p_ids, p_of, p_oov = encode_column(items["prefix"], vocab, prepend_eos=True)
    multi = (good.str.contains(r"\s") | bad.str.contains(r"\s")).to_numpy()
    g_id = good.map(lambda w: vocab.stoi.get(w, 0)).to_numpy(np.int64)
    b_id = bad.map(lambda w: vocab.stoi.get(w, 0)).to_numpy(np.int64)
    oov = p_oov[p_of] | ~good.isin(vocab.stoi).to_numpy() | ~bad.isin(vocab.stoi).to_numpy()
    reason = np.where(multi, "multi_token", "").astype(object)

    def logprobs(scored: np.ndarray) -> np.ndarray:
        return scorer.next_word_logprobs(p_ids, np.stack([g_id[scored], b_id[scored]], axis=1), p_of[scored])

    return _Pairs(reason, oov, g_id == b_id, (good == bad).to_numpy(), logprobs)


def _sentence_pairs(scorer: Scorer, items: pd.DataFrame, final_eos: bool) -> _Pairs:
    """The total log-probability of each whole sentence (each distinct sentence scored once)."""
    suffix = f" {EOS}" if final_eos else ""
    g_ids, g_of, g_oov = encode_column(items["sentence_good"] + suffix, scorer.vocab, prepend_eos=True)
    b_ids, b_of, b_oov = encode_column(items["sentence_bad"] + suffix, scorer.vocab, prepend_eos=True)
    n = len(items)
    tie = np.fromiter((g_ids[i] == b_ids[j] for i, j in zip(g_of, b_of)), dtype=bool, count=n)
    same = (items["sentence_good"].astype(str) == items["sentence_bad"].astype(str)).to_numpy()

    def logprobs(scored: np.ndarray) -> np.ndarray:
        seqs = g_ids + b_ids
        which = np.concatenate([g_of[scored], b_of[scored] + len(g_ids)])
        uniq_used, inv = np.unique(which, return_inverse=True)
        sub = [seqs[i] for i in uniq_used]
        vals = scorer.sequence_logprobs(sub, np.ones(len(sub), dtype=np.int64))[inv]
        k = int(scored.sum())
        return np.stack([vals[:k], vals[k:]], axis=1)

    return _Pairs(np.array([""] * n, dtype=object), g_oov[g_of] | b_oov[b_of], tie, same, logprobs)


def score_items(scorer: Scorer, items: pd.DataFrame, *, method: str = "prefix", unk: bool = False,
                final_eos: bool = True) -> pd.DataFrame:
    """Score prepared items (see :func:`prepare_items`) with one model -> per-item score rows.

    Returns the SCORE_FEATURES columns (records.py); excluded items keep a row with NaN scores,
    ``excluded=True`` and an ``exclude_reason``, so that every exclusion is counted.
    """
    if method not in METHODS:
        raise ProbeError(f"unknown scoring method {method!r}; choose from {', '.join(METHODS)}")
    if isinstance(scorer, WordScorer):
        pairs = _word_pairs(scorer, items, method, final_eos)
    else:
        pairs = _prefix_pairs(scorer, items) if method == "prefix" else _sentence_pairs(scorer, items, final_eos)
    reason = pairs.reason.copy()
    free = reason == ""
    if unk:
        # through <unk>: still scorable unless the two members become the same ids (a forced tie)
        reason[free & pairs.tie & ~pairs.same_words] = "unk_tie"
    else:
        reason[free & pairs.oov] = "oov"
    reason[(reason == "") & pairs.tie] = "tie"
    scored = reason == ""
    logp = np.full((len(items), 2), np.nan)
    if scored.any():
        logp[scored] = pairs.logprobs(scored)
    return _score_rows(items, scorer.info, method, logp, scored, reason, has_unk=scored & pairs.oov)


def _score_rows(items: pd.DataFrame, info: dict, method: str, logp: np.ndarray, scored: np.ndarray,
                reason: np.ndarray, *, has_unk: np.ndarray) -> pd.DataFrame:
    """The SCORE_FEATURES rows of one model's scores: each item's choice, syntactic and sequential."""
    margin = logp[:, 0] - logp[:, 1]
    correct = pd.array(np.where(scored, margin > 0, False), dtype="boolean")
    correct[~scored] = pd.NA
    known = items["nearest_number"].isin(["sg", "pl"]) & items["head_number"].isin(["sg", "pl"])
    same_as_head = (items["nearest_number"] == items["head_number"]).to_numpy()
    seq = pd.array(np.where(same_as_head, correct.fillna(False), ~correct.fillna(False)), dtype="boolean")
    seq[~(scored & known.to_numpy())] = pd.NA
    return pd.DataFrame({
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
        "verb_good": items["verb_good"].astype(str).to_numpy(),
        "verb_bad": items["verb_bad"].astype(str).to_numpy(),
        "logp_good": logp[:, 0],
        "logp_bad": logp[:, 1],
        "margin": margin,
        "correct": correct,
        "choice_syntactic": correct.copy(),
        "choice_sequential": seq,
        "excluded": ~scored,
        "exclude_reason": reason.astype(str),
        "has_unk": has_unk,
    })


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


class AgreementCurve:
    """A training callback (``train(on_eval=...)``): agreement accuracy on an item set at each validation."""

    def __init__(self, items: str | os.PathLike):
        self.source = str(Path(items).resolve())      # recorded in the training run's config.json
        self.items = read_items(items)        # read_items prepares them

    def __call__(self, model: Any, vocab: Vocab, device: Any) -> dict:
        """-> {"agreement_accuracy": share of in-vocabulary items answered right (prefix method), "agreement": the
        mean of the accuracies per item class (none, matched, conflict, mismatched without conflict: conflict
        items weigh as much as the easy ones; what ``stop_on ppl+agreement`` watches), "agreement_conflict"}."""
        scores = score_items(LMScorer(model, vocab, device=str(device)), self.items, method="prefix")
        kept = scores[~scores["excluded"].to_numpy(bool)]
        if not len(kept):
            nan = float("nan")
            return {"agreement_accuracy": nan, "agreement": nan, "agreement_conflict": nan}
        correct = kept["correct"].astype(float)
        by_class = correct.groupby(kept["match"].to_numpy(str)).mean().drop("unknown", errors="ignore")
        return {"agreement_accuracy": float(correct.mean()),
                "agreement": float(by_class.mean()) if len(by_class) else float("nan"),
                "agreement_conflict": float(by_class.get("conflict", float("nan")))}


def corpus_contexts(ids: np.ndarray, eos: int, n: int, length: int) -> list[np.ndarray]:
    """``n`` stretches of whole sentences, about ``length`` tokens each, spread over ``ids`` (a corpus split): each
    ends just before an ``<eos>``, so that an item's own leading ``<eos>`` closes the last sentence."""
    ids = np.asarray(ids)
    ends = np.flatnonzero(ids == eos)
    if len(ends) < 2:
        raise ProbeError("the corpus split holds fewer than two sentences; a context needs whole sentences")
    out = []
    for k in np.linspace(1, len(ends) - 1, n + 2).astype(int)[1:-1]:
        end = int(ends[k])
        first = int(np.searchsorted(ends, end - length)) - 1      # the <eos> before the context's first sentence
        start = int(ends[first]) + 1 if first >= 0 else 0
        out.append(ids[start:end].astype(np.int64))
    return out


def score_after_contexts(model: Any, vocab: Vocab, items: pd.DataFrame, contexts: list[np.ndarray], *,
                         method: str = "prefix", batch_size: int = 256) -> pd.DataFrame:
    """Score prepared items as :func:`score_items` does, but with the recurrent state each item starts from
    warmed on a stretch of corpus text (``contexts``, from :func:`corpus_contexts`), the convention of a model
    trained on one carried stream: log-probabilities averaged over the contexts, ``correct`` from the averaged
    margin."""
    runs = [score_items(LMScorer(model, vocab, batch_size=batch_size, start_state=warm_state(model, ctx)), items,
                        method=method) for ctx in contexts]
    out = runs[0].copy()
    for col in ("logp_good", "logp_bad"):
        out[col] = np.mean([r[col].to_numpy(float) for r in runs], axis=0)
    out["margin"] = out["logp_good"] - out["logp_bad"]
    scored = ~out["excluded"].to_numpy(bool)
    good = (out["margin"] > 0).to_numpy()
    out["correct"] = pd.array(np.where(scored, good, pd.NA), dtype="boolean")
    same = (out["nearest_number"] == out["head_number"]).to_numpy()
    out["choice_syntactic"] = out["correct"]
    out["choice_sequential"] = pd.array(np.where(scored, np.where(same, good, ~good), pd.NA), dtype="boolean")
    return out
