"""How far a last-bit difference carries: a run's models retrained from initial weights one ulp away, against the
spread between seeds.

Another CPU (other MKL/oneDNN kernels) or another thread count changes the last bits of some early result; from
there, training is a chaotic map. This script makes such a difference on purpose and on one machine: each
selected model of a finished ``probe run`` folder is trained again with the same config, corpus, data order and
seed, except that every initial weight moves by one unit in the last place (up or down at random). Both models
are scored on the run's benchmark. Prints, per model and in sum, the change of validation perplexity, epochs and
syntactic choice rate on the run's pooled conflict items (one attractor), and the share of items whose choice
flips; beside them, the same between the run's seeds of one cell and rate, and the ratio of the two. ``--replay``
also retrains each model unperturbed, which must give the same weights bit for bit (same machine, same path: a
determinism check), and measures the nudge against that replay, trained in the same invocation.

    python bench/fp_spread.py results/default [--rate 0.01] [--workers 2] [--replay]
"""
from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from probe.core.environment import cpu_model
from probe.evaluate import evaluate
from probe.jobs import TrainJob, run_job
from probe.models.checkpoint import read_checkpoint
from probe.scoring.registry import unique_names

RATE = re.compile(r"-r([0-9.]+)-")


def nudge_initial_weights() -> None:
    """Worker initializer: from now on every model ``probe.train`` builds has each floating-point parameter moved
    one ulp up or down (random signs from a generator of its own, so the global RNG streams, and with them the
    data order and dropout, stay those of the original run)."""
    import probe.train as train_mod

    build = train_mod.build_model

    def nudged(mcfg):
        model = build(mcfg)
        gen = torch.Generator().manual_seed(12345)
        with torch.no_grad():
            for p in model.parameters():
                if p.is_floating_point():
                    up = torch.rand(p.shape, generator=gen) < 0.5
                    target = torch.where(up, torch.full_like(p, float("inf")), torch.full_like(p, float("-inf")))
                    p.copy_(torch.nextafter(p, target))
        return model

    train_mod.build_model = nudged


def select_models(run: Path, rate: float | None, archs: list[str]) -> list[Path]:
    """The run's sentence-state language models at ``rate`` (all rates: None) of the cells ``archs``."""
    out = []
    for folder in sorted((run / "work" / "models").glob("*")):
        cfg_file, m = folder / "config.json", RATE.search(folder.name + "-")
        if not cfg_file.is_file() or not (folder / "summary.json").is_file() or m is None:
            continue
        train = json.loads(cfg_file.read_text())["train"]
        if train.get("state", "sentence") != "sentence" or (archs and train["arch"] not in archs):
            continue
        if rate is None or abs(float(m.group(1)) - rate) < 1e-12:
            out.append(folder)
    return out


def job_for(folder: Path, out: Path) -> TrainJob:
    """The training job that made ``folder``'s model, writing to ``out`` (one thread, as probe run trains)."""
    cfg = json.loads((folder / "config.json").read_text())
    return TrainJob(config=cfg["train"], corpus=cfg["corpus"], out=str(out), items=cfg.get("items"), threads=1)


def train_all(jobs: list[TrainJob], workers: int, nudge: bool) -> None:
    """Train ``jobs`` in ``workers`` spawned processes (their initial weights nudged when ``nudge``)."""
    init = nudge_initial_weights if nudge else None
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init) as pool:
        list(pool.map(run_job, jobs))


def same_weights(a: Path, b: Path) -> bool:
    """Whether two checkpoints hold bit-identical weights."""
    sa, sb = read_checkpoint(a)["state_dict"], read_checkpoint(b)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def conflict_rate(scores: pd.DataFrame, pool: list[str]) -> pd.Series:
    """Syntactic choice rate per model on the pooled conflict items with one attractor."""
    rows = scores[(scores["match"] == "conflict") & (scores["n_attractors"] == 1) & scores["construction"].isin(pool)
                  & ~scores["excluded"].astype(bool)]
    return rows.groupby("model")["correct"].mean()


def choices(scores: pd.DataFrame) -> pd.DataFrame:
    """Item x model table of choices (1: the head-agreeing verb), the scored items only."""
    return scores[~scores["excluded"].astype(bool)].pivot_table(index="id", columns="model", values="correct")


