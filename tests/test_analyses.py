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


# the configs of the committed reference run, as an earlier version wrote them (training options at the top level)
EARLIER = {
    "depth": {"archs": ["lstm"], "batch_size": 64, "bptt": 35, "burn_in": 10, "clip": 1.0, "distance": 10, "emb": 32,
              "epochs": 30, "evals_per_epoch": 2, "hidden": 32, "layers": [1, 4], "lr": 0.01, "max_steps": 0,
              "min_delta": 0.005, "n_items": 600, "n_sequences": 32, "optimizer": "adam", "seed": 0,
              "skips": ["none", "residual", "dense", "highway"], "stop_after": 2, "valid_tokens": 0},
    "clipping": {"archs": ["srn", "srn:nonlinearity=relu"], "batch_size": 32, "bptt": 35, "clips": [0.0, 0.25, 1.0, 5.0],
                 "emb": 32, "hidden": 32, "layers": 1, "lr": 5.0, "max_nonfinite": 20, "max_steps": 60, "n_items": 300,
                 "optimizer": "sgd", "seed": 0, "valid_tokens": 4000},
    "number": {"attractor_rate": None, "batch_size": 64, "constructions": ["simple", "pp"], "directions": ["uni", "bi"],
               "epochs": 3, "lr": 0.01, "max_seeds": 1, "n_boot": 200, "n_sentences": 6000, "pooling": "final",
               "seed": 0},
}


@pytest.mark.parametrize("name", sorted(EARLIER))
def test_configs_written_before_the_training_options_moved_into_train_still_load(name):
    """An analysis config of an earlier version (its training options beside its own) reads as today's (them in
    ``train``): the reference run's small-preset configs equal today's small presets."""
    from probe.core.config import config_from_dict

    analysis = get_analysis(name)
    old = config_from_dict(analysis.config, EARLIER[name], where=f"{name}.json: config")
    assert old == analysis.preset("small")
    # a run config's analysis_options of that layout too, merged into the preset
    from probe.run.config import RunConfig, analysis_config

    run_cfg = RunConfig(analyses=(name,), analysis_options={name: {"lr": 0.5}})
    assert analysis_config(run_cfg, name).train.lr == 0.5
    with pytest.raises(ProbeError, match=rf"run config: unknown key 'nope' in analysis_options.{name}"):
        analysis_config(RunConfig(analyses=(name,), analysis_options={name: {"nope": 1}}), name)
