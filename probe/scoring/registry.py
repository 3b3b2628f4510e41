"""Model references -> scorers: one registry line per kind of model (checkpoints, n-gram baselines, Hugging Face).

A reference is ``KIND:TARGET`` (``hf:openai-community/gpt2``, ``ngram:runs/x/baselines/ngram``) or a bare path,
which the registered kinds recognise by their files (``model.pt``, ``baseline.json``). A new kind of model
is one loader plus one :func:`register_scorer` call; ``probe evaluate --model`` and ``probe run`` then take
its references.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from probe.core.errors import ProbeError
from probe.core.registry import Registry
from probe.scoring.base import Scorer, model_path_parts, model_name


@dataclass(frozen=True)
class ScorerKind:
    """One kind of model: how to open a reference to it and how to recognise a bare path as one."""
    name: str                                            # the reference prefix, e.g. 'hf' in 'hf:gpt2'
    load: Callable[..., Scorer]                          # (target, *, batch_size, device, name) -> Scorer
    detect: Callable[[Path], bool] | None = None         # does a bare path hold this kind? (None: prefix only)
    help: str = ""                                       # what TARGET is, for error messages


SCORERS: Registry[ScorerKind] = Registry("kind of model", how="probe.scoring.registry.register_scorer adds one")


def register_scorer(name: str, load: Callable[..., Scorer], *, detect: Callable[[Path], bool] | None = None,
                    help: str = "") -> ScorerKind:
    """Add a kind of model under the reference prefix ``name`` (``name:TARGET``; a name may be registered once);
    returns its entry.

    ``load(target, *, batch_size, device, name)`` returns a Scorer whose ``info`` has at least ``model``.
    """
    if not name.isidentifier():
        raise ValueError(f"scorer kind {name!r} must be an identifier (it is the prefix of 'KIND:TARGET')")
    return SCORERS.register(name, ScorerKind(name, load, detect, help))


def split_reference(ref: str | os.PathLike) -> tuple[ScorerKind | None, str]:
    """``'hf:gpt2'`` -> (the hf kind, 'gpt2'); a bare path -> (the kind that recognises it or None, path)."""
    text = str(ref)
    prefix, sep, target = text.partition(":")
    if sep and prefix in SCORERS:
        return SCORERS[prefix], target
    p = Path(text)
    for kind in SCORERS.values():
        if kind.detect is not None and kind.detect(p):
            return kind, text
    return None, text


def check_model_path(path: str | os.PathLike) -> None:
    """Fail before any scoring if ``path`` is neither a registered ``KIND:TARGET`` nor a recognised model."""
    kind, target = split_reference(path)
    if kind is not None:
        if kind.detect is not None and not kind.detect(Path(target)):
            raise ProbeError(f"{target} is not a {kind.name} model; {kind.help}")
        return
    prefix, sep, _ = str(path).partition(":")
    if sep and prefix.isidentifier() and not Path(path).exists():
        raise ProbeError(f"unknown kind {prefix!r} in the model reference {str(path)!r}: KIND:TARGET takes KIND one "
                         f"of {', '.join(SCORERS)} (probe.scoring.registry.register_scorer adds kinds), or give a "
                         "model's folder")
    raise ProbeError(f"{path} is not a model: no model.pt (train one with `probe train --out DIR`) "
                     "and no baseline.json (make one with `probe baseline --out DIR`); or give KIND:TARGET "
                     f"with KIND one of {', '.join(SCORERS)}")


def load_scorer(path: str | os.PathLike, *, batch_size: int = 256, device: str = "auto",
                name: str | None = None) -> Scorer:
    """Open any model reference (see the module docstring) as a Scorer."""
    check_model_path(path)
    kind, target = split_reference(path)
    return kind.load(target, batch_size=batch_size, device=device, name=name)


def unique_names(paths: Sequence[str]) -> list[str]:
    """Readable, unique model names: folder names, lengthened with parent folders where they collide."""
    parts = [model_path_parts(p.split(":", 1)[1] if p.split(":", 1)[0] in SCORERS else p) for p in paths]
    for depth in range(1, 6):
        names = ["/".join(ps[-depth:]) for ps in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{n}#{i}" for i, n in enumerate(names)]


def _is_checkpoint(p: Path) -> bool:
    return (p.is_dir() and (p / "model.pt").is_file()) or (p.is_file() and p.suffix == ".pt")


def _load_checkpoint(target: str, *, batch_size: int, device: str, name: str | None) -> Scorer:
    from probe.scoring.neural import LMScorer

    return LMScorer.from_checkpoint(target, batch_size=batch_size, device=device, name=name)


def _is_baseline(p: Path) -> bool:
    return p.is_dir() and (p / "baseline.json").is_file()


def _load_baseline(target: str, *, batch_size: int, device: str, name: str | None) -> Scorer:
    from probe.scoring.ngram import load_baseline

    scorer = load_baseline(target)
    scorer.info["model"] = name or model_name(target)
    return scorer


def _load_hf(target: str, *, batch_size: int, device: str, name: str | None) -> Scorer:
    from probe.scoring.hf import HFScorer

    return HFScorer.from_pretrained(target, device=device, batch_size=batch_size, name=name)


register_scorer("checkpoint", _load_checkpoint, detect=_is_checkpoint,
                help="give a model.pt file or a folder holding one (`probe train --out DIR`)")
register_scorer("ngram", _load_baseline, detect=_is_baseline,
                help="give a folder holding baseline.json (`probe baseline --out DIR`)")
register_scorer("hf", _load_hf, help="give a Hugging Face causal LM: a save_pretrained folder or a hub name")
