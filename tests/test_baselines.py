"""Tests for probe.scoring.ngram: Kneser-Ney against a plain-Python reference, normalisation, sequential behaviour."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from probe.scoring.ngram import (BaselineConfig, NgramLM, UnigramLM, build_baseline, kn_discounts, load_baseline,
                                 train_baselines)
from probe.core.errors import ProbeError
from probe.data.corpus import Vocab, write_ids
from probe.data.items import prepare_items
from probe.scoring.items import score_items

TOY = [
    "the dog runs", "the dogs run", "the dog runs", "the cats run", "the cat runs",
    "the dog of the cats run", "the dogs of the cat runs", "the cat of the dogs run",
    "the cats of the dog runs", "the dog near the cats run", "a dog runs", "the dogs run",
]


def toy_stream(sentences=TOY):
    words = sorted({w for s in sentences for w in s.split()})
    vocab = Vocab(("<unk>", "<eos>", *words))
    ids = [i for s in sentences for i in vocab.encode(s.split()) + [1]]
    return np.array(ids, dtype=np.int64), vocab


def reference_kn(ids, V, order, eos, discounts):
    """Interpolated modified KN by dictionaries, with the same conventions as NgramLM (see its docstring)."""
    s = [eos] + list(ids)
    raw = [Counter() for _ in range(order + 1)]
    for k in range(1, order + 1):
        for i in range(len(s) - k + 1):
            g = tuple(s[i:i + k])
            if eos in g[1:-1]:
                continue
            raw[k][g] += 1
    adj = [Counter() for _ in range(order + 1)]
    adj[order] = raw[order]
    for k in range(1, order):
        left = defaultdict(set)
        for g in raw[k + 1]:
            left[g[1:]].add(g[0])
        for g in raw[k]:
            adj[k][g] = raw[k][g] if (k >= 2 and g[0] == eos) else len(left[g])

    def p(ctx, w):
        prob = 1.0 / V
        for k in range(1, order + 1):
            h = tuple(ctx[len(ctx) - (k - 1):]) if k > 1 else ()
            if len(h) < k - 1:
                break
            items = {g: c for g, c in adj[k].items() if g[:-1] == h}
            tot = sum(items.values())
            if tot == 0:
                continue
            D = discounts[k - 1]
            dis = lambda c: 0.0 if c == 0 else D[min(c, 3) - 1]
            gamma = sum(dis(c) for c in items.values()) / tot
            c = items.get(h + (w,), 0)
            prob = max(c - dis(c), 0) / tot + gamma * prob
        return prob

    return p


@pytest.mark.parametrize("order", [2, 3, 4])
def test_kn_matches_reference_and_sums_to_one(order):
    ids, vocab = toy_stream()
    lm = NgramLM.train(ids, vocab, order)
    ref = reference_kn(ids, len(vocab), order, vocab.eos_id, lm.discounts)
    V = len(vocab)
    for ctx_words in (["<eos>"], ["<eos>", "the"], ["the", "dog", "of", "the", "cats"], ["of", "the"], ["zzz"]):
        ctx = vocab.encode(ctx_words)
        window = ([-1] * (order - 1) + ctx)[-(order - 1):]
        probs = lm.probs(np.tile(window, (V, 1)), np.arange(V))
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        assert (probs > 0).all()
        expected = [ref(ctx[-(order - 1):], w) for w in range(V)]
        np.testing.assert_allclose(probs, expected, rtol=1e-9)


def test_discounts_fall_back_on_degenerate_counts():
    assert kn_discounts(np.array([5, 6, 7])).tolist() == [0.5, 1.0, 1.5]
    d = kn_discounts(np.array([1] * 50 + [2] * 20 + [3] * 10 + [4] * 5))
    assert 0 < d[0] < 1 and 0 < d[1] < 2 and 0 < d[2] < 3


def _items(rows):
    return prepare_items([{"id": f"i{k}", "construction": "pp", "sentence_good": f"{p} {g}",
                           "sentence_bad": f"{p} {b}", "prefix": p, "verb_good": g, "verb_bad": b,
                           "condition": c, "nearest_number": nn, "head_number": hn, "n_attractors": 1}
                          for k, (p, g, b, c, hn, nn) in enumerate(rows)])


def test_trigram_is_sequential_when_head_is_far():
    # a corpus where the verb always agrees with the word right before it: a 3-gram must follow the
    # nearest noun whatever the head, since the head lies 3 tokens back
    sents = ["the dog runs", "the dogs run", "the cat runs", "the cats run"] * 5 + \
            ["the dog of the cats run", "the dogs of the cat runs"]
    ids, vocab = toy_stream(sents)
    lm = NgramLM.train(ids, vocab, 3)
    items = _items([("the dog of the cats", "runs", "run", "SP", "sg", "pl"),
                    ("the dogs of the cat", "run", "runs", "PS", "pl", "sg"),
                    ("the dog of the cat", "runs", "run", "SS", "sg", "sg")])
    out = score_items(lm, items, method="prefix")
    assert out["correct"].tolist() == [False, False, True]
    assert out["choice_sequential"].tolist() == [True, True, True]
    # the 3-gram's preference is exactly its conditional given the last two words
    cand = np.array([[vocab.stoi["runs"], vocab.stoi["run"]]])
    lp = lm.next_word_logprobs([vocab.encode(["<eos>", "the", "cats"])], cand)
    assert out.loc[0, "logp_good"] == pytest.approx(lp[0, 0])
    assert out.loc[0, "logp_bad"] == pytest.approx(lp[0, 1])


def test_sentence_logprobs_equal_product_of_conditionals():
    ids, vocab = toy_stream()
    lm = NgramLM.train(ids, vocab, 3)
    seq = vocab.encode("<eos> the dog runs <eos>".split())
    total = lm.sequence_logprobs([seq, seq[:3]], np.array([1, 1]))
    by_hand = sum(np.log(lm.probs(np.array([([-1, -1] + seq[:t])[-2:]]), np.array([seq[t]]))[0])
                  for t in range(1, len(seq)))
    assert total[0] == pytest.approx(by_hand)
    assert total[1] < 0 and total[0] < total[1]


def test_unigram_picks_the_frequent_form():
    ids, vocab = toy_stream()
    uni = UnigramLM.train(ids, vocab)
    counts = np.bincount(ids, minlength=len(vocab))
    lp = uni.next_word_logprobs([[1]], np.array([[vocab.stoi["run"], vocab.stoi["runs"]]]))
    assert (lp[0, 0] > lp[0, 1]) == (counts[vocab.stoi["run"]] > counts[vocab.stoi["runs"]])
    assert np.exp(uni.logp).sum() == pytest.approx(1.0)


def _corpus(tmp_path, sentences=TOY):
    ids, vocab = toy_stream(sentences)
    d = tmp_path / "corpus"
    d.mkdir()
    vocab.save(d / "vocab.json")
    write_ids(d / "train.npy", ids.astype(np.uint16))
    return d


def test_save_load_round_trip(tmp_path):
    corpus = _corpus(tmp_path)
    out = build_baseline(BaselineConfig(corpus=str(corpus), order=3), tmp_path / "ng")
    assert sorted(p.name for p in out.iterdir()) == ["baseline.json", "config.json", "counts.npz", "vocab.json"]
    lm = load_baseline(out)
    fresh = train_baselines(corpus, order=3)[0]
    ctx, w = np.array([[1, 3], [-1, 1]]), np.array([4, 5])
    np.testing.assert_allclose(lm.probs(ctx, w), fresh.probs(ctx, w))
    assert lm.info["arch"] == "3-gram"
    uni = load_baseline(build_baseline(BaselineConfig(corpus=str(corpus), kind="unigram"), tmp_path / "uni"))
    assert isinstance(uni, UnigramLM)


def test_bad_baseline_inputs(tmp_path):
    with pytest.raises(ProbeError):
        build_baseline(BaselineConfig(corpus=str(tmp_path / "nope")), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    corpus = _corpus(tmp_path)
    with pytest.raises(ProbeError, match="kind"):
        build_baseline(BaselineConfig(corpus=str(corpus), kind="bigram"), tmp_path / "out")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "baseline.json").write_text("{}")
    with pytest.raises(ProbeError):
        load_baseline(tmp_path / "fake")


def test_baselines_are_told_from_neural_models_by_their_arch():
    """The report draws baselines grey and keeps them out of the cells' tables: every other arch, a cell a user
    registers or a hub model included, is a neural model."""
    from probe.core.style import is_baseline

    assert is_baseline("unigram") and is_baseline("3-gram") and is_baseline("5-gram")
    assert not any(is_baseline(a) for a in ("srn", "gru", "lstm", "transformer", "hf:gpt2", "my_cell"))
