"""Training jobs on a Slurm cluster through submitit: one job-array task per model, watched from the driver.

The driver submits every job of a ``train_many`` call as one array (``submitit.SlurmExecutor.map_array``) and
records each model's Slurm job id in ``<folder>/jobs.json`` (beside submitit's pickles and logs; once the jobs
are over also when each was submitted, seen running and seen finished, and its training seconds), so that a
restarted driver re-attaches to the jobs still queued or running instead of submitting them again, and takes
the result of those that finished meanwhile. It polls ``squeue`` (and ``sacct`` where accounting is on),
prints a line whenever a job changes state and a count summary at least once a minute. A job that ends
without a result (cancelled, time limit, preemption, node failure) is resubmitted; the new job resumes from
the model's last checkpoint (``probe.jobs.job.run_job``). A job about to reach its time limit is checkpointed
and requeued by submitit itself (``TrainTask.checkpoint``). Both kinds of restart spend one budget of
``max_requeue`` per job: the driver counts the requeues it sees (a requeue between two polls can go unseen), and
a driver that re-attaches to a job continues its count.
"""
from __future__ import annotations

import getpass
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from probe.core.config import NonNegativeInt, PositiveInt
from probe.core.errors import ProbeError
from probe.core.io import write_text_atomic
from probe.jobs.job import TrainJob, run_job

RECORDS = "jobs.json"
# squeue's states of a job that is not over (a requeued job passes through REQUEUED back to PENDING)
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESV_DEL_HOLD", "SUSPENDED",
          "STOPPED", "RESIZING", "SPECIAL_EXIT"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
# queued states a running job enters when Slurm restarts it (requeue), not when it only pauses (SUSPENDED, STOPPED)
RESTARTED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "CONFIGURING"}
# end states in which the job's process was stopped from outside: no result will come, resubmit now
KILLED = {"CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED"}
SUMMARY_EVERY_S = 60.0
# a job gone from the queue without a result or a known end state: its result file may still be on its way
# through a network file system (submitit waits 15-30 s for the same reason)
GRACE_S = 30.0


@dataclass(frozen=True)
class SlurmConfig:
    """How training jobs are submitted to Slurm (``probe run --executor slurm``; flags ``--slurm-FIELD``)."""

    partition: str = ""                 # partition to submit to ('': the cluster's default)
    time_min: PositiveInt = 120         # wall-time limit per job, minutes; a job reaching it is checkpointed and
                                        #   requeued, and resumes from its last checkpoint
    cpus_per_task: PositiveInt = 1      # CPU cores per task; torch uses as many threads
    mem_gb: float = 0.0                 # memory per node, GB (0: the partition's default)
    gpus_per_node: NonNegativeInt = 0   # GPUs per node (train.device 'auto' then trains on them)
    nodes: PositiveInt = 1              # nodes per job (more than 1: one model trained by DDP across them)
    tasks_per_node: PositiveInt = 1     # processes per node; more than 1: one model trained by DDP, one
                                        #   process per GPU (set gpus_per_node to the same number)
    account: str = ""                   # account to charge ('': your default)
    qos: str = ""                       # quality of service ('': the default)
    additional_parameters: dict[str, str] = field(default_factory=dict)   # other sbatch options, e.g.
                                        #   {"constraint": "a100"} for --constraint=a100 (KEY=VALUE on the CLI)
    setup: tuple[str, ...] = ()         # shell lines run before each job, e.g. "module load cuda"
    max_requeue: NonNegativeInt = 3     # restarts of a job killed by the scheduler (time limit, preemption,
                                        #   node failure, scancel), requeued by Slurm or resubmitted by the
                                        #   driver alike, before the run fails
    array_parallelism: PositiveInt = 256   # tasks of one job array allowed to run at once
    poll_s: float = 5.0                 # seconds between two looks at the queue


def sbatch_options(cfg: SlurmConfig, *, job_name: str = "probe") -> dict[str, int | str]:
    """``cfg`` as sbatch's long options, the names and values submitit passes on (``time``: minutes)."""
    opts: dict[str, int | str] = {"job_name": job_name, "time": cfg.time_min, "cpus_per_task": cfg.cpus_per_task,
                                  "nodes": cfg.nodes, "ntasks_per_node": cfg.tasks_per_node}
    for name, value in (("partition", cfg.partition), ("account", cfg.account), ("qos", cfg.qos)):
        if value:
            opts[name] = value
    if cfg.mem_gb:
        opts["mem"] = f"{int(round(cfg.mem_gb * 1024))}M"
    if cfg.gpus_per_node:
        opts["gpus_per_node"] = cfg.gpus_per_node
    return opts


