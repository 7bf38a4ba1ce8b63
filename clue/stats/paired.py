"""Paired comparison of a model with its base on the same items.

Items pair on identical ids (ids present on one side only are ignored and counted). The
difference is model - base, in the metric's 0-1 units.

Tests (two-sided; all have exact or conservative type I error under the null that the two
models' scores are exchangeable within an item, or within a cluster when clustered):

- 0/1 metric, no repeated clusters: exact McNemar test, i.e. a two-sided binomial test of the
  discordant pairs against 1/2 (McNemar 1947; Fagerland, Lydersen & Laake 2013).
- otherwise (continuous metric, or items sharing a cluster): sign-flip permutation test of the
  mean difference (Fisher 1935; Good 2005, ch. 3). The units are the items, or the clusters when
  clusters repeat (a cluster's labels are swapped together, which keeps the within-cluster
  correlation). With at most 16 non-zero units all 2^G sign vectors are enumerated (exact p);
  otherwise p = (1 + #{|T*| >= |T|}) / (B + 1) over B random sign vectors, which is a valid
  (slightly conservative) Monte Carlo p-value (Phipson & Smyth 2010).

The confidence interval of the difference is a paired percentile bootstrap (items, or whole
clusters when they repeat), see ``clue.stats.bootstrap``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from clue.stats.bootstrap import bootstrap_means, cluster_codes, percentile_interval

EXACT_UNITS = 16  # enumerate all sign vectors up to this many non-zero units
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class Comparison:
    """Model vs base on the paired items. Means and differences in 0-1 units; None when no pairs."""

    n: int
    n_clusters: int
    n_model_only: int
    n_base_only: int
    model_mean: float | None
    base_mean: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float
    test: str
    confidence: float
    n_model_better: int
    n_base_better: int
    n_discordant: int


def mcnemar_exact_p(model_better: int, base_better: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of the discordant counts against 1/2.

    The null distribution is symmetric, so the two-sided p is min(1, 2 * P(X <= min(b, c))).
    """
    k = min(model_better, base_better)
    n = model_better + base_better
    if n == 0:
        return 1.0
    from scipy.stats import binom  # scipy.stats is slow to import; only exact McNemar needs it

    return float(min(1.0, 2.0 * binom.cdf(k, n, 0.5)))


def sign_flip_p(unit_diffs: np.ndarray, n_resamples: int, rng: np.random.Generator) -> tuple[float, bool]:
    """Two-sided sign-flip permutation p-value of the sum of unit differences; (p, exact)."""
    d = unit_diffs[unit_diffs != 0.0]
    g = int(d.size)
    if g == 0:
        return 1.0, True
    observed = abs(float(d.sum()))
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if g <= EXACT_UNITS:
        signs = ((np.arange(2**g)[:, None] >> np.arange(g)) & 1) * 2.0 - 1.0
        stats = np.abs(signs @ d)
        return float(np.mean(stats >= observed - tol)), True
    hits = 0
    step = max(1, _CHUNK_CELLS // g)
    for start in range(0, n_resamples, step):
        rows = min(step, n_resamples - start)
        # 32-bit draws: the same stream as numpy's default 64-bit ones, half the memory traffic
        signs = rng.integers(0, 2, size=(rows, g), dtype=np.int32) * 2.0 - 1.0
        hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - tol))
    return (1.0 + hits) / (1.0 + n_resamples), False


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0.0) | (x == 1.0)))


def compare_paired(
    model: Mapping[str, float],
    base: Mapping[str, float],
    clusters: Mapping[str, str] | None = None,
    binary: bool | None = None,
    confidence: float = 0.95,
    n_resamples: int = 5000,
    seed: int = 0,
) -> Comparison:
    """Compare ``model`` with ``base`` (item id -> score) on their common ids.

    ``clusters`` maps an item id to its cluster (ids missing from it are their own cluster);
    ``binary`` None detects 0/1 scores. See the module docstring for the tests.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ids = sorted(set(model) & set(base))
    n_model_only = len(set(model) - set(base))
    n_base_only = len(set(base) - set(model))
    n = len(ids)
    if n == 0:
        return Comparison(0, 0, n_model_only, n_base_only, None, None, None, None, None, 1.0,
                          "no paired items", confidence, 0, 0, 0)
    a = np.array([float(model[i]) for i in ids])
    b = np.array([float(base[i]) for i in ids])
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("scores must be finite numbers")
    if binary is None:
        binary = _is_binary(a) and _is_binary(b)
    elif binary and not (_is_binary(a) and _is_binary(b)):
        raise ValueError("binary=True but the scores are not all 0 or 1")
    d = a - b
    # an id missing from ``clusters`` is its own cluster (tagged, so it cannot merge with a label)
    labels = [("c", str(clusters[i])) if clusters is not None and i in clusters else ("i", i) for i in ids]
    codes = cluster_codes(labels, n)
    g = int(codes.max()) + 1
    clustered = g < n
    n_model_better = int(np.count_nonzero(d > 0))
    n_base_better = int(np.count_nonzero(d < 0))
    seeds = np.random.SeedSequence(seed).spawn(2)

    if clustered:
        unit_sums = np.bincount(codes, weights=d, minlength=g)
        unit_counts = np.bincount(codes, minlength=g).astype(float)
    else:
        unit_sums, unit_counts = d, np.ones(n)

    if binary and not clustered:
        p_value = mcnemar_exact_p(n_model_better, n_base_better)
        test = "exact McNemar"
    else:
        p_value, exact = sign_flip_p(unit_sums, n_resamples, np.random.default_rng(seeds[0]))
        unit = "clusters" if clustered else "items"
        test = f"sign-flip permutation over {unit} ({'exact' if exact else f'Monte Carlo, {n_resamples} draws'})"

    diff = float(d.mean())
    if g == 1 or np.all(d == d[0]):
        low = high = diff
    else:
        draws = bootstrap_means(unit_sums, unit_counts, n_resamples, np.random.default_rng(seeds[1]))
        low, high = percentile_interval(draws, confidence)
        low, high = min(low, diff), max(high, diff)
    return Comparison(
        n=n,
        n_clusters=g,
        n_model_only=n_model_only,
        n_base_only=n_base_only,
        model_mean=float(a.mean()),
        base_mean=float(b.mean()),
        diff=diff,
        ci_low=low,
        ci_high=high,
        p_value=float(p_value),
        test=test,
        confidence=confidence,
        n_model_better=n_model_better,
        n_base_better=n_base_better,
        n_discordant=n_model_better + n_base_better,
    )
