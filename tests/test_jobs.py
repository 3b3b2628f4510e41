"""Training jobs (probe.jobs): the local pool, its workers' end with a killed driver, the Slurm driver's bookkeeping
on a fake queue (200 jobs, kills, re-attachment), run-config keys and flags, and, against a real Slurm cluster
(``../shared/tools/local-slurm``; skipped without one, failing in CI), the quick preset byte for byte, a cancelled
job's resumption, a killed and restarted driver, DDP across a job's tasks, and bad input."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import probe.jobs.slurm as slurm_mod
from probe.cli import main
from probe.core.config import config_to_dict
from probe.core.distributed import torchrun_env_from_slurm
from probe.core.errors import ProbeError
from probe.jobs import Executor, SlurmConfig, TrainJob, run_job, train_many
from probe.jobs.slurm import SlurmTrainer
from probe.models.checkpoint import read_checkpoint
from probe.run import load_run_config
from probe.train import TrainConfig
from toy import assert_same_weights, write_toy_corpus

REPO = Path(__file__).resolve().parents[1]
WORDS = ["the", "dog", "dogs", "cat", "cats", "near", "runs", "run", "sleeps", "sleep"]
TINY = dict(arch="lstm", layers=1, hidden=16, emb=16, batch_size=8, bptt=8, epochs=1, lr=1e-2, optimizer="adam",
            log_every=20, eval_every=40, device="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_toy_corpus(tmp_path_factory.mktemp("jobs") / "corpus", {"train": (3000, 0), "valid": (100, 1)},
                            words=WORDS, modifier_rate=0.3)


def lm_job(corpus: Path, out: Path, **train) -> TrainJob:
    return TrainJob(config=config_to_dict(TrainConfig(**{**TINY, **train})), corpus=str(corpus), out=str(out),
                    threads=1)


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------------------------
# Local executor


def test_local_pool_gives_the_models_of_one_process_in_job_order(corpus, tmp_path):
    jobs = [lm_job(corpus, tmp_path / "pool" / arch, arch=arch) for arch in ("srn", "gru", "lstm")]
    lines: list[str] = []
    pooled = train_many(jobs, executor=Executor(workers=2), log=lines.append)
    inline = train_many([replace(j, out=str(tmp_path / "one" / Path(j.out).name)) for j in jobs],
                        executor=Executor(workers=1), log=lambda s: None)
    assert [s["arch"] for s in pooled] == ["srn", "gru", "lstm"]
    for job in jobs:
        assert_same_weights(Path(job.out) / "last.pt", tmp_path / "one" / job.name / "last.pt")
    assert [s["best_valid_ppl"] for s in pooled] == [s["best_valid_ppl"] for s in inline]
    assert sum(line.startswith("training: ") and "/3 models" in line for line in lines) == 3
    assert lines[-1].startswith("training: 3 models in") and lines[-1].endswith("(2 processes)")


def test_a_failing_job_fails_the_call(corpus, tmp_path):
    bad = replace(lm_job(corpus, tmp_path / "bad"), corpus=str(tmp_path / "no-corpus"))
    with pytest.raises(ProbeError, match="no-corpus"):
        train_many([bad, lm_job(corpus, tmp_path / "ok")], executor=Executor(workers=1), progress=False)
    assert not (tmp_path / "ok").exists()                # nothing after the failure ran


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    pairs = list(zip(map(int, out[::2]), map(int, out[1::2])))
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in pairs if pp == parent]
        found += kids
        frontier += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_probe_run_leaves_no_worker_alive(tmp_path):
    """The training pool's workers end with their driver (prctl PR_SET_PDEATHSIG), not 85 s later as orphans."""
    log = open(tmp_path / "run.log", "w")
    driver = subprocess.Popen([sys.executable, "-m", "probe", "run", "--preset", "quick", "--workers", "2",
                               "--results-dir", str(tmp_path / "runs")], stdout=log, stderr=subprocess.STDOUT,
                              env=env(), cwd=tmp_path)
    try:
        deadline, workers = time.monotonic() + 240, []
        while time.monotonic() < deadline and len(workers) < 2:
            assert driver.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
            workers = [p for p in _children(driver.pid) if "spawn_main" in _cmdline(p)]
            time.sleep(0.2)
        assert len(workers) >= 2, "the pool never started"
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        log.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]


