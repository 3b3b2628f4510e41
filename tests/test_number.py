"""Number prediction: bidirectional LMs refused, the classifier's final states and padding, grammar examples,
training outputs, the `probe train --objective number` CLI, and the comparison analysis end to end."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from probe.data.build import BuildConfig, build_dataset
from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.corpus import CorpusConfig, build_corpus, load_corpus
from probe.data.lexicon import load_lexicon
from probe.models.config import ModelConfig
from probe.models.lm import build_model
from probe.models.checkpoint import load_checkpoint
from probe.models.classifier import ClassifierConfig, NumberClassifier
from probe.analyses.number import NumberAnalysisConfig, run as run_number
from probe.train_number import NumberConfig, grammar_examples, load_number_checkpoint, load_test_items, train_number
from probe.analyses.base import AnalysisInputs
from probe.train import TrainConfig, check_train_config, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny item set (with train/valid/test splits) and a tiny synthetic corpus that excludes it."""
    root = tmp_path_factory.mktemp("number")
    items = root / "items"
    build_dataset(BuildConfig(per_condition=3, constructions=("simple", "pp"), max_attractors=2,
                              splits=(0.5, 0.2, 0.3)), out=items)
    corpus = root / "corpus"
    build_corpus(CorpusConfig(n_sentences=1000, attractor_rate=0.2, exclude_items=str(items)), out=corpus)
    return root, items, corpus


@pytest.fixture(scope="module")
def lms(data):
    root, _, corpus = data
    out = {}
    for arch in ("lstm",):
        out[arch] = root / f"lm-{arch}"
        train(TrainConfig(arch=arch, layers=1, hidden=8, emb=8, batch_size=8, bptt=10, epochs=1, max_steps=6,
                          log_every=3, optimizer="adam", lr=1e-2), corpus_dir=corpus, out=out[arch], progress=False)
    return out


def test_bidirectional_language_model_is_rejected():
    with pytest.raises(ProbeError, match="cannot be bidirectional.*backward pass would read the very word"):
        build_model(ModelConfig(vocab_size=10, bidirectional=True))
    with pytest.raises(ProbeError, match="cannot be bidirectional"):
        check_train_config(TrainConfig(bidirectional=True))


