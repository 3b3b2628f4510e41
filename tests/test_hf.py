"""Tests for probe.scoring.hf: a tiny random GPT-2 and a hand-made byte-level BPE tokenizer, built offline."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.items import prepare_items
from probe.scoring import score_continuations
from probe.scoring.items import score_items
from probe.scoring.hf import HFScorer
from toy import save_tiny_gpt2

torch.set_num_threads(1)


def item(prefix, good, bad, condition, *, rest="", construction="pp"):
    tail = f" {rest}" if rest else ""
    return {"id": f"{construction}.{condition}.{prefix}.{good}{tail}", "construction": construction,
            "condition": condition, "prefix": prefix, "verb_good": good, "verb_bad": bad,
            "sentence_good": f"{prefix} {good}{tail}", "sentence_bad": f"{prefix} {bad}{tail}",
            "nearest_number": "sg" if condition[-1] == "S" else "pl", "verb_type": "intransitive"}


ITEMS = [
    item("the dog", "is", "are", "S", construction="simple"),
    item("the dogs", "are", "is", "P", construction="simple"),
    item("the dog", "runs", "run", "S", construction="simple"),          # same prefix as the first item
    item("the dog near the cats", "is", "are", "SP"),
    item("the dogs near the cat", "run", "runs", "PS", rest="fast"),
    item("the dog near the cat", "is", "are", "SS", rest="near the cats"),
    item("the dogs of the cats", "are", "is", "PP"),
]


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A randomly initialised 2-layer GPT-2 and its tokenizer, saved with save_pretrained -> folder."""
    pytest.importorskip("transformers")
    return save_tiny_gpt2(tmp_path_factory.mktemp("hf") / "tiny-gpt2")


@pytest.fixture(scope="module")
def scorer(tiny_gpt2):
    return HFScorer.from_pretrained(tiny_gpt2, device="cpu", batch_size=4)


def token_logprobs(scorer, ids):
    """Per-token log P(ids[t] | ids[:t]) for t >= 1, straight from one unpadded forward pass."""
    with torch.no_grad():
        logits = scorer.model(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()


def test_missing_transformers_is_a_probe_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)    # makes `import transformers` fail
    with pytest.raises(ProbeError, match=r"pip install probe\[hf\]"):
        HFScorer.from_pretrained("openai-community/gpt2")


def test_bad_names_are_one_line_errors(tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    pytest.importorskip("transformers")
    with pytest.raises(ProbeError, match="not a folder"):
        HFScorer.from_pretrained(tmp_path / "no-such-model")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ProbeError, match="cannot load Hugging Face causal LM") as err:
        HFScorer.from_pretrained("probe-tests/no-such-model")
    assert "\n" not in str(err.value)


def test_bos_and_leading_space_are_explicit_and_recorded(scorer):
    tok = scorer.tokenizer
    seqs, starts, _, _ = scorer.encode(["the dog", "the dog", ""], ["is", "are", "the dog is"])
    assert all(s[0] == tok.bos_token_id for s in seqs)                 # <|endoftext|> opens every text
    assert tok.convert_ids_to_tokens(seqs[0][starts[0]:]) == ["Ġis"]   # the verb keeps its leading space
    assert tok.convert_ids_to_tokens(seqs[1][starts[1]:]) == ["Ġ", "a", "r", "e"]
    assert tok.convert_ids_to_tokens(seqs[2][1:3]) == ["t", "he"]      # no space after the start token
    assert starts[2] == 1
    conv = scorer.info["conventions"]
    assert "<|endoftext|>" in conv["start_token"] and "Ġis" in conv["leading_space"]
    assert scorer.info["arch"] == "hf:gpt2" and scorer.info["model"] == "tiny-gpt2"


