"""Tests for probe.evaluate: known-probability stubs, batch-size invariance, dedupe, OOV accounting, CLI."""
from __future__ import annotations

import importlib.util
import json
import types

import numpy as np
import pandas as pd
import pytest
import torch

from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.corpus import Vocab, write_ids
from probe.scoring.neural import LMScorer
from probe.scoring.items import agreement_accuracy, score_items
from probe.scoring import score_continuations
from probe.scoring.base import build_prefix_trie, pad_right
from probe.evaluate import evaluate
from probe.data.items import prepare_items, select_items

WORDS = ("<unk>", "<eos>", "the", "dog", "dogs", "of", "cat", "cats", "runs", "run", "is", "are", "near")


class TableLM(torch.nn.Module):
    """A bigram stub: the next-word logits after token i are ``table[i]``, so every probability is known."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(table.clone())
        self.rows_seen = 0

    def forward(self, ids, state=None, return_states=False):
        self.rows_seen += ids.shape[0]
        return types.SimpleNamespace(logits=self.table[ids], state=None, states=None)


class TinyLSTM(torch.nn.Module):
    """A random causal LSTM LM (batch-first), standing in for probe.models in batch-size tests."""

    def __init__(self, vocab_size: int, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = torch.nn.Embedding(vocab_size, 16)
        self.rnn = torch.nn.LSTM(16, 32, batch_first=True)
        self.out = torch.nn.Linear(32, vocab_size)

    def forward(self, ids, state=None, return_states=False):
        h, _ = self.rnn(self.emb(ids))
        return types.SimpleNamespace(logits=self.out(h) * 3, state=None, states=None)


def table_model(vocab: Vocab, seed: int = 0) -> TableLM:
    g = torch.Generator().manual_seed(seed)
    return TableLM(torch.randn(len(vocab), len(vocab), generator=g) * 2)


def item(prefix, good, bad, condition, *, construction="pp", rest="", nearest=None, iid=None):
    head = "sg" if condition[0] == "S" else "pl"
    nearest = nearest or ("sg" if condition[-1] == "S" else "pl")
    tail = f" {rest}" if rest else ""
    return {"id": iid or f"{construction}.{condition}.{prefix}.{good}", "construction": construction,
            "condition": condition, "prefix": prefix, "verb_good": good, "verb_bad": bad,
            "sentence_good": f"{prefix} {good}{tail}", "sentence_bad": f"{prefix} {bad}{tail}",
            "head_number": head, "attractor_numbers": ["sg" if c == "S" else "pl" for c in condition[1:]],
            "n_attractors": len(condition) - 1, "nearest_number": nearest, "verb_type": "intransitive"}


ITEMS = [
    item("the dog", "runs", "run", "S", construction="simple"),
    item("the dogs", "run", "runs", "P", construction="simple"),
    item("the dog of the cats", "runs", "run", "SP"),
    item("the dog of the cats", "is", "are", "SP"),            # same prefix as the row above
    item("the dogs of the cat", "run", "runs", "PS"),
    item("the dog of the cat", "is", "are", "SS", rest="near the cats"),
    item("the dogs near the cats", "are", "is", "PP"),
]


def test_prefix_scores_are_the_model_conditionals():
    vocab = Vocab(WORDS)
    model = table_model(vocab)
    out = score_items(LMScorer(model, vocab), prepare_items(ITEMS), method="prefix")
    logp = torch.log_softmax(model.table.detach(), -1).double().numpy()
    for k, it in enumerate(ITEMS):
        last = vocab.stoi[it["prefix"].split()[-1]]
        good, bad = vocab.stoi[it["verb_good"]], vocab.stoi[it["verb_bad"]]
        assert out.loc[k, "logp_good"] == pytest.approx(logp[last, good], abs=1e-6)
        assert out.loc[k, "logp_bad"] == pytest.approx(logp[last, bad], abs=1e-6)
        if abs(logp[last, good] - logp[last, bad]) > 1e-6:   # a near-tie may go either way on another CPU
            assert bool(out.loc[k, "correct"]) == (logp[last, good] > logp[last, bad])
    assert (out["margin"] == out["logp_good"] - out["logp_bad"]).all()
    assert out["choice_syntactic"].equals(out["correct"])
    # sequential: chosen verb agrees with the nearest noun; equal to correct when nearest = head number
    same = out["nearest_number"] == out["head_number"]
    assert (out.loc[same, "choice_sequential"] == out.loc[same, "correct"]).all()
    assert (out.loc[~same, "choice_sequential"] != out.loc[~same, "correct"]).all()
    assert not out["excluded"].any()


def test_preference_sign_follows_a_rigged_model():
    vocab = Vocab(WORDS)
    table = torch.zeros(len(vocab), len(vocab))
    s = vocab.stoi
    # after a plural noun the model prefers plural verbs by log-odds 2, after singular by 1
    for noun, good_v, bad_v, lo in (("cats", "run", "runs", 2.0), ("cat", "runs", "run", 1.0),
                                    ("cats", "are", "is", 2.0), ("cat", "is", "are", 1.0)):
        table[s[noun], s[good_v]] = lo
    out = score_items(LMScorer(TableLM(table), vocab), prepare_items([ITEMS[2], ITEMS[4]]), method="prefix")
    # the stub is purely sequential: it follows 'cats'/'cat', the attractor
    assert out["margin"].tolist() == pytest.approx([-2.0, -1.0])
    assert out["correct"].tolist() == [False, False]
    assert out["choice_sequential"].tolist() == [True, True]


def test_sentence_method_sums_every_token_and_final_eos():
    vocab = Vocab(WORDS)
    model = table_model(vocab, seed=1)
    logp = torch.log_softmax(model.table.detach(), -1).double().numpy()

    def by_hand(sentence, eos):
        ids = vocab.encode(["<eos>", *sentence.split()] + (["<eos>"] if eos else []))
        return sum(logp[a, b] for a, b in zip(ids[:-1], ids[1:]))

    it = ITEMS[5]
    for eos in (True, False):
        out = score_items(LMScorer(model, vocab), prepare_items([it]), method="sentence", final_eos=eos)
        assert out.loc[0, "logp_good"] == pytest.approx(by_hand(it["sentence_good"], eos), abs=1e-5)
        assert out.loc[0, "logp_bad"] == pytest.approx(by_hand(it["sentence_bad"], eos), abs=1e-5)
        assert out.loc[0, "method"] == "sentence"
    cont = score_continuations(LMScorer(model, vocab), [["the", "dog"]], [["runs", "near"]])
    s = vocab.stoi
    assert cont[0] == pytest.approx(logp[s["dog"], s["runs"]] + logp[s["runs"], s["near"]], abs=1e-5)


def random_items(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    nouns = [("dog", "dogs"), ("cat", "cats")]
    rows = []
    for k in range(n):
        head = rng.integers(2)
        words = ["the", nouns[rng.integers(2)][head]]
        cond = "S" if head == 0 else "P"
        for _ in range(rng.integers(0, 4)):
            num = rng.integers(2)
            words += [["of", "near"][rng.integers(2)], "the", nouns[rng.integers(2)][num]]
            cond += "SP"[num]
        good, bad = (("runs", "run") if head == 0 else ("run", "runs"))
        rows.append(item(" ".join(words), good, bad, cond, iid=f"r{k}", rest="near the dog" * int(rng.integers(2))))
    return rows


def probe_model(arch: str, vocab: Vocab, seed: int = 0, **kw):
    """A small random probe.models LM."""
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model

    torch.manual_seed(seed)
    cfg = ModelConfig(arch=arch, vocab_size=len(vocab), emb=16, hidden=16, layers=2, heads=2, **kw)
    return build_model(cfg).eval()


@pytest.mark.parametrize("arch", ["srn", "gru", "lstm", "transformer"])
@pytest.mark.parametrize("method", ["prefix", "sentence"])
def test_scores_do_not_depend_on_batch_size(method, arch):
    torch.set_num_threads(1)
    vocab = Vocab(WORDS)
    model = probe_model(arch, vocab)
    items = prepare_items(random_items(300))
    a = score_items(LMScorer(model, vocab, batch_size=1), items, method=method)
    b = score_items(LMScorer(model, vocab, batch_size=256), items, method=method)
    np.testing.assert_allclose(a["logp_good"], b["logp_good"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(a["logp_bad"], b["logp_bad"], atol=1e-5, rtol=0)
    # and they are the unpadded, one-at-a-time conditionals
    it = items.iloc[7]
    with torch.no_grad():
        if method == "prefix":
            ids = torch.tensor([vocab.encode(["<eos>", *it["prefix"].split()])])
            want = torch.log_softmax(model(ids).logits[0, -1], -1)[vocab.stoi[it["verb_good"]]].item()
        else:
            ids = torch.tensor([vocab.encode(["<eos>", *it["sentence_good"].split(), "<eos>"])])
            lp = torch.log_softmax(model(ids).logits[0, :-1], -1)
            want = lp.gather(-1, ids[0, 1:, None]).sum().item()
    assert b.loc[7, "logp_good"] == pytest.approx(want, abs=1e-4)


def test_prefix_trie_merges_shared_heads():
    seqs = [[1, 2, 3], [1, 2], [1, 4, 3, 5], [1, 2, 3], [1, 2, 6], [0]]
    ids, lengths = pad_right(seqs, pad=9)
    trie = build_prefix_trie(ids, lengths)
    # depth 0: <1>, <0>; depth 1: 1-2, 1-4; depth 2: 1-2-3, 1-2-6, 1-4-3; depth 3: 1-4-3-5
    assert [len(t) for t in trie.tokens] == [2, 2, 3, 1] and trie.n_nodes == 8
    assert trie.n_nodes < sum(map(len, seqs))

    def path(i):   # walk back from prefix i's end node to its tokens
        d, n, out = trie.end_depth[i], trie.end_node[i], []
        while d >= 0:
            out.append(int(trie.tokens[d][n]))
            n, d = trie.parents[d][n], d - 1
        return out[::-1]

    assert [path(i) for i in range(len(seqs))] == seqs
    assert trie.end_node[0] == trie.end_node[3] and trie.end_depth[0] == trie.end_depth[3]
    # the padding value never merges nodes, even when it equals a real token
    ids2, _ = pad_right(seqs, pad=3)
    assert build_prefix_trie(ids2, lengths).n_nodes == 8
    with pytest.raises(ValueError, match="empty prefix"):
        build_prefix_trie(*pad_right([[1], []]))


@pytest.mark.parametrize("arch,kw", [("srn", {}), ("gru", {}), ("lstm", {}),
                                     ("lstm", {"softmax": "adaptive", "cutoffs": (6, 12)})])
def test_trie_scoring_equals_full_forward_passes(arch, kw, monkeypatch):
    torch.set_num_threads(1)
    vocab = Vocab(WORDS)
    model = probe_model(arch, vocab, **kw)
    prefixes = [vocab.encode(["<eos>", *r["prefix"].split()]) for r in random_items(120, seed=3)]
    candidates = np.array([[vocab.stoi["is"], vocab.stoi["are"]]] * len(prefixes))
    with torch.no_grad():
        want = np.array([torch.log_softmax(model(torch.tensor([p])).logits[0, -1], -1)[c].numpy()
                         for p, c in zip(prefixes, torch.as_tensor(candidates))])
    got = LMScorer(model, vocab).next_word_logprobs(prefixes, candidates)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # whole sentences (sharing heads, scored from position `start` on) against one forward pass each
    seqs = [p + [c[0], vocab.eos_id] for p, c in zip(prefixes, candidates)] + [prefixes[0][:1]]
    starts = np.array([1 + k % 3 for k in range(len(seqs))])
    with torch.no_grad():
        want_seq = [sum(torch.log_softmax(model(torch.tensor([s])).logits[0, t - 1], -1)[s[t]].item()
                        for t in range(st, len(s))) for s, st in zip(seqs, starts)]
    np.testing.assert_allclose(LMScorer(model, vocab).sequence_logprobs(seqs, starts), want_seq, atol=1e-4, rtol=0)
    # many small tries (a tiny state budget) and one-node softmax batches give the same numbers
    monkeypatch.setattr("probe.scoring.neural.MAX_TRIE_FLOATS", 1)
    small = LMScorer(model, vocab, batch_size=1)
    np.testing.assert_allclose(small.next_word_logprobs(prefixes, candidates), want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(small.sequence_logprobs(seqs, starts), want_seq, atol=1e-4, rtol=0)


def test_identical_prefixes_run_once():
    vocab = Vocab(WORDS)
    model = table_model(vocab)
    rows = [item("the dog of the cats", v, w, "SP", iid=f"x{k}") for k, (v, w) in
            enumerate([("runs", "run"), ("is", "are")] * 5)]
    score_items(LMScorer(model, vocab, batch_size=4), prepare_items(rows), method="prefix")
    assert model.rows_seen == 1


def test_oov_items_are_excluded_and_counted():
    vocab = Vocab(tuple(w for w in WORDS if w not in ("cats", "are")))
    model = table_model(vocab)
    items = prepare_items(ITEMS)
    out = score_items(LMScorer(model, vocab), items, method="prefix")
    excluded = dict(zip(out["id"], out["excluded"]))
    # 'cats' in the prefix of the SP and PP items, 'are' a verb of SP(is/are), SS(is/are) and PP
    assert [excluded[i["id"]] for i in ITEMS] == [False, False, True, True, False, True, True]
    assert set(out.loc[out["excluded"], "exclude_reason"]) == {"oov"}
    assert out.loc[out["excluded"], "logp_good"].isna().all() and out.loc[out["excluded"], "correct"].isna().all()
    per_cond = out[out["excluded"]].groupby("condition").size().to_dict()
    assert per_cond == {"SP": 2, "SS": 1, "PP": 1}
    # sentence method: any word of either sentence counts ('cats' after the verb in the SS item)
    sent = score_items(LMScorer(model, vocab), items, method="sentence")
    assert sent["excluded"].tolist() == [False, False, True, True, False, True, True]


def test_a_literal_unk_in_the_text_is_out_of_vocabulary():
    """WikiText and Gulordava's files write words they lost as '<unk>': such an item is not fully in vocabulary
    (it was counted as covered before), and with unk=True it is scored and flagged."""
    vocab = Vocab(WORDS)
    model = table_model(vocab)
    rows = [item("the <unk> of the dog", "runs", "run", "SS", iid="u0"), item("the dog", "runs", "run", "S", iid="u1")]
    out = score_items(LMScorer(model, vocab), prepare_items(rows), method="prefix")
    assert out["excluded"].tolist() == [True, False] and out["exclude_reason"].tolist()[0] == "oov"
    flagged = score_items(LMScorer(model, vocab), prepare_items(rows), method="prefix", unk=True)
    assert flagged["excluded"].tolist() == [False, False] and flagged["has_unk"].tolist() == [True, False]


def test_unk_option_scores_through_unk_and_marks_rows():
    vocab = Vocab(tuple(w for w in WORDS if w not in ("cats", "is", "are")))
    model = table_model(vocab)
    items = prepare_items(ITEMS)
    out = score_items(LMScorer(model, vocab), items, method="prefix", unk=True)
    by_id = out.set_index("id")
    # is/are both map to <unk>: a forced tie, always excluded and counted
    for k in (3, 5, 6):
        assert by_id.loc[ITEMS[k]["id"], "exclude_reason"] == "unk_tie"
    sp = by_id.loc[ITEMS[2]["id"]]      # 'cats' in the prefix only
    assert not sp["excluded"] and sp["has_unk"] and np.isfinite(sp["logp_good"])
    assert not by_id.loc[ITEMS[0]["id"], "has_unk"]
    sent = score_items(LMScorer(model, vocab), items, method="sentence", unk=True)
    assert sent.set_index("id").loc[ITEMS[3]["id"], "exclude_reason"] == "unk_tie"


def test_agreement_accuracy_matches_scores_and_keeps_training_mode():
    vocab = Vocab(WORDS)
    model = TinyLSTM(len(vocab), seed=3)
    model.train()
    acc = agreement_accuracy(model, vocab, random_items(50, seed=2), batch_size=8)
    assert model.training
    out = score_items(LMScorer(model, vocab), prepare_items(random_items(50, seed=2)), method="prefix")
    assert acc == pytest.approx(out["correct"].astype(float).mean())
    assert np.isnan(agreement_accuracy(model, Vocab(("<unk>", "<eos>")), random_items(5)))


def test_missing_columns_and_empty_selection():
    with pytest.raises(ProbeError, match="lack"):
        prepare_items([{"id": "a", "prefix": "the dog"}])
    items = prepare_items(ITEMS)
    assert len(select_items(items, split=None, constructions=["simple"], where="x")) == 2
    with pytest.raises(ProbeError, match="no items selected.*constructions pp, simple"):
        select_items(items, split=None, constructions=["orc"], where="x")


# --- end to end through the CLI, with baselines as models (a real model kind) ---------------------------

def write_toy(tmp_path, items=ITEMS):
    sents = [i["sentence_good"] for i in items] * 3 + [i["sentence_bad"] for i in items[:2]]
    vocab = Vocab(WORDS)
    ids = np.array([t for s in sents for t in vocab.encode(s.split()) + [1]], dtype=np.uint16)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vocab.save(corpus / "vocab.json")
    write_ids(corpus / "train.npy", ids)
    data = tmp_path / "data"
    data.mkdir()
    (data / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    return corpus, data


def test_cli_evaluate_writes_results(tmp_path, capsys):
    corpus, data = write_toy(tmp_path)
    assert main(["baseline", "--corpus", str(corpus), "--order", "3", "--out", str(tmp_path / "tri")]) == 0
    out = tmp_path / "res"
    rc = main(["evaluate", "--model", str(tmp_path / "tri"), "--data", str(data), "--out", str(out),
               "--baseline-corpus", str(corpus)])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.json", "figures", "report.md", "scores.jsonl", "scores.parquet", "summary.csv",
                     "summary.json", "summary_seeds.csv"]
    # the command prints accuracy per item class (not one number mixing them) and writes a report
    printed = capsys.readouterr().out
    assert "accuracy [95% CI] on all items" in printed and "per item class" in printed
    assert "all items" in printed and "matched k=1" in printed and "conflict k=1" in printed
    report = (out / "report.md").read_text()
    assert report.startswith("# probe evaluate: res") and "probe evaluate --model" in report
    assert "(figures/attractors.png)" in report
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 3 * len(ITEMS)
    assert set(scores["arch"]) == {"3-gram", "unigram"}
    assert sorted(scores["model"].unique()) == ["3-gram", "tri", "unigram"]
    summary = pd.read_csv(out / "summary.csv")
    for col in ("model", "arch", "seed", "construction", "condition", "n_attractors", "n_items", "n_excluded",
                "accuracy", "ci_low", "ci_high", "metric", "value"):
        assert col in summary.columns
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert len(lines) == len(scores) and "logp_good" in json.loads(lines[0])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "prefix" and "conventions" in cfg and "environment" in cfg
    # the same run through the library gives the same scores
    again = evaluate([str(tmp_path / "tri")], [str(data)], progress=False)
    np.testing.assert_allclose(again["logp_good"], scores.loc[scores["model"] == "tri", "logp_good"])


def _printed_table(printed: str) -> list[str]:
    """The rows of the accuracy table ``probe evaluate`` prints (header line and column line dropped)."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("accuracy [95% CI] on all items"))
    end = next(i for i, line in enumerate(lines) if "item scores excluded" in line)
    return lines[start + 2:end]