@pytest.mark.parametrize("arch", ["srn", "gru", "lstm"])
def test_bidirectional_final_features_and_padding(arch):
    torch.manual_seed(0)
    model = NumberClassifier(ClassifierConfig(arch=arch, vocab_size=11, emb=6, hidden=5, layers=2,
                                              bidirectional=True)).eval()
    rows = [torch.randint(2, 11, (n,)) for n in (7, 3, 5)]
    ids = torch.zeros(3, 7, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    lengths = torch.tensor([7, 3, 5])
    padded = model.features(ids, lengths)
    for i, r in enumerate(rows):
        alone = model.features(r[None])
        torch.testing.assert_close(padded[i: i + 1], alone, atol=1e-6, rtol=1e-5)
        # final pooling = [forward state at the last word, backward state at the first position]
        out, _ = model.rnn(model.embedding(r[None]))
        expected = torch.cat([out[0, -1, :5], out[0, 0, 5:]])
        torch.testing.assert_close(alone[0], expected, atol=1e-6, rtol=1e-5)
    assert padded.shape == (3, 10)


def test_grammar_examples_are_prefixes_labelled_by_the_verb(data):
    _, items, corpus = data
    vocab = load_corpus(corpus).vocab
    lex = load_lexicon()
    test = load_test_items(items)
    exclude = set(test["prefix"])
    train_d, valid_d, facts = grammar_examples(corpus, vocab, n_sentences=200, valid_fraction=0.2, seed=0,
                                               exclude_prefixes=exclude)
    assert facts["sentences"] == 200 and facts["examples_train"] == len(train_d.labels) > 100
    assert len(valid_d.labels) > 10
    assert set(np.unique(train_d.labels)) == {0, 1}
    assert train_d.attracted.any()
    assert (train_d.ids[:, 0] == vocab.eos_id).all()
    # a prefix is followed by its verb in the corpus' sentence: check the label against the head noun
    for k in range(30):
        words = vocab.decode(train_d.ids[k, 1: train_d.lengths[k]])
        assert " ".join(words) not in exclude
        nouns = [w for w in words if w in lex.noun_number]
        assert nouns, words
        if not train_d.attracted[k] and "that" not in words and "who" not in words:
            assert {"sg": 0, "pl": 1}[lex.noun_number[nouns[-1]]] == train_d.labels[k]


def test_train_number_writes_a_loadable_classifier_that_learns(data, tmp_path):
    _, items, corpus = data
    cfg = NumberConfig(arch="lstm", hidden=16, emb=16, n_sentences=800, epochs=4, batch_size=16, lr=1e-2)
    summary = train_number(cfg, out=tmp_path / "num", corpus=corpus, items=items, progress=False)
    for name in ("model.pt", "config.json", "metrics.jsonl", "summary.json"):
        assert (tmp_path / "num" / name).is_file()
    rows = [json.loads(line) for line in (tmp_path / "num" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert summary["valid_accuracy"] > 0.8, summary
    assert summary["test_items"] > 0 and 0 <= summary["test_accuracy"] <= 1
    ckpt = load_number_checkpoint(tmp_path / "num")
    assert ckpt.config.arch == "lstm" and not ckpt.config.bidirectional
    with pytest.raises(ProbeError):
        load_checkpoint(tmp_path / "num")          # the LM loader refuses a classifier


def test_train_number_checks_options_before_writing(data, tmp_path):
    _, items, corpus = data
    for bad in (dict(arch="transformer"), dict(pooling="max"), dict(hidden=0), dict(data="wiki")):
        with pytest.raises(ProbeError):
            train_number(NumberConfig(**bad), out=tmp_path / "x", corpus=corpus, items=items, progress=False)
        assert not (tmp_path / "x").exists()


def test_train_number_on_items_alone(data, tmp_path):
    _, items, _ = data
    summary = train_number(NumberConfig(arch="srn", data="items", hidden=8, emb=8, epochs=1), out=tmp_path / "n",
                           items=items, progress=False)
    assert summary["examples_train"] > 0 and (tmp_path / "n" / "model.pt").is_file()


def test_cli_train_objective_number(data, tmp_path, capsys):
    _, items, corpus = data
    base = ["train", "--objective", "number", "--corpus", str(corpus), "--items", str(items), "--arch", "gru",
            "--hidden", "8", "--emb", "8", "--epochs", "1", "--no-progress"]
    assert main(base + ["--bidirectional", "--out", str(tmp_path / "bi")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["bidirectional"] is True and (tmp_path / "bi" / "model.pt").is_file()
    assert load_number_checkpoint(tmp_path / "bi").config.bidirectional
    # its options are NumberConfig's own: a language model's option is refused, not dropped
    with pytest.raises(SystemExit):
        main(base + ["--bptt", "5", "--out", str(tmp_path / "bad")])
    assert "unrecognized arguments: --bptt 5" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    # and its help shows its own defaults (hidden 64, lr 0.003), not the language model's
    with pytest.raises(SystemExit):
        main(["train", "--objective", "number", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--pooling" in help_text and "(default 64)" in help_text and "(default 0.003)" in help_text
    assert "--bptt" not in help_text
    # and says what its inputs are for it: --items is its test set, not the held-out agreement of a language model
    assert "the test set" in help_text and "at each validation" not in help_text and "language models only" in help_text


def test_run_number_analysis(data, lms, tmp_path):
    _, items, corpus = data
    models = [{"path": str(p), "arch": a, "attractor_rate": 0.2, "seed": 0} for a, p in lms.items()]
    cfg = NumberAnalysisConfig(train=NumberConfig(n_sentences=150, epochs=1), n_boot=20, max_seeds=1)
    res = run_number(AnalysisInputs(models=tuple(models), corpus_dirs={0.2: str(corpus)}, items=items,
                                    out=str(tmp_path)), cfg)
    table = pd.read_csv(tmp_path / "number_prediction.csv")
    assert list(table.columns) == ["objective", "arch", "seed", "attractor_rate", "n_attractors", "match", "n_items",
                                   "accuracy", "ci_low", "ci_high"]
    assert set(table["objective"]) == {"lm", "number-uni", "number-bi"}
    assert set(table["arch"]) == {"lstm"}
    assert table["accuracy"].between(0, 1).all() and (table["ci_low"] <= table["accuracy"] + 1e-12).all()
    # every objective is scored on the same items
    n = table.groupby(["objective", "arch"])["n_items"].sum()
    assert n.nunique() == 1
    for f in ("figures/number_prediction.png", "figures/number_prediction.pdf", "number_prediction.json"):
        assert (tmp_path / f).is_file()
    assert "Linzen" in res["markdown"] and "0.786" in res["markdown"]
    with pytest.raises(ProbeError, match="no corpus folder"):
        run_number(AnalysisInputs(models=tuple(models), corpus_dirs={0.5: str(corpus)}, items=items,
                                  out=str(tmp_path)), cfg)


def test_item_examples_and_scoring_share_one_out_of_vocabulary_rule():
    """A literal <unk> in an item (WikiText, Gulordava) counts as out of vocabulary for the classifier's
    comparison exactly as for the language models' scoring, so both read the same items."""
    from probe.data.corpus import Vocab
    from probe.scoring.items import encode_column
    from probe.train_number import item_examples

    vocab = Vocab(("<unk>", "<eos>", "the", "dog", "dogs", "runs", "run"))
    items = pd.DataFrame({"prefix": ["the dog", "the <unk> dog", "the cat"], "head_number": ["sg", "sg", "sg"]})
    _, in_vocab = item_examples(items, vocab)
    _, codes, oov = encode_column(items["prefix"], vocab, prepend_eos=True)
    assert in_vocab.tolist() == [True, False, False] == (~oov[codes]).tolist()