def test_multi_token_verb_is_the_sum_of_its_tokens(scorer):
    tok = scorer.tokenizer
    got = scorer.word_logprobs(["the dog near the cats", "the dog"], ["are", "is"])
    for (ctx, verb), value in zip([("the dog near the cats", "are"), ("the dog", "is")], got):
        ctx_ids = [tok.bos_token_id, *tok(ctx, add_special_tokens=False)["input_ids"]]
        ids = [tok.bos_token_id, *tok(f"{ctx} {verb}", add_special_tokens=False)["input_ids"]]
        per_token = token_logprobs(scorer, ids)[len(ctx_ids) - 1:]
        assert len(per_token) == (4 if verb == "are" else 1)
        assert value == pytest.approx(per_token.sum(), abs=1e-5)


def test_prefix_score_is_a_difference_of_sentence_scores(scorer):
    ctx = ["the dog", "the dogs near the cat", "the dog"]
    verbs = ["is", "run", "are"]
    prefix = scorer.word_logprobs(ctx, verbs)
    whole = scorer.word_logprobs([""] * 3, [f"{c} {v}" for c, v in zip(ctx, verbs)])
    before = scorer.word_logprobs([""] * 3, ctx)
    np.testing.assert_allclose(prefix, whole - before, atol=1e-5)
    with_eos = scorer.word_logprobs([""] * 3, [f"{c} {v}" for c, v in zip(ctx, verbs)], final_eos=True)
    assert (with_eos < whole).all()      # log P(<|endoftext|> | sentence) < 0 is added
    # the minicons-style helper goes through the same word-level path
    np.testing.assert_allclose(score_continuations(scorer, [c.split() for c in ctx], [[v] for v in verbs]),
                               prefix, atol=1e-6)


@pytest.mark.parametrize("method", ["prefix", "sentence"])
def test_scores_do_not_depend_on_batch_size(tiny_gpt2, method):
    items = prepare_items(ITEMS)
    one = score_items(HFScorer.from_pretrained(tiny_gpt2, device="cpu", batch_size=1), items, method=method)
    many = score_items(HFScorer.from_pretrained(tiny_gpt2, device="cpu", batch_size=5), items, method=method)
    assert not one["excluded"].any() and one["logp_good"].notna().all()
    np.testing.assert_allclose(one[["logp_good", "logp_bad"]], many[["logp_good", "logp_bad"]], atol=1e-5)
    # prefix method: log P(verb | prefix) itself; the items' verbs differ, so the scores do too
    assert one["logp_good"].nunique() > 3


def test_identical_prefixes_run_once(tiny_gpt2, monkeypatch):
    scorer = HFScorer.from_pretrained(tiny_gpt2, device="cpu", batch_size=64)
    rows = []
    real = scorer._logits
    monkeypatch.setattr(scorer, "_logits", lambda ids, lengths: rows.append(ids.shape[0]) or real(ids, lengths))
    # 'is' and 'Ġdogs'... single tokens read from one pass over the shared prefix; 'are' needs its own pass
    scorer.word_logprobs(["the dog", "the dog", "the dog", "the dog"], ["is", "is", "dogs", "are"])
    assert rows == [1, 1]


def test_without_a_start_token_first_word_pairs_are_excluded(scorer):
    no_bos = HFScorer(scorer.model, scorer.tokenizer, bos=False, info={"model": "no-bos", "seed": 0, "path": ""})
    assert not no_bos.scores_first_word and "never scored" in no_bos.info["conventions"]["start_token"]
    rows = ITEMS[:2] + [{**item("", "is", "are", "S"), "sentence_good": "is the dog here",
                         "sentence_bad": "are the dog here"}]
    out = score_items(no_bos, prepare_items(rows), method="sentence")
    assert out["exclude_reason"].tolist() == ["", "", "first_word"]
    seqs, starts, _, _ = no_bos.encode([""], ["the dog is"])
    assert starts[0] == 1 and seqs[0][0] != scorer.tokenizer.bos_token_id   # first token is context only


