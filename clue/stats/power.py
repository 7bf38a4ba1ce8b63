"""Minimum detectable effect of a paired comparison (normal approximation).

For n paired items whose differences have standard deviation sd, a two-sided test at level
alpha detects a true mean difference delta with probability ``power`` when

    delta = (z_{1 - alpha/2} + z_{power}) * sd / sqrt(n_eff)

(e.g. Chow, Shao & Wang 2008, sec. 3.1). For a 0/1 metric with a fraction ``discordance`` of
discordant pairs the difference is -1, 0 or +1 and, near the null, sd = sqrt(discordance)
(Connor 1987, McNemar sample size). Clustering inflates the variance by the design effect
deff = 1 + (m - 1) * icc for clusters of size m (Kish 1965); n_eff = n / deff.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()  # the standard normal's quantiles, without importing scipy.stats (slow)


def minimum_detectable_effect(
    n: int,
    sd: float | None = None,
    discordance: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    design_effect: float = 1.0,
) -> float:
    """Smallest |mean difference| (metric units) detected with ``power`` at two-sided ``alpha``.

    Give ``sd`` (of the per-item differences) for a continuous metric, or ``discordance``
    (fraction of items where exactly one model is right) for a 0/1 metric. NaN when n is 0.
    """
    if (sd is None) == (discordance is None):
        raise ValueError("give exactly one of sd and discordance")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("alpha and power must be in (0, 1)")
    if design_effect < 1.0:
        raise ValueError("design_effect must be >= 1")
    if discordance is not None:
        if not 0.0 <= discordance <= 1.0:
            raise ValueError(f"discordance must be in [0, 1], got {discordance}")
        sd = math.sqrt(discordance)
    assert sd is not None
    if sd < 0:
        raise ValueError("sd must be >= 0")
    if n <= 0:
        return math.nan
    z = _NORMAL.inv_cdf(1.0 - alpha / 2.0) + _NORMAL.inv_cdf(power)
    return float(z * sd * math.sqrt(design_effect / n))


def mde_from_differences(
    diffs: Sequence[float], alpha: float = 0.05, power: float = 0.8, design_effect: float = 1.0
) -> float:
    """Minimum detectable effect using the sample sd of observed paired differences."""
    n = len(diffs)
    if n < 2:
        return math.nan
    mean = sum(diffs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (n - 1))
    return minimum_detectable_effect(n, sd=sd, alpha=alpha, power=power, design_effect=design_effect)


# -- the power of one paired comparison, from its observed differences --------------------------------
RULE_OF_THREE = 3.0  # with no event in G units, 3/G bounds the event rate at 95% (Hanley & Lippman-Hand 1983)


@dataclass(frozen=True)
class PairedPower:
    """What one paired comparison could see, in the metric's 0-1 units.

    ``mde``: the smallest true |mean difference| found with probability ``power`` at two-sided
    level ``alpha`` with this comparison's n (NaN when nothing is paired). ``n_needed``: the items
    that would find ``target`` (same spread and clustering; None when nothing is paired).
    ``basis``: how the spread of the differences was planned (see ``paired_power``).
    """

    mde: float
    n: int
    n_units: int
    design_effect: float
    sd: float
    basis: str
    target: float
    n_needed: int | None
    alpha: float
    power: float


def cluster_design_effect(diffs: np.ndarray, codes: np.ndarray) -> float:
    """Ratio of the clustered to the independent-items variance of the mean difference, at least 1.

    Clustered: the linearisation (ratio-estimator) variance over cluster totals, with the
    G / (G - 1) small-sample factor (Cochran 1977, sec. 6.9; Kish 1965, ch. 5); independent:
    s^2 / n. 1 when there is no spread or fewer than two clusters.
    """
    n = int(diffs.size)
    g = int(codes.max()) + 1 if n else 0
    if n < 2 or g < 2 or g == n:
        return 1.0
    iid = float(np.var(diffs, ddof=1)) / n
    if iid <= 0.0:
        return 1.0
    mean = float(diffs.mean())
    sums = np.bincount(codes, weights=diffs, minlength=g)
    counts = np.bincount(codes, minlength=g).astype(float)
    clustered = g / (g - 1) * float(np.sum((sums - counts * mean) ** 2)) / n**2
    return max(1.0, clustered / iid)


def paired_power(
    diffs: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    *,
    binary: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    target: float = 0.01,
) -> PairedPower:
    """Minimum detectable effect of a paired comparison at its n, and the n that detects ``target``.

    The spread of the per-item differences is the observed one: for a 0/1 metric on independent
    items sqrt(discordant fraction) (Connor 1987), else their sample sd, inflated by the observed
    design effect where items share a cluster (``cluster_design_effect``). When no unit differs the
    data hold no spread to plan with; then, by the rule of three, at most 3/G of the G units differ
    (95% bound), each by at most the metric's range 1: sd = sqrt(3/G) over G independent units
    (``basis`` "rule of three"). ``n_needed`` = deff * ((z_{1-alpha/2} + z_power) * sd / target)^2.
    """
    if target <= 0:
        raise ValueError(f"target must be > 0, got {target}")
    d = np.asarray(diffs, dtype=float)
    n = int(d.size)
    labels = list(clusters) if clusters is not None else list(range(n))
    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(c, len(index)) for c in labels), dtype=np.int64, count=len(labels))
    if codes.size != n:
        raise ValueError(f"clusters has {codes.size} labels for {n} differences")
    g = len(index)
    if n == 0:
        return PairedPower(math.nan, 0, 0, 1.0, math.nan, "no paired items", target, None, alpha, power)
    z = _NORMAL.inv_cdf(1.0 - alpha / 2.0) + _NORMAL.inv_cdf(power)
    if not np.any(d != 0.0):
        sd = math.sqrt(min(1.0, RULE_OF_THREE / g))
        mde = float(z * sd / math.sqrt(g))
        needed = math.ceil((n / g) * (z * sd / target) ** 2)
        return PairedPower(mde, n, g, n / g, sd, "rule of three", target, needed, alpha, power)
    deff = cluster_design_effect(d, codes)
    if binary and g == n:
        sd, basis = math.sqrt(float(np.count_nonzero(d)) / n), "discordant pairs"
    else:
        sd, basis = (float(np.std(d, ddof=1)) if n > 1 else 0.0), "observed sd"
    mde = minimum_detectable_effect(n, sd=sd, alpha=alpha, power=power, design_effect=deff)
    needed = math.ceil(deff * (z * sd / target) ** 2)
    return PairedPower(mde, n, g, deff, sd, basis, target, max(needed, 1), alpha, power)
