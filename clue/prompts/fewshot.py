"""Few-shot selection as in CLUE: shuffle the test records with a fixed seed, first k are shots."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

REFERENCE_SEED = 1


def split_shots(records: Sequence[T], k: int, seed: int = REFERENCE_SEED) -> tuple[list[T], list[T]]:
    """Return (shots, scored): a seeded shuffle of ``records``, its first ``k`` and the rest.

    Same order as the reference's ``random.seed(1); random.shuffle(records)``, without touching the
    global generator.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:k], shuffled[k:]