# ---------------------------------------------------------------------------------------------------------------
# The Slurm driver against a fake queue: 200 jobs, kills, failures, re-attachment


class FakeSlurm(SlurmTrainer):
    """A cluster in memory: each poll moves a job PENDING -> RUNNING -> its end (``fate``: 'ok', 'error', or an
    end state like CANCELLED as many times as listed, then 'ok')."""

    def __init__(self, cfg, folder, fates=None, live=(), **kw):
        super().__init__(cfg, folder, **kw)
        self.fates, self.queue, self.results, self.submitted, self.arrays = dict(fates or {}), {}, {}, [], 0
        self.names, self.calls = {}, 0
        for jid in live:
            self.queue[jid] = "RUNNING"

    def queue_states(self):
        self.calls += 1
        for jid, state in list(self.queue.items()) if self.calls > 1 else ():   # the driver's first look: as is
            if state in ("PENDING", "SUSPENDED"):
                self.queue[jid] = "RUNNING"
            elif state == "RUNNING":
                name = self.names.get(jid, "")
                fate = self.fates.get(name, ["ok"])
                now = fate.pop(0) if len(fate) > 1 else fate[0]
                if now == "ok":
                    self.results[jid] = ("success", {"train_seconds": 1.0, "name": name})
                    self.queue[jid] = "COMPLETED"
                elif now == "error":
                    self.results[jid] = ("error", "Traceback ...\nprobe.core.errors.ProbeError: bad corpus")
                    self.queue[jid] = "FAILED"
                else:
                    self.queue[jid] = now
        return dict(self.queue)

    def accounting_states(self, job_ids):
        return {}

    def submit(self, jobs):
        self.arrays += 1
        ids = [f"{self.arrays}_{i}" for i in range(len(jobs))]
        for jid, job in zip(ids, jobs):
            self.queue[jid], self.names[jid] = "PENDING", job.name
            self.submitted.append(job.name)
        return ids

    def cancel(self, job_ids):
        for jid in job_ids:
            self.queue[jid] = "CANCELLED"

    def outcome(self, job_id):
        return self.results.get(job_id)


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(slurm_mod, "SUMMARY_EVERY_S", 0.0)
    return SlurmConfig(poll_s=0.001, max_requeue=2)


def test_two_hundred_jobs_with_kills_and_a_failure(tmp_path, fast_polls):
    jobs = [TrainJob(config={"seed": i}, corpus=str(tmp_path), out=str(tmp_path / f"m{i:03d}")) for i in range(200)]
    fates = {"m007": ["CANCELLED", "ok"], "m050": ["TIMEOUT", "NODE_FAIL", "ok"], "m100": ["PREEMPTED"] * 5}
    lines: list[str] = []
    fake = FakeSlurm(fast_polls, tmp_path / "slurm", fates=fates, log=lines.append)
    with pytest.raises(ProbeError, match=r"1 of 200 training jobs failed; m100 .*PREEMPTED\) after 2 restarts"):
        fake.run(jobs)
    assert fake.submitted.count("m007") == 2 and fake.submitted.count("m050") == 3
    assert fake.submitted.count("m100") == 3 and len(fake.submitted) == 200 + 1 + 2 + 2
    assert any("m050 ended without a result (Slurm job" in s and "resubmitting (2 of 2)" in s for s in lines)
    assert "training: m000 queued (Slurm job 1_0)" in lines and "training: m000 running (Slurm job 1_0)" in lines
    assert any(s.startswith("training: m000 done (Slurm job 1_0) after") for s in lines)
    assert any(s.startswith("training: 0 queued, 0 running, 199 done, 1 failed of 200 Slurm jobs;") for s in lines)
    records = json.loads((tmp_path / "slurm" / "jobs.json").read_text())
    assert len(records) == 200 and records[str((tmp_path / "m007").resolve())]["job_id"].startswith("2_")

    lines.clear()
    fates["m100"] = ["ok"]
    ok = FakeSlurm(fast_polls, tmp_path / "slurm2", fates=fates, log=lines.append).run(jobs[95:105])
    assert [r["name"] for r in ok] == [f"m{i:03d}" for i in range(95, 105)]        # in job order


