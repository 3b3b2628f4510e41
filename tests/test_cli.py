"""The probe command: help texts, build/validate end to end in a temporary folder, exit codes."""
import json
import subprocess
import sys

import pytest

from probe.cli.main import build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"build", "validate"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as ex:
            main([name, "--help"])
        assert ex.value.code == 0
        assert "usage: probe " + name in capsys.readouterr().out


def test_overview_lists_every_command_without_importing_torch():
    code = ("import sys; from probe.cli.main import COMMANDS, build_parser; from probe.cli.common import summary_of; "
            "build_parser().format_help(); print(all(summary_of(c.__name__[5:]) for c in COMMANDS), "
            "'torch' in sys.modules, 'datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]


def test_build_then_validate(tmp_path, capsys):
    out = tmp_path / "agr"
    assert main(["build", "--out", str(out), "--per-condition", "2", "--seed", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "items.jsonl").is_file() and (out / "README.md").is_file()
    assert json.loads((out / "config.json").read_text())["per_condition"] == 2
    assert main(["validate", str(out), "--parser", "none"]) == 0
    assert "all items valid" in capsys.readouterr().out


def test_validate_exits_1_on_invalid_item(tmp_path, capsys):
    out = tmp_path / "agr"
    main(["build", "--out", str(out), "--per-condition", "1", "--constructions", "simple"])
    lines = (out / "items.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["verb_good"], row["verb_bad"] = row["verb_bad"], row["verb_good"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "items.jsonl").write_text(json.dumps(row) + "\n" + "\n".join(lines[1:]) + "\n")
    assert main(["validate", str(bad), "--parser", "none"]) == 1
    assert "INVALID" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["build", "--constructions", "nope"], "unknown construction 'nope'"),
    (["build", "--max-attractors", "7"], "--max-attractors must be an integer from 1 to 4, got 7"),
    (["build", "--lexicon", "/nonexistent/lex.tsv"], "cannot read lexicon"),
    (["validate", "."], "not an item dataset"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    if args[0] == "build":
        args = args + ["--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


@pytest.mark.parametrize("name, text, message", [
    ("sweep.json", '{"train": {"hidden": "big"}}', "train.hidden must be an integer, got 'big'"),
    ("sweep.yaml", "train:\n  hidden: big\n", "train.hidden must be an integer, got 'big'"),
    ("sweep.yml", "seeds: [0, true]\n", "seeds[1] must be an integer, got True"),
    ("sweep.json", '{"corpus": {"grammar": {"pp": "half"}}}', "corpus.grammar.pp must be a number, got 'half'"),
    ("sweep.json", '{"extra_data": [{"format": "blimp"}]}', "extra_data[0] lacks the required key(s) path"),
    # a range is checked where the config is read: the file and key are named, not a flag the user never typed
    ("sweep.yaml", "train:\n  hidden: -64\n", "train.hidden must be a positive integer, got -64"),
    ("sweep.yaml", "arch_train:\n  srn:\n    lr: -1.0\n", "arch_train.srn.lr must be a positive number, got -1.0"),
])
def test_run_config_of_wrong_type_is_one_line_exit_2(tmp_path, monkeypatch, capsys, name, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    assert main(["run", "--preset", "quick", "--config", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"probe run: error: {name}: {message}"]
    assert [p.name for p in tmp_path.iterdir()] == [name]   # no results folder, nothing partial


@pytest.mark.parametrize("name, text, message", [
    ("sweep.yaml", "train:\n  hiden: 64\n", "sweep.yaml: unknown key 'hiden' in train for TrainConfig; valid keys: "),
    ("sweep.yaml", "train:\n  hidden: 64\n lr: 1.0\n", "config file sweep.yaml line 3, column 2: "),
    ("sweep.json", '{"seeds": [0, 1],}', "config file sweep.json line 1, column 18: "),
])
def test_run_config_unknown_key_or_broken_syntax_names_the_file_and_place(tmp_path, monkeypatch, capsys, name, text,
                                                                          message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    assert main(["run", "--preset", "quick", "--config", name]) == 2
    assert _one_error_line(capsys, "run").startswith(f"probe run: error: {message}")
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_flag_out_of_its_fields_range_names_the_flag_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--preset", "quick", "--workers", "-1"]) == 2
    assert _one_error_line(capsys, "run") == "probe run: error: --workers must be a non-negative integer, got -1"
    assert main(["corpus", "--out", "c", "--seed", "-2"]) == 2
    assert _one_error_line(capsys, "corpus") == "probe corpus: error: --seed must be a non-negative integer, got -2"
    assert list(tmp_path.iterdir()) == []


def test_resumed_training_config_of_wrong_type_is_one_line_exit_2(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"corpus": str(tmp_path / "corpus"), "train": {"hidden": "big"}}))
    assert main(["train", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("probe train: error: ")
    assert "hidden must be an integer, got 'big'" in err[0]
    assert [p.name for p in run.iterdir()] == ["config.json"]


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "agr"
    assert main(["build", "--out", str(out), "--per-condition", "1", "--constructions", "simple"]) == 0
    before = (out / "items.jsonl").read_bytes()
    assert main(["build", "--out", str(out), "--per-condition", "2", "--constructions", "simple"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "items.jsonl").read_bytes() == before
    assert main(["build", "--out", str(out), "--per-condition", "2", "--constructions", "simple",
                 "--overwrite"]) == 0
    assert len((out / "items.jsonl").read_bytes().splitlines()) == 4


def test_console_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "probe", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "build" in res.stdout


# --- damaged inputs given to the pipeline's commands: exit 2, one line, nothing at the output path -------

def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"probe {command}: error: "), err
    return err[0]


def _nothing_written(out) -> bool:
    return not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


def test_truncated_checkpoint_given_to_evaluate(tmp_path, capsys):
    import torch

    from probe.data.corpus import Vocab
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model
    from probe.models.checkpoint import save_checkpoint

    assert main(["build", "--out", str(tmp_path / "agr"), "--per-condition", "1", "--constructions", "simple"]) == 0
    vocab = Vocab(("<unk>", "<eos>", "the", "dog", "dogs", "runs", "run"))
    cfg = ModelConfig(arch="lstm", vocab_size=len(vocab), emb=8, hidden=8, layers=1)
    torch.manual_seed(0)
    ckpt = tmp_path / "run" / "model.pt"
    save_checkpoint(ckpt, model=build_model(cfg), model_config=cfg, vocab=vocab, train_config={}, train_state={})
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--data", str(tmp_path / "agr"), "--out", str(out),
                 "--device", "cpu"]) == 2
    assert str(ckpt) in _one_error_line(capsys, "evaluate")
    assert _nothing_written(out)


def test_corrupted_corpus_file_given_to_train(tmp_path, capsys):
    from toy import write_toy_corpus

    corpus = write_toy_corpus(tmp_path / "corpus", {"train": (200, 0), "valid": (20, 1)},
                              words=("the", "dog", "dogs", "cat", "cats", "near", "run", "runs"))
    (corpus / "train.npy").write_bytes(b"garbage!" * 64)
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--hidden", "8", "--emb", "8", "--layers", "1",
                 "--device", "cpu", "--no-progress"]) == 2
    assert "train.npy is corrupted" in _one_error_line(capsys, "train")
    assert _nothing_written(out)


@pytest.mark.parametrize("rate", ["1.5", "-0.1"])
def test_out_of_range_attractor_rate_given_to_corpus(tmp_path, capsys, rate):
    out = tmp_path / "c"
    assert main(["corpus", "--out", str(out), "--sentences", "100", "--no-exclude", "--attractor-rate", rate]) == 2
    assert "attractor" in _one_error_line(capsys, "corpus")
    assert _nothing_written(out)


# --- an output path that cannot be written: one line, exit 2, nothing left --------------------------------

@pytest.mark.parametrize("command", [
    ["build", "--per-condition", "1", "--constructions", "simple", "--out", "{out}"],
    ["evaluate", "--model", "{tmp}/model", "--data", "{tmp}/items", "--out", "{out}"],
    ["run", "--preset", "quick", "--results-dir", "{out}"],
])
def test_output_under_a_file_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, command):
    """(probe runs as root in CI, where chmod does not stop a write: a parent that is a regular file does.)"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "out"
    assert main([a.format(out=out, tmp=tmp_path) for a in command]) == 2
    line = _one_error_line(capsys, command[0])
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder; choose another path" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_write_refused_by_the_system_is_one_line_from_any_command(tmp_path, monkeypatch, capsys):
    """A folder the process may not write to (simulated: probe runs as root in CI): the atomic writers name the
    output, and any other OSError reaching the CLI is one line too, not a traceback."""
    import errno
    import pathlib
    import types

    import probe.core.io

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(probe.core.io, "tempfile", types.SimpleNamespace(mkdtemp=refuse, mkstemp=refuse))
    out = tmp_path / "agr"
    assert main(["build", "--per-condition", "1", "--constructions", "simple", "--out", str(out)]) == 2
    assert _one_error_line(capsys, "build") == (
        f"probe build: error: cannot use {out}: Permission denied; choose a folder you may write to "
        "(another --out or --results-dir) or change its permissions")
    assert _nothing_written(out)
    monkeypatch.undo()

    real_mkdir = pathlib.Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if self.is_relative_to(tmp_path / "ro"):
            raise PermissionError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only_mkdir)
    assert main(["run", "--preset", "quick", "--results-dir", str(tmp_path / "ro")]) == 2
    line = _one_error_line(capsys, "run")
    assert "Read-only file system; the file system is read-only; choose a folder on a writable disk" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["train", "--obj", "number", "--out", "x"], ["--cod", "x.py", "build", "--out", "x"]])
def test_flags_are_not_abbreviated(tmp_path, monkeypatch, capsys, args):
    """A prefix of a flag is refused, not taken for the flag: ``--obj number`` would otherwise pass the scan that
    picks the number objective's parser and train a language model instead."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2 and "probe: error:" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
