"""The analysis contract and registry, and what every analysis shares: model selection, one thread, output writing.

An analysis is a module with a frozen config dataclass (commented fields: they become the CLI flags of
``probe analyze NAME``), presets ``full`` / ``small`` / ``quick``, and ``run(inputs, cfg) -> result``, plus
one :func:`register_analysis` line. ``probe analyze NAME``, the ``probe run`` stage and the report section
follow from the registry entry. Built-in analyses register when ``probe.analyses`` loads them
(``load_analyses``); a user's module may call ``register_analysis`` itself.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
import importlib
import json
import math
import os
from pathlib import Path
import shutil
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from probe.analyses import BUILTIN
from probe.core.errors import ProbeError
from probe.core.io import write_bytes_atomic
from probe.core.registry import Registry
from probe.jobs import Executor, TrainJob, train_many
from probe.models.cells import recurrent_cells
from probe.models.classifier import OBJECTIVE
from probe.models.lm import LanguageModel


@dataclass(frozen=True)
class AnalysisInputs:
    """What an analysis is given: trained models, their corpora, the benchmark items, an output folder."""

    models: tuple[dict, ...] = ()          # [{"path", "arch", "attractor_rate", "seed"}]: training folders
    corpus_dirs: Mapping = field(default_factory=dict)   # {attractor_rate: corpus folder}
    items: str | None = None                # the benchmark item dataset (folder or .jsonl)
    dev_items: str | None = None            # held-out items (disjoint from the benchmark) that trainings watch to
                                            #   stop (stop_on ppl+agreement); None: they stop on perplexity alone
    out: str = "."                          # where the analysis writes its tables, figures and json
    workers: int = 1                        # processes an analysis may use for training
    executor: Executor | None = None        # where it trains its models (None: `workers` local processes)
    progress: bool = False                  # progress bars (off in logs)


@dataclass(frozen=True)
class Analysis:
    """One registry entry: everything the CLI, ``probe run`` and the report need to know of an analysis."""

    name: str                                        # `probe analyze NAME`, RunConfig.analyses
    title: str                                       # the report's section heading
    config: type                                     # a frozen dataclass; its commented fields become flags
    presets: Mapping[str, Any]                       # {"full": cfg, "small": cfg, "quick": cfg}
    run: Callable[[AnalysisInputs, Any], dict]       # -> {"files": [...], "markdown": str, "seconds": float, ...}
    needs: tuple[str, ...] = ()     # the inputs it cannot run without: "models", "corpus_dirs", "items"

    def preset(self, name: str) -> Any:
        """The config of preset ``name`` (full | small | quick)."""
        if name not in self.presets:
            raise ProbeError(f"unknown preset {name!r} for the {self.name} analysis; choose from "
                             f"{', '.join(self.presets)}")
        return self.presets[name]


ANALYSES: Registry[Analysis] = Registry("analysis", how="probe.analyses.base.register_analysis adds one")


def register_analysis(analysis: Analysis) -> Analysis:
    """Add ``analysis`` to the registry (a name may be registered once); returns it."""
    for p in ("full", "small", "quick"):
        if p not in analysis.presets:
            raise ValueError(f"analysis {analysis.name}: presets must include full, small and quick")
    return ANALYSES.register(analysis.name, analysis)


def load_analyses() -> Registry[Analysis]:
    """Import the built-in analysis modules (each registers itself) and return the registry."""
    for name in BUILTIN:
        importlib.import_module(f"probe.analyses.{name}")
    ANALYSES.reorder(BUILTIN)     # report order: the built-ins as BUILTIN lists them, then the others as registered
    return ANALYSES


def get_analysis(name: str) -> Analysis:
    """The registry entry for ``name``, loading the built-ins first; a ProbeError names the choices."""
    return (load_analyses() if name not in ANALYSES else ANALYSES)[name]


# what each input is called on the command line, for the error naming a missing one
INPUT_FLAGS = {"models": "trained language models (--model DIR)", "corpus_dirs": "a corpus (--corpus DIR)",
               "items": "benchmark items (--items DIR)"}


def check_inputs(analysis: Analysis, inputs: AnalysisInputs) -> None:
    """A one-line ProbeError naming every input ``analysis`` needs that ``inputs`` lacks."""
    missing = [INPUT_FLAGS[k] for k in analysis.needs if not getattr(inputs, k)]
    if missing:
        listed = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        raise ProbeError(f"the {analysis.name} analysis needs {listed}")


def run_analysis(name: str, inputs: AnalysisInputs, config: Any = None, *, preset: str = "small") -> dict:
    """Run analysis ``name`` on ``inputs`` with ``config`` (default: the preset's) and return its result."""
    analysis = get_analysis(name)
    cfg = config if config is not None else analysis.preset(preset)
    if not isinstance(cfg, analysis.config):
        raise ProbeError(f"the {name} analysis takes a {analysis.config.__name__}, not {type(cfg).__name__}")
    check_inputs(analysis, inputs)
    return analysis.run(inputs, cfg)


def train_models(inputs: AnalysisInputs, jobs: Sequence[TrainJob], *, what: str) -> list[dict]:
    """Train an analysis' own models (``probe.jobs.TrainJob``s) on ``inputs.executor``, by default in
    ``inputs.workers`` local processes; return their training summaries in job order."""
    return train_many(jobs, executor=inputs.executor or Executor(workers=inputs.workers), what=what,
                      progress=inputs.progress)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch and BLAS (numpy, scikit-learn) on one thread inside the block, restored after: the analyses'
    tensors and probes are small, and extra threads only spin against each other (the depth sweep used 6x
    the CPU time with 2 threads on a busy 2-core machine; probes ran 5x slower)."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def analysis_copy(model: LanguageModel) -> LanguageModel:
    """A float64, eval-mode, CPU copy of ``model`` whose weights need no gradient (the original is untouched)."""
    m = copy.deepcopy(model).to("cpu", torch.float64).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _rate_of(model: dict) -> float | None:
    rate = model.get("attractor_rate")
    return None if rate is None or (isinstance(rate, float) and math.isnan(rate)) else float(rate)


def select_models(models: Sequence[dict], rate: float | None, *, archs: Sequence[str] | None = None,
                  max_seeds: int | None = None) -> tuple[float | None, list[dict]]:
    """The models of ``archs`` (default: the recurrent cells) trained at attractor rate ``rate`` (None: the
    largest; models without a rate, e.g. on real text, form the group None, chosen when no model has a
    rate), the first ``max_seeds`` seeds per arch, sorted by (arch, seed) -> (rate, models)."""
    archs = recurrent_cells() if archs is None else archs
    rec = [m for m in models if m.get("arch") in archs]
    if not rec:
        raise ProbeError(f"this analysis needs models of arch {', '.join(archs)}; none were given")
    rates = {_rate_of(m) for m in rec}
    if rate is None:
        finite = [r for r in rates if r is not None]
        rate = max(finite) if finite else None
    chosen = [m for m in rec if _rate_of(m) == (None if rate is None else float(rate))]
    if not chosen:
        raise ProbeError(f"no model was trained at attractor rate {rate}; the models have rates "
                         f"{sorted(rates, key=lambda r: (r is None, r))}")
    chosen.sort(key=lambda m: (m["arch"], int(m.get("seed", 0) or 0)))
    if max_seeds is not None:
        per_arch: dict[str, int] = {}
        kept = []
        for m in chosen:
            per_arch[m["arch"]] = per_arch.get(m["arch"], 0) + 1
            if per_arch[m["arch"]] <= max_seeds:
                kept.append(m)
        chosen = kept
    return rate, chosen


def corpus_for(corpus_dirs: Mapping, rate: float | None) -> str | None:
    """The corpus folder of attractor rate ``rate`` in ``corpus_dirs`` ({rate: folder}; real text: None)."""
    for key, folder in corpus_dirs.items():
        if (key is None and rate is None) or (key is not None and rate is not None and float(key) == float(rate)):
            return str(folder)
    return None


def describe_corpora(folders: Sequence[str | os.PathLike]) -> dict:
    """Corpus folders (``probe corpus``) -> {attractor rate: folder} as the analyses take them; a real-text
    corpus, which has no attractor rate, is keyed None."""
    from probe.data.corpus import load_corpus

    out: dict = {}
    for folder in folders:
        load_corpus(folder)         # a folder that is not a corpus fails here, with the fix
        try:
            rate = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("attractor_rate")
        except (OSError, ValueError, AttributeError):
            rate = None
        key = None if rate is None else float(rate)
        if key in out:
            raise ProbeError(f"corpora {out[key]} and {folder} have the same attractor rate {key}; give one")
        out[key] = str(folder)
    return out


def describe_models(paths: Sequence[str | os.PathLike], *, attractor_rate: float | None = None,
                    corpus_dirs: Mapping | None = None) -> list[dict]:
    """Language-model checkpoints (files or training folders) -> [{"path", "arch", "attractor_rate", "seed"}]
    as the analyses take them (arch and seed read from each checkpoint). The attractor rate is
    ``attractor_rate``, else that of the corpus in ``corpus_dirs`` ({rate: folder}) the model was trained on,
    else that of the only corpus given."""
    from probe.models.checkpoint import read_checkpoint

    by_folder = {Path(f).resolve(): r for r, f in (corpus_dirs or {}).items()}
    only = next(iter(by_folder.values())) if len(by_folder) == 1 else None
    out = []
    for path in paths:
        data = read_checkpoint(path)
        if data["train_state"].get("objective") == OBJECTIVE:
            raise ProbeError(f"{path} is a number classifier; give a language model trained with `probe train`")
        arch = data["model_config"].get("arch", "")
        seed = data["train_config"].get("seed", 0) if isinstance(data["train_config"], dict) else 0
        rate = attractor_rate
        if rate is None and by_folder:
            trained_on = training_corpus(path)
            # a model whose recorded corpus is not among those given gets no rate: it is not their model
            rate = by_folder.get(Path(trained_on).resolve()) if trained_on else only
        out.append({"path": str(path), "arch": str(arch), "attractor_rate": rate, "seed": int(seed or 0)})
    return out


def training_corpus(path: str | os.PathLike) -> str | None:
    """The corpus folder recorded in a training folder's config.json (None when absent or gone)."""
    p = Path(path)
    folder = p.parent if p.suffix == ".pt" else p
    try:
        c = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("corpus")
    except (OSError, ValueError, AttributeError):
        return None
    return c if c and Path(c).is_dir() else None


def write_outputs(out: str | os.PathLike, *, tables: Mapping[str, pd.DataFrame],
                  figures: Mapping[str, Any] | None = None, records: Mapping[str, dict] | None = None) -> list[str]:
    """The one writer of every analysis: ``out/<stem>.csv`` per table, ``out/figures/<stem>.{png,pdf}`` per
    figure and ``out/<stem>.json`` per record, each atomically (other stages share ``out``). Everything is
    rendered before the first file is written, so a failing figure leaves no half-written set. Returns the paths.
    """
    from probe.core.style import figure_bytes

    out = Path(out)
    payloads = {out / f"{stem}.csv": table.to_csv(index=False).encode("utf-8") for stem, table in tables.items()}
    for stem, fig in (figures or {}).items():
        payloads[out / "figures" / f"{stem}.png"] = figure_bytes(fig, "png")
        # the PNG pass placed every axis; keep that layout for the PDF instead of solving it again (~1 s a figure)
        fig.set_layout_engine("none")
        payloads[out / "figures" / f"{stem}.pdf"] = figure_bytes(fig, "pdf")
    for stem, info in (records or {}).items():
        payloads[out / f"{stem}.json"] = (json.dumps(info, indent=2, sort_keys=True, default=str) + "\n").encode()
    for path, data in payloads.items():
        write_bytes_atomic(path, data)
    return [str(p) for p in payloads]


def working_corpus(corpus: str | os.PathLike, folder: str | os.PathLike, *, valid_tokens: int = 0) -> Path:
    """A corpus folder for short analysis runs: the same vocabulary and training split (linked, not copied),
    the first ``valid_tokens`` tokens of the valid split (0: all of it) and no test split (so training does
    not spend time on a test perplexity nobody reads). Returns ``folder``.
    """
    from probe.data.corpus import load_corpus, write_ids

    src = load_corpus(corpus)
    if "valid" not in src.splits or len(src.splits["valid"]) < 2:
        raise ProbeError(f"corpus {corpus} has no valid split; rebuild it with `probe corpus`")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src.vocab.save(folder / "vocab.json")
    try:
        os.symlink((src.path / "train.npy").resolve(), folder / "train.npy")
    except OSError:             # no symlinks here (some file systems): copy instead
        shutil.copyfile(src.path / "train.npy", folder / "train.npy")
    valid = np.asarray(src.splits["valid"])
    write_ids(folder / "valid.npy", valid[:valid_tokens] if valid_tokens else valid)
    if not valid_tokens and (src.path / "stats.json").is_file():     # its entropy floor is the whole split's
        shutil.copyfile(src.path / "stats.json", folder / "stats.json")
    return folder


def richest_corpus(corpus_dirs: dict, analysis: str) -> Path:
    """The corpus folder with the largest attractor rate (the most evidence), for the analyses that train
    their own models inside ``probe run``."""
    if not corpus_dirs:
        raise ProbeError(f"the {analysis} analysis needs a corpus; give corpus_dirs {{attractor_rate: folder}}")
    rates = [r for r in corpus_dirs if r is not None]
    return Path(corpus_for(corpus_dirs, max(rates) if rates else None))