def test_slurms_own_requeues_and_resubmissions_spend_one_budget(tmp_path, fast_polls):
    """A job Slurm requeues (PENDING again after RUNNING: submitit's checkpoint at the time limit, a preemption)
    spends the same --slurm-max-requeue budget as the driver's resubmissions: past it the job is cancelled and fails."""
    jobs = [TrainJob(config={}, corpus=str(tmp_path), out=str(tmp_path / name)) for name in ("a", "b", "c")]
    # c is only suspended (paused, not restarted) three times: no restart spent
    fates = {"a": ["PENDING", "PENDING", "PENDING", "ok"], "b": ["PENDING", "CANCELLED", "ok"],
             "c": ["SUSPENDED"] * 3 + ["ok"]}
    lines: list[str] = []
    fake = FakeSlurm(fast_polls, tmp_path / "slurm", fates=fates, log=lines.append)
    with pytest.raises(ProbeError, match=r"1 of 3 training jobs failed; a .*requeued by Slurm once more after 2 restarts"):
        fake.run(jobs)
    assert fake.queue["1_0"] == "CANCELLED" and fake.submitted.count("a") == 1
    assert ("training: a queued (Slurm job 1_0); requeued by Slurm (2 of 2); it resumes from its last checkpoint"
            in lines)
    assert fake.submitted.count("b") == 2 and any("b ended without a result" in s and "(2 of 2)" in s for s in lines)
    records = json.loads((tmp_path / "slurm" / "jobs.json").read_text())
    assert records[str((tmp_path / "a").resolve())]["starts"] == 3          # failed jobs are recorded too
    assert records[str((tmp_path / "b").resolve())]["starts"] == 3
    # a suspension is no restart: c was followed as one run, queued once (when submitted), never requeued
    assert records[str((tmp_path / "c").resolve())]["starts"] == 1 and "training: c done" in " ".join(lines)
    assert sum(s.startswith("training: c queued") for s in lines) == 1

    # a driver that re-attaches to a running job continues its count: d had 2 starts, so one more requeue is its
    # last (2 of 2) and the next one fails it
    d = [TrainJob(config={}, corpus=str(tmp_path), out=str(tmp_path / "d"))]
    FakeSlurm(fast_polls, tmp_path / "slurm2", fates={"d": ["PENDING", "ok"]}, log=lambda s: None).run(d)
    lines.clear()
    again = FakeSlurm(fast_polls, tmp_path / "slurm2", fates={"d": ["PENDING"] * 2 + ["ok"]}, live=("1_0",),
                      log=lines.append)
    again.names["1_0"] = "d"
    with pytest.raises(ProbeError, match="once more after 2 restarts"):
        again.run(d)
    assert any("requeued by Slurm (2 of 2)" in s for s in lines) and again.submitted == []
    assert not any("(1 of 2)" in s for s in lines)


def test_a_job_that_raises_fails_without_resubmission(tmp_path, fast_polls):
    jobs = [TrainJob(config={}, corpus=str(tmp_path), out=str(tmp_path / name)) for name in ("a", "b")]
    fake = FakeSlurm(fast_polls, tmp_path / "slurm", fates={"a": ["error"]}, log=lambda s: None)
    with pytest.raises(ProbeError, match=r"1 of 2 training jobs failed; a \(Slurm job 1_0\): "
                                         r"probe.core.errors.ProbeError: bad corpus; its log: .*1_0_0_log.err"):
        fake.run(jobs)
    assert fake.submitted == ["a", "b"]


