"""User components reach the command line: a file outside the package registers a cell, a scorer, a construction,
an importer and an analysis, and `probe --code FILE` (or an installed package's `probe.plugins` entry point) makes
`probe train`, `probe evaluate`, `probe build`, `probe import` and `probe analyze` use them."""
import json
import os
from pathlib import Path
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from probe.core.errors import ProbeError
from probe.core.registry import Registry, UnknownName
from toy import write_toy_corpus

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["the", "dog", "dogs", "cat", "cats", "near", "runs", "run", "sleeps", "sleep"]

# the user's file: one of each kind of component, through the public registries only
COMPONENTS = textwrap.dedent('''
    """My components for probe."""
    from dataclasses import dataclass
    import json
    from pathlib import Path

    import numpy as np
    import torch
    import torch.nn.functional as F

    from probe.analyses.base import Analysis, register_analysis
    from probe.data.constructions import Construction, Parts, noun_phrase, register_construction, verb_phrase
    from probe.data.importers import Importer, register_importer
    from probe.data.importers.common import checked_field, json_lines, single_diff
    from probe.data.records import item_row
    from probe.models.cells import Cell, register_cell
    from probe.scoring.registry import register_scorer


    def _plain_tanh(rnn, xw, state):
        """h' = tanh(W x + b + U h + c): an Elman cell written out."""
        return (torch.tanh(xw + F.linear(state[0], rnn.weight_hh_l0, rnn.bias_hh_l0)),)


    register_cell(Cell("plaintanh", gates=1, reference=_plain_tanh))


    def adverb_first(s, numbers, verb_type, variant):
        """ADV the HEAD VERB ...     'often the author laughs'"""
        out, avoid = [s.choice(s.advs)], []
        head = s.subject(avoid)
        h = noun_phrase(s, head, numbers[0], out)
        vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
        return Parts(tuple(out), vi, good, bad, h, ())


    register_construction(Construction("adverb_first", adverb_first, 0))


    class PreferS:
        """Words ending in 's' are twice as likely as the others."""

        def __init__(self, vocab, name):
            w = np.array([2.0 if t.endswith("s") else 1.0 for t in vocab.itos])
            self.vocab, self.logp = vocab, np.log(w / w.sum())
            self.info = {"model": name, "arch": "prefer_s", "seed": 0, "path": name}

        def next_word_logprobs(self, prefixes, candidates, prefix_of=None):
            return self.logp[np.asarray(candidates)]

        def sequence_logprobs(self, sequences, starts):
            return np.array([self.logp[list(s[k:])].sum() for s, k in zip(sequences, starts)])


    def _load_prefer_s(target, *, batch_size, device, name):
        from probe.data.corpus import Vocab

        words = ("<unk>", "<eos>", "the", "author", "laughs", "laugh", "pilots", "swim", "swims")
        return PreferS(Vocab(words), name or target)


    register_scorer("prefer_s", _load_prefer_s, help="any name")


    def _read_json_pairs(paths, lexicon):
        """One JSON object a line, {"good": sentence, "bad": sentence}: the word they differ in is the verb."""
        rows = []
        for path in map(Path, paths):
            for n, rec in json_lines(path):
                good, bad = (checked_field(rec, key, path, n).split() for key in ("good", "bad"))
                v = single_diff(good, bad)
                rows.append(item_row(construction="jsonpairs", prefix=" ".join(good[:v]), verb_good=good[v],
                                     verb_bad=bad[v], verb_index=v, sentence_good=" ".join(good),
                                     sentence_bad=" ".join(bad), source="jsonpairs", source_id=f"{path.name}:{n}"))
        return rows


    register_importer(Importer("jsonpairs", _read_json_pairs, "Minimal pairs, one JSON object a line.",
                               label="my pairs"))


    @dataclass(frozen=True)
    class CountConfig:
        """Options of the toy analysis."""

        scale: int = 1          # multiply the model count by this


    def _count(inputs, cfg):
        out = Path(inputs.out)
        out.mkdir(parents=True, exist_ok=True)
        n = len(inputs.models) * cfg.scale
        (out / "count.json").write_text(json.dumps({"n": n}))
        return {"files": [str(out / "count.json")], "markdown": f"{n} models", "seconds": 0.0}


    register_analysis(Analysis("count", "Counting models", CountConfig,
                               {"full": CountConfig(scale=10), "small": CountConfig(scale=2), "quick": CountConfig()},
                               _count))
''')