def flips(wide: pd.DataFrame, a: str, b: str) -> float:
    """Share of the items of ``wide`` (:func:`choices`) on which models ``a`` and ``b`` choose differently."""
    both = wide[[a, b]].dropna()
    return float((both[a] != both[b]).mean())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a finished probe run folder (with its work/ folder)")
    ap.add_argument("--rate", type=float, default=0.01, help="attractor rate of the models to retrain (-1: all)")
    ap.add_argument("--arch", nargs="*", default=[], help="cells to retrain (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="retrain only the first N selected models (0: all)")
    ap.add_argument("--workers", type=int, default=2, help="training processes")
    ap.add_argument("--replay", action="store_true", help="also retrain unperturbed and check bit-identity")
    ap.add_argument("--csv", type=Path, help="write the per-model table here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    models = select_models(args.run, None if args.rate < 0 else args.rate, args.arch)[:args.limit or None]
    if not models:
        sys.exit(f"{args.run}: no finished sentence-state models at rate {args.rate} under work/models; give a "
                 "probe run folder and one of its attractor rates")
    pool = json.loads((args.run / "work" / "eval" / "config.json").read_text())["pool"]
    print(f"cpu: {cpu_model()}; {len(models)} models of {args.run} at rate {args.rate}; {args.workers} processes")
    with tempfile.TemporaryDirectory(prefix="probe-fp-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        train_all([job_for(m, tmp / "nudged" / m.name) for m in models], args.workers, nudge=True)
        replay_equal = None
        if args.replay:
            train_all([job_for(m, tmp / "replay" / m.name) for m in models], args.workers, nudge=False)
            replay_equal = sum(same_weights(m / "model.pt", tmp / "replay" / m.name / "model.pt") for m in models)
        print(f"training: {time.perf_counter() - t0:.0f} s")
        nudged = [tmp / "nudged" / m.name for m in models]
        # the reference of each nudged model: its unperturbed replay, trained here in this invocation, where there
        # is one (the run's own model may come from another machine); else the run's model
        bases = [tmp / "replay" / m.name for m in models] if args.replay else list(models)
        data = args.run / "work" / "benchmark"
        paths = [*bases, *nudged]
        scores = evaluate(models=paths, data=[data], progress=False, device="cpu")
        names = dict(zip(map(str, paths), unique_names([str(p) for p in paths])))   # evaluate's own naming
        rates = conflict_rate(scores, pool)
        wide = choices(scores)
        rows = []
        for m, base, n in zip(models, bases, nudged):
            so, sn = (json.loads((f / "summary.json").read_text()) for f in (base, n))
            a, b = names[str(base)], names[str(n)]
            rows.append({"model": m.name, "arch": so["arch"], "ppl": so["best_valid_ppl"],
                         "ppl_nudged": sn["best_valid_ppl"], "epochs": so.get("epochs_run", so.get("epochs")),
                         "epochs_nudged": sn.get("epochs_run", sn.get("epochs")), "conflict": rates[a],
                         "conflict_nudged": rates[b], "flips": flips(wide, a, b)})
    table = pd.DataFrame(rows)
    table["ppl_change"] = table["ppl_nudged"] / table["ppl"] - 1
    table["conflict_change"] = table["conflict_nudged"] - table["conflict"]
    pd.set_option("display.width", 160)
    print(table.round(4).to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
    if replay_equal is not None:
        print(f"replay without the nudge: {replay_equal} of {len(models)} models bit-identical to the run's")
    # the same measures between two seeds of one cell (and rate: the selection holds one rate or all)
    seed_pairs = []
    # between the same models the nudges are measured against (the replays with --replay), ppl included
    by_model = table.set_index("model")
    base_of = {m.name: base for m, base in zip(models, bases)}
    for arch, group in table.groupby("arch"):
        for x, y in itertools.combinations(group["model"], 2):
            if RATE.search(x + "-").group(1) == RATE.search(y + "-").group(1):
                ax, ay = names[str(base_of[x])], names[str(base_of[y])]
                seed_pairs.append({"d": abs(rates[ax] - rates[ay]), "flips": flips(wide, ax, ay),
                                   "ppl": abs(by_model.loc[x, "ppl"] / by_model.loc[y, "ppl"] - 1)})
    pairs = pd.DataFrame(seed_pairs)
    ulp = {"d": table["conflict_change"].abs().mean(), "flips": table["flips"].mean(),
           "ppl": table["ppl_change"].abs().mean()}
    print(f"one-ulp initial weights (against {'the replay' if args.replay else 'the run' + chr(39) + 's models'}): "
          f"|conflict change| mean {ulp['d']:.3f} (max {table['conflict_change'].abs().max():.3f}); items whose "
          f"choice flips {ulp['flips']:.3f}; |ppl change| mean {ulp['ppl']:.4f}")
    if not len(pairs):
        sys.exit("no two replicates of one cell at one rate among the selected models: no seed spread to compare "
                 "with; select more models (--limit 0, --rate of a run with several seeds)")
    print(f"between the run's replicates of a cell (seeds; corpora too where the run draws several; {len(pairs)} "
          f"pairs): |conflict difference| mean {pairs['d'].mean():.3f} (max {pairs['d'].max():.3f}); items whose "
          f"choice differs {pairs['flips'].mean():.3f}; |ppl difference| mean {pairs['ppl'].mean():.4f}")
    print(f"one ulp / seeds: |conflict| {ulp['d'] / pairs['d'].mean():.2f}x, flips "
          f"{ulp['flips'] / pairs['flips'].mean():.2f}x, |ppl| {ulp['ppl'] / pairs['ppl'].mean():.2f}x")


if __name__ == "__main__":
    main()