def test_a_restarted_driver_reattaches_instead_of_submitting_again(tmp_path, fast_polls):
    """Jobs recorded by an earlier driver: still running -> followed; finished with the model in place -> taken;
    gone without a result -> submitted again; recorded with another config -> cancelled, folder cleared, redone."""
    jobs = [TrainJob(config={"seed": i}, corpus=str(tmp_path), out=str(tmp_path / f"m{i}")) for i in range(4)]
    first = FakeSlurm(fast_polls, tmp_path / "slurm", log=lambda s: None)
    first.run(jobs)
    (tmp_path / "m1").mkdir()
    (tmp_path / "m1" / "summary.json").write_text("{}")          # m1 finished while no driver watched
    (tmp_path / "m3").mkdir()
    (tmp_path / "m3" / "last.pt").write_text("stale")
    changed = jobs[:3] + [replace(jobs[3], config={"seed": 33})]
    lines: list[str] = []
    again = FakeSlurm(fast_polls, tmp_path / "slurm", live=("1_0", "1_3"), log=lines.append)
    again.results["1_1"] = ("success", {"train_seconds": 1.0, "name": "m1"})
    again.names.update({"1_0": "m0", "1_3": "m3"})
    again.run(changed)
    assert again.submitted == ["m2", "m3"]                       # m0 re-attached, m1 taken
    assert "training: m0 running (Slurm job 1_0); re-attached" in lines
    assert "training: m1 done (Slurm job 1_1); finished while no driver watched" in lines
    assert again.queue["1_3"] == "CANCELLED" and not (tmp_path / "m3" / "last.pt").exists()


# ---------------------------------------------------------------------------------------------------------------
# Configuration: run-config keys, flags, DDP variables


def test_slurm_options_from_a_run_config_and_from_flags(tmp_path):
    from probe.cli.main import build_parser
    from probe.cli.options import option_values

    f = tmp_path / "cluster.yaml"
    f.write_text("slurm:\n  partition: gpu\n  time_min: 30\n  additional_parameters: {constraint: a100}\n")
    cfg = load_run_config(preset="quick", config_file=f)       # executor local: nothing asks the cluster
    assert cfg.executor == "local" and cfg.slurm.partition == "gpu" and cfg.slurm.time_min == 30
    assert cfg.slurm.additional_parameters == {"constraint": "a100"} and cfg.slurm.cpus_per_task == 1
    f.write_text("slurm:\n  partision: gpu\n")
    with pytest.raises(ProbeError, match="unknown key 'partision'"):
        load_run_config(preset="quick", config_file=f)
    a = build_parser("run").parse_args(["run", "--executor", "slurm", "--slurm-partition", "gpu",
                                        "--slurm-gpus-per-node", "2",
                                        "--slurm-additional-parameters", "constraint=a100", "nice=5"])
    assert a.executor == "slurm" and a.slurm_partition == "gpu"
    names = [n for n in vars(a) if n.startswith("slurm_")]
    assert option_values(a, names, prefix="slurm") == {"partition": "gpu", "gpus_per_node": 2,
                                                       "additional_parameters": {"constraint": "a100", "nice": "5"}}


