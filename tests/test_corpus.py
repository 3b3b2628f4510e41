"""Tests for corpus building: synthetic and text sources, vocabulary, exclusion, splits, CLI, bad input."""
from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import probe.data.corpus
from probe.cli import main
from probe.core.errors import ProbeError
from probe.core.config import config_from_dict
from probe.data.corpus import EOS, UNK, CorpusConfig, build_corpus, build_vocab, load_corpus
from probe.data.grammar import Grammar
from probe.data.lexicon import load_lexicon

EXTERNAL = Path(__file__).resolve().parents[1].parent / "shared" / "external"
SMALL = CorpusConfig(n_sentences=1500, exclude_benchmark=False)


def _sentences(corpus, split):
    """Decode a split back into sentence strings."""
    words = corpus.vocab.decode(np.asarray(corpus.splits[split]).tolist())
    out, cur = [], []
    for w in words:
        if w == EOS:
            out.append(" ".join(cur))
            cur = []
        else:
            cur.append(w)
    assert not cur, "every sentence ends with <eos>"
    return out


def _text_cfg(tmp_path, **kw):
    kw.setdefault("exclude_benchmark", False)
    return CorpusConfig(source="text", cache_dir=str(tmp_path / "hf-cache"), **kw)


def test_synthetic_corpus_folder(tmp_path):
    stats = build_corpus(SMALL, tmp_path / "c")
    c = load_corpus(tmp_path / "c")
    assert c.vocab.itos[:2] == (UNK, EOS)
    assert stats["sentences"] == {"train": 1350, "valid": 75, "test": 75}
    for split, n in stats["sentences"].items():
        ids = np.asarray(c.splits[split])
        assert ids.dtype == np.uint16 and int((ids == 1).sum()) == n and ids[-1] == 1
        assert stats["tokens"][split] == len(ids)
    assert stats["oov_rate"]["train"] == 0.0 and stats["agreement_errors"] == 0
    # every lexicon word has an id, even those 1,500 sentences happen to lack
    lex = load_lexicon()
    assert set(lex.noun_number) | set(lex.verb_number) <= set(c.vocab.itos)
    assert stats["oov_rate"]["valid"] == 0.0 and stats["oov_rate"]["test"] == 0.0
    assert abs(stats["attractor_rate"] - SMALL.attractor_rate) < 0.03
    assert stats["removed_benchmark_sentences"] == 0
    # config.json is the resolved config and loads back into CorpusConfig (nested grammar included)
    saved = config_from_dict(CorpusConfig, json.loads((tmp_path / "c" / "config.json").read_text()))
    assert saved.match_rate == SMALL.attractor_rate and saved.grammar == SMALL.grammar
    assert saved.lexicon == load_lexicon().path
    # the decoded sentences are the grammar's, in order
    g = Grammar(load_lexicon(), attractor_rate=SMALL.attractor_rate, max_depth=SMALL.max_depth)
    sents = g.generate(1500, seed=SMALL.seed)
    expect = [" ".join(s.tokens) for s in sents]
    assert _sentences(c, "train") + _sentences(c, "valid") + _sentences(c, "test") == expect
    # the entropy floor: the grammar's own log-probabilities of each split's sentences and their <eos>
    floor = stats["entropy_floor"]
    assert floor["exact"] and floor["ambiguous_forms"] == []
    valid = sents[1350:1425]
    nats = -sum(s.logp for s in valid) / sum(len(s.tokens) + 1 for s in valid)
    assert floor["valid"]["nats_per_token"] == pytest.approx(nats) and floor["valid"]["tokens"] == stats["tokens"]["valid"]
    assert 1 < floor["valid"]["ppl"] < len(c.vocab)


def test_modifier_rate_sweep_holds_length_and_modifiers_fixed(tmp_path):
    """Two corpora of a sweep (modifier_rate fixed) differ in their attractor rate only: same sentences,
    tokens within 1%, the same share of subjects crossing a noun (within 1 point), the match rate recorded."""
    import dataclasses

    stats = {r: build_corpus(dataclasses.replace(SMALL, n_sentences=12_000, attractor_rate=r, modifier_rate=0.6),
                             tmp_path / f"r{r}") for r in (0.01, 0.3)}
    a, b = stats[0.01], stats[0.3]
    assert a["sentences"] == b["sentences"]
    assert a["tokens"]["train"] == pytest.approx(b["tokens"]["train"], rel=0.01)
    assert a["subject_noun_rate"] == pytest.approx(b["subject_noun_rate"], abs=0.01)
    assert a["modifier_rate"] == b["modifier_rate"] == pytest.approx(0.6)
    assert a["match_rate"] == pytest.approx(0.59) and b["match_rate"] == pytest.approx(0.3)
    assert a["attractor_rate"] < 0.02 < 0.28 < b["attractor_rate"]


