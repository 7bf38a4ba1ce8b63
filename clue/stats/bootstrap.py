"""Mean with a percentile-bootstrap confidence interval, optionally clustered.

Percentile bootstrap (Efron & Tibshirani 1993, ch. 13). With clusters (items sharing a source,
e.g. LongHealth's five document orders of one question) whole clusters are resampled and the mean
is the ratio of the resampled sums to the resampled counts (cluster bootstrap, Davison & Hinkley
1997, sec. 3.8), so the interval reflects the correlation within a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

_CHUNK_CELLS = 2_000_000  # resample-matrix cells drawn at once (memory bound)


@dataclass(frozen=True)
class Estimate:
    """Mean of per-item values with its confidence interval (values in the metric's 0-1 units)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int
    method: str
    confidence: float = 0.95


def cluster_codes(clusters: Sequence[Hashable], n: int) -> np.ndarray:
    """Integer codes 0..G-1 for cluster labels (in order of first appearance)."""
    if len(clusters) != n:
        raise ValueError(f"clusters has {len(clusters)} labels for {n} values")
    index: dict[Hashable, int] = {}
    return np.fromiter((index.setdefault(c, len(index)) for c in clusters), dtype=np.int64, count=n)


def bootstrap_means(
    sums: np.ndarray, counts: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Means of ``n_resamples`` bootstrap resamples of the units (items or clusters).

    Each unit contributes its sum of values and its count of items; a resample draws units with
    replacement and its mean is sum of sums / sum of counts. Units of one item each (no clusters)
    need no count matrix: every resample counts ``g`` items. Indices are drawn as 32-bit integers,
    which numpy draws from the same stream as 64-bit ones for these ranges: the draws, and so the
    means, are the same for a seed, with half the memory traffic.
    """
    g = len(sums)
    out = np.empty(n_resamples, dtype=float)
    step = max(1, _CHUNK_CELLS // max(g, 1))
    singles = bool(np.all(counts == 1.0))
    index_type = np.int32 if g < 2**31 else np.int64
    for start in range(0, n_resamples, step):
        stop = min(start + step, n_resamples)
        idx = rng.integers(0, g, size=(stop - start, g), dtype=index_type)
        out[start:stop] = sums[idx].sum(axis=1) / (float(g) if singles else counts[idx].sum(axis=1))
    return out


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap draws."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def mean_ci(
    values: Sequence[float],
    clusters: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Mean of ``values`` and its percentile-bootstrap CI; clusters resampled whole when given.

    Degenerate cases need no resampling: no values gives NaN mean and CI (method ``"empty"``);
    one unit, or all values equal, gives a zero-width CI at the mean (method ``"degenerate"``).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float).reshape(-1)
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, 0, "empty", confidence)
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite numbers")
    if clusters is not None:
        codes = cluster_codes(list(clusters), n)
        g = int(codes.max()) + 1
    else:
        codes, g = None, n
    mean = float(x.mean())
    if g == 1 or np.all(x == x[0]):
        return Estimate(mean, mean, mean, n, g, "degenerate", confidence)
    if codes is not None and g < n:
        sums = np.bincount(codes, weights=x, minlength=g)
        counts = np.bincount(codes, minlength=g).astype(float)
        method = "cluster percentile bootstrap"
    else:
        sums, counts = x, np.ones(n)
        method = "percentile bootstrap"
    draws = bootstrap_means(sums, counts, n_resamples, np.random.default_rng(seed))
    low, high = percentile_interval(draws, confidence)
    # the interval always holds the estimate it is around (guards float noise on tiny samples)
    return Estimate(mean, min(low, mean), max(high, mean), n, g, method, confidence)
