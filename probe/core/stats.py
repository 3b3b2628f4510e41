"""Small exact statistics shared by every layer: Student's t quantiles and the Wilson interval of a share."""
from __future__ import annotations

import math
from statistics import NormalDist


def _t_abs_cdf(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4, exact)."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:
        term, total = 1.0, 0.0
        if df > 1:
            term = math.cos(theta)
            total = term
            for k in range(3, df - 1, 2):     # cos^(k) terms with coefficients 2/3, 2.4/3.5, ...
                term *= c2 * (k - 1) / k
                total += term
        return 2 / math.pi * (theta + (s * total if df > 1 else 0.0))
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):
        term *= c2 * (k - 1) / k
        total += term
    return s * total


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (p > 0.5) of Student's t with integer ``df`` >= 1, to ~1e-12.

    Cornish-Fisher start (A&S 26.7.5), then Newton steps on the exact CDF: no scipy import (it costs
    seconds) for a handful of numbers. Beyond 10,000 degrees of freedom the normal quantile is used.
    """
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    z = NormalDist().inv_cdf(p)
    if df > 10_000:
        return z
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2) \
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(50):
        f = (1 + _t_abs_cdf(t, df)) / 2 - p
        dens = math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))
        step = f / dens
        t -= step
        if abs(step) < 1e-12 * max(1.0, abs(t)):
            break
    return t


def wilson_interval(k: float, n: int, *, level: float = 0.95) -> tuple[float, float, float]:
    """(k / n, low, high): the Wilson score interval of a binomial share; NaN everything for n = 0.

    For a share of few items (a SyntaxGym suite has 19) it keeps its coverage near ``level`` where the
    normal-approximation interval does not, and it never leaves [0, 1] nor collapses at 0 or n.
    """
    nan = float("nan")
    if n <= 0:
        return nan, nan, nan
    z = NormalDist().inv_cdf((1 + level) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, max(centre - half, 0.0), min(centre + half, 1.0)