def test_cli_evaluate_takes_several_paths_after_one_flag_and_prints_every_data_set(tmp_path, capsys):
    corpus, data = write_toy(tmp_path)
    # a data set of one's own whose items say nothing of their numbers: every item is of unknown class
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    rows = [{k: v for k, v in i.items() if k not in ("head_number", "attractor_numbers", "nearest_number")}
            | {"condition": "", "n_attractors": -1} for i in ITEMS]
    (unknown / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for order in ("3", "2"):
        assert main(["baseline", "--corpus", str(corpus), "--order", order, "--out", str(tmp_path / f"g{order}")]) == 0
    capsys.readouterr()
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(tmp_path / "g3"), str(tmp_path / "g2"), "--data", str(data),
                 str(unknown), "--out", str(out), "--no-figures"]) == 0
    table = _printed_table(capsys.readouterr().out)
    # one line per arch x data set, the unknown-class set included (with its 'all items' cell only)
    assert len(table) == 4 and sum("unknown" in line for line in table) == 2
    scores = pd.read_parquet(out / "scores.parquet")
    assert sorted(scores["model"].unique()) == ["g2", "g3"] and sorted(scores["data"].unique()) == ["data", "unknown"]
    seeds = pd.read_csv(out / "summary_seeds.csv")
    overall = seeds[(seeds["level"] == "overall") & (seeds["data"] == "unknown") & (seeds["metric"] == "accuracy")
                    & (seeds["construction"] == "all")]
    assert len(overall) == 2 and (overall["n_items"] == len(ITEMS)).all()
    for arch in overall["arch"]:
        here = scores[(scores["arch"] == arch) & (scores["data"] == "unknown") & ~scores["excluded"]]
        assert overall.loc[overall["arch"] == arch, "value"].item() == pytest.approx(here["correct"].mean())
    # the flag repeated still works, and mixes with several paths after one flag
    assert main(["evaluate", "--model", str(tmp_path / "g3"), "--model", str(tmp_path / "g2"), "--data",
                 str(unknown), "--out", str(tmp_path / "res2"), "--no-figures"]) == 0
    assert len(_printed_table(capsys.readouterr().out)) == 2


