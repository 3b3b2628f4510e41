"""The run's restartable stages: each writes one folder with its config.json; one whose config matches is kept."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from probe.core.config import config_from_dict, config_to_dict
from probe.train import TrainConfig, resolved_train_config


def same_config(folder: Path, expected: dict) -> bool:
    """True if ``folder/config.json`` holds every key of ``expected`` with the same value."""
    f = folder / "config.json"
    if not f.is_file():
        return False
    try:
        saved = json.loads(f.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return all(saved.get(k) == v for k, v in expected.items())


def run_stage(folder: Path, expected: dict, make: Callable[[], Any], log: Callable[[str], None], what: str, *,
              force: bool = False) -> bool:
    """Run ``make`` unless ``folder`` already holds a finished stage with the same config (``force``: an input
    it was made from has changed); True if it ran."""
    if not force and folder.is_dir() and same_config(folder, expected):
        log(f"{what}: done already ({folder})")
        return False
    if folder.exists():
        shutil.rmtree(folder)  # a stage folder with another config is stale: it was ours, rebuild it
    t0 = time.perf_counter()
    make()
    log(f"{what}: {time.perf_counter() - t0:.1f} s")
    return True


def train_job(args: tuple) -> dict:
    """Worker: train one (arch, rate, seed) model, resuming if a previous run was interrupted."""
    cfg_dict, corpus_dir, out, items, threads = args
    import torch

    from probe.train import train

    if threads:
        torch.set_num_threads(threads)
    cfg = config_from_dict(TrainConfig, cfg_dict)
    out = Path(out)
    resume = (out / "last.pt").is_file() and not (out / "summary.json").is_file()
    if out.exists() and not resume:
        shutil.rmtree(out)
    from probe.scoring.items import AgreementCurve

    return train(cfg, corpus_dir=corpus_dir, out=out, resume=resume, on_eval=AgreementCurve(items) if items else None,
                 progress=False)


def same_train_config(out: Path, tcfg: TrainConfig, corpus: str | Path, *, ignore: tuple[str, ...] = ()) -> bool:
    """True if the training folder ``out`` holds the model ``tcfg`` asks for on ``corpus``: its recorded
    config equals ``tcfg`` resolved as training resolves it (default lr, adaptive cutoffs from the corpus),
    except the fields in ``ignore`` (``probe.train.RESUMABLE``: what a resumed run may change)."""
    f = out / "config.json"
    if not f.is_file():
        return False
    saved = json.loads(f.read_text(encoding="utf-8"))
    saved_train = saved.get("train", saved)
    want = config_to_dict(resolved_train_config(tcfg, corpus))
    # a field added after the model was trained is missing from its config: it ran with the default
    defaults = config_to_dict(TrainConfig())
    saved_train = {**{k: v for k, v in defaults.items() if k not in saved_train}, **saved_train}
    return all(saved_train.get(k) == v for k, v in want.items() if k not in ignore)