def probe(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m probe ARGS`` in a fresh process, as a user types it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *(env or {}).pop("PYTHONPATH", "").split(
        os.pathsep)]).rstrip(os.pathsep), **(env or {})}
    env.pop("PROBE_CODE", None)
    return subprocess.run([sys.executable, "-m", "probe", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user")
    (root / "my_components.py").write_text(COMPONENTS)
    (root / "pairs.jsonl").write_text('{"good": "the author laughs", "bad": "the author laugh"}\n'
                                      '{"good": "the pilots swim", "bad": "the pilots swims"}\n')
    write_toy_corpus(root / "corpus", {"train": (200, 0), "valid": (30, 1)}, words=WORDS)
    return root


def test_code_file_components_reach_every_command(user):
    code = ["--code", str(user / "my_components.py")]
    # a construction: probe build
    r = probe(*code, "build", "--constructions", "adverb_first", "--per-condition", "3", "--out", "items", cwd=user)
    assert r.returncode == 0, r.stderr
    items = [json.loads(line) for line in (user / "items" / "items.jsonl").read_text().splitlines()]
    assert {i["construction"] for i in items} == {"adverb_first"} and len(items) == 3 * 2     # S and P heads
    # an importer: probe import (and its label in the command's help)
    r = probe(*code, "import", "jsonpairs", "pairs.jsonl", "--out", "imported", cwd=user)
    assert r.returncode == 0, r.stderr
    imported = [json.loads(line) for line in (user / "imported" / "items.jsonl").read_text().splitlines()]
    assert [i["verb_good"] for i in imported] == ["laughs", "swim"]
    assert "jsonpairs (my pairs)" in " ".join(probe(*code, "import", "--help", cwd=user).stdout.split())
    # a cell: probe train --arch
    r = probe(*code, "train", "--arch", "plaintanh", "--corpus", "corpus", "--out", "model", "--layers", "1",
              "--hidden", "8", "--emb", "8", "--batch-size", "4", "--max-steps", "3", "--no-progress", cwd=user)
    assert r.returncode == 0, r.stderr
    assert json.loads((user / "model" / "config.json").read_text())["model"]["arch"] == "plaintanh"
    # a scorer: probe evaluate --model KIND:TARGET (on the imported pairs: 's' is right for the first only)
    r = probe(*code, "evaluate", "--model", "prefer_s:mine", "--data", "imported", "--out", "scores",
              "--no-figures", cwd=user)
    assert r.returncode == 0, r.stderr
    scores = pd.read_parquet(user / "scores" / "scores.parquet").sort_values("verb_good")
    assert scores["model"].unique().tolist() == ["mine"] and scores["correct"].tolist() == [True, False]
    # an analysis: probe analyze NAME, its flags from its config
    r = probe(*code, "analyze", "count", "--model", "model", "--scale", "3", "--out", "count", cwd=user)
    assert r.returncode == 0, r.stderr
    assert json.loads((user / "count" / "count.json").read_text()) == {"n": 3}
    # without the file, none of them exists: each is refused in one line naming the choices
    r = probe("train", "--arch", "plaintanh", "--corpus", "corpus", "--out", "nope", cwd=user)
    assert r.returncode == 2 and "unknown arch 'plaintanh'" in r.stderr and not (user / "nope").exists()


def test_a_missing_code_file_is_one_line(user):
    r = probe("--code", "nowhere.py", "build", "--out", "x", cwd=user)
    assert r.returncode == 2 and r.stderr.strip() == "probe: error: --code nowhere.py: no such file; give a Python " \
        "file that registers probe components"


def test_an_installed_package_registers_through_the_entry_point_group(user, tmp_path):
    site = tmp_path / "site"
    (site / "my_probe_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "my_probe_plugin.py").write_text(COMPONENTS)
    (site / "my_probe_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-probe-plugin\nVersion: 0.1\n")
    (site / "my_probe_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[probe.plugins]\nmine = my_probe_plugin\n")
    r = probe("build", "--constructions", "adverb_first", "--per-condition", "1", "--out", str(tmp_path / "items"),
              cwd=user, env={"PYTHONPATH": str(site)})
    assert r.returncode == 0, r.stderr
    assert {json.loads(line)["construction"] for line in (tmp_path / "items" / "items.jsonl").read_text().splitlines()} \
        == {"adverb_first"}


def test_worker_processes_load_the_code_the_command_was_given(user, tmp_path):
    """Training jobs run in spawned processes (and on cluster nodes): they load the --code files too."""
    script = textwrap.dedent(f"""
        from probe.core.plugins import load_code
        from probe.jobs import Executor, TrainJob, train_many
        load_code({str(user / "my_components.py")!r})
        cfg = dict(arch="plaintanh", layers=1, hidden=8, emb=8, batch_size=4, max_steps=2, log_every=1)
        jobs = [TrainJob(config={{**cfg, "seed": s}}, corpus={str(user / "corpus")!r}, out={str(tmp_path)!r} + f"/m{{s}}")
                for s in (0, 1)]
        print([s["arch"] for s in train_many(jobs, executor=Executor(workers=2), log=lambda line: None)])
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PROBE_CODE", None)
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[-2] == "['plaintanh', 'plaintanh']"


def test_one_registry_policy():
    reg: Registry = Registry("widget", how="register_widget adds one")
    first = reg.register("a", object())
    assert reg.register("a", first) is first            # the same entry again: a module imported twice
    with pytest.raises(ProbeError, match="a widget named 'a' is registered already"):
        reg.register("a", object())
    with pytest.raises(UnknownName, match=r"^unknown widget 'b'; choose from a \(register_widget adds one\)$"):
        reg["b"]
    assert "b" not in reg and reg.get("b") is None and list(reg) == ["a"]
    del reg["a"]
    assert not reg
