"""Per-model overhead of the training executors: Slurm (one job-array task per model) against local processes."""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probe.core.config import config_to_dict
from probe.core.environment import cpu_model
from probe.data.corpus import CorpusConfig, build_corpus
from probe.jobs import Executor, SlurmConfig, TrainJob, train_many
from probe.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def slots() -> int:
    """CPUs Slurm can run jobs on at once (0: no cluster answers)."""
    if shutil.which("sinfo") is None:
        return 0
    res = subprocess.run(["sinfo", "-h", "-o", "%C"], capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.strip():
        return 0
    # %C: allocated/idle/other/total
    return int(res.stdout.split()[0].split("/")[-1])


def per_job(wall: float, seconds: list[float], parallel: int) -> float:
    """Overhead per model: the stage's CPU-slot time minus the models' own training time, over the models."""
    return (wall * parallel - sum(seconds)) / len(seconds)


def measure(jobs: list[TrainJob], executor: Executor, parallel: int) -> dict:
    """Train ``jobs`` on ``executor``; the stage's wall time, the models' own seconds and the overhead per model."""
    for job in jobs:
        shutil.rmtree(job.out, ignore_errors=True)
    t0 = time.perf_counter()
    results = train_many(jobs, executor=executor, log=lambda s: None, progress=False)
    wall = time.perf_counter() - t0
    seconds = [r["job_seconds"] for r in results]
    return {"wall": wall, "train": sum(seconds), "overhead": per_job(wall, seconds, parallel)}


def summarize_run(run: Path) -> None:
    """The Slurm jobs of a finished run (its work/slurm/jobs.json): overhead per model as the driver saw it, and as
    a ratio to the same jobs' own training time (a report on a past run: the live comparison with local processes
    is this script without --run)."""
    records = json.loads((run / "work" / "slurm" / "jobs.json").read_text())
    rows = [r for r in records.values() if r.get("finished") and r.get("started") and r.get("train_seconds")]
    if not rows:
        sys.exit(f"{run}: no finished Slurm job with its times in work/slurm/jobs.json; give a run that used "
                 "--executor slurm")
    over = sorted(r["finished"] - r["started"] - r["train_seconds"] for r in rows)
    queued = sorted(r["started"] - r["submitted"] for r in rows)
    print(f"{run}: {len(rows)} Slurm jobs; running time minus the model's own training time (start seen by the "
          f"driver -> result): median {statistics.median(over):.1f} s, 90th percentile "
          f"{over[int(0.9 * (len(over) - 1))]:.1f} s; queued (submit -> start): median "
          f"{statistics.median(queued):.0f} s; the models' own training: {sum(r['train_seconds'] for r in rows):.0f} s")
    ratio = sorted((r["finished"] - r["started"]) / r["train_seconds"] for r in rows)
    print(f"running time / own training time per job: median {statistics.median(ratio):.2f}x, 90th percentile "
          f"{ratio[int(0.9 * (len(ratio) - 1))]:.2f}x")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=8, help="tiny models to train through each executor")
    ap.add_argument("--sentences", type=int, default=4000, help="synthetic training sentences")
    ap.add_argument("--poll", type=float, default=2.0, help="the Slurm driver's polling interval (--slurm-poll-s)")
    ap.add_argument("--partition", default="debug", help="Slurm partition")
    ap.add_argument("--run", type=Path, help="instead: summarise the Slurm jobs of a finished run folder")
    args = ap.parse_args(argv)
    print(f"cpu: {cpu_model()}")
    if args.run:
        summarize_run(args.run)
        return
    n = slots()
    if n == 0:
        sys.exit("no Slurm cluster answers (sinfo); start one (../shared/tools/local-slurm/start-local-slurm.sh) or "
                 "give --run DIR")
    # the folders must be on a file system the nodes share: here, one node, so a temporary folder works
    with tempfile.TemporaryDirectory(prefix="probe-executors-", dir=ROOT / "bench") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        build_corpus(CorpusConfig(n_sentences=args.sentences, seed=0, exclude_benchmark=False), out=corpus)
        tcfg = TrainConfig(arch="gru", layers=1, hidden=32, emb=32, epochs=1, batch_size=32, device="cpu")
        jobs = [TrainJob(config=config_to_dict(TrainConfig(**{**config_to_dict(tcfg), "seed": s})), corpus=str(corpus),
                         out=str(tmp / "models" / f"gru-s{s}"), threads=1) for s in range(args.models)]
        parallel = min(n, len(jobs))     # slots beyond the jobs stay idle: not the executor's overhead
        local = measure(jobs, Executor(kind="local", workers=n), parallel)
        slurm = measure(jobs, Executor(kind="slurm", folder=str(tmp / "slurm"),
                                       slurm=SlurmConfig(partition=args.partition, poll_s=args.poll)), parallel)
    print(f"{args.models} models (GRU 1x32, one epoch of {args.sentences} sentences), {parallel} at a time")
    print(f"{'executor':10} {'wall s':>8} {'train s':>8} {'overhead s/model':>17}")
    for name, m in (("local", local), ("slurm", slurm)):
        print(f"{name:10} {m['wall']:8.1f} {m['train']:8.1f} {m['overhead']:17.1f}")
    print(f"slurm/local wall time: {slurm['wall'] / local['wall']:.2f}x; overhead per model, slurm - local: "
          f"{slurm['overhead'] - local['overhead']:.1f} s")


if __name__ == "__main__":
    main()
