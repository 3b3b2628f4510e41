"""How often each interval method covers the true mean, on simulated seeds x items score tables.

Scores are 0/1 with P(correct) = sigmoid(logit(base) + seed effect + item effect); the true mean is that
probability averaged over the seed and item populations. Methods, each at 95%:

  seed-t         t-interval over the seeds' means (what summary_seeds.csv reported before: no item variance)
  items, 1 seed  t-interval over the items of the first seed (a per-model interval: no seed variance)
  hier. boot     hierarchical percentile bootstrap: resample seeds, then items (one item draw shared by
                 the drawn seeds), 1000 resamples
  crossed        probe.metrics.crossed_interval (seeds x items variance, Cochran-Cox critical value)

    python bench/ci_coverage.py [--reps 1000] [--seeds 3] [--items 200]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from probe.core.environment import cpu_model
from probe.metrics import crossed_interval, t_quantile


def hierarchical_bootstrap(table: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval: seeds resampled with replacement, then items, the same item draw for every seed."""
    S, N = table.shape
    seeds = rng.integers(0, S, (n_boot, S))
    counts = np.zeros((n_boot, S))
    np.add.at(counts, (np.arange(n_boot)[:, None], seeds), 1)
    per_item = counts @ table / S                                     # [n_boot, N]: drawn seeds' mean per item
    items = rng.integers(0, N, (n_boot, N))
    means = np.take_along_axis(per_item, items, axis=1).mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--items", type=int, default=200)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"cpu: {cpu_model()}; {a.reps} replicates of {a.seeds} seeds x {a.items} "
          "items per regime")
    print(f"{'seed sd':>8} {'item sd':>8} {'base':>5} | {'seed-t':>7} {'items,1 seed':>12} {'hier. boot':>10} "
          f"{'crossed':>8}")
    t0 = time.perf_counter()
    for sd_seed, sd_item, base in ((0.0, 2.0, 0.7), (0.0, 1.0, 0.7), (0.3, 1.0, 0.7), (0.6, 0.5, 0.7),
                                   (1.0, 0.0, 0.7), (0.3, 1.0, 0.95), (0.0, 0.0, 0.5)):
        logit0 = np.log(base / (1 - base))
        pop = logit0 + rng.normal(0, sd_seed, (4000, 1)) + rng.normal(0, sd_item, (1, 4000))
        truth = float((1 / (1 + np.exp(-pop))).mean())
        hits = np.zeros(4)
        for _ in range(a.reps):
            logit = logit0 + rng.normal(0, sd_seed, (a.seeds, 1)) + rng.normal(0, sd_item, (1, a.items))
            table = (rng.random((a.seeds, a.items)) < 1 / (1 + np.exp(-logit))).astype(float)
            m = table.mean(axis=1)
            half = t_quantile(0.975, a.seeds - 1) * m.std(ddof=1) / np.sqrt(a.seeds)
            intervals = [(m.mean() - half, m.mean() + half), crossed_interval([table[:1]], [1.0])[1:],
                         hierarchical_bootstrap(table, 1000, rng), crossed_interval([table], [1.0])[1:]]
            hits += [lo <= truth <= hi for lo, hi in intervals]
        cov = hits / a.reps
        print(f"{sd_seed:>8} {sd_item:>8} {base:>5} | {cov[0]:>7.3f} {cov[1]:>12.3f} {cov[2]:>10.3f} {cov[3]:>8.3f}")
    print(f"({time.perf_counter() - t0:.0f} s; the standard error of each coverage is about "
          f"{np.sqrt(0.95 * 0.05 / a.reps):.3f})")


if __name__ == "__main__":
    main()
