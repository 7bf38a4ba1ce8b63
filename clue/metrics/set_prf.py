"""Precision, recall and F1 of two sets (used by ICD-10 and UMLS entity scoring)."""

from __future__ import annotations

from collections.abc import Collection


def prf(predicted: Collection[object], gold: Collection[object]) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``set(predicted)`` against ``set(gold)``.

    Both empty -> (1, 1, 1): nothing to find and nothing wrongly claimed. One side empty -> 0 for the
    undefined ratio and F1 0, so an empty prediction never scores.
    """
    p, g = set(predicted), set(gold)
    if not p and not g:
        return 1.0, 1.0, 1.0
    hits = len(p & g)
    precision = hits / len(p) if p else 0.0
    recall = hits / len(g) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
