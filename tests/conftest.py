"""Shared fixtures: keep torch single-threaded so tests behave the same on every machine."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

try:
    import torch

    # tiny models: one thread avoids oversubscription (several tests start worker processes too)
    torch.set_num_threads(1)
except ImportError:
    pass

REPO = Path(__file__).resolve().parents[1]
EXTERNAL = REPO.parent / "shared" / "external"


@pytest.fixture(scope="session")
def external() -> Path:
    """The shared third-party data folder (../shared/external); tests using it skip when it is absent."""
    if not EXTERNAL.is_dir():
        pytest.skip("../shared/external is not present")
    return EXTERNAL


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """``probe run --preset quick`` on the local executor, once per session -> (cfg, run folder, log lines,
    {file: bytes} of its summary files as first written: tests that restart the run change them later)."""
    from probe.run import load_run_config, run_benchmark

    root = tmp_path_factory.mktemp("run")
    logs: list[str] = []
    cfg = load_run_config(preset="quick", overrides={"results_dir": str(root)})
    out = run_benchmark(cfg, log=logs.append)
    first = {name: (out / name).read_bytes() for name in ("summary.csv", "summary_seeds.csv")}
    return cfg, out, logs, first
