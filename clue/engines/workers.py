"""Blocking calls on daemon threads: each result as it finishes, a hard time limit per call, and a
Ctrl-C that returns at once.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when it shuts down and again when the
interpreter exits, so a call stuck in a socket read keeps the process alive after Ctrl-C for as long
as that read's timeout. Here the threads are daemons and the caller waits on a queue in short steps
(a signal interrupts the wait). On every way out (a call raised, a call ran past ``limit``,
KeyboardInterrupt) the calls not yet started are cancelled, the running ones are told to stop
through the ``cancel`` event they receive, and no thread is waited for: a call still running ends
or times out on its own and its result is dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

Job = Callable[[threading.Event], T]

_POLL_S = 0.2  # longest wait between checks of the running calls' time limits


class Overdue(Exception):
    """Call ``index`` ran ``seconds`` (longer than its limit) and was abandoned."""

    def __init__(self, index: int, seconds: float) -> None:
        super().__init__(f"call {index} still running after {seconds:.1f} s")
        self.index = index
        self.seconds = seconds


def run_jobs(
    jobs: Sequence[Job[T]],
    *,
    workers: int,
    limit: float | None = None,
    on_result: Callable[[int, T], None] | None = None,
    name: str = "clue-worker",
) -> list[T]:
    """Run ``jobs`` (in order, at most ``workers`` at once); their results in order.

    Each job gets a :class:`threading.Event` that is set when the run is abandoned; a job should
    check it between steps. ``on_result(i, value)`` is called on the calling thread as each job
    finishes. The first job to raise ends the run with its exception; a job running longer than
    ``limit`` seconds ends it with :class:`Overdue`.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    n = len(jobs)
    if n == 0:
        return []
    cancel = threading.Event()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(n):
        todo.put(i)
    finished: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()
    started: dict[int, float] = {}

    def work() -> None:
        while not cancel.is_set():
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            started[i] = time.monotonic()
            try:
                value = jobs[i](cancel)
            except BaseException as exc:  # handed to the caller's thread; nothing escapes a worker
                finished.put((i, False, exc))  # first, so it is ahead of what the cancel causes
                cancel.set()  # the run ends with this error: start nothing more
            else:
                finished.put((i, True, value))

    for k in range(min(workers, n)):
        threading.Thread(target=work, name=f"{name}-{k}", daemon=True).start()

    done: dict[int, T] = {}
    try:
        while len(done) < n:
            try:
                i, ok, value = finished.get(timeout=_POLL_S)
            except queue.Empty:
                _check_limits(started, done, limit)
                continue
            if not ok:
                raise value
            done[i] = value
            if on_result is not None:
                on_result(i, value)
            _check_limits(started, done, limit)
    finally:
        cancel.set()  # stops the workers taking more; a running call sees it at its next check
    return [done[i] for i in range(n)]


def _check_limits(started: dict[int, float], done: dict[int, Any], limit: float | None) -> None:
    if limit is None:
        return
    now = time.monotonic()
    for i, t0 in dict(started).items():  # a copy: the workers add to it
        if i not in done and now - t0 > limit:
            raise Overdue(i, now - t0)
