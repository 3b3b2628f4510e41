"""The run's restartable stages: each writes one folder with its config.json; one whose config matches is kept
(training jobs: ``probe.jobs``)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable


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
