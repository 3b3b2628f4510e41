"""The pilot behind probe run's training schedule: epochs, seconds and distance to the entropy floor per schedule.

Builds one synthetic corpus like the default sweep's (40,000 sentences, modifier rate 0.6, attractor rate
0.05) and held-out items like the run's (every construction, none repeating a benchmark sentence), and trains
the three 1x64 cells with each schedule (Adam, two validations per epoch, lr x 0.25 at each perplexity plateau,
stop once neither perplexity by 0.5% nor held-out agreement by 0.005 has improved in two validations), two
models at a time on one thread each. Prints per model: epochs, training seconds, best valid ppl / the grammar's
entropy floor, and the held-out agreement of the scored checkpoint.

    python bench/convergence_pilot.py [--out /tmp/probe-pilot] [--workers 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from probe.core.config import config_to_dict
from probe.core.environment import cpu_model

SCHEDULES = {  # name -> TrainConfig changes to probe run's default
    "sentences, batch 64 (probe run)": {},
    "sentences, batch 128": {"batch_size": 128},
    "sentences, batch 256": {"batch_size": 256},
    "one stream, 64 x 35": {"state": "stream"},
}


def _train(args: tuple) -> dict:
    import torch

    from probe.core.config import config_from_dict
    from probe.scoring.items import AgreementCurve
    from probe.train import TrainConfig, train

    torch.set_num_threads(1)
    cfg, corpus, items, out = args
    return train(config_from_dict(TrainConfig, cfg), corpus_dir=corpus, out=out, on_eval=AgreementCurve(items),
                 overwrite=True, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/probe-pilot")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    from probe.data.build import build_dataset
    from probe.data.corpus import build_corpus
    from probe.run import PRESETS

    default = PRESETS["default"]
    out = Path(a.out)
    bench, items, corpus = out / "benchmark", out / "items", out / "corpus"
    if not bench.is_dir():
        build_dataset(default.benchmark, out=bench)
    if not items.is_dir():
        build_dataset(dataclasses.replace(default.dev_items, exclude_items=str(bench)), out=items)
    if not corpus.is_dir():
        build_corpus(dataclasses.replace(default.corpus, attractor_rate=0.05, exclude_items=(str(bench), str(items))),
                     corpus)
    jobs, names = [], []
    for name, changes in SCHEDULES.items():
        for arch in ("srn", "gru", "lstm"):
            cfg = dataclasses.replace(default.train, arch=arch, **changes)
            tag = name.split(" (")[0].replace(", ", "-").replace(" ", "")
            jobs.append((config_to_dict(cfg), str(corpus), str(items), str(out / f"{arch}-{tag}")))
            names.append((name, arch))
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=mp.get_context("spawn")) as pool:
        results = list(pool.map(_train, jobs))
    print(f"cpu: {cpu_model()}; {a.workers} models at a time, one thread each; corpus: attractor rate 0.05, "
          "modifier rate 0.6, 40,000 sentences; Adam lr 0.01")
    print(f"{'schedule':32s} {'cell':5s} {'epochs':>6s} {'seconds':>8s} {'ppl/floor':>10s} {'held-out agr.':>14s}")
    for (name, arch), s in zip(names, results):
        print(f"{name:32s} {arch:5s} {s['epochs']:6.1f} {s['train_seconds']:8.1f} {s['valid_ppl_ratio']:10.4f} "
              f"{s.get('agreement_at_best', float('nan')):14.3f}")


if __name__ == "__main__":
    main()