def check_slurm(cfg: SlurmConfig) -> None:
    """A one-line ProbeError, before anything is written or submitted, when jobs cannot go to Slurm: submitit
    missing, no Slurm commands or no reachable controller, an unknown partition, or a request the cluster
    refuses (``sbatch --test-only``: resources no node has, a bad account or qos where they are enforced)."""
    if cfg.poll_s <= 0 or cfg.mem_gb < 0:
        raise ProbeError("slurm.poll_s must be positive and slurm.mem_gb 0 or more")
    bad = [k for k in cfg.additional_parameters if not k or any(c in k for c in " =")]
    if bad:
        raise ProbeError(f"slurm.additional_parameters: {bad[0]!r} is not an sbatch option name (e.g. constraint)")
    if importlib.util.find_spec("submitit") is None:        # the executor's only optional dependency
        raise ProbeError("--executor slurm needs submitit: pip install -e \".[cluster]\" (or pip install submitit)")
    missing = [c for c in ("sbatch", "squeue", "sinfo", "srun") if shutil.which(c) is None]
    if missing:
        raise ProbeError(f"--executor slurm: no Slurm here ({missing[0]} is not on PATH); run from a login node of "
                         "a Slurm cluster, or use --executor local")
    listed = _slurm_command(["sinfo", "-h", "-o", "%P"])
    if listed.returncode != 0:
        raise ProbeError(f"--executor slurm: no Slurm cluster is reachable (sinfo: {_first_line(listed)}); run from "
                         "a login node of a Slurm cluster, or use --executor local")
    partitions = [p.rstrip("*") for p in listed.stdout.split()]
    if cfg.partition and cfg.partition not in partitions:
        raise ProbeError(f"unknown Slurm partition {cfg.partition!r}; this cluster has {', '.join(partitions)} "
                         "(--slurm-partition)")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**sbatch_options(cfg), **cfg.additional_parameters}.items()]
    tried = _slurm_command(["sbatch", "--test-only", *flags, "--wrap", "true"])
    if tried.returncode != 0:
        raise ProbeError(f"Slurm refuses the job request {' '.join(flags)}: {_first_line(tried)}; change the "
                         "--slurm-* options")


