"""The run's restartable stages: each writes one folder with its config.json; one whose config matches is kept
(training jobs: ``probe.jobs``)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from probe.core.errors import ProbeError
from probe.core.io import check_writable
from probe.jobs.job import same_train_config
from probe.models.checkpoint import checkpoint_problem
from probe.train import TrainConfig

# RunConfig keys that say where a run goes and how many processes it uses, not what it computes
_PLACE_AND_PACE = ("name", "results_dir", "workers", "executor", "slurm")


def _differences(want: dict, have: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts; a key ``have`` lacks (a field added after
    it was written) does not count: stage-level checks compare those with the defaults they ran with."""
    out = []
    for k, v in want.items():
        if k not in have:
            continue
        if isinstance(v, dict) and isinstance(have[k], dict) and set(v) & set(have[k]):
            out += _differences(v, have[k], f"{prefix}{k}.")
        elif have[k] != v:
            out.append(prefix + k)
    return out


def saved_run_config(root: Path) -> dict | None:
    """The run config a probe run saved in ``root/config.json``, or None when the folder holds no run's (no such
    file, unreadable, or another stage's)."""
    f = root / "config.json"
    try:
        saved = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("stage") == "run" else None


def check_run_folder(root: Path, config: dict, *, overwrite: bool = False) -> None:
    """Refuse to run a config (``config``: the RunConfig as a dict) into ``root`` when it holds another run
    (another preset or config) or files that are no run, unless ``overwrite``; the same config resumes
    (finished stages are kept). Also fails at once when ``root`` cannot be created."""
    check_writable(root)
    if overwrite or not root.is_dir() or not any(root.iterdir()):
        return
    saved = saved_run_config(root)
    if saved is None:
        raise ProbeError(f"{root} exists and holds no probe run (no readable config.json); choose another --name, "
                         "or pass --overwrite to run into it")
    differ = [k for k in _differences(config, saved) if k.split(".")[0] not in _PLACE_AND_PACE]
    if differ:
        shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
        raise ProbeError(f"{root} holds a run of another config ({shown} differ); pass --overwrite to replace it "
                         "(stages whose config still matches are kept), or choose another --name")


# what a run writes into its folder besides work/ and config.json: its report, tables, claims and figures
_RUN_OUTPUT_SUFFIXES = (".csv", ".json", ".md")
_RUN_OUTPUT_FOLDERS = ("figures",)
PREVIOUS = "previous"       # work/previous/: where a run moves the earlier run's outputs


def set_aside_run_outputs(root: Path) -> tuple[list[str], bool]:
    """Clear the run folder ``root`` of what an earlier run wrote there (its report, tables, claims and figures:
    files ending .csv, .json or .md other than config.json, and figures/) -> (the names, whether that run had
    finished). Every run writes these anew, and one that would not write a file (another config, an analysis
    left out) must not leave the earlier run's copy behind: the report and ``claims.json`` read tables back from
    the folder. A finished run's outputs, with a copy of its config.json, replace ``work/previous/``, so the last
    finished results stay recoverable while a run is under way; an unfinished run's partial outputs are removed
    (its finished stages stay in work/). A figures/ that links elsewhere keeps its link and is emptied the same
    way. A folder that holds no probe run keeps its files."""
    saved = saved_run_config(root)
    if saved is None:
        return [], False
    outputs = [e for e in sorted(root.iterdir())
               if (e.name in _RUN_OUTPUT_FOLDERS and (e.is_dir() or e.is_symlink()))
               or (e.suffix in _RUN_OUTPUT_SUFFIXES and e.name != "config.json" and not e.is_dir())]
    finished = "wall_seconds" in saved          # the run's last save_config writes it
    previous = root / "work" / PREVIOUS
    if finished and outputs:
        _remove(previous)
        previous.mkdir(parents=True)
        shutil.copyfile(root / "config.json", previous / "config.json")
    for entry in outputs:
        linked = entry.is_symlink() and entry.is_dir()      # keep the link; set aside what it holds
        if finished and linked:
            (previous / entry.name).mkdir()
        for item in sorted(entry.iterdir()) if linked else [entry]:
            if finished:        # shutil.move: also across file systems (work/ on scratch)
                shutil.move(str(item), str(previous / item.relative_to(root)))
            else:
                _remove(item)
    return [e.name for e in outputs], finished


def _remove(path: Path) -> None:
    """Delete a file, a link or a folder tree at ``path``, if anything is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


def check_run_lock(work: Path) -> None:
    """Refuse at once, with ``hold_run_lock``'s line, a run folder whose ``work/.run.lock`` another live ``probe
    run`` holds; reads the lock without taking or writing it, so that this check comes before any other
    complaint about the folder (its config) and a refused run touches nothing."""
    f = work / ".run.lock"
    if not f.is_file():
        return
    try:
        import fcntl
    except ImportError:
        return
    try:
        fh = open(f, encoding="utf-8")
    except OSError:           # unreadable here (another user's lock): hold_run_lock decides
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            _refuse_live_run(work, fh.read().strip())
        except OSError:       # no flock on this file system: hold_run_lock runs unlocked too
            return


def _refuse_live_run(work: Path, pid: str) -> None:
    """Raise the one line that says another live run (process ``pid``) holds ``work``'s run lock."""
    raise ProbeError(f"another probe run (process {pid or 'unknown'}) is writing {work.parent}; wait for it to finish "
                     "or stop it, or choose another --name") from None


def hold_run_lock(work: Path):
    """Take ``work/.run.lock`` for this process (an exclusive ``flock``, released when the returned file is
    closed or the process ends, however it ends) and write the process id into it; a run folder that another
    live ``probe run`` is writing is refused with one line, since two drivers would train, evaluate and
    report into the same files at once. No lock (None) where the platform or file system has no ``flock``."""
    import os

    work.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:       # not POSIX: nothing to lock with
        return None
    f = open(work / ".run.lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        pid = f.read().strip()
        f.close()
        _refuse_live_run(work, pid)
    except OSError:           # a file system without flock (e.g. Lustre mounted noflock): run unlocked
        f.close()
        return None
    try:
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
    except OSError:
        f.close()
        raise
    return f


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


def finished_model(out: Path, tcfg: TrainConfig, corpus: str | Path, *,
                   log: Callable[[str], None] | None = None) -> bool:
    """True if the training folder ``out`` holds a finished model of ``tcfg`` on ``corpus`` that can be read: its
    summary.json, the same config (:func:`same_train_config`) and an intact model.pt. A damaged checkpoint
    (truncated, overwritten) makes the model stale, so the run trains it again (said through ``log``)."""
    if not (out / "summary.json").is_file() or not same_train_config(out, tcfg, corpus):
        return False
    problem = checkpoint_problem(out / "model.pt")
    if problem is not None and log is not None:
        log(f"{out.name}: training it again, its checkpoint is damaged ({problem.split(';')[0]})")
    return problem is None