def test_cli_scores_an_hf_model_like_any_other(tiny_gpt2, tmp_path, capsys):
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    for method in ("prefix", "sentence"):
        out = tmp_path / f"eval-{method}"
        code = main(["evaluate", "--hf-model", str(tiny_gpt2), "--data", str(data), "--out", str(out),
                     "--method", method, "--device", "cpu"])
        assert code == 0
        assert "hf:gpt2" in capsys.readouterr().out           # the per-class table, one row per arch
        scores = pd.read_parquet(out / "scores.parquet")
        assert len(scores) == len(ITEMS) and not scores["excluded"].any()
        assert set(scores["arch"]) == {"hf:gpt2"} and set(scores["seed"]) == {0}
        summary = pd.read_csv(out / "summary.csv")
        assert {"accuracy"} <= set(summary["metric"]) and set(summary["model"]) == {"tiny-gpt2"}
        cfg = json.loads((out / "config.json").read_text())
        assert cfg["hf_models"] == [str(tiny_gpt2)]
        info = cfg["models_info"][0]
        assert info["arch"] == "hf:gpt2" and info["dtype"] == "float32"
        assert "<|endoftext|>" in info["conventions"]["start_token"] and "hf_models" in cfg["conventions"]
    code = main(["evaluate", "--hf-model", str(tmp_path / "missing"), "--data", str(data),
                 "--out", str(tmp_path / "bad")])
    assert code == 2 and not (tmp_path / "bad").exists()


def test_suite_scores_an_hf_model_with_full_coverage(tiny_gpt2, scorer, tmp_path):
    """probe suite on a subword model: word surprisals sum their tokens, nothing is out of vocabulary."""
    from probe.suite import evaluate_suite
    from probe.scoring.suites import token_surprisals

    words = "the dogs near the cats are".split()
    per_word = token_surprisals(scorer, [words])[0]
    whole = scorer.word_logprobs([""], [" ".join(words)])[0]
    assert len(per_word) == len(words) and per_word.sum() == pytest.approx(-whole, abs=1e-4)

    def cond(name, head, verb):
        return {"condition_name": name, "regions": [{"region_number": 1, "content": f"the {head}"},
                                                    {"region_number": 2, "content": verb}]}
    suite = {"meta": {"name": "tiny"}, "region_meta": {"1": "np", "2": "verb"},
             "predictions": [{"type": "formula", "formula": "(2;%match%) < (2;%mismatch%)"}],
             "items": [{"item_number": 1, "conditions": [cond("match", "dog", "is"), cond("mismatch", "dog", "are")]}]}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(suite))
    summary = evaluate_suite([f"hf:{tiny_gpt2}"], [path], tmp_path / "out", device="cpu")
    assert (summary["token_coverage"] == 1).all() and (summary["n_items"] == 1).all()


def test_cli_hub_name_offline_is_one_line_naming_a_local_folder(tmp_path, monkeypatch, capsys):
    """HF_HUB_OFFLINE is honoured: a hub name that is not cached fails at once (no retries), and the fix
    given is a local save_pretrained folder."""
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    out = tmp_path / "res"
    assert main(["evaluate", "--hf-model", "probe-tests/no-such-model", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'probe-tests/no-such-model': the hub is offline or unreachable" in err[0]
    assert "a folder written by save_pretrained (--hf-model PATH)" in err[0] and not out.exists()


def test_unreachable_hub_puts_the_libraries_offline_for_the_load_only(monkeypatch):
    """Without HF_HUB_OFFLINE, a hub whose host refuses the connection is seen at once: the load runs in the
    libraries' offline mode (cache only, no retries) and fails with the local-folder fix; afterwards the
    environment and the libraries' flags are as they were."""
    import os

    hub = pytest.importorskip("huggingface_hub")
    pytest.importorskip("transformers")
    from probe.core.hub import hub_access

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")     # the discard port: nothing listens there
    with hub_access(timeout=2.0) as online:
        assert not online and hub.constants.HF_HUB_OFFLINE and os.environ["HF_HUB_OFFLINE"] == "1"
    assert hub.constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ
    with pytest.raises(ProbeError, match="the hub is offline or unreachable and the model is not in the local cache"):
        HFScorer.from_pretrained("probe-tests/no-such-model")
    assert hub.constants.HF_HUB_OFFLINE is False
