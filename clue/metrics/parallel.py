"""Spread a per-item scoring function over processes, in order, for large runs."""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_PER_PROCESS = 200  # below this, starting processes costs more than it saves


def map_chunks(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], processes: int = 1) -> list[R]:
    """``fn`` over contiguous chunks of ``items`` in ``processes`` processes; results in input order.

    ``fn`` must be a module-level function (picklable) that scores a whole chunk, so per-worker setup
    (a scorer object) happens once per chunk, not per item.
    """
    n = len(items)
    workers = min(processes, max(n // MIN_ITEMS_PER_PROCESS, 1))
    if workers <= 1:
        return fn(items)
    size = -(-n // workers)
    chunks = [items[i : i + size] for i in range(0, n, size)]
    context = mp.get_context("fork") if sys.platform.startswith("linux") else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [r for part in pool.map(fn, chunks) for r in part]
