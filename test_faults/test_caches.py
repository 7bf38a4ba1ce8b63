"""Caches under fault: corrupt files are reported once (or fail the cases that read them), read-only
caches are read and never written, and a run killed with SIGKILL resumes from its cache."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_runs import IS_ROOT, clue_run

from clue.cache.store import CacheEntry, CacheNotWritable, GenerationCache

ARGS = ("--model", "oracle", "--task", "meqsum", "--task", "mednli", "--limit", "3")
PAGE = 4096


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.sqlite"))}


def _read_only(folder: Path) -> dict[str, list[str]] | None:
    """Make ``folder`` and its files read-only; for root (which permission bits do not stop) return the
    fault that makes clue see them so."""
    if IS_ROOT:
        return {"read_only": [str(folder)]}
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    return None


def _writable_again(folder: Path) -> None:
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def test_a_read_only_cache_is_read_and_never_written(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = clue_run(pytester, *ARGS, cache_dir=cache, run_id="first")
    assert first.ret == 0, first.output
    before = _digests(cache)
    assert set(before) == {"generations.sqlite", "scores.sqlite"}
    faults = _read_only(cache)
    try:
        again = clue_run(pytester, *ARGS, cache_dir=cache, run_id="again", faults=faults)
        other = clue_run(pytester, "--model", "oracle", "--task", "longhealth_task1", "--limit", "2",
                         cache_dir=cache, run_id="other", faults=faults)
    finally:
        _writable_again(cache)
    assert again.ret == 0, again.output
    assert again.first_line.startswith("# PASS")
    assert "generation cache" in again.output and "is not writable: reading it, storing nothing new" in again.output
    # one warning per cache, not one per case
    assert again.output.count("ClueWarning: clue: generation cache") == 1
    assert again.output.count("ClueWarning: clue: score cache") == 1
    assert again.output.count("is not writable") == 2
    report = again.report
    assert report["settings"]["cache"]["read_only"] is True
    assert all(p["cache"]["misses"] == 0 and p["cache"]["hits"] == p["n"] for p in report["tasks"])
    assert other.ret == 0, other.output  # generations the cache lacks are made, just not stored
    assert _digests(cache) == before


def test_a_read_only_folder_without_a_cache_runs_uncached(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    cache.mkdir()
    faults = _read_only(cache)
    try:
        run = clue_run(pytester, *ARGS, cache_dir=cache, faults=faults)
    finally:
        _writable_again(cache)
    assert run.ret == 0, run.output
    assert "not caching generations" in run.output and "not caching scores" in run.output
    assert list(cache.iterdir()) == []


def test_the_generation_cache_opens_read_only_without_write_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "generations.sqlite"
    GenerationCache(path).put_many([CacheEntry("k", "stored")])
    before = path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if mode & os.W_OK else real_access(p, mode))
    cache = GenerationCache(path)
    assert cache.read_only
    assert cache.get_many(["k"])["k"].text == "stored"
    assert cache.put_many([CacheEntry("new", "x")]) == 0
    assert path.read_bytes() == before
    with pytest.raises(CacheNotWritable, match="--clue-cache-dir"):
        GenerationCache(tmp_path / "absent.sqlite")


@pytest.mark.parametrize("name", ["generations.sqlite", "scores.sqlite"])
def test_a_corrupt_cache_file_is_one_usage_error(pytester: pytest.Pytester, tmp_path: Path, name: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / name).write_bytes(b"not an sqlite database\n" * 300)
    run = clue_run(pytester, *ARGS, cache_dir=cache)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert str(cache / name) in run.output and "--clue-no-cache" in run.output
    assert run.output.count("ERROR:") == 1 and "Traceback" not in run.output


def test_a_cache_corrupt_inside_fails_its_cases_and_the_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = clue_run(pytester, *ARGS, cache_dir=cache, run_id="first")
    assert first.ret == 0
    path = cache / "generations.sqlite"
    with sqlite3.connect(path) as conn:
        pages = dict(conn.execute("SELECT name, rootpage FROM sqlite_master").fetchall())
    data = bytearray(path.read_bytes())
    start = (pages["generations"] - 1) * PAGE  # the generations table and its index: the header stays readable
    data[start:] = b"\xa5" * (len(data) - start)
    path.write_bytes(bytes(data))
    run = clue_run(pytester, *ARGS, cache_dir=cache, run_id="corrupt")
    assert run.ret == 1, run.output
    assert run.first_line.startswith("# FAIL")
    assert {c["category"] for c in run.report["cases"] if c["kind"] == "task"} == {"cache_error"}
    assert "--clue-no-cache" in run.case("task", "oracle", "meqsum")["message"]


@pytest.mark.slow  # two demo runs, one killed with SIGKILL mid-generation
def test_a_run_killed_with_sigkill_resumes_from_its_cache(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = ("--model", "demo", "--task", "meqsum", "--limit", "8", "--clue-batch-size", "1")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "clue", "--clue-report-dir", "reports",
               "--clue-run-id", "run", "--clue-cache-dir", str(cache), *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(pytester.path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        stored = 0
        while time.monotonic() < deadline and proc.poll() is None:
            stored = _stored(cache / "generations.sqlite")
            if stored >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        assert stored >= 2
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run_dir = pytester.path / "reports" / "run"
    assert run_dir.is_dir() and not (run_dir / "report.json").exists()
    refused = clue_run(pytester, *args, cache_dir=cache)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR and "--clue-overwrite" in refused.output
    resumed = clue_run(pytester, *args, "--clue-overwrite", cache_dir=cache)
    assert resumed.ret in (0, 1), resumed.output
    report = resumed.report
    assert {(c["model"], c["outcome"]) for c in report["cases"] if c["kind"] == "task"} == {
        ("demo-base", "passed"), ("demo", "passed")
    }
    hits = sum(p["cache"]["hits"] for p in report["tasks"])
    assert hits >= stored  # what was generated before the kill is not generated again
    assert all(p["n"] == 8 for p in report["tasks"])


def _stored(path: Path) -> int:
    """Rows in the generation cache, read without writing (0 while it does not exist yet)."""
    if not path.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
