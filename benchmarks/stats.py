"""Small, assumption-light statistics for comparing runs over seeds (used by ablation.py and time_to_quality.py).

* :func:`permutation_p`: the exact two-sided permutation test of a difference
  in means between two small samples (every relabelling enumerated, so no
  distribution is assumed; with 5 seeds per side the smallest possible p is
  2/252 = 0.008).
* :func:`bootstrap_ci`: a percentile bootstrap confidence interval of the
  difference in means, from a seeded generator (repeatable).
* :func:`mean_ci`: a t-based confidence interval of one sample's mean.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence

#: Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (then the normal's 1.96).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its t-based 95 % interval (low = high = mean for one value)."""
    if level != 0.95:
        raise ValueError("only 95 % intervals are tabulated")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    df = len(values) - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def permutation_p(a: Sequence[float], b: Sequence[float], max_exact: int = 200_000, seed: int = 0,
                  samples: int = 100_000) -> float:
    """Two-sided p-value of ``mean(a) - mean(b)`` under random relabelling of the pooled values.

    Exact (every split enumerated) when there are at most ``max_exact``
    splits, else estimated from ``samples`` seeded random splits. Ties count
    as at least as extreme.
    """
    pooled = list(a) + list(b)
    n, k = len(pooled), len(a)
    observed = abs(statistics.fmean(a) - statistics.fmean(b))
    total = sum(pooled)
    eps = 1e-12 * max(1.0, abs(observed))

    def diff(idx: Sequence[int]) -> float:
        s = sum(pooled[i] for i in idx)
        return abs(s / k - (total - s) / (n - k))

    if math.comb(n, k) <= max_exact:
        count = hits = 0
        for idx in itertools.combinations(range(n), k):
            count += 1
            hits += diff(idx) >= observed - eps
        return hits / count
    rng = random.Random(seed)
    hits = sum(diff(rng.sample(range(n), k)) >= observed - eps for _ in range(samples))
    return (hits + 1) / (samples + 1)


def bootstrap_ci(a: Sequence[float], b: Sequence[float], resamples: int = 10_000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)`` (each sample resampled with replacement)."""
    rng = random.Random(seed)
    diffs = sorted(statistics.fmean(rng.choices(a, k=len(a))) - statistics.fmean(rng.choices(b, k=len(b)))
                   for _ in range(resamples))
    lo = diffs[int((1 - level) / 2 * resamples)]
    hi = diffs[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return lo, hi


def verdict(a: Sequence[float], b: Sequence[float], higher_is_better: bool, alpha: float = 0.05) -> tuple[str, float]:
    """``("helps" | "hurts" | "no detectable effect", p)`` for a configuration ``a`` against the baseline ``b``."""
    p = permutation_p(a, b)
    if p >= alpha:
        return "no detectable effect", p
    better = statistics.fmean(a) > statistics.fmean(b)
    return ("helps" if better == higher_is_better else "hurts"), p