def test_cli_evaluate_with_a_checkpoint(tmp_path):
    from probe.models.checkpoint import save_checkpoint
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model

    corpus, data = write_toy(tmp_path)
    vocab = Vocab(WORDS)
    cfg = ModelConfig(arch="lstm", vocab_size=len(vocab), emb=8, hidden=8, layers=1)
    torch.manual_seed(0)
    model = build_model(cfg)
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "model.pt", model=model, model_config=cfg, vocab=vocab,
                    train_config={"seed": 7}, train_state={})
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--data", str(data), "--out", str(out),
                 "--method", "sentence"]) == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert set(scores["arch"]) == {"lstm"} and set(scores["seed"]) == {7} and set(scores["method"]) == {"sentence"}


def test_cli_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys):
    corpus, data = write_toy(tmp_path)
    main(["baseline", "--corpus", str(corpus), "--out", str(tmp_path / "tri")])
    out = tmp_path / "res"
    not_model = tmp_path / "empty"
    not_model.mkdir()
    assert main(["evaluate", "--model", str(not_model), "--data", str(data), "--out", str(out)]) == 2
    assert "not a model" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "prefix": "the dog"}) + "\n")
    assert main(["evaluate", "--model", str(tmp_path / "tri"), "--data", str(bad), "--out", str(out)]) == 2
    assert "lacks the column" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "tri"), "--data", str(data), "--out", str(out),
                 "--split", "valid"]) == 2
    assert "no items selected" in capsys.readouterr().err
    fake_ckpt = tmp_path / "fake"
    fake_ckpt.mkdir()
    (fake_ckpt / "model.pt").write_bytes(b"not a checkpoint")
    if importlib.util.find_spec("probe.models"):  # checkpoint loading exists once models.py does
        assert main(["evaluate", "--model", str(fake_ckpt), "--data", str(data), "--out", str(out)]) == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".res")]


