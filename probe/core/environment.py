"""Facts about the machine and the code recorded beside every result: versions, CPU, GPU, git state."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else platform), for benchmark and report headers."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict:
    """Versions and machine facts recorded beside every result."""
    import importlib.metadata as md

    env = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("torch", "numpy", "pandas", "datasets", "spacy", "matplotlib"):
        try:
            env[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            env[pkg] = None
    return env


def git_commit(path: str | os.PathLike | None = None) -> str:
    """'<sha>' or '<sha> (uncommitted changes)' for the repository holding ``path``; 'unknown' outside git."""
    cwd = str(path or Path(__file__).resolve().parents[1])
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + (" (uncommitted changes)" if dirty else "")


def environment_facts(commit: str | None = None) -> dict:
    """Versions, CPU/GPU, threads, date and git commit of the machine writing the report (``commit``: the
    state read when the work started, before its outputs existed; default: read now)."""
    import importlib.metadata as md

    facts = {"date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
             "python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("torch", "datasets", "spacy", "numpy", "pandas", "matplotlib"):
        try:
            facts[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            facts[pkg] = "not installed"
    cpu = cpu_model()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts["cpu"] = f"{cpu} ({usable} usable cores)"
    try:
        import torch

        facts["torch threads"] = str(torch.get_num_threads())
        facts["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        facts["gpu"] = "unknown"
    facts["git commit"] = commit or git_commit()
    return facts
