"""What the scoring convention changes: benchmark scores from a zero state (probe's convention) vs a state warmed
on preceding corpus text (as in training, where the state is carried across sentences).

For every language model of a ``probe run`` folder, the benchmark is scored cold (zero state, then ``<eos>``
and the prefix) and warm (the state after ``--context`` tokens of the model's own valid split, cut after an
``<eos>``, then the same), for ``--contexts`` different stretches of text. Prints, per cell and attractor
rate: accuracy on conflict and matched items both ways, the mean |margin change|, and the share of items
whose choice flips.

    python bench/warm_state.py runs/default [--contexts 3] [--context 200]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from probe.core.environment import cpu_model
from probe.data.corpus import load_corpus
from probe.scoring.neural import LMScorer, warm_state
from probe.scoring.items import score_items
from probe.data.items import read_items
from probe.models.checkpoint import load_checkpoint


def contexts(valid: np.ndarray, eos: int, n: int, length: int) -> list[np.ndarray]:
    """``n`` stretches of about ``length`` tokens from the valid split, each ending with an ``<eos>``."""
    ends = np.flatnonzero(valid == eos)
    picks = np.linspace(0, len(ends) - 1, n + 2).astype(int)[1:-1]
    out = []
    for k in picks:
        end = ends[k] + 1
        start = ends[np.searchsorted(ends, end - length) - 1] + 1 if end > length else 0
        out.append(np.asarray(valid[start:end]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a probe run folder (holds work/models and work/benchmark)")
    ap.add_argument("--contexts", type=int, default=3, help="warm contexts per model (default 3)")
    ap.add_argument("--context", type=int, default=200, help="tokens per context (default 200)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    run = Path(a.run)
    items = read_items(run / "work" / "benchmark")
    print(f"cpu: {cpu_model()}; {len(items)} benchmark items; {a.contexts} warm contexts of ~{a.context} tokens")
    rows, t0 = [], time.perf_counter()
    for folder in sorted((run / "work" / "models").glob("*")):
        if not (folder / "model.pt").is_file():
            continue
        ckpt = load_checkpoint(folder)
        corpus = load_corpus(json.loads((folder / "config.json").read_text())["corpus"])
        rate = json.loads((corpus.path / "config.json").read_text()).get("attractor_rate")
        cold = score_items(LMScorer(ckpt.model, ckpt.vocab), items)
        for k, ctx in enumerate(contexts(corpus.splits["valid"], ckpt.vocab.eos_id, a.contexts, a.context)):
            state = warm_state(ckpt.model, ctx)
            warm = score_items(LMScorer(ckpt.model, ckpt.vocab, start_state=state), items)
            kept = ~cold["excluded"].to_numpy(bool)
            for cls in ("conflict", "matched", "none"):
                m = kept & (cold["match"] == cls).to_numpy()
                rows.append({"arch": ckpt.model_config.arch, "attractor_rate": rate, "model": folder.name,
                             "context": k, "class": cls,
                             "cold": float(cold["correct"][m].astype(float).mean()),
                             "warm": float(warm["correct"][m].astype(float).mean()),
                             "abs_margin_change": float(np.abs(warm["margin"][m] - cold["margin"][m]).mean()),
                             "flips": float((warm["correct"][m].astype(bool) != cold["correct"][m].astype(bool)).mean())})
    df = pd.DataFrame(rows)
    table = (df.groupby(["arch", "attractor_rate", "class"])[["cold", "warm", "abs_margin_change", "flips"]]
             .mean().round(4).reset_index())
    print(table.to_string(index=False))
    overall = df.groupby("class")[["cold", "warm", "abs_margin_change", "flips"]].mean().round(4)
    print("\nall models:\n" + overall.to_string())
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
