"""The pilot behind probe run's training schedule: epochs, seconds and distance to the entropy floor per schedule.

Builds one synthetic corpus like the default sweep's (40,000 sentences, modifier rate 0.6, attractor rate
0.1) and trains the three 1x64 cells with each schedule until validation stops improving (two validations
per epoch, lr x 0.25 at each plateau, stop after two validations without a min-delta improvement), two
models at a time on one thread each. Prints per model: epochs, training seconds, best valid ppl / the
grammar's entropy floor, and agreement accuracy on the learning-curve items at the end.

    python bench/convergence_pilot.py [--out /tmp/probe-pilot] [--workers 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from probe.core.config import config_to_dict
from probe.core.environment import cpu_model

SCHEDULES = {  # name -> (Adam learning rate, min_delta)
    "adam 5e-3, 0.2%": (5e-3, 0.002),
    "adam 1e-2, 0.5% (probe run)": (1e-2, 0.005),
}


def _train(args: tuple) -> dict:
    import torch

    from probe.core.config import config_from_dict
    from probe.train import TrainConfig, train

    torch.set_num_threads(1)
    cfg, corpus, items, out = args
    s = train(config_from_dict(TrainConfig, cfg), corpus_dir=corpus, out=out, items=items, overwrite=True,
              progress=False)
    last = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    s["agreement"] = [r for r in last if r["kind"] == "eval"][-1].get("agreement_accuracy")
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/probe-pilot")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    from probe.data.build import build_dataset
    from probe.data.corpus import CorpusConfig, build_corpus
    from probe.run import PRESETS

    out = Path(a.out)
    corpus, items = out / "corpus", out / "items"
    if not corpus.is_dir():
        build_corpus(CorpusConfig(n_sentences=40_000, attractor_rate=0.1, modifier_rate=0.6, exclude_benchmark=False),
                     corpus)
    if not items.is_dir():
        build_dataset(PRESETS["default"].dev_items, out=items)
    base = PRESETS["default"].train
    jobs, names = [], []
    for name, (lr, delta) in SCHEDULES.items():
        for arch in ("srn", "gru", "lstm"):
            cfg = dataclasses.replace(base, arch=arch, lr=lr, min_delta=delta)
            jobs.append((config_to_dict(cfg), str(corpus), str(items), str(out / f"{arch}-{lr:g}-{delta:g}")))
            names.append((name, arch))
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=mp.get_context("spawn")) as pool:
        results = list(pool.map(_train, jobs))
    print(f"cpu: {cpu_model()}; {a.workers} models at a time, one thread each; corpus: attractor rate 0.1, "
          "modifier rate 0.6, 40,000 sentences")
    print(f"{'schedule':30s} {'cell':5s} {'epochs':>6s} {'seconds':>8s} {'ppl/floor':>10s} {'agreement':>10s}")
    for (name, arch), s in zip(names, results):
        print(f"{name:30s} {arch:5s} {s['epochs']:6.1f} {s['train_seconds']:8.1f} {s['valid_ppl_ratio']:10.4f} "
              f"{s['agreement']:10.3f}")


if __name__ == "__main__":
    main()