def test_torchrun_variables_from_a_slurm_task():
    task = {"SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_LOCALID": "1", "SLURM_JOB_NUM_NODES": "2",
            "SLURM_JOB_ID": "1234"}
    assert torchrun_env_from_slurm(task, "node01") == {
        "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "node01",
        "MASTER_PORT": "21234"}
    assert torchrun_env_from_slurm({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, "node01") == {}


def test_slurm_executor_without_slurm_is_one_line_and_exit_2(tmp_path):
    """No Slurm commands on PATH (or, without submitit, no submitit): refused before anything is written."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    proc = subprocess.run([str(bin_dir / "python"), "-m", "probe", "run", "--preset", "quick", "--executor", "slurm",
                           "--results-dir", str(tmp_path / "runs")], capture_output=True, text=True,
                          env={**env(), "PATH": str(bin_dir)}, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "probe run: error: " in proc.stderr
    assert "--executor local" in proc.stderr or "submitit" in proc.stderr
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------------------------
# A real Slurm cluster (tests/../../shared/tools/local-slurm/start-local-slurm.sh --accounting)


def slurm_missing() -> str | None:
    """Why the Slurm tests cannot run here (None: they can)."""
    if importlib.util.find_spec("submitit") is None:
        return "submitit is not installed (pip install -e \".[cluster]\")"
    if shutil.which("sinfo") is None:
        return "no Slurm here (start one with ../shared/tools/local-slurm/start-local-slurm.sh --accounting)"
    res = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        return f"no Slurm controller answers ({(res.stderr.strip().splitlines() or ['?'])[0]})"
    return None


@pytest.fixture(scope="module")
def slurm():
    """A reachable Slurm cluster: the tests skip without one, and fail without one in CI (CI starts one)."""
    missing = slurm_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Slurm tests: {missing}")
        pytest.skip(missing)


def slurm_executor(folder: Path, **options) -> Executor:
    return Executor(kind="slurm", slurm=SlurmConfig(**{"poll_s": 0.5, **options}), folder=str(folder))


def test_quick_preset_on_slurm_equals_local_byte_for_byte(slurm, quick_run, tmp_path):
    # one computation path on one machine (the single-node cluster runs on the test's own CPU): the executor
    # must not change a bit; on a cluster whose nodes have other CPUs, only the claims would be expected to hold
    *_, local = quick_run
    proc = subprocess.run([sys.executable, "-m", "probe", "run", "--preset", "quick", "--executor", "slurm",
                           "--slurm-poll-s", "1", "--results-dir", str(tmp_path)], capture_output=True, text=True,
                          env=env(), cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name, data in local.items():
        assert (tmp_path / "quick" / name).read_bytes() == data, name
    assert "training: lstm-r0.1-s0 running (Slurm job" in proc.stdout
    assert "training: lstm-r0.1-s0 done (Slurm job" in proc.stdout
    assert "depth: submitted 6 jobs to Slurm" in proc.stdout and "number: submitted" in proc.stdout
    logs = tmp_path / "quick" / "work" / "slurm"
    assert (logs / "jobs.json").is_file() and list(logs.glob("*_0_log.out"))


def test_a_cancelled_job_is_resubmitted_and_resumes_to_the_same_weights(slurm, corpus, tmp_path):
    """scancel mid-training: the job ends without a result, the driver submits it again, and the new job resumes
    from last.pt; the final weights equal an uninterrupted run's."""
    # long enough (~10-30 s) to outlast Slurm's KillWait after scancel (SIGTERM, which submitit ignores, then
    # SIGKILL 5 s later on the local cluster)
    kw = dict(epochs=25, checkpoint_every=10, eval_every=200, log_every=100)
    job = lm_job(corpus, tmp_path / "m", **kw)
    lines: list[str] = []
    results: list = []
    whole: list = []
    folder = tmp_path / "slurm"
    driver = threading.Thread(target=lambda: results.append(
        train_many([job], executor=slurm_executor(folder, max_requeue=2), log=lines.append)))
    driver.start()
    threads = torch.get_num_threads()      # run_job sets this process' thread count: restored below
    reference = threading.Thread(target=lambda: whole.append(run_job(replace(job, out=str(tmp_path / "whole")))))
    reference.start()       # the uninterrupted run, meanwhile in this process
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (tmp_path / "m" / "last.pt").is_file():
        time.sleep(0.1)
    first = json.loads((folder / "jobs.json").read_text())[str((tmp_path / "m").resolve())]["job_id"]
    subprocess.run(["scancel", first], check=True)
    driver.join(timeout=600)
    assert results, "\n".join(lines)
    assert any(f"m ended without a result (Slurm job {first}: CANCELLED); resubmitting (1 of 2)" in s for s in lines)
    second = json.loads((folder / "jobs.json").read_text())[str((tmp_path / "m").resolve())]["job_id"]
    assert second != first
    resumed = [s for s in (folder / f"{second}_0_log.out").read_text().splitlines() if "resuming from" in s]
    assert resumed and int(resumed[0].rsplit(" ", 1)[1]) > 0, "the new job started from scratch"
    reference.join()
    torch.set_num_threads(threads)
    assert results[0][0]["steps"] == whole[0]["steps"]
    assert_same_weights(tmp_path / "whole" / "last.pt", tmp_path / "m" / "last.pt")
    assert_same_weights(tmp_path / "whole" / "model.pt", tmp_path / "m" / "model.pt")


def test_a_killed_driver_restarts_and_trains_no_model_twice(slurm, tmp_path):
    # the jobs must outlast the restart (a new driver's start: seconds on a loaded machine), or the restart finds
    # them finished and re-attaches to nothing: a fixed number of epochs, no early stop
    tiny = {"archs": ["srn", "gru"], "attractor_rates": [0.1], "analyses": [], "corpus": {"n_sentences": 3000},
            "benchmark": {"per_condition": 2}, "train": {"epochs": 20, "stop_after": 0}, "slurm": {"poll_s": 0.5},
            "sensitivity_seeds": 0}
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    cmd = [sys.executable, "-m", "probe", "run", "--preset", "quick", "--config", "tiny.json", "--executor", "slurm",
           "--results-dir", "runs"]
    records = tmp_path / "runs" / "quick" / "work" / "slurm" / "jobs.json"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(), cwd=tmp_path)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not records.is_file():
                assert first.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
                time.sleep(0.1)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    assert records.is_file(), (tmp_path / "first.log").read_text()[-2000:]
    again = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "submitted" not in again.stdout and "training: srn-r0.1-s0 running (Slurm job" in again.stdout
    assert "re-attached" in again.stdout
    submitted = sorted(p.name for p in records.parent.glob("*_submitted.pkl"))
    assert len(submitted) == 2, submitted                       # one Slurm job per model, ever
    assert (tmp_path / "runs" / "quick" / "summary.csv").is_file()


