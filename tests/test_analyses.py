"""Tests for probe.analyses.base: the contract, the registry, and a toy analysis added through it."""
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from probe.analyses.base import (ANALYSES, Analysis, AnalysisInputs, get_analysis, load_analyses, register_analysis,
                                 run_analysis)
from probe.cli import main
from probe.core.errors import ProbeError


def test_every_builtin_analysis_keeps_the_contract():
    registry = load_analyses()
    assert list(registry)[:5] == ["gradients", "clipping", "depth", "number", "diagnose"]
    for name, a in registry.items():
        assert a.name == name and a.title
        for preset in ("full", "small", "quick"):
            cfg = a.preset(preset)
            assert isinstance(cfg, a.config)
            with pytest.raises(Exception):      # frozen: a preset cannot be changed by accident
                setattr(cfg, next(iter(cfg.__dataclass_fields__)), None)
    with pytest.raises(ProbeError, match="unknown preset"):
        get_analysis("depth").preset("huge")
    with pytest.raises(ProbeError, match="unknown analysis 'nope'; choose from gradients"):
        get_analysis("nope")


@dataclass(frozen=True)
class CountConfig:
    """Options of the toy analysis."""

    scale: int = 1          # multiply the model count by this
    label: str = "models"   # the word in the report line


def _run_count(inputs: AnalysisInputs, cfg: CountConfig) -> dict:
    out = Path(inputs.out)
    out.mkdir(parents=True, exist_ok=True)
    n = len(inputs.models) * cfg.scale
    (out / "count.json").write_text(json.dumps({"n": n}))
    return {"files": [str(out / "count.json")], "markdown": f"{n} {cfg.label}", "seconds": 0.0, "n": n}


@pytest.fixture
def toy():
    """A toy analysis added through the public registry: a config, presets, run, one registry line."""
    presets = {"full": CountConfig(scale=10), "small": CountConfig(scale=2), "quick": CountConfig()}
    yield register_analysis(Analysis("count", "Counting models", CountConfig, presets, _run_count))
    del ANALYSES["count"]


def test_a_new_analysis_is_one_registry_line(toy, tmp_path, capsys):
    models = ({"path": "a", "arch": "srn"}, {"path": "b", "arch": "lstm"})
    res = run_analysis("count", AnalysisInputs(models=models, out=str(tmp_path / "a")), preset="small")
    assert res["n"] == 4 and json.loads((tmp_path / "a" / "count.json").read_text()) == {"n": 4}
    with pytest.raises(ProbeError, match="takes a CountConfig"):
        run_analysis("count", AnalysisInputs(), config=object())
    # the CLI command follows from the registry line: flags generated from the config's fields and comments
    with pytest.raises(SystemExit):
        main(["analyze", "count", "--help"])
    help_text = capsys.readouterr().out
    assert "--scale INT" in help_text and "multiply the model count by this (default 10)" in help_text
    assert main(["analyze", "count", "--out", str(tmp_path / "b"), "--preset", "quick", "--scale", "7",
                 "--label", "cells"]) == 0
    assert json.loads((tmp_path / "b" / "count.json").read_text()) == {"n": 0}
    assert "0 cells" in capsys.readouterr().out


def test_probe_run_stage_reads_the_registry(toy, tmp_path):
    from probe.run import RunConfig, run_analyses

    cfg = RunConfig(archs=("srn",), seeds=(0, 1), attractor_rates=(0.1,), analyses=("count",), analysis_scale="quick")
    sections = run_analyses(cfg, root=tmp_path, work=tmp_path / "work", corpora={(0.1, 0): tmp_path}, bench=tmp_path,
                            log=lambda s: None)
    assert list(sections) == ["Counting models"] and sections["Counting models"].startswith("2 models")


def test_models_and_corpora_without_an_attractor_rate_form_their_own_group():
    from probe.analyses.base import corpus_for, richest_corpus, select_models

    models = [{"path": "a", "arch": "lstm", "attractor_rate": None, "seed": 0},
              {"path": "b", "arch": "lstm", "attractor_rate": 0.1, "seed": 0},
              {"path": "c", "arch": "transformer", "attractor_rate": 0.3, "seed": 0}]
    assert select_models(models, None) == (0.1, [models[1]])          # the largest rate among recurrent models
    assert select_models(models[:1], None) == (None, [models[0]])     # real text: no rate, chosen alone
    with pytest.raises(ProbeError, match="no model was trained at attractor rate 0.3"):
        select_models(models, 0.3)
    corpora = {None: "text", 0.1: "r01", 0.3: "r03"}
    assert (corpus_for(corpora, None), corpus_for(corpora, 0.1), corpus_for(corpora, 0.2)) == ("text", "r01", None)
    assert richest_corpus(corpora, "depth").name == "r03" and richest_corpus({None: "text"}, "depth").name == "text"