def test_same_seed_same_bytes(tmp_path):
    build_corpus(SMALL, tmp_path / "a")
    build_corpus(SMALL, tmp_path / "b")
    build_corpus(dataclasses.replace(SMALL, seed=1), tmp_path / "c")
    for name in ("train.npy", "valid.npy", "test.npy", "vocab.json", "stats.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "train.npy").read_bytes() != (tmp_path / "c" / "train.npy").read_bytes()


def _write_items(path, pairs):
    with open(path, "w") as fh:
        for i, (good, bad) in enumerate(pairs):
            fh.write(json.dumps({"id": f"x{i}", "construction": "simple", "condition": "S", "prefix": "",
                                 "verb_good": "", "verb_bad": "", "sentence_good": good,
                                 "sentence_bad": bad}) + "\n")


def test_benchmark_items_are_removed(tmp_path):
    g = Grammar(load_lexicon(), attractor_rate=SMALL.attractor_rate, max_depth=SMALL.max_depth)
    stream = [" ".join(s.tokens) for s in g.generate(3000, seed=SMALL.seed)]
    # one generated sentence listed as a good sentence, another as a bad one (both must go)
    good, bad = stream[3], stream[10]
    _write_items(tmp_path / "items.jsonl", [(good, "the author laugh"), ("the authors laughs", bad)])
    cfg = dataclasses.replace(SMALL, exclude_benchmark=True, exclude_items=str(tmp_path / "items.jsonl"))
    stats = build_corpus(cfg, tmp_path / "c")
    c = load_corpus(tmp_path / "c")
    kept = _sentences(c, "train") + _sentences(c, "valid") + _sentences(c, "test")
    assert good not in kept and bad not in kept and len(kept) == 1500
    expect = [s for s in stream if s not in (good, bad)][:1500]
    assert kept == expect
    removed = n_kept = 0
    for sent in stream:
        removed += sent in (good, bad)
        n_kept += sent not in (good, bad)
        if n_kept == 1500:
            break
    assert stats["removed_benchmark_sentences"] == removed >= 2
    assert stats["benchmark_sentences"] == 4


def test_default_exclusion_builds_the_benchmark_in_memory(tmp_path, monkeypatch):
    import probe.data.build

    g = Grammar(load_lexicon(), attractor_rate=SMALL.attractor_rate, max_depth=SMALL.max_depth)
    first = " ".join(g.generate(1, seed=SMALL.seed)[0].tokens)
    calls = []

    def fake_build_items(cfg):
        calls.append(cfg)
        return [{"sentence_good": first, "sentence_bad": "x"}]

    monkeypatch.setattr(probe.data.build, "build_items", fake_build_items)
    stats = build_corpus(dataclasses.replace(SMALL, exclude_benchmark=True), tmp_path / "c")
    assert calls == [probe.data.build.BuildConfig()]
    assert stats["removed_benchmark_sentences"] >= 1
    assert first not in _sentences(load_corpus(tmp_path / "c"), "train")


def test_build_vocab_min_count_max_size_and_order():
    types = [UNK, EOS, "b", "a", "c", "d"]
    counts = np.array([5, 9, 3, 3, 1, 7])
    vocab, t2i = build_vocab(types, counts)
    assert vocab.itos == (UNK, EOS, "d", "a", "b", "c")  # by count, ties alphabetical; specials first
    assert t2i.tolist() == [0, 1, 4, 3, 5, 2]
    vocab, t2i = build_vocab(types, counts, min_count=3)
    assert vocab.itos == (UNK, EOS, "d", "a", "b") and t2i[4] == 0
    vocab, t2i = build_vocab(types, counts, max_vocab=4)
    assert vocab.itos == (UNK, EOS, "d", "a") and t2i[2] == 0 and t2i[4] == 0


def test_text_whitespace_unk_eos_and_cutoffs(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("the cat sat\n\n  the dog <unk> sat  \nthe cat ran\nrare words here\nThe Cat\n")
    cfg = _text_cfg(tmp_path, text_files=(str(f),), tokenizer="whitespace", valid_fraction=0.0,
                    test_fraction=0.2, min_count=2, exclude_benchmark=False)
    stats = build_corpus(cfg, tmp_path / "c")
    c = load_corpus(tmp_path / "c")
    # 5 non-empty lines: the blank one is skipped; the last line goes to test
    assert stats["sentences"] == {"train": 4, "valid": 0, "test": 1}
    assert c.vocab.itos == (UNK, EOS, "the", "cat", "sat")
    assert _sentences(c, "train") == ["the cat sat", f"the {UNK} {UNK} sat", "the cat <unk>",
                                      f"{UNK} {UNK} {UNK}"]
    assert _sentences(c, "test") == ["the cat"]  # lower-cased
    # 13 train words: 6 map to <unk>, 1 of them was the text's own '<unk>'
    assert stats["words"]["train"] == 13 and stats["tokens"]["train"] == 17
    assert stats["unk_rate"]["train"] == pytest.approx(6 / 13)
    assert stats["oov_rate"]["train"] == pytest.approx(5 / 13)
    assert stats["attractor_rate"] is None and stats["oov_rate"]["valid"] is None
    assert np.asarray(c.splits["valid"]).size == 0


def test_text_through_spacy_with_max_vocab_and_gz(tmp_path, monkeypatch):
    f = tmp_path / "t.txt.gz"
    with gzip.open(f, "wt", encoding="utf-8") as fh:
        fh.write("The author's book, <unk> rocks.\nDon't stop  now!\n")
    cfg = _text_cfg(tmp_path, train_files=(str(f),), valid_files=(str(f),), test_files=(str(f),))
    stats = build_corpus(cfg, tmp_path / "c")
    c = load_corpus(tmp_path / "c")
    assert _sentences(c, "train") == ["the author 's book , <unk> rocks .", "do n't stop now !"]
    assert _sentences(c, "test") == _sentences(c, "train")
    assert stats["oov_rate"]["test"] == 0.0 and stats["unk_rate"]["test"] == pytest.approx(1 / 13)
    # several processes (one chunk of lines each) give the same corpus
    monkeypatch.setattr(probe.data.corpus, "_CHUNK_LINES", 1)
    build_corpus(dataclasses.replace(cfg, n_process=2), tmp_path / "p")
    for name in ("train.npy", "test.npy", "vocab.json", "stats.json"):
        assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    build_corpus(dataclasses.replace(cfg, max_vocab=5, lowercase=False), tmp_path / "d")
    d = load_corpus(tmp_path / "d")
    assert len(d.vocab) == 5 and d.vocab.itos[:2] == (UNK, EOS)
    assert "The" in _sentences(d, "train")[0] or UNK in _sentences(d, "train")[0]


@pytest.mark.skipif(not (EXTERNAL / "ptb_mikolov").is_dir(), reason="shared/external/ptb_mikolov not present")
def test_ptb_smoke(tmp_path):
    ptb = EXTERNAL / "ptb_mikolov"
    cfg = _text_cfg(tmp_path, train_files=(str(ptb / "ptb.train.txt.gz"),),
                    valid_files=(str(ptb / "ptb.valid.txt.gz"),), test_files=(str(ptb / "ptb.test.txt.gz"),),
                    tokenizer="whitespace", lowercase=False, max_lines=2000)
    stats = build_corpus(cfg, tmp_path / "c")
    c = load_corpus(tmp_path / "c")
    assert stats["sentences"] == {"train": 2000, "valid": 2000, "test": 2000}
    assert stats["tokens"]["train"] == stats["words"]["train"] + 2000
    assert "N" in c.vocab and 0 < stats["unk_rate"]["train"] < 0.1  # PTB's own <unk> tokens
    assert 0 < stats["oov_rate"]["valid"] < 0.2  # words of valid missing from 2,000 train lines


@pytest.mark.skipif(not (EXTERNAL / "wikitext2").is_dir(), reason="shared/external/wikitext2 not present")
def test_wikitext_smoke_spacy(tmp_path):
    wt = EXTERNAL / "wikitext2"
    cfg = _text_cfg(tmp_path, train_files=(str(wt / "valid.txt"),), test_files=(str(wt / "test.txt"),),
                    valid_fraction=0.1, max_lines=600)
    stats = build_corpus(cfg, tmp_path / "c")
    c = load_corpus(tmp_path / "c")
    assert stats["sentences"]["train"] == 540 and stats["sentences"]["valid"] == 60
    # spaCy keeps the corpus's own markers whole
    assert {"<unk>", "@-@", "@,@", "@.@"} <= set(c.vocab.itos)
    assert "unk" not in c.vocab and all(w == w.lower() for w in c.vocab.itos)


def test_hub_dataset_without_network_is_a_probe_error(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    cfg = CorpusConfig(source="hf", hf_name="wikitext:wikitext-2-raw-v1", exclude_benchmark=False,
                       cache_dir=str(tmp_path / "hf-cache"))
    with pytest.raises(ProbeError, match="Hugging Face hub"):
        build_corpus(cfg, tmp_path / "c")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("bad", [
    dict(attractor_rate=1.5), dict(attractor_rate=-0.1), dict(n_sentences=0), dict(valid_fraction=0.6, test_fraction=0.5),
    dict(tokenizer="nltk"), dict(source="web"), dict(max_vocab=2), dict(min_count=0), dict(max_depth=0),
    dict(source="text"), dict(source="text", text_files=("missing.txt",)), dict(source="hf"),
    dict(text_files=("a.txt",)),
])
def test_bad_configs_are_probe_errors(tmp_path, bad):
    with pytest.raises(ProbeError):
        build_corpus(dataclasses.replace(SMALL, **bad), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_cli_builds_synthetic_and_text(tmp_path, capsys):
    assert main(["corpus", "--out", str(tmp_path / "s"), "--sentences", "300", "--attractor-rate", "0.2",
                 "--no-exclude", "--seed", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg["attractor_rate"] == 0.2 and cfg["n_sentences"] == 300 and cfg["seed"] == 3
    f = tmp_path / "t.txt"
    f.write_text("".join(f"line {i} of text\n" for i in range(50)))
    assert main(["corpus", "--text", str(f), "--out", str(tmp_path / "t"), "--tokenizer", "whitespace",
                 "--no-exclude", "--cache-dir", str(tmp_path / "hf")]) == 0
    assert json.loads((tmp_path / "t" / "stats.json").read_text())["sentences"] == {"train": 46, "valid": 2, "test": 2}


@pytest.mark.parametrize("args", [
    ["--text", "does-not-exist.txt"],
    ["--attractor-rate", "1.5"],
    ["--sentences", "0"],
    ["--valid", "x.txt"],
    ["--hf", "wikitext", "--text", "x.txt"],
])
def test_cli_bad_input_exits_2_with_no_output(tmp_path, capsys, args):
    out = tmp_path / "c"
    assert main(["corpus", "--out", str(out), "--no-exclude", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("probe corpus: error:") and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".c.*"))


def test_cli_refuses_existing_output_without_overwrite(tmp_path, capsys):
    out = tmp_path / "c"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["corpus", "--out", str(out), "--sentences", "100", "--no-exclude"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["corpus", "--out", str(out), "--sentences", "100", "--no-exclude", "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "train.npy").is_file()


def test_cli_text_that_is_not_utf8_names_file_line_and_byte(tmp_path, capsys):
    f = tmp_path / "latin1.txt"
    f.write_bytes("the dog runs\nthe café is open\n".encode("latin-1"))
    out = tmp_path / "c"
    assert main(["corpus", "--text", str(f), "--out", str(out), "--tokenizer", "whitespace", "--no-exclude",
                 "--cache-dir", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"probe corpus: error: {f} line 2 (byte 20): b'\\xe9' is not UTF-8 text; re-encode the file as "
                   "UTF-8, e.g. iconv -f latin1 -t utf-8 latin1.txt > utf8-latin1.txt"]
    assert not out.exists() and not list(tmp_path.glob(".c.*"))


def test_cli_hub_dataset_offline_fails_at_once_naming_local_files(tmp_path, monkeypatch, capsys):
    """HF_HUB_OFFLINE (set for the whole suite) is honoured: no retries against the hub, and the fix is
    local files."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "c"
    assert main(["corpus", "--hf", "wikitext:wikitext-2-raw-v1", "--out", str(out), "--no-exclude",
                 "--cache-dir", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the Hugging Face hub is offline or unreachable" in err[0]
    assert "--text FILE or --train/--valid/--test FILE" in err[0]
    assert not out.exists()