def test_ddp_across_the_tasks_of_one_slurm_job_matches_one_process(slurm, corpus, tmp_path):
    """tasks_per_node 2: one model trained by two gloo processes that find each other from Slurm's variables."""
    kw = dict(arch="gru", max_steps=12, eval_every=6, lr=1.0, optimizer="sgd")
    ddp = train_many([lm_job(corpus, tmp_path / "ddp", **kw)], executor=slurm_executor(tmp_path / "slurm",
                     tasks_per_node=2), log=lambda s: None)[0]
    single = run_job(lm_job(corpus, tmp_path / "single", **kw))
    assert ddp["world_size"] == 2 and ddp["steps"] == single["steps"] == 12
    a, b = read_checkpoint(tmp_path / "single" / "last.pt")["state_dict"], \
        read_checkpoint(tmp_path / "ddp" / "last.pt")["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_bad_slurm_requests_are_refused_before_anything_is_written(slurm, tmp_path, capsys):
    runs = tmp_path / "runs"
    for args, message in ((["--slurm-partition", "no-such-partition"], "unknown Slurm partition 'no-such-partition'"),
                          (["--slurm-cpus-per-task", "4096"], "Slurm refuses the job request")):
        assert main(["run", "--preset", "quick", "--executor", "slurm", *args, "--results-dir", str(runs)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
        assert not runs.exists()


def test_a_last_pt_without_progress_starts_the_model_again(corpus, tmp_path):
    """A last.pt whose training state lacks its progress (damaged, or written by something else) is not resumed
    from: the job trains from scratch and finishes, instead of failing on the missing key."""
    job = lm_job(corpus, tmp_path / "m")
    run_job(job)
    out = Path(job.out)
    checkpoint = read_checkpoint(out / "last.pt")
    del checkpoint["train_state"]["progress"]
    torch.save(checkpoint, out / "last.pt")
    (out / "summary.json").unlink()
    summary = run_job(job)
    assert (out / "summary.json").is_file() and summary["job_seconds"] > 0
    assert "progress" in read_checkpoint(out / "last.pt")["train_state"]