@pytest.mark.parametrize("line, message", [
    ('{"id": "x", ', "line 3: not valid JSON"),
    ("[1, 2]", "line 3: expected a JSON object, got a list"),
    (json.dumps({k: v for k, v in ITEMS[0].items() if k != "verb_bad"}), "line 3: the item lacks the column(s) verb_bad"),
    (json.dumps({**ITEMS[0], "verb_bad": None}), "line 3: field 'verb_bad' must be a string, got null"),
    (json.dumps({**ITEMS[0], "n_attractors": "two"}), "line 3: field 'n_attractors' must be an integer, got 'two'"),
], ids=["not-json", "not-object", "missing-column", "null-column", "wrong-type"])
def test_cli_malformed_items_line_is_named(tmp_path, capsys, line, message):
    corpus, data = write_toy(tmp_path)
    main(["baseline", "--corpus", str(corpus), "--out", str(tmp_path / "tri")])
    capsys.readouterr()
    rows = (data / "items.jsonl").read_text().splitlines()
    (data / "items.jsonl").write_text("\n".join(rows[:2] + [line] + rows[2:]) + "\n")
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(tmp_path / "tri"), "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{data / 'items.jsonl'} {message}" in err[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".res")]


def test_empty_items_file_is_a_probe_error(tmp_path):
    from probe.data.items import load_items

    (tmp_path / "items.jsonl").write_text("\n\n")
    with pytest.raises(ProbeError, match="holds no items"):
        load_items(tmp_path)


