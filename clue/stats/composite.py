"""The paired difference of a composite score (a weighted sum of per-task metric means) and its CI.

A composite here is what the transfer table compares: the MCQA mean over three tasks, a CLUE Level
score (groups of tasks and metrics, ``clue.report.levels.level_weights``), the case-challenge mean.
Each component is one task x metric with the model's and the base's per-item scores and a weight;
the composite difference is sum_k w_k (mean_k(model) - mean_k(base)) over the items both scored.

CI: paired percentile bootstrap. Components of one ``group`` (the metrics of one task; LongHealth's
three tasks, whose prompts share questions) are resampled together by cluster label (the same
draw of clusters for all of them); groups are resampled independently (their items are distinct).
Within a cluster the items stay together, as in ``clue.stats.paired``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from clue.stats.bootstrap import percentile_interval


@dataclass(frozen=True)
class Component:
    group: str  # components of one group share their bootstrap draws
    weight: float
    model: Mapping[str, float]  # item id -> score, 0-1
    base: Mapping[str, float]
    clusters: Mapping[str, str] = field(default_factory=dict)  # item id -> cluster label (default: itself)


@dataclass(frozen=True)
class CompositeDifference:
    """model - base of the composite, 0-1 units; None when no component has paired items."""

    diff: float | None
    ci_low: float | None
    ci_high: float | None
    n_components: int
    n_items: int  # distinct items paired, over the groups
    confidence: float


def _unit_arrays(c: Component, labels: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per cluster label: the sum of the paired differences and the number of items; and the mean."""
    ids = sorted(set(c.model) & set(c.base))
    position = {label: i for i, label in enumerate(labels)}
    sums = np.zeros(len(labels))
    counts = np.zeros(len(labels))
    for item in ids:
        unit = position[c.clusters.get(item, item)]
        sums[unit] += float(c.model[item]) - float(c.base[item])
        counts[unit] += 1.0
    mean = float(sums.sum() / counts.sum()) if counts.sum() else 0.0
    return sums, counts, mean


def composite_difference(
    components: Sequence[Component], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> CompositeDifference:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    paired = [c for c in components if set(c.model) & set(c.base)]
    if not paired:
        return CompositeDifference(None, None, None, 0, 0, confidence)
    groups: dict[str, list[Component]] = {}
    for c in paired:
        groups.setdefault(c.group, []).append(c)
    rng = np.random.default_rng(seed)
    estimate = 0.0
    draws = np.zeros(n_resamples)
    n_items = 0
    for members in groups.values():
        items = {i for c in members for i in set(c.model) & set(c.base)}
        n_items += len(items)
        labels = sorted({c.clusters.get(i, i) for c in members for i in set(c.model) & set(c.base)})
        arrays = [_unit_arrays(c, labels) for c in members]
        idx = rng.integers(0, len(labels), size=(n_resamples, len(labels)))
        for c, (sums, counts, mean) in zip(members, arrays, strict=True):
            estimate += c.weight * mean
            drawn_counts = counts[idx].sum(axis=1)
            drawn = np.divide(sums[idx].sum(axis=1), drawn_counts, out=np.full(n_resamples, mean), where=drawn_counts > 0)
            draws += c.weight * drawn
    if np.all(draws == draws[0]):
        low = high = estimate
    else:
        low, high = percentile_interval(draws, confidence)
    return CompositeDifference(estimate, min(low, estimate), max(high, estimate), len(paired), n_items, confidence)
