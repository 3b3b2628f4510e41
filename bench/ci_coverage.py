"""How often each interval method covers the true mean, on simulated (corpora x) seeds x items score tables.

Scores are 0/1 with P(correct) = sigmoid(logit(base) + corpus effect + seed effect + item effect); the true
mean is that probability averaged over the corpus, seed and item populations. Seed effects are normal, or
*bimodal* (each seed lands in one of two basins, +/- b with equal chance: some seeds learn agreement,
others do not, as trained cells do at low attractor rates). With a corpus effect, every corpus is drawn
independently and each holds the same number of seeds (seeds nested in corpora). Methods, each at 95%:

  seed-t         t-interval over the models' means (no item variance)
  items, 1 seed  t-interval over the items of the first model (no seed variance)
  crossed        probe.metrics.crossed_interval, every model a seed (ignores the corpora)
  nested         probe.metrics.crossed_interval with groups = the models' corpora (what probe reports when
                 a run draws several corpora: corpus and seed parts, each with its own t quantile)

    python bench/ci_coverage.py [--reps 1000] [--seeds 3 5 10] [--corpora 2] [--items 200]

With a corpus effect, each seed count S is tried in two designs: S seeds in each of --corpora corpora (2S
models; the nested interval estimates a corpus part from --corpora - 1 degrees of freedom), and S models
each trained on its own corpus (configs/seeds.json's design: corpus and seed vary together, so the plain
crossed interval over the S models already holds the corpus variance, with S - 1 degrees of freedom).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from probe.core.environment import cpu_model
from probe.metrics import crossed_interval, t_quantile

# (name, corpus sd, seed sd, seed shape, item sd, base): logit-scale standard deviations
REGIMES = (
    ("items dominate", 0.0, 0.0, "normal", 2.0, 0.7),
    ("seeds and items", 0.0, 0.3, "normal", 1.0, 0.7),
    ("seeds dominate", 0.0, 1.0, "normal", 0.0, 0.7),
    ("near ceiling", 0.0, 0.3, "normal", 1.0, 0.95),
    ("bimodal seeds", 0.0, 1.0, "bimodal", 1.0, 0.6),
    ("bimodal seeds, strong", 0.0, 1.6, "bimodal", 1.0, 0.6),
    ("corpus effect", 0.5, 0.3, "normal", 1.0, 0.7),
    ("corpus + bimodal seeds", 0.5, 1.0, "bimodal", 1.0, 0.6),
    ("no variance", 0.0, 0.0, "normal", 0.0, 0.5),
)


def seed_effects(rng: np.random.Generator, shape: str, sd: float, size) -> np.ndarray:
    """Per-seed logit shifts: N(0, sd^2), or +/- sd with equal chance (bimodal)."""
    if shape == "bimodal":
        return sd * rng.choice([-1.0, 1.0], size=size)
    return rng.normal(0, sd, size)


def truth(rng: np.random.Generator, corpus_sd: float, seed_sd: float, shape: str, item_sd: float, base: float) -> float:
    """The population mean, by Monte Carlo over 4,000 corpora x seeds and 4,000 items."""
    logit0 = np.log(base / (1 - base))
    models = logit0 + rng.normal(0, corpus_sd, (4000, 1)) + seed_effects(rng, shape, seed_sd, (4000, 1))
    return float((1 / (1 + np.exp(-(models + rng.normal(0, item_sd, (1, 4000)))))).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10], help="seeds per corpus")
    ap.add_argument("--corpora", type=int, default=2, help="corpora drawn in the regimes with a corpus effect")
    ap.add_argument("--items", type=int, default=200)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"cpu: {cpu_model()}; {a.reps} replicates per regime; {a.items} items; regimes with a corpus effect draw "
          f"{a.corpora} corpora, each with the given number of seeds")
    print(f"{'regime':<24} {'models':>9} | {'seed-t':>7} {'items,1 seed':>12} {'crossed':>8} {'nested':>7}")
    t0 = time.perf_counter()
    for name, corpus_sd, seed_sd, shape, item_sd, base in REGIMES:
        true_mean = truth(rng, corpus_sd, seed_sd, shape, item_sd, base)
        logit0 = np.log(base / (1 - base))
        # designs: (corpora, seeds per corpus); with a corpus effect, S seeds in each of --corpora corpora, or S
        # models each on its own corpus (one seed per corpus: corpus and seed vary together)
        designs = [(1, S) for S in a.seeds] if corpus_sd == 0 else \
            [d for S in a.seeds for d in ((a.corpora, S), (S, 1))]
        for n_corpora, S in designs:
            M = n_corpora * S
            groups = np.repeat(np.arange(n_corpora), S)
            hits = np.zeros(4)
            for _ in range(a.reps):
                logit = (logit0 + rng.normal(0, corpus_sd, n_corpora)[groups][:, None]
                         + seed_effects(rng, shape, seed_sd, (M, 1)) + rng.normal(0, item_sd, (1, a.items)))
                table = (rng.random((M, a.items)) < 1 / (1 + np.exp(-logit))).astype(float)
                m = table.mean(axis=1)
                half = t_quantile(0.975, M - 1) * m.std(ddof=1) / np.sqrt(M)
                intervals = [(m.mean() - half, m.mean() + half), crossed_interval([table[:1]], [1.0])[1:],
                             crossed_interval([table], [1.0])[1:],
                             crossed_interval([table], [1.0], groups=groups)[1:]]
                hits += [lo <= true_mean <= hi for lo, hi in intervals]
            cov = hits / a.reps
            label = f"{S}" if n_corpora == 1 else f"{n_corpora}c x {S}s"
            print(f"{name:<24} {label:>9} | {cov[0]:>7.3f} {cov[1]:>12.3f} {cov[2]:>8.3f} {cov[3]:>7.3f}")
    print(f"({time.perf_counter() - t0:.0f} s; the standard error of each coverage is about "
          f"{np.sqrt(0.95 * 0.05 / a.reps):.3f}; 'models': seeds, or corpora (c) x seeds per corpus (s))")


if __name__ == "__main__":
    main()
