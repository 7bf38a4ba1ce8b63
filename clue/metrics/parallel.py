"""Spread a per-item scoring function over processes, in order, for large runs.

Where ``fork`` is available (Linux), ``processes`` = N means the calling process scores the first
contiguous chunk itself while N - 1 forked children score the others: a child inherits its chunk
and ``fn`` through the fork (nothing is pickled on the way in) and sends back only its results
through a pipe; the child freezes the inherited objects for its garbage collector, so it does not
copy their memory pages by touching them. Elsewhere a ``ProcessPoolExecutor`` (spawn) gets one chunk per worker.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_PER_PROCESS = 200  # below this, starting processes costs more than it saves


def map_chunks(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], processes: int = 1) -> list[R]:
    """``fn`` over contiguous chunks of ``items`` in ``processes`` processes; results in input order.

    ``fn`` scores a whole chunk, so per-worker setup (a scorer object) happens once per chunk, not
    per item. Without ``fork`` it must be picklable (a module-level function or a partial of one).
    An exception raised by ``fn`` in any process reaches the caller.
    """
    n = len(items)
    workers = min(processes, max(n // MIN_ITEMS_PER_PROCESS, 1))
    if workers <= 1:
        return fn(items)
    size = -(-n // workers)
    chunks = [items[i : i + size] for i in range(0, n, size)]
    if sys.platform.startswith("linux"):
        return _forked(fn, chunks)
    with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
        return [r for part in pool.map(fn, chunks) for r in part]


def _forked(fn: Callable[[Sequence[T]], list[R]], chunks: list[Sequence[T]]) -> list[R]:
    context = mp.get_context("fork")
    children = []
    done = False
    try:
        for chunk in chunks[1:]:
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(fn, chunk, send), daemon=True)
            child.start()
            send.close()  # the child holds its own copy; EOF on ``receive`` then means the child died
            children.append((child, receive))
        out = list(fn(chunks[0]))
        for child, receive in children:
            out.extend(_result(child, receive))
        done = True
        return out
    finally:
        for child, receive in children:
            receive.close()
            if not done and child.is_alive():
                child.terminate()  # a failure elsewhere: its result is no longer wanted
            child.join()


def _child(fn: Callable[[Sequence[T]], list[R]], chunk: Sequence[T], send: Connection) -> None:
    # The objects inherited from the caller (a loaded encoder, the inputs) are moved out of the
    # collector's reach (O(1)), so the child's collections do not touch and copy their pages.
    gc.freeze()
    try:
        message: tuple[str, object] = ("ok", fn(chunk))
    except BaseException as exc:  # any failure goes back to the caller, which re-raises it
        message = ("error", exc)
    try:
        send.send(message)
    except Exception as exc:  # a result or exception that cannot be pickled
        send.send(("error", RuntimeError(f"a scoring worker could not send its result back: {exc!r}")))
    finally:
        send.close()


def _result(child: mp.process.BaseProcess, receive: Connection) -> list[R]:
    try:
        status, payload = receive.recv()
    except EOFError:
        child.join()
        raise RuntimeError(f"a scoring worker process died (exit code {child.exitcode})") from None
    if status == "error":
        raise payload  # type: ignore[misc]
    return payload  # type: ignore[return-value]
