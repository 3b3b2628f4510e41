"""The CUDA paths, checked and timed in one run on a GPU machine (about 8 minutes), in this order:

    python bench/gpu_check.py [--budget 480] [--out results/ptb-gpu]

(a) the GPU columns of bench/train_speed.py (probe vs the plain nn.LSTM loop, fp32 and bf16 autocast, and the
    V=10k adaptive softmax);
(b) a smoke test on tiny data: train -> evaluate -> probe suite on CUDA (with --amp too), asserting that the
    CUDA scores of the trained model equal its CPU scores to 1e-4 (prefix trie, sentence method, adaptive
    softmax, SyntaxGym region surprisals);
(c) if time remains: a 2x650 LSTM on PTB (Zaremba et al.'s medium recipe: dropout 0.5, SGD 20, lr / 4 at
    a plateau; valid 82.2 after 39 epochs) trained on the GPU until the budget runs out, then scored on
    probe's benchmark, Marvin & Linzen and the SyntaxGym suites; its folder, with the device named in
    config.json and report.md, is what `results/ptb-gpu/` should hold.

Every step prints what it ran and how long it took; a step that fails prints why and the script exits 1.
Without CUDA it says so and exits 2 (no test depends on a GPU). --cpu-dry-run runs step (b) with CPU on
both sides, to check the script itself on a machine without a GPU.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "external"


def sh(args: list[str], *, timeout: float | None = None) -> None:
    """Run ``python -m probe ARGS`` (or a script) in the repository, echoing it; raise on failure."""
    cmd = [sys.executable, *args]
    print("$", " ".join(args), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=timeout)


def step_speed(budget: float) -> None:
    """(a): bench/train_speed.py on CUDA, fp32 then bf16 autocast, then the adaptive-softmax case."""
    for extra in ([], ["--amp"]):
        sh(["bench/train_speed.py", "--device", "cuda", "--sizes", "2x200", "2x650", "--vocab", "10000",
            "--budget", str(budget / 3), *extra], timeout=budget)
    sh(["bench/train_speed.py", "--device", "cuda", "--adaptive", "--adaptive-tokens", "200000"], timeout=budget)


def scores_of(folder: Path) -> "object":
    import pandas as pd

    return pd.read_parquet(folder / "scores.parquet").sort_values(["model", "id"]).reset_index(drop=True)


def step_smoke(work: Path, device: str) -> None:
    """(b): tiny corpus and items, train on ``device`` (plain and --amp), score on CPU and on ``device``."""
    import numpy as np
    import pandas as pd

    work.mkdir(parents=True, exist_ok=True)
    sh(["-m", "probe", "build", "--out", str(work / "items"), "--per-condition", "4", "--overwrite"])
    sh(["-m", "probe", "corpus", "--out", str(work / "corpus"), "--sentences", "2000", "--overwrite"])
    for tag, extra in (("fp32", []), ("amp", ["--amp"] if device == "cuda" else [])):
        model = work / f"lstm-{tag}"
        sh(["-m", "probe", "train", "--corpus", str(work / "corpus"), "--out", str(model), "--arch", "lstm",
            "--layers", "2", "--hidden", "32", "--emb", "32", "--max-steps", "60", "--softmax", "adaptive",
            "--device", device, "--overwrite", "--no-progress", *extra])
        for method in ("prefix", "sentence"):
            outs = {}
            for side, dev in (("ref", "cpu"), ("dev", device)):
                out = work / f"eval-{tag}-{method}-{side}"
                sh(["-m", "probe", "evaluate", "--model", str(model), "--data", str(work / "items"), "--out",
                    str(out), "--method", method, "--device", dev, "--overwrite", "--no-figures"])
                outs[side] = scores_of(out)
            a, b = outs["ref"], outs["dev"]
            gap = float(np.max(np.abs(a["margin"].to_numpy() - b["margin"].to_numpy())))
            print(f"  {tag} {method}: max |margin cpu - {device}| = {gap:.2e} over {len(a)} items")
            assert gap <= 1e-4, f"{tag} {method}: CPU and {device} margins differ by {gap:.2e}"
        suites = [str(SHARED / "syntaxgym" / f"number_{s}.json") for s in ("orc", "prep")]
        if all(Path(s).is_file() for s in suites):
            tables = {}
            for side, dev in (("ref", "cpu"), ("dev", device)):
                out = work / f"suite-{tag}-{side}"
                args = ["-m", "probe", "suite", "--model", str(model), "--out", str(out), "--device", dev,
                        "--overwrite"]
                for s in suites:
                    args += ["--suite", s]
                sh(args)
                tables[side] = pd.read_csv(out / "predictions.csv")
            same = tables["ref"]["result"].fillna(-1).equals(tables["dev"]["result"].fillna(-1))
            print(f"  {tag} suites: CPU and {device} predictions {'agree' if same else 'DIFFER'}")
            assert same, f"{tag}: SyntaxGym predictions differ between CPU and {device}"


def step_ptb(work: Path, seconds: float, out: Path) -> None:
    """(c): Zaremba's medium LSTM on PTB for ``seconds``, then scored; the run folder goes to ``out``."""
    if seconds < 120:
        print(f"(c) skipped: {seconds:.0f} s left, too little for a PTB run")
        return
    ptb = SHARED / "ptb_mikolov"
    config = {
        "name": out.name, "archs": ["lstm"], "seeds": [0], "attractor_rates": [],
        "corpus": {"source": "text", "train_files": [str(ptb / "ptb.train.txt.gz")],
                   "valid_files": [str(ptb / "ptb.valid.txt.gz")], "test_files": [str(ptb / "ptb.test.txt.gz")],
                   "tokenizer": "whitespace"},
        "train": {"layers": 2, "hidden": 650, "emb": 650, "optimizer": "sgd", "lr": 20.0, "clip": 0.25,
                  "batch_size": 20, "bptt": 35, "dropout": 0.5, "softmax": "full", "tied": True, "epochs": 39,
                  "lr_decay": 0.25, "patience": 0, "evals_per_epoch": 1, "min_delta": 0.005, "stop_after": 2,
                  "device": "cuda", "amp": True},
        "extra_data": [{"format": "marvin-linzen", "path": str(SHARED / "marvin_linzen_2018" /
                                                              "marvin_linzen_agreement.jsonl.gz"),
                        "method": "sentence", "per_construction": 500}],
        "suites": [str(SHARED / "syntaxgym" / "number_orc.json"), str(SHARED / "syntaxgym" / "number_prep.json")],
        "analyses": [],
    }
    cfg_path = work / "ptb-gpu.json"
    cfg_path.write_text(json.dumps(config, indent=2))
    try:
        # an interrupted training resumes: a second invocation (with time left) finishes the stages after it
        sh(["-m", "probe", "run", "--config", str(cfg_path), "--results-dir", str(out.parent)], timeout=seconds)
    except subprocess.TimeoutExpired:
        print(f"(c) stopped by the budget after {seconds:.0f} s; rerun the script (or the command above) to resume")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for all three steps (default 480)")
    ap.add_argument("--work", default="runs/gpu-check", help="scratch folder (default runs/gpu-check)")
    ap.add_argument("--out", default="results/ptb-gpu", help="the PTB run folder of step (c)")
    ap.add_argument("--cpu-dry-run", action="store_true", help="step (b) only, CPU on both sides")
    a = ap.parse_args()
    import torch

    from probe.core.environment import cpu_model

    t0 = time.perf_counter()
    work = ROOT / a.work
    if a.cpu_dry_run:
        step_smoke(work, "cpu")
        print(f"dry run passed in {time.perf_counter() - t0:.0f} s")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device: this script measures the GPU paths; run it on a machine with a GPU", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}; CPU: {cpu_model()}; torch {torch.__version__}")
    try:
        t = time.perf_counter()
        step_speed(min(150.0, a.budget / 3))
        print(f"(a) {time.perf_counter() - t:.0f} s")
        t = time.perf_counter()
        step_smoke(work, "cuda")
        print(f"(b) {time.perf_counter() - t:.0f} s: CPU and CUDA agree")
        step_ptb(work, a.budget - (time.perf_counter() - t0), ROOT / a.out)
    except (subprocess.CalledProcessError, AssertionError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
