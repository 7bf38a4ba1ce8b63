"""run_jobs: results in order and as they finish, bounded concurrency, the first error, the time
limit per call, and a way out that waits for no thread."""

from __future__ import annotations

import threading
import time

import pytest

from clue.engines.workers import Overdue, run_jobs


def test_results_in_order_reported_as_they_finish_on_the_calling_thread() -> None:
    delays = [0.3, 0.0, 0.15]
    seen: list[tuple[int, str]] = []

    def job(i: int):
        return lambda cancel: (time.sleep(delays[i]), f"r{i}")[1]

    def on_result(i: int, value: str) -> None:
        seen.append((i, threading.current_thread().name))

    out = run_jobs([job(i) for i in range(3)], workers=3, on_result=on_result)
    assert out == ["r0", "r1", "r2"]
    assert [i for i, _ in seen] == [1, 2, 0]  # by finishing time
    assert {name for _, name in seen} == {threading.current_thread().name}


def test_at_most_workers_at_once() -> None:
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def job(cancel: threading.Event) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    run_jobs([job] * 9, workers=3)
    assert peak[0] == 3


def test_the_first_error_ends_the_run_and_later_jobs_never_start() -> None:
    started: list[int] = []

    def job(i: int):
        def run(cancel: threading.Event) -> int:
            started.append(i)
            if i == 1:
                raise ValueError("job 1 failed")
            return i

        return run

    with pytest.raises(ValueError, match="job 1 failed"):
        run_jobs([job(i) for i in range(20)], workers=1)
    time.sleep(0.1)
    assert started == [0, 1]


def test_a_call_past_its_limit_is_abandoned_and_told_to_stop() -> None:
    stopped = threading.Event()

    def stuck(cancel: threading.Event) -> None:
        cancel.wait(30)
        stopped.set()

    t0 = time.monotonic()
    with pytest.raises(Overdue) as err:
        run_jobs([lambda cancel: "quick", stuck], workers=2, limit=0.5)
    elapsed = time.monotonic() - t0
    assert err.value.index == 1 and 0.5 <= elapsed < 2.0
    assert stopped.wait(2.0)  # the cancel event reached the abandoned call


def test_an_interrupt_waits_for_no_thread() -> None:
    release = threading.Event()
    count = [0]

    def blocked(cancel: threading.Event) -> None:
        release.wait(60)  # ignores cancel, like a read stuck in the kernel

    def interrupt(i: int, value: object) -> None:
        count[0] += 1
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_jobs([lambda cancel: None, blocked, blocked], workers=3, on_result=interrupt)
    assert time.monotonic() - t0 < 1.0
    assert count[0] == 1
    stuck = [t for t in threading.enumerate() if t.name.startswith("clue-worker")]
    assert stuck and all(t.daemon for t in stuck)  # left running, but never keeps the process alive
    release.set()


def test_no_jobs_and_bad_workers() -> None:
    assert run_jobs([], workers=1) == []
    with pytest.raises(ValueError, match="workers"):
        run_jobs([lambda cancel: 1], workers=0)