def test_labels_become_columns_and_names_stay_unique(tmp_path):
    corpus, data = write_toy(tmp_path)
    for sub in ("a", "b"):
        main(["baseline", "--corpus", str(corpus), "--out", str(tmp_path / sub / "tri")])
    paths = [str(tmp_path / "a" / "tri"), str(tmp_path / "b" / "tri")]
    out = tmp_path / "res"
    scores = evaluate(paths, [str(data)], out, labels={paths[0]: {"attractor_rate": 0.1},
                                                       paths[1]: {"attractor_rate": 0.3}},
                      progress=False)
    assert sorted(scores["model"].unique()) == ["a/tri", "b/tri"]
    assert scores.groupby("model")["attractor_rate"].first().to_dict() == {"a/tri": 0.1, "b/tri": 0.3}
    seeds = pd.read_csv(out / "summary_seeds.csv")
    assert sorted(seeds["attractor_rate"].unique()) == [0.1, 0.3] and (seeds["n_seeds"] <= 1).all()


# --------------------------------------------------------------------------- SyntaxGym prediction formulas

def _tiny_lm(tmp_path, words):
    import torch

    from probe.data.corpus import Vocab
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model
    from probe.models.checkpoint import save_checkpoint

    vocab = Vocab(("<unk>", "<eos>", *sorted(set(words))))
    torch.manual_seed(0)
    cfg = ModelConfig(arch="lstm", vocab_size=len(vocab), emb=8, hidden=8, layers=1)
    model = build_model(cfg)
    save_checkpoint(tmp_path / "lm" / "model.pt", model=model, model_config=cfg, vocab=vocab,
                    train_config={"seed": 0}, train_state={})
    return tmp_path / "lm", model.eval(), vocab


