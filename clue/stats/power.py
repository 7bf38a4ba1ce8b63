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
from collections.abc import Sequence

from scipy.stats import norm


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
    z = norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)
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