def _slurm_command(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a Slurm client command; a hung controller counts as a failure, not a hang of the driver."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 1, "", f"{cmd[0]}: {exc}")


def _first_line(res: subprocess.CompletedProcess) -> str:
    text = (res.stderr or res.stdout or "").strip()
    return text.splitlines()[0] if text else f"exit status {res.returncode}"


class TrainTask:
    """What each Slurm task runs: a ``TrainJob`` through ``run_job``, with torch's DDP variables set from Slurm's
    when the job has several tasks. Its ``checkpoint`` (submitit's hook, called when the time limit nears or
    the job is preempted) requeues the same job: the model resumes from its last checkpoint."""

    def __init__(self, threads: int = 1):
        self.threads = threads

    def __call__(self, job: TrainJob) -> dict:
        from probe.core.distributed import torchrun_env_from_slurm

        if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
            import submitit

            os.environ.update(torchrun_env_from_slurm(os.environ, submitit.JobEnvironment().hostnames[0]))
        return run_job(job if job.threads else replace(job, threads=self.threads))

    def checkpoint(self, job: TrainJob):
        """Requeue with the same arguments (training itself resumes from last.pt)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, job)


@dataclass
class _Watched:
    """One job as the driver follows it."""

    job: TrainJob
    spec: str
    job_id: str = ""
    state: str = "new"            # new | queued | running | done | failed
    resubmitted: int = 0
    absent_since: float | None = None
    since: float = 0.0            # when it was submitted or, once seen running, started
    times: dict = field(default_factory=dict)   # wall-clock seconds: submitted, started, finished (as polled)
    result: dict | None = None
    error: str = ""


def _restarts(record: dict) -> int:
    """Restarts a job's record (jobs.json) counts: its starts - 1 (0 for a record without a readable count)."""
    try:
        return max(int(record.get("starts", record.get("submissions", 1))) - 1, 0)
    except (TypeError, ValueError):
        return 0


def job_spec(job: TrainJob, corpus_digest: str | None) -> str:
    """A digest of everything that decides a job's model, its corpus' token ids included: a recorded job with
    another spec is stale (its config or data changed while it ran)."""
    data = json.dumps({**asdict(job), "corpus_digest": corpus_digest}, sort_keys=True, default=str)
    return hashlib.blake2b(data.encode(), digest_size=12).hexdigest()


class SlurmTrainer:
    """Submits ``TrainJob``s to Slurm and follows them until each is done or failed (see the module's docstring)."""

    def __init__(self, cfg: SlurmConfig, folder: str | os.PathLike, *, log: Callable[[str], None] = print,
                 what: str = "training"):
        self.cfg, self.folder, self.log, self.what = cfg, Path(folder).resolve(), log, what
        self.user = getpass.getuser()
        self.last_summary = 0.0
        self.started = time.perf_counter()

    # --- the cluster, through its client commands (tests replace these) ----------------------------------------

    def queue_states(self) -> dict[str, str] | None:
        """{job id: state} of this user's jobs that Slurm still lists (array tasks one by one), or None when
        squeue fails (a busy controller: try again at the next poll)."""
        res = _slurm_command(["squeue", "-h", "-r", "-t", "all", "-u", self.user, "-o", "%i|%T"])
        if res.returncode != 0:
            return None
        states = {}
        for line in res.stdout.splitlines():
            jid, _, state = line.strip().partition("|")
            if jid:
                states[jid] = state.split()[0] if state else ""
        return states

    def accounting_states(self, job_ids: Sequence[str]) -> dict[str, str]:
        """{job id: end state} from sacct (empty where accounting is off)."""
        res = _slurm_command(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(job_ids)])
        if res.returncode != 0:
            return {}
        out = {}
        for line in res.stdout.splitlines():
            jid, _, state = line.strip().partition("|")
            if jid and state:
                out[jid] = state.split()[0]
        return out

    def submit(self, jobs: Sequence[TrainJob]) -> list[str]:
        """Submit ``jobs`` as one job array; return their Slurm job ids (``<array>_<index>``)."""
        import submitit

        ex = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=self.cfg.max_requeue)
        params: dict = {**sbatch_options(self.cfg, job_name=f"probe-{self.what}"),
                        "array_parallelism": self.cfg.array_parallelism}
        if self.cfg.additional_parameters:
            params["additional_parameters"] = {k: str(v) for k, v in self.cfg.additional_parameters.items()}
        if self.cfg.setup:
            params["setup"] = list(self.cfg.setup)
        ex.update_parameters(**params)
        try:
            submitted = ex.map_array(TrainTask(threads=self.cfg.cpus_per_task), list(jobs))
        except Exception as exc:    # submitit raises its own errors around sbatch's
            raise ProbeError(f"Slurm did not take the {self.what} jobs: {str(exc).strip().splitlines()[-1]}") from exc
        return [j.job_id for j in submitted]

    def cancel(self, job_ids: Sequence[str]) -> None:
        _slurm_command(["scancel", *job_ids])

    def outcome(self, job_id: str) -> tuple[str, object] | None:
        """("success", summary) or ("error", traceback) once the job wrote its result, else None."""
        from submitit.core.utils import JobPaths, pickle_load

        path = JobPaths(self.folder, job_id=job_id, task_id=0).result_pickle
        if not path.exists():
            return None
        try:
            return pickle_load(path)
        except (EOFError, OSError, ValueError):      # still being written (it is moved into place, but NFS...)
            return None

    def log_path(self, job_id: str) -> Path:
        """The first task's stderr log (submitit's name for it)."""
        return self.folder / f"{job_id}_0_log.err"

    # --- records: which model went to which Slurm job -------------------------------------------------------------

    def read_records(self) -> dict:
        path = self.folder / RECORDS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_records(self, watched: Sequence[_Watched]) -> None:
        records = self.read_records()
        for w in watched:
            if w.job_id:
                old = records.get(_key(w.job)) or {}
                kept = old if old.get("job_id") == w.job_id else {}     # times an earlier driver saw of this job
                records[_key(w.job)] = {**kept, "job_id": w.job_id, "spec": w.spec, "name": w.job.name, **w.times,
                                        "starts": w.resubmitted + 1}
                if w.result and w.result.get("train_seconds") is not None:
                    records[_key(w.job)]["train_seconds"] = round(w.result["train_seconds"], 1)
        write_text_atomic(self.folder / RECORDS, json.dumps(records, indent=1, sort_keys=True) + "\n")

    # --- the driver ---------------------------------------------------------------------------------------------

    def run(self, jobs: Sequence[TrainJob]) -> list[dict]:
        """Train ``jobs`` on the cluster and return their summaries in job order; a ProbeError names the jobs
        that failed (after every other job has finished)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digests: dict[str, str | None] = {}
        watched = []
        for job in jobs:
            if job.corpus not in digests:
                from probe.data.corpus import corpus_fingerprint

                digests[job.corpus] = corpus_fingerprint(job.corpus)
            watched.append(_Watched(job, job_spec(job, digests[job.corpus])))
        queue = self.queue_states()
        if queue is None:
            raise ProbeError("squeue failed: the Slurm controller does not answer; rerun when it does (jobs "
                             "already submitted are re-attached)")
        to_submit = self.attach(watched, queue)
        try:
            if to_submit:
                self.submit_watched(to_submit)
            self.follow(watched)
        except KeyboardInterrupt:
            self.log(f"{self.what}: the driver stops; the Slurm jobs it submitted go on (records in {self.folder}), "
                     "and the same command re-attaches to them")
            raise
        self.write_records([w for w in watched if w.times.get("finished") or w.state == "failed"])   # timings, starts
        failed = [w for w in watched if w.state == "failed"]
        if failed:
            first = failed[0]
            raise ProbeError(f"{len(failed)} of {len(watched)} {self.what} jobs failed; {first.job.name} (Slurm job "
                             f"{first.job_id}): {first.error}; its log: {self.log_path(first.job_id)}")
        return [w.result for w in watched]

    def attach(self, watched: list[_Watched], queue: dict[str, str]) -> list[_Watched]:
        """Match ``watched`` with the jobs a previous driver recorded: still queued or running -> followed, finished
        with its model in place -> done, stale (another spec) -> cancelled and its folder cleared. Returns the
        jobs to submit."""
        records = self.read_records()
        to_submit, stale = [], []
        for w in watched:
            rec = records.get(_key(w.job)) or {}
            jid = rec.get("job_id", "")
            if not jid:
                to_submit.append(w)
                continue
            live = queue.get(jid) in QUEUED | RUNNING
            if rec.get("spec") != w.spec:
                if live:
                    stale.append((w, jid))
                to_submit.append(w)
                continue
            if live:
                # the restarts it already had count against its budget; a job submitted anew starts a fresh one
                w.job_id, w.resubmitted = jid, _restarts(rec)
                self.change(w, "queued" if queue[jid] in QUEUED else "running", note="re-attached")
                continue
            outcome = self.outcome(jid)
            if outcome and outcome[0] == "success" and (Path(w.job.out) / "summary.json").is_file():
                w.job_id, w.result = jid, outcome[1]
                self.change(w, "done", note="finished while no driver watched")
                continue
            to_submit.append(w)
        if stale:
            self.log(f"{self.what}: cancelling {len(stale)} Slurm jobs of an earlier run whose config or data changed")
            self.cancel([jid for _, jid in stale])
            self.wait_gone([jid for _, jid in stale])
            for w, _ in stale:
                shutil.rmtree(w.job.out, ignore_errors=True)     # written by the stale job: not this model's
        return to_submit

    def wait_gone(self, job_ids: Sequence[str], timeout_s: float = 600) -> None:
        """Wait until none of ``job_ids`` is queued or running any more (its processes have ended)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            queue = self.queue_states()
            if queue is not None and not any(queue.get(j) in QUEUED | RUNNING for j in job_ids):
                return
            time.sleep(min(self.cfg.poll_s, 2.0))
        raise ProbeError(f"Slurm jobs {', '.join(job_ids)} did not end within {timeout_s:.0f} s of scancel; "
                         "rerun once they have")

    def submit_watched(self, batch: list[_Watched]) -> None:
        ids = self.submit([w.job for w in batch])
        for w, jid in zip(batch, ids):
            w.job_id, w.absent_since = jid, None
        self.write_records(batch)
        array = ids[0].split("_")[0]
        self.log(f"{self.what}: submitted {len(batch)} jobs to Slurm as job {array}"
                 + (" (an array)" if len(batch) > 1 else "") + f"; logs in {self.folder}")
        for w in batch:
            self.change(w, "queued")

    def change(self, w: _Watched, state: str, note: str = "") -> None:
        """Record and print a job's change of state."""
        from probe.core.progress import duration

        if state == w.state and not note:
            return
        if state == "queued" or (state == "running" and w.state != "running"):
            w.since = time.monotonic()
        if not note:
            w.times[{"queued": "submitted", "running": "started"}.get(state, "finished")] = round(time.time(), 1)
        extra = f"; {note}" if note else ""
        if state == "done" and not note:        # its wall time as the driver saw it, start-up included
            extra = f" after {duration(time.monotonic() - w.since)}" + (" running" if w.state == "running" else "")
        w.state = state
        self.log(f"{self.what}: {w.job.name} {state} (Slurm job {w.job_id}){extra}")

    def follow(self, watched: list[_Watched]) -> None:
        """Poll until every job is done or failed, resubmitting those killed from outside."""
        self.last_summary = time.monotonic()
        while any(w.state not in ("done", "failed") for w in watched):
            time.sleep(self.cfg.poll_s)
            queue = self.queue_states()
            if queue is None:
                continue
            absent = []
            for w in watched:
                if w.state in ("done", "failed"):
                    continue
                outcome = self.outcome(w.job_id)
                if outcome is not None:
                    if outcome[0] == "success":
                        w.result = outcome[1]
                        self.change(w, "done")
                    else:
                        w.error = str(outcome[1]).strip().splitlines()[-1] if outcome[1] else "no traceback"
                        self.change(w, "failed", note=w.error)
                    continue
                state = queue.get(w.job_id, "")
                if state in QUEUED | RUNNING:
                    w.absent_since = None
                    new = "queued" if state in QUEUED else "running"
                    if new == "queued" and w.state == "running":
                        if state in RESTARTED:      # else paused (SUSPENDED, STOPPED): still the same run
                            self.requeued(w)
                    else:
                        self.change(w, new)
                    continue
                absent.append((w, state))
            self.handle_ended(absent)
            if time.monotonic() - self.last_summary >= SUMMARY_EVERY_S:
                self.summary(watched)
        self.summary(watched)

    def requeued(self, w: _Watched) -> None:
        """A running job seen queued again: Slurm requeued it (submitit's checkpoint at the time limit, or a
        preemption). That spends the same ``max_requeue`` budget as the driver's resubmissions, so that a job is
        restarted at most that many times whichever way; past it the job is cancelled and fails."""
        if w.resubmitted >= self.cfg.max_requeue:
            self.cancel([w.job_id])     # before it starts again
            w.error = (f"requeued by Slurm once more after {w.resubmitted} restarts without a result; raise "
                       "--slurm-max-requeue or look at its log")
            self.change(w, "failed", note=f"requeued by Slurm, no restart left of {self.cfg.max_requeue}")
            return
        w.resubmitted += 1
        self.change(w, "queued", note=f"requeued by Slurm ({w.resubmitted} of {self.cfg.max_requeue}); it resumes "
                                      "from its last checkpoint")
        self.write_records([w])       # a driver that re-attaches later continues the count

    def handle_ended(self, absent: list[tuple[_Watched, str]]) -> None:
        """Jobs no longer queued or running, without a result: resubmit those killed from outside (an end state in
        KILLED, or none known after GRACE_S) until ``max_requeue`` resubmissions are spent; fail those whose own
        process ended without a result (FAILED, COMPLETED: a crash, not a kill)."""
        if not absent:
            return
        now = time.monotonic()
        unknown = [w.job_id for w, state in absent if state not in KILLED]
        accounted = self.accounting_states(unknown) if unknown else {}
        lost = []
        for w, state in absent:
            state = state if state in KILLED else accounted.get(w.job_id, state)
            if w.absent_since is None:
                w.absent_since = now
            if state in KILLED:
                lost.append((w, state))
            elif now - w.absent_since >= GRACE_S:
                if state in ("COMPLETED", "FAILED"):       # its own process ended without a result: not a kill
                    w.error = f"its process ended ({state}) without a result"
                    self.change(w, "failed", note=w.error)
                else:
                    lost.append((w, state or "gone from the queue"))
        again = []
        for w, state in lost:
            if w.resubmitted >= self.cfg.max_requeue:
                w.error = (f"ended without a result ({state}) after {w.resubmitted} restarts (requeues and "
                           "resubmissions); raise --slurm-max-requeue or look at its log")
                self.change(w, "failed", note=f"{state}, no resubmission left")
                continue
            w.resubmitted += 1
            self.log(f"{self.what}: {w.job.name} ended without a result (Slurm job {w.job_id}: {state}); resubmitting "
                     f"({w.resubmitted} of {self.cfg.max_requeue}), it resumes from its last checkpoint")
            again.append(w)
        if again:
            self.submit_watched(again)

    def summary(self, watched: Sequence[_Watched]) -> None:
        from probe.core.progress import duration

        counts = {s: sum(w.state == s for w in watched) for s in ("queued", "running", "done", "failed")}
        self.log(f"{self.what}: {counts['queued']} queued, {counts['running']} running, {counts['done']} done, "
                 f"{counts['failed']} failed of {len(watched)} Slurm jobs; "
                 f"{duration(time.perf_counter() - self.started)} elapsed")
        self.last_summary = time.monotonic()


def _key(job: TrainJob) -> str:
    return str(Path(job.out).resolve())
