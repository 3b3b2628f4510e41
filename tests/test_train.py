"""Training: outputs, determinism, resume equivalence, non-finite guards, CLI, bad input, DDP with 2 processes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import probe.train as train_mod
from probe.cli import main
from probe.core.errors import ProbeError
from probe.data.corpus import Vocab, write_ids
from probe.models.config import archs
from probe.models.checkpoint import load_checkpoint, read_checkpoint
from probe.train import SentenceBatches, TrainConfig, evaluate_perplexity, train
from toy import agreement_stream, assert_same_weights

torch.set_num_threads(1)

WORDS = ["the", "dog", "dogs", "cat", "cats", "near", "runs", "run", "sleeps", "sleep"]


def make_corpus(path: Path, words=WORDS, n_train=300) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    vocab = Vocab(("<unk>", "<eos>", *words))
    vocab.save(path / "vocab.json")
    for split, n, seed in (("train", n_train, 0), ("valid", 40, 1), ("test", 40, 2)):
        write_ids(path / f"{split}.npy", agreement_stream(n, seed, words=WORDS, modifier_rate=0.3) % len(vocab))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


TINY = dict(layers=1, hidden=16, emb=16, batch_size=8, bptt=8, epochs=1, log_every=2, lr=1.0)


def run(cfg_kw, corpus, out, **kw):
    return train(TrainConfig(**{**TINY, **cfg_kw}), corpus_dir=corpus, out=out, progress=False, **kw)


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def without_timing(rows):
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]


def test_outputs_metrics_and_summary(corpus, tmp_path):
    out = tmp_path / "run"
    summary = run(dict(arch="gru", epochs=2, eval_every=10), corpus, out)
    assert {p.name for p in out.iterdir()} == {"model.pt", "last.pt", "config.json", "metrics.jsonl", "summary.json"}
    rows = read_metrics(out)
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert train_rows and set(train_rows[0]) >= {"step", "epoch", "loss", "grad_norm", "clipped", "lr", "tokens_per_s"}
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals][:2] == [10, 20] and all(r["valid_ppl"] > 1 for r in evals)
    assert summary["best_valid_ppl"] == min(r["valid_ppl"] for r in evals)
    assert summary["best_valid_ppl"] < 8 and summary["test_ppl"] < 8     # it learned something (12 types)
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["arch"] == "gru" and config["model"]["vocab_size"] == 12
    assert config["train"]["lr"] == 1.0
    ckpt = load_checkpoint(out)
    assert ckpt.train_state["valid_ppl"] == summary["best_valid_ppl"]
    assert ckpt.vocab.itos[2:] == tuple(WORDS)


def test_deterministic_for_a_seed(corpus, tmp_path):
    kw = dict(arch="srn", dropout=0.2, layers=2)
    run(kw, corpus, tmp_path / "a")
    run(kw, corpus, tmp_path / "b")
    assert_same_weights(tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt")
    assert without_timing(read_metrics(tmp_path / "a")) == without_timing(read_metrics(tmp_path / "b"))
    run({**kw, "seed": 1}, corpus, tmp_path / "c")
    assert not torch.equal(read_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]["decoder.weight"],
                           read_checkpoint(tmp_path / "c" / "last.pt")["state_dict"]["decoder.weight"])


@pytest.mark.parametrize("arch,optimizer,state", [("lstm", "adam", "sentence"), ("gru", "sgd", "sentence"),
                                                  ("lstm", "adam", "stream")])
def test_interrupted_and_resumed_equals_uninterrupted(corpus, tmp_path, monkeypatch, arch, optimizer, state):
    kw = dict(arch=arch, optimizer=optimizer, lr=None, layers=2, dropout=0.3, epochs=2, eval_every=5,
              checkpoint_every=3, patience=0, lr_decay=0.5, state=state)
    whole = run(kw, corpus, tmp_path / "whole")
    calls = {"n": 0}
    real_loss = train_mod._loss

    def interrupting_loss(out):
        calls["n"] += 1
        if calls["n"] == 23:             # mid-epoch, between checkpoints (saved at step 21)
            raise KeyboardInterrupt
        return real_loss(out)

    monkeypatch.setattr(train_mod, "_loss", interrupting_loss)
    with pytest.raises(KeyboardInterrupt):
        run(kw, corpus, tmp_path / "split")
    monkeypatch.setattr(train_mod, "_loss", real_loss)
    assert read_checkpoint(tmp_path / "split" / "last.pt")["train_state"]["progress"]["step"] == 21
    resumed = run(kw, corpus, tmp_path / "split", resume=True)
    assert resumed["steps"] == whole["steps"] and resumed["best_valid_ppl"] == whole["best_valid_ppl"]
    assert_same_weights(tmp_path / "whole" / "last.pt", tmp_path / "split" / "last.pt")
    assert_same_weights(tmp_path / "whole" / "model.pt", tmp_path / "split" / "model.pt")
    assert without_timing(read_metrics(tmp_path / "whole")) == without_timing(read_metrics(tmp_path / "split"))


def test_max_steps_then_resume_continues_the_same_run(corpus, tmp_path):
    kw = dict(arch="srn", dropout=0.2, epochs=2, eval_every=6)
    run({**kw, "max_steps": 30}, corpus, tmp_path / "whole")
    first = run({**kw, "max_steps": 13}, corpus, tmp_path / "split")
    assert first["steps"] == 13 and first["stopped"] == "max_steps"
    run({**kw, "max_steps": 30}, corpus, tmp_path / "split", resume=True)
    assert_same_weights(tmp_path / "whole" / "last.pt", tmp_path / "split" / "last.pt")
    train_rows = [without_timing([r])[0] for r in read_metrics(tmp_path / "split") if r["kind"] == "train"]
    assert train_rows == [without_timing([r])[0] for r in read_metrics(tmp_path / "whole") if r["kind"] == "train"]


def test_nonfinite_steps_are_skipped_and_counted(corpus, tmp_path, monkeypatch):
    real_loss, calls = train_mod._loss, {"n": 0}

    def sometimes_nan(out):
        calls["n"] += 1
        loss = real_loss(out)
        return loss * float("nan") if calls["n"] in (4, 5) else loss

    monkeypatch.setattr(train_mod, "_loss", sometimes_nan)
    summary = run(dict(arch="gru"), corpus, tmp_path / "run")
    assert summary["nonfinite_steps"] == 2
    skips = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "skip"]
    assert [r["step"] for r in skips] == [4, 5]
    state = read_checkpoint(tmp_path / "run" / "last.pt")["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_repeated_nonfinite_steps_stop_the_run_keeping_the_last_checkpoint(corpus, tmp_path, monkeypatch):
    real_loss, calls = train_mod._loss, {"n": 0}

    def nan_from_step_7(out):
        calls["n"] += 1
        loss = real_loss(out)
        return loss * float("inf") if calls["n"] >= 7 else loss

    monkeypatch.setattr(train_mod, "_loss", nan_from_step_7)
    with pytest.raises(ProbeError, match="3 consecutive steps had a non-finite"):
        run(dict(arch="srn", checkpoint_every=4, max_nonfinite=3), corpus, tmp_path / "run")
    last = read_checkpoint(tmp_path / "run" / "last.pt")
    assert last["train_state"]["progress"]["step"] == 4
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    assert read_metrics(tmp_path / "run")[-1] == {"kind": "stop", "step": 9, "reason": "nonfinite", "streak": 3}


def test_a_huge_learning_rate_is_caught(corpus, tmp_path):
    with pytest.raises(ProbeError, match="non-finite"):
        run(dict(arch="srn", nonlinearity="relu", lr=1e30, clip=0.0, max_nonfinite=2), corpus, tmp_path / "run")


@pytest.mark.parametrize("arch", archs())
def test_cli_end_to_end(corpus, tmp_path, arch, capsys):
    out = tmp_path / arch
    rc = main(["train", "--corpus", str(corpus), "--out", str(out), "--arch", arch, "--layers", "1", "--hidden", "8",
               "--emb", "8", "--heads", "2", "--batch-size", "4", "--bptt", "8", "--epochs", "1", "--max-steps", "6",
               "--optimizer", "adam", "--tied", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 6 and summary["arch"] == arch
    ckpt = load_checkpoint(out)
    assert ckpt.model_config.arch == arch and ckpt.model_config.tied
    logits = ckpt.model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, 12) and torch.isfinite(logits).all()


def test_cli_resume_reuses_the_runs_options(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--arch", "srn", "--hidden", "8", "--emb", "8",
                 "--layers", "1", "--batch-size", "4", "--max-steps", "4", "--no-progress"]) == 0
    assert main(["train", "--out", str(out), "--resume", "--max-steps", "9", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 9
    assert main(["train", "--out", str(out), "--resume", "--hidden", "16", "--no-progress"]) == 2
    assert "--hidden 16 differs" in capsys.readouterr().err


def _cli_error(args, capsys) -> str:
    rc = main(["train", "--no-progress", *args])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("args,words", [
    (["--arch", "cnn"], "unknown arch"),
    (["--bidirectional"], "backward pass would read the very word"),
    (["--hidden", "0"], "--hidden must be a positive"),
    (["--batch-size", "-4"], "--batch-size must be a positive"),
    (["--bptt", "0"], "--bptt must be a positive"),
    (["--optimizer", "rmsprop"], "--optimizer must be one of sgd, adam, got 'rmsprop'"),
    (["--batch-size", "5000"], "too few for --batch-size"),
])
def test_bad_input_exits_2_without_output(corpus, tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert words in _cli_error(["--corpus", str(corpus), "--out", str(out), *args], capsys)
    assert not out.exists()


def test_missing_corpus_and_bad_resumes(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert "does not exist" in _cli_error(["--corpus", str(tmp_path / "nope"), "--out", str(out)], capsys)
    assert not out.exists()
    small = dict(layers=1, hidden=8, emb=8, batch_size=4, max_steps=3)
    run(small, corpus, out)
    other = make_corpus(tmp_path / "other", words=WORDS[:-1] + ["naps"])
    assert "vocabulary" in _cli_error(["--corpus", str(other), "--out", str(out), "--resume"], capsys)
    assert "exists and is not empty" in _cli_error(["--corpus", str(corpus), "--out", str(out)], capsys)
    (out / "last.pt").write_bytes(b"not a checkpoint")
    assert "not a readable probe checkpoint" in _cli_error(["--out", str(out), "--resume"], capsys)
    fresh = tmp_path / "fresh"
    assert "nothing to resume" in _cli_error(["--corpus", str(corpus), "--out", str(fresh), "--resume"], capsys)
    assert not fresh.exists()


def test_agreement_learning_curve_with_items(corpus, tmp_path):
    items = tmp_path / "items.jsonl"
    rows = []
    for i, (head, verb) in enumerate([("dog", "runs"), ("dogs", "run"), ("cat", "sleeps"), ("cats", "sleep")]):
        other = verb[:-1] if verb.endswith("s") else verb + "s"
        rows.append({"id": f"simple.{i}", "construction": "simple", "condition": "S" if head[-1] != "s" else "P",
                     "prefix": f"the {head}", "verb_good": verb, "verb_bad": other,
                     "sentence_good": f"the {head} {verb}", "sentence_bad": f"the {head} {other}"})
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from probe.scoring.items import AgreementCurve

    run(dict(arch="lstm", eval_every=10), corpus, tmp_path / "run", on_eval=AgreementCurve(items))
    evals = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "eval"]
    assert evals and all(0.0 <= r["agreement_accuracy"] <= 1.0 for r in evals)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["items"] == str(items.resolve())


def test_training_calls_its_callback_at_each_validation(corpus, tmp_path):
    seen = []

    def on_eval(model, vocab, device):
        seen.append(model.training)
        return {"probe_calls": len(seen)}

    run(dict(arch="gru", eval_every=10), corpus, tmp_path / "run", on_eval=on_eval)
    evals = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "eval"]
    assert [r["probe_calls"] for r in evals] == list(range(1, len(evals) + 1))


def test_ddp_two_gloo_processes_match_one_process(corpus, tmp_path):
    """torchrun with 2 CPU processes: each takes half the streams; the update equals one process's."""
    opts = ["--arch", "gru", "--layers", "1", "--hidden", "16", "--emb", "16", "--batch-size", "8", "--bptt", "8",
            "--max-steps", "12", "--eval-every", "6", "--lr", "1.0", "--no-progress"]
    single = tmp_path / "single"
    assert main(["train", "--corpus", str(corpus), "--out", str(single), *opts]) == 0
    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "probe",
         "train", "--corpus", str(corpus), "--out", str(ddp), *opts],
        capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len([line for line in proc.stdout.splitlines() if line.startswith("{")]) == 1   # only rank 0 prints
    summary = json.loads((ddp / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 12
    a, b = read_checkpoint(single / "last.pt")["state_dict"], read_checkpoint(ddp / "last.pt")["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    ma = [r for r in read_metrics(single) if r["kind"] == "train"]
    mb = [r for r in read_metrics(ddp) if r["kind"] == "train"]
    assert [r["step"] for r in ma] == [r["step"] for r in mb]
    np.testing.assert_allclose([r["loss"] for r in ma], [r["loss"] for r in mb], rtol=1e-4)


def test_early_stopping_marks_convergence_and_keeps_the_best(corpus, tmp_path):
    """stop_after: training stops once validation has not improved (by min_delta) in that many evaluations
    in a row; the summary says converged and why, model.pt holds the best evaluation, and a resumed
    converged run does not train further. Without it the same budget runs to the epoch cap, unconverged."""
    kw = dict(arch="lstm", epochs=60, eval_every=10, lr=1.0, patience=0, lr_decay=0.5, min_delta=0.01, stop_after=2)
    out = tmp_path / "stop"
    s = run(kw, corpus, out)
    evals = [r for r in read_metrics(out) if r["kind"] == "eval"]
    assert s["converged"] and s["stopped"] == "converged" and "did not improve by 1.00% in 2" in s["stop_reason"]
    assert s["best_valid_ppl"] == min(r["valid_ppl"] for r in evals)
    assert load_checkpoint(out).train_state["valid_ppl"] == s["best_valid_ppl"]
    # the last two scheduled evaluations were not better than the best before them by 1%
    best_before = min(r["valid_ppl"] for r in evals[:-2])
    assert all(r["valid_ppl"] >= best_before * 0.99 for r in evals[-2:])
    again = train(TrainConfig(**{**TINY, **kw}), corpus_dir=corpus, out=out, resume=True, progress=False)
    assert again["steps"] == s["steps"] and again["converged"]
    capped = run({**kw, "epochs": 1, "stop_after": 2}, corpus, tmp_path / "capped")
    assert not capped["converged"] and capped["stop_reason"].startswith("epoch cap")
    assert s["steps"] < 60 * capped["steps"]                       # stopped long before its own epoch cap


def test_stopping_on_agreement_waits_for_held_out_agreement_too(corpus, tmp_path):
    """stop_on ppl+agreement: a run whose perplexity has stopped improving goes on while held-out agreement
    still rises by agreement_delta, and stops once neither improves in stop_after evaluations in a row."""
    rising = iter([0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])

    def held_out(model, vocab, device):
        return {"agreement": next(rising)}

    kw = dict(arch="srn", epochs=50, eval_every=4, lr=1.0, min_delta=0.9, stop_after=2, agreement_delta=0.05)
    ppl_only = run(kw, corpus, tmp_path / "ppl")
    assert ppl_only["converged"] and ppl_only["steps"] == 3 * 4          # the first evaluation sets the best
    both = run({**kw, "stop_on": "ppl+agreement"}, corpus, tmp_path / "both", on_eval=held_out)
    evals = [r for r in read_metrics(tmp_path / "both") if r["kind"] == "eval"]
    assert both["converged"] and "held-out agreement (by 0.05)" in both["stop_reason"]
    assert [r["agreement"] for r in evals] == [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9]
    assert both["steps"] == 7 * 4 and both["agreement_best"] == 0.9
    with pytest.raises(ProbeError, match="needs held-out agreement items"):
        run({**kw, "stop_on": "ppl+agreement"}, corpus, tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_summary_compares_with_the_corpus_floor(corpus, tmp_path):
    """A corpus whose stats.json holds the grammar's entropy floor gets ppl / floor ratios in the summary."""
    import shutil

    folder = tmp_path / "with_floor"
    shutil.copytree(corpus, folder)
    (folder / "stats.json").write_text(json.dumps({"entropy_floor": {"valid": {"ppl": 2.0}, "test": {"ppl": 4.0}}}))
    s = run(dict(arch="srn"), folder, tmp_path / "run")
    assert s["floor_valid_ppl"] == 2.0 and s["valid_ppl_ratio"] == pytest.approx(s["best_valid_ppl"] / 2.0)
    assert s["test_ppl_ratio"] == pytest.approx(s["test_ppl"] / 4.0)


def test_evals_per_epoch_spaces_validations_evenly(corpus, tmp_path):
    out = tmp_path / "half"
    run(dict(arch="srn", epochs=2, evals_per_epoch=2), corpus, out)
    epochs = [r["epoch"] for r in read_metrics(out) if r["kind"] == "eval"]
    assert epochs == pytest.approx([0.5, 1.0, 1.5, 2.0], abs=0.03)   # 23 segments an epoch: 12/23 is the middle


def test_adaptive_softmax_trains_with_cutoffs_from_the_corpus(corpus, tmp_path):
    """--softmax adaptive: cutoffs are chosen from the training counts and recorded in config.json and the
    checkpoint; the trained model scores normalised log-probabilities."""
    from probe.data.corpus import CorpusConfig, build_corpus

    with pytest.raises(ProbeError, match="not sorted by frequency"):     # the toy corpus' vocabulary is not
        run(dict(arch="lstm", softmax="adaptive"), corpus, tmp_path / "unsorted")
    ids = np.load(corpus / "train.npy")
    text = tmp_path / "train.txt"
    text.write_text(" ".join(WORDS[i - 2] if i >= 2 else "\n" for i in ids.tolist()).replace(" \n ", "\n"))
    sorted_corpus = tmp_path / "text-corpus"
    build_corpus(CorpusConfig(source="text", text_files=(str(text),), tokenizer="whitespace", exclude_benchmark=False),
                 sorted_corpus)
    out = tmp_path / "adaptive"
    s = run(dict(arch="lstm", softmax="adaptive", epochs=2), sorted_corpus, out)
    config = json.loads((out / "config.json").read_text())
    cutoffs = config["train"]["cutoffs"]
    assert cutoffs and cutoffs == config["model"]["cutoffs"] and config["model"]["softmax"] == "adaptive"
    assert 1 < s["best_valid_ppl"] < 12
    model = load_checkpoint(out).model
    with torch.no_grad():
        logp = model(torch.tensor([[1, 2, 3]])).logits
    assert torch.allclose(logp.exp().sum(-1), torch.ones(1, 3), atol=1e-5)


def test_amp_is_refused_without_cuda(corpus, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine accepts --amp")
    assert main(["train", "--corpus", str(corpus), "--out", str(tmp_path / "r"), "--amp", "--device", "cpu"]) == 2
    assert "amp (bfloat16 autocast) is for CUDA training" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sentence_batches_hold_every_sentence_once_from_its_eos():
    eos = 1
    ids = np.array([5, 6, 1, 7, 1, 8, 9, 4, 1, 3, 1, 2, 2, 1], dtype=np.uint16)     # sentences of 2, 1, 3, 1, 2 words
    data = SentenceBatches(ids, batch_size=2, seed=3, eos=eos)
    assert len(data) == 2 and data.lengths.tolist() == [3, 2, 4, 2, 3]
    plan = data.plan(0)
    assert plan.shape == (2, 2) and len(set(plan.ravel().tolist())) == 4     # one sentence left over
    assert plan.tolist() == data.plan(0).tolist()                            # a function of (seed, epoch)
    assert any(data.plan(e).tolist() != plan.tolist() for e in range(1, 6))
    x, y = data.rows(np.array([2, 1]), torch.device("cpu"))
    assert x.tolist() == [[1, 8, 9, 4], [1, 7, 1, 1]]                        # <eos> w1 .. wn, then padding
    assert y.tolist() == [[8, 9, 4, 1], [7, 1, -1, -1]]                      # w1 .. wn <eos>, -1 where padded


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_sentence_perplexity_is_each_sentence_from_a_zero_state(corpus, arch):
    from probe.data.corpus import load_corpus
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model

    c = load_corpus(corpus)
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, vocab_size=len(c.vocab), emb=8, hidden=8, layers=1, heads=2)).eval()
    ids = np.asarray(c.splits["valid"], dtype=np.int64)
    loss, ppl = evaluate_perplexity(model, ids, batch_size=7, state="sentence", eos=c.vocab.eos_id)
    # the obvious reference: one sentence at a time, <eos> first, predicting its words and closing <eos>
    total, count, start = 0.0, 0, 0
    for end in np.flatnonzero(ids == c.vocab.eos_id):
        row = torch.as_tensor(np.concatenate([[c.vocab.eos_id], ids[start:end + 1]]))[None]
        with torch.no_grad():
            logits = model(row[:, :-1]).logits[0]
        total += float(torch.nn.functional.cross_entropy(logits, row[0, 1:], reduction="sum"))
        count += end + 1 - start
        start = end + 1
    assert loss == pytest.approx(total / count, rel=1e-5) and ppl == pytest.approx(np.exp(total / count), rel=1e-5)


@pytest.mark.parametrize("arch", ["srn", "lstm"])
def test_train_step_clips_the_whole_gradient(arch):
    """The step's gradient norm is the norm over every parameter the model has (read from the optimizer
    built over them), and clipping scales every gradient to the clip value."""
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model
    from probe.train import build_optimizer, train_step

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, vocab_size=20, emb=8, hidden=8, layers=2))
    x, y = torch.randint(20, (4, 6)), torch.randint(20, (4, 6))
    model(x, None, targets=y).loss.backward()
    full = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters()]))
    model.zero_grad()
    res = train_step(model, build_optimizer(TrainConfig(optimizer="sgd", lr=1.0), model), x, y, None, clip=1e-3)
    assert res.grad_norm == pytest.approx(float(full), rel=1e-5) and res.clipped
    # the step leaves the clipped gradients in place: all of them, scaled to the clip value together
    clipped = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters()]))
    assert float(clipped) == pytest.approx(1e-3, rel=1e-4)