def _mini_suite():
    def cond(name, head, verb):
        return {"condition_name": name, "regions": [
            {"region_number": 1, "content": "The"}, {"region_number": 2, "content": head},
            {"region_number": 3, "content": "near the senators"}, {"region_number": 4, "content": verb},
            {"region_number": 5, "content": "happy."}]}
    return {"meta": {"name": "mini", "metric": "sum"}, "region_meta": {str(i): str(i) for i in range(1, 6)},
            "predictions": [{"type": "formula", "formula": "(4;%match%) < (4;%mismatch%)"}],
            "items": [{"item_number": 1, "conditions": [cond("match", "author", "is"), cond("mismatch", "author", "are")]},
                      {"item_number": 2, "conditions": [cond("match", "authors", "are"), cond("mismatch", "authors", "is")]}]}


def test_token_surprisals_match_a_direct_forward_pass(tmp_path):
    import torch

    from probe.scoring.neural import LMScorer
    from probe.scoring.suites import token_surprisals

    words = "the author authors near senators is are happy".split()
    _, model, vocab = _tiny_lm(tmp_path, words)
    sent = "the author near the senators is happy".split()
    got = token_surprisals(LMScorer(model, vocab, batch_size=3), [sent, sent[:3]])
    ids = torch.tensor([[vocab.eos_id] + vocab.encode(sent)])
    with torch.no_grad():
        lp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
    want = -lp[torch.arange(len(sent)), ids[0, 1:]].numpy()
    assert np.allclose(got[0], want, atol=1e-5) and np.allclose(got[1], want[:3], atol=1e-5)


