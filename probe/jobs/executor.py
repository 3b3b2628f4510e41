"""``train_many``: every training job of a stage, on the executor the run names (local processes or Slurm)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from probe.core.errors import ProbeError
from probe.jobs.job import TrainJob
from probe.jobs.slurm import SlurmConfig, SlurmTrainer, check_slurm

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class Executor:
    """Where training jobs run: ``local`` (a pool of processes on this machine) or ``slurm`` (one job-array
    task per model, through submitit)."""

    kind: str = "local"                                     # local | slurm
    workers: int = 0                                        # local: processes (0: one per CPU core)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)   # slurm: how jobs are submitted
    folder: str = ""                                        # slurm: job records and submitit's logs (on the
                                                            #   cluster's shared file system)


def check_executor(kind: str, slurm: SlurmConfig | None = None) -> None:
    """A one-line ProbeError when executor ``kind`` is unknown or (slurm) cannot submit (``check_slurm``)."""
    if kind not in EXECUTORS:
        raise ProbeError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
    if kind == "slurm":
        check_slurm(slurm or SlurmConfig())


def train_many(jobs: Sequence[TrainJob], *, executor: Executor | None = None, log: Callable[[str], None] = print,
               what: str = "training", progress: bool = True) -> list[dict]:
    """Train every job (``probe.jobs.TrainJob``) on ``executor`` (default: local, one process per core) and return
    their training summaries in job order. The models do not depend on the executor: each job runs
    ``probe.jobs.run_job`` with the same thread count (``TrainJob.threads``; 0: one thread per process when
    several share this machine, ``slurm.cpus_per_task`` on Slurm).

    Local: one line per finished model through ``log`` (a bar on a terminal; none with ``progress=False``).
    Slurm: a line per job state change and a count summary at least once a minute, always (see
    ``probe.jobs.slurm``); jobs submitted by an earlier driver of the same run are re-attached.
    """
    executor = executor or Executor()
    if not jobs:
        return []
    t0 = time.perf_counter()
    if executor.kind == "slurm":
        if not executor.folder:
            raise ProbeError("the slurm executor needs a folder on the cluster's shared file system (Executor.folder)")
        results = SlurmTrainer(executor.slurm, executor.folder, log=log, what=what).run(jobs)
        log(f"{what}: {len(jobs)} models in {time.perf_counter() - t0:.1f} s (Slurm)")
        return results
    if executor.kind != "local":
        raise ProbeError(f"unknown executor {executor.kind!r}; choose from {', '.join(EXECUTORS)}")
    from probe.core.progress import Progress
    from probe.jobs.local import run_local

    processes = min(executor.workers or os.cpu_count() or 1, len(jobs))
    with Progress(what, len(jobs), unit="models", log=log, disable=not progress, parallel=processes) as bar:
        def on_done(i: int, summary: dict) -> None:
            bar.update(jobs[i].name, summary["job_seconds"])

        results = run_local(jobs, processes=processes, on_done=on_done)
    if progress:
        log(f"{what}: {len(jobs)} models in {time.perf_counter() - t0:.1f} s ({processes} processes)")
    return results
