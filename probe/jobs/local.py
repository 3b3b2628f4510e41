"""Training jobs on this machine: in this process, or in a pool of worker processes that die with their driver."""
from __future__ import annotations

import os
from typing import Callable, Sequence

from probe.jobs.job import TrainJob, run_job


def run_local(jobs: Sequence[TrainJob], *, processes: int, on_done: Callable[[int, dict], None]) -> list[dict]:
    """Run ``jobs`` in ``processes`` worker processes (1: in this process, one after the other) and return their
    summaries in job order; ``on_done(index, summary)`` is called as each finishes. A job with ``threads`` 0 gets
    one torch thread when several processes share the machine, and torch's default otherwise. The first failure
    cancels the jobs not yet started and is raised."""
    import torch

    results: list[dict | None] = [None] * len(jobs)
    if processes <= 1:
        before = torch.get_num_threads()
        try:
            for i, job in enumerate(jobs):
                results[i] = run_job(job)
                torch.set_num_threads(before)      # a job's own thread count is not the driver's
                on_done(i, results[i])
        finally:
            torch.set_num_threads(before)
        return results
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from dataclasses import replace

    from probe.core.workers import end_with_parent

    pending_jobs = [job if job.threads else replace(job, threads=1) for job in jobs]
    # spawn: torch and fork do not mix safely; end_with_parent: a killed driver takes its workers along
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=mp.get_context("spawn"),
                               initializer=end_with_parent, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(run_job, job): i for i, job in enumerate(pending_jobs)}
        for fut in as_completed(futures):                  # each as it finishes: the progress line moves
            results[futures[fut]] = fut.result()           # raises the worker's exception
            on_done(futures[fut], results[futures[fut]])
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results