def test_probe_suite_evaluates_the_suites_formulas(tmp_path, capsys):
    import pandas as pd

    from probe.cli import main
    from probe.scoring.neural import LMScorer
    from probe.scoring.suites import token_surprisals

    words = "the author authors near senators is are happy".split()
    lm, model, vocab = _tiny_lm(tmp_path, words)
    suite = tmp_path / "mini.json"
    suite.write_text(json.dumps(_mini_suite()))
    assert main(["suite", "--model", str(lm), "--suite", str(suite), "--out", str(tmp_path / "out")]) == 0
    preds = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(preds) == 2 and set(preds["formula"]) == {"(4;%match%) < (4;%mismatch%)"}
    scorer = LMScorer(model, vocab)
    for item, head, good, bad in ((1, "author", "is", "are"), (2, "authors", "are", "is")):
        s_good, s_bad = (token_surprisals(scorer, [f"the {head} near the senators {v} happy".split()])[0][5]
                         for v in (good, bad))
        assert bool(preds.loc[preds["item"] == item, "result"].iloc[0]) == (s_good < s_bad)
    assert main(["suite", "--suite", str(suite), "--out", str(tmp_path / "o2")]) == 2
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_token_logprobs_equal_the_tail_sums_they_replace(arch):
    vocab = Vocab(WORDS)
    scorer = LMScorer(probe_model(arch, vocab), vocab, batch_size=4)
    seqs = [vocab.encode(["<eos>", *r["sentence_good"].split()]) for r in random_items(30, seed=5)] + [[1]]
    tok = scorer.token_logprobs(seqs)
    assert [len(t) for t in tok] == [len(s) - 1 for s in seqs]
    for start in (1, 3):
        want = scorer.sequence_logprobs(seqs, np.full(len(seqs), start))
        np.testing.assert_allclose([t[start - 1:].sum() for t in tok], want, atol=1e-9, rtol=0)
    # and the whole-sentence sum is what one forward pass gives
    with torch.no_grad():
        ids = torch.tensor([seqs[0]])
        lp = torch.log_softmax(scorer.model(ids).logits[0, :-1], -1)[torch.arange(len(seqs[0]) - 1), ids[0, 1:]]
    np.testing.assert_allclose(tok[0], lp.double().numpy(), atol=1e-5, rtol=0)


