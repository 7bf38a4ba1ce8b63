"""map_chunks: results in input order, the work really spread over processes for large inputs (the
caller scores the first chunk, forked children the others), inline for small ones, and failures in
any process reach the caller."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from clue.metrics.parallel import MIN_ITEMS_PER_PROCESS, map_chunks


def _square_with_pid(chunk: Sequence[int]) -> list[tuple[int, int]]:
    pid = os.getpid()
    return [(x * x, pid) for x in chunk]


def _meet_then_square(folder: Path, chunk: Sequence[int]) -> list[tuple[int, int]]:
    """Check in under ``folder`` and wait (at most 60 s) until a second process has checked in too, so
    the test sees two chunks running at the same time however fast each chunk is."""
    pid = os.getpid()
    (folder / str(pid)).touch()
    for _ in range(600):
        if len(list(folder.iterdir())) >= 2:
            break
        time.sleep(0.1)
    return [(x * x, pid) for x in chunk]


def _fail(chunk: Sequence[int]) -> list[int]:
    raise RuntimeError(f"chunk of {len(chunk)} failed")


def _fail_elsewhere(caller: int, chunk: Sequence[int]) -> list[int]:
    if os.getpid() != caller:
        raise ValueError(f"chunk starting at {chunk[0]} failed in a worker")
    return list(chunk)


def _die_elsewhere(caller: int, chunk: Sequence[int]) -> list[int]:
    if os.getpid() != caller:
        os._exit(3)
    return list(chunk)


def _unpicklable_elsewhere(caller: int, chunk: Sequence[int]) -> list[object]:
    return [x if os.getpid() == caller else (lambda: x) for x in chunk]


def test_two_workers_keep_order_and_run_at_once(tmp_path: Path) -> None:
    n = 2 * MIN_ITEMS_PER_PROCESS + 37
    out = map_chunks(functools.partial(_meet_then_square, tmp_path), list(range(n)), processes=2)
    assert [v for v, _ in out] == [x * x for x in range(n)]
    assert len({pid for _, pid in out}) == 2
    # contiguous chunks: the caller scored the first half itself, one other process the rest
    assert {pid for _, pid in out[: n // 2]} == {os.getpid()}
    assert os.getpid() not in {pid for _, pid in out[n // 2 + 1 :]}


def test_four_processes_four_contiguous_chunks() -> None:
    n = 4 * MIN_ITEMS_PER_PROCESS + 3  # chunks of 201, 201, 201, 200
    out = map_chunks(_square_with_pid, list(range(n)), processes=4)
    assert [v for v, _ in out] == [x * x for x in range(n)]
    runs = [pid for i, (_, pid) in enumerate(out) if i == 0 or out[i - 1][1] != pid]
    assert len(runs) == 4 and runs[0] == os.getpid()  # four contiguous runs, the caller's first


def test_small_input_runs_inline() -> None:
    out = map_chunks(_square_with_pid, list(range(2 * MIN_ITEMS_PER_PROCESS - 1)), processes=4)
    assert {pid for _, pid in out} == {os.getpid()}


@pytest.mark.parametrize("processes", [1, 0, -3])
def test_one_or_fewer_processes_run_inline(processes: int) -> None:
    out = map_chunks(_square_with_pid, list(range(5 * MIN_ITEMS_PER_PROCESS)), processes=processes)
    assert {pid for _, pid in out} == {os.getpid()}
    assert [v for v, _ in out] == [x * x for x in range(5 * MIN_ITEMS_PER_PROCESS)]


def test_empty() -> None:
    assert map_chunks(_square_with_pid, [], processes=2) == []


def test_error_in_the_caller_chunk() -> None:
    with pytest.raises(RuntimeError, match="chunk of 200 failed"):
        map_chunks(_fail, list(range(2 * MIN_ITEMS_PER_PROCESS)), processes=2)


def test_error_in_a_worker_keeps_its_type_and_message() -> None:
    fn = functools.partial(_fail_elsewhere, os.getpid())
    with pytest.raises(ValueError, match="chunk starting at 200 failed in a worker"):
        map_chunks(fn, list(range(2 * MIN_ITEMS_PER_PROCESS)), processes=2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers on Linux only")
def test_a_worker_that_dies_is_reported() -> None:
    fn = functools.partial(_die_elsewhere, os.getpid())
    with pytest.raises(RuntimeError, match="died"):
        map_chunks(fn, list(range(2 * MIN_ITEMS_PER_PROCESS)), processes=2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers on Linux only")
def test_a_result_that_cannot_be_sent_back_is_reported() -> None:
    fn = functools.partial(_unpicklable_elsewhere, os.getpid())
    with pytest.raises(RuntimeError, match="could not send its result back"):
        map_chunks(fn, list(range(2 * MIN_ITEMS_PER_PROCESS)), processes=2)
