"""Multiple-testing adjustment."""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the input order.

    Sorted ascending, the i-th (0-based) of m p-values becomes max over j <= i of
    min(1, (m - j) * p_(j)), which is monotone and capped at 1. Rejecting where the adjusted
    p-value is below alpha controls the family-wise error rate at alpha. NaN counts as 1.
    """
    p = [1.0 if (v is None or math.isnan(v)) else float(v) for v in p_values]
    for v in p:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"p-values must be in [0, 1], got {v}")
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted
