"""The probe command: help texts, build/validate end to end in a temporary folder, exit codes."""
import json
import subprocess
import sys

import pytest

from probe.cli import build_parser, main


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
    code = ("import sys; from probe.cli import COMMANDS, SUMMARIES, build_parser; build_parser().format_help(); "
            "print(sorted(SUMMARIES) == sorted(c.__name__[5:] for c in COMMANDS), 'torch' in sys.modules, "
            "'datasets' in sys.modules)")
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
    (["build", "--max-attractors", "7"], "out of range"),
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