def test_scores_start_from_a_zero_state_unless_a_start_state_is_given():
    """probe's convention: every prefix is read from a zero state after <eos> (conventions in config.json).
    A warmed start state (the state after preceding corpus text) gives what the model says after that text."""
    import torch

    from probe.scoring.neural import LMScorer, warm_state
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="lstm", vocab_size=9, emb=6, hidden=6, layers=2)).eval()
    vocab = Vocab(("<unk>", "<eos>", *"abcdefg"))
    prefixes, cand = [[1, 2, 3], [1, 2, 4, 5]], np.array([[6, 7], [6, 8]])
    cold = LMScorer(model, vocab).next_word_logprobs(prefixes, cand)
    with torch.no_grad():
        ref = [torch.log_softmax(model(torch.tensor([p])).logits[0, -1], -1)[c].numpy() for p, c in zip(prefixes, cand)]
    np.testing.assert_allclose(cold, np.stack(ref), atol=1e-5)
    context = [1, 3, 3, 2, 1]
    warm = LMScorer(model, vocab, start_state=warm_state(model, context)).next_word_logprobs(prefixes, cand)
    with torch.no_grad():
        ref = [torch.log_softmax(model(torch.tensor([context + p])).logits[0, -1], -1)[c].numpy()
               for p, c in zip(prefixes, cand)]
    np.testing.assert_allclose(warm, np.stack(ref), atol=1e-5)
    assert np.abs(warm - cold).max() > 1e-4


def test_cli_duplicate_item_ids_are_refused(tmp_path, capsys):
    corpus, data = write_toy(tmp_path, items=ITEMS + [dict(ITEMS[1], prefix="the cats", sentence_good="the cats run",
                                                          sentence_bad="the cats runs")])
    main(["baseline", "--corpus", str(corpus), "--out", str(tmp_path / "tri")])
    capsys.readouterr()
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(tmp_path / "tri"), "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"probe evaluate: error: {data}: item id {ITEMS[1]['id']!r} is used 2 times; give each item its "
                   f"own id (`probe validate {data}` lists them)"]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".res")]


def test_cli_unknown_model_kind_is_named(tmp_path, capsys):
    _, data = write_toy(tmp_path)
    out = tmp_path / "res"
    assert main(["evaluate", "--model", "kenlm:foo.arpa", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown kind 'kenlm' in the model reference 'kenlm:foo.arpa'" in err[0]
    assert "checkpoint, ngram, hf" in err[0] and not out.exists()


def test_cli_results_folder_refused_by_the_system_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """The folder cannot be written (simulated: tests run as root, whom chmod does not stop): scoring ran, the
    atomic writer fails, the error names the results folder, and no partial folder is left."""
    import errno
    import types

    import probe.core.io

    corpus, data = write_toy(tmp_path)
    main(["baseline", "--corpus", str(corpus), "--out", str(tmp_path / "tri")])
    capsys.readouterr()

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(probe.core.io, "tempfile", types.SimpleNamespace(mkdtemp=refuse, mkstemp=refuse))
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(tmp_path / "tri"), "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"probe evaluate: error: cannot use {out}: Permission denied; ")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".res")]
