"""One training job (a language model or a number classifier) as a small picklable record, and ``run_job``, which
runs it wherever it lands: this process, a local worker process or a cluster node."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from probe.core.config import config_from_dict, config_to_dict
from probe.core.errors import ProbeError
from probe.core.plugins import load_plugins
from probe.train import RESUMABLE, TrainConfig, resolve_train_config, train

KINDS = ("lm", "number")


@dataclass(frozen=True)
class TrainJob:
    """One model to train, in plain values only: it is pickled to worker processes and cluster nodes."""

    config: dict                    # TrainConfig (kind lm) or NumberConfig (kind number) as a dict
    corpus: str                     # the corpus folder (on a cluster: on the shared file system)
    out: str                        # the model's folder; a finished one holds summary.json
    items: str | None = None        # lm: items scored at each validation (learning curves)
    examples: str | None = None     # number: examples written by train_number.save_examples (None: the corpus')
    threads: int = 0                # torch threads (0: the executor decides)
    kind: str = "lm"                # lm | number

    @property
    def name(self) -> str:
        """The model's folder name, as progress lines show it."""
        return Path(self.out).name


def run_job(job: TrainJob) -> dict:
    """Train ``job``'s model into ``job.out`` and return its training summary. A language model whose folder holds
    an unfinished run of the same model (last.pt, no summary.json) resumes from it; any other content of the
    folder is replaced. Number classifiers train in seconds: they always start afresh."""
    import torch

    load_plugins()      # the --code files and installed plugins of the process that made the job (PROBE_CODE)
    if job.kind not in KINDS:
        raise ProbeError(f"unknown training job kind {job.kind!r}; use {' or '.join(KINDS)}")
    if job.threads:
        torch.set_num_threads(job.threads)
    out = Path(job.out)
    if job.kind == "number":
        from probe.train_number import NumberConfig, load_examples, train_number

        t0 = time.perf_counter()
        examples = load_examples(job.examples) if job.examples else None
        summary = train_number(config_from_dict(NumberConfig, job.config), out=out, corpus=job.corpus, items=None,
                               overwrite=True, progress=False, examples=examples)
        return {**summary, "job_seconds": time.perf_counter() - t0}
    from probe.models.checkpoint import read_checkpoint
    from probe.scoring.items import AgreementCurve

    t0 = time.perf_counter()      # after the imports: a worker pays for them once, not per model
    cfg = config_from_dict(TrainConfig, job.config)
    step = None
    if (out / "last.pt").is_file() and not (out / "summary.json").is_file() \
            and same_train_config(out, cfg, job.corpus, ignore=RESUMABLE):
        try:
            step = read_checkpoint(out / "last.pt")["train_state"]["progress"]["step"]
        except (ProbeError, KeyError, TypeError):
            pass        # a damaged or foreign last.pt (a crash while the disk filled up): the model starts again
    resume = step is not None
    # under DDP every process decides the same; only the first clears the folder (the others only read it)
    if out.exists() and not resume and os.environ.get("RANK", "0") == "0":
        shutil.rmtree(out)
    if resume and os.environ.get("RANK", "0") == "0":
        print(f"{job.name}: resuming from {out / 'last.pt'} at step {step}", flush=True)   # a job log's line
    summary = train(cfg, corpus_dir=job.corpus, out=out, resume=resume,
                    on_eval=AgreementCurve(job.items) if job.items else None, progress=False)
    # job_seconds: the job's whole time (corpus and items loaded included): what a time-left estimate needs
    return {**summary, "job_seconds": time.perf_counter() - t0}


def same_train_config(out: str | Path, tcfg: TrainConfig, corpus: str | Path, *, ignore: tuple[str, ...] = ()) -> bool:
    """True if the training folder ``out`` holds the model ``tcfg`` asks for on ``corpus``: its recorded
    config equals ``tcfg`` resolved as training resolves it (default lr, adaptive cutoffs from the corpus),
    except the fields in ``ignore`` (``probe.train.RESUMABLE``: what a resumed run may change)."""
    f = Path(out) / "config.json"
    try:
        saved = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):      # missing or damaged: the folder holds no model we can vouch for
        return False
    saved_train = saved.get("train", saved) if isinstance(saved, dict) else None
    if not isinstance(saved_train, dict):
        return False
    want = config_to_dict(resolve_train_config(tcfg, corpus))
    # a field added after the model was trained is missing from its config: it ran with the default
    defaults = config_to_dict(TrainConfig())
    saved_train = {**{k: v for k, v in defaults.items() if k not in saved_train}, **saved_train}
    return all(saved_train.get(k) == v for k, v in want.items() if k not in ignore)
