"""The sqlite generation cache and generate_with_cache: hits, misses, chunked writes, errors, concurrency."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clue.cache.keys import cache_key
from clue.cache import store
from clue.cache.store import (
    SCHEMA_VERSION,
    CacheEntry,
    CacheError,
    CacheStats,
    CacheWriter,
    GenerationCache,
    engine_chunk_size,
    generate_with_cache,
)
from clue.engines.base import OnComplete
from clue.errors import EngineError
from clue.records import Completion, Message, Request, Sampling

REPO = Path(__file__).resolve().parents[1]


@dataclass
class CountingEngine:
    """A fake engine: answers deterministically from the prompt and records every generate call."""

    model_id: str = "fake/model"
    revision: str = "r1"
    name: str = "fake"
    chat_style: str = "plain"
    max_context: int = 4096
    calls: list[list[str]] = field(default_factory=list)
    forbid_generate: bool = False

    @property
    def loaded(self) -> bool:
        return bool(self.calls)

    @property
    def tokens(self):  # not used by the cache
        raise AssertionError("the cache must not count tokens")

    def render(self, request: Request) -> str:
        return "\n".join(f"{m.role}: {m.content}" for m in request.messages)

    def identity(self) -> dict:
        return {"engine": self.name, "model": self.model_id, "revision": self.revision}

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        if self.forbid_generate:
            raise AssertionError("generate called although every request is cached")
        self.calls.append([r.id for r in requests])
        return [
            Completion(
                request_id=r.id,
                text=f"{self.model_id}@{self.revision}: {r.messages[-1].content[::-1]} t={sampling.temperature}",
                prompt_tokens=len(self.render(r)),
                completion_tokens=r.max_new_tokens // 2,
                finish_reason="length" if r.max_new_tokens < 4 else "stop",
            )
            for r in requests
        ]

    def close(self) -> None:
        pass


def make_requests(n: int, prefix: str = "q", task: str = "meqsum", max_new_tokens: int = 16) -> list[Request]:
    return [
        Request(
            id=f"{prefix}{i}",
            task=task,
            messages=(Message("system", "Summarize."), Message("user", f"question number {i}")),
            max_new_tokens=max_new_tokens,
            reference=f"ref {i}",
        )
        for i in range(n)
    ]


@pytest.fixture
def cache(tmp_path: Path) -> GenerationCache:
    return GenerationCache(tmp_path / "cache" / "generations.sqlite")


# -- the store -------------------------------------------------------------------------------------
def test_put_and_get_round_trip(cache: GenerationCache) -> None:
    entries = [CacheEntry(f"k{i}", f"text {i} é", i, 2 * i, "stop", "m/1", 1000.0 + i) for i in range(3)]
    assert cache.put_many(entries) == 3
    got = cache.get_many(["k0", "k2", "absent"])
    assert got == {"k0": entries[0], "k2": entries[2]}
    assert len(cache) == 3 and "k1" in cache and "absent" not in cache


def test_entries_persist_across_instances_and_replace_by_key(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    GenerationCache(path).put_many([CacheEntry("k", "old", model_id="m")])
    reopened = GenerationCache(path)
    assert reopened.get_many(["k"])["k"].text == "old"
    reopened.put_many([CacheEntry("k", "new", model_id="m")])
    assert GenerationCache(path).get_many(["k"])["k"].text == "new"
    assert len(reopened) == 1


def test_many_keys_are_read_in_chunks(cache: GenerationCache) -> None:
    cache.put_many(CacheEntry(f"k{i}", str(i)) for i in range(1234))
    got = cache.get_many(f"k{i}" for i in range(0, 1300))
    assert len(got) == 1234 and got["k1233"].text == "1233"


def test_file_is_in_wal_mode_with_a_schema_version(cache: GenerationCache) -> None:
    conn = sqlite3.connect(cache.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(conn.execute("SELECT name, value FROM clue_meta"))
    finally:
        conn.close()
    assert meta == {"format": "clue-generation-cache", "schema_version": str(SCHEMA_VERSION)}


def test_a_batch_is_stored_all_or_nothing(cache: GenerationCache) -> None:
    good = CacheEntry("good", "fine")
    bad = CacheEntry("bad", None)  # type: ignore[arg-type]  # violates NOT NULL
    with pytest.raises(CacheError, match="IntegrityError"):
        cache.put_many([good, bad])
    assert len(cache) == 0


def _assert_actionable(exc: CacheError, path: Path) -> None:
    message = str(exc)
    assert str(path) in message
    assert "--clue-no-cache" in message


def test_a_garbage_file_gives_an_error_naming_path_and_way_out(tmp_path: Path) -> None:
    path = tmp_path / "generations.sqlite"
    path.write_bytes(b"this is not an sqlite file\n" * 200)
    with pytest.raises(CacheError, match="corrupt or foreign") as info:
        GenerationCache(path)
    _assert_actionable(info.value, path)
    assert path.read_bytes().startswith(b"this is not")  # nothing was written to it


def test_a_cache_with_a_damaged_header_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "generations.sqlite"
    GenerationCache(path).put_many([CacheEntry("k", "v")])
    data = bytearray(path.read_bytes())
    data[:16] = b"\x00garbage header!"
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="corrupt") as info:
        GenerationCache(path)
    _assert_actionable(info.value, path)


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError, match="another program .*users") as info:
        GenerationCache(path)
    _assert_actionable(info.value, path)


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    GenerationCache(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE clue_meta SET value = '999' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError, match="schema version 999") as info:
        GenerationCache(path)
    _assert_actionable(info.value, path)


def test_a_folder_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.sqlite").mkdir()
    with pytest.raises(CacheError, match="folder"):
        GenerationCache(tmp_path / "c.sqlite")


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from clue.cache.store import CacheEntry, GenerationCache

    path, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    cache = GenerationCache(path)  # both processes create the schema at once
    for batch in range(30):
        cache.put_many(CacheEntry(f"{name}-{batch}-{i}", f"{name} wrote {batch}.{i}", model_id=name) for i in range(10))
        assert len(cache.get_many(f"{name}-{batch}-{i}" for i in range(10))) == 10
    """
)


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    path, go = tmp_path / "shared" / "generations.sqlite", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), name, str(go)], env=env, stderr=subprocess.PIPE, text=True
        )
        for name in ("a", "b")
    ]
    go.write_text("go")
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    cache = GenerationCache(path)
    assert len(cache) == 600
    got = cache.get_many(f"{n}-{b}-{i}" for n in "ab" for b in range(30) for i in range(10))
    assert all(e.text == f"{e.model_id} wrote {k.split('-')[1]}.{k.split('-')[2]}" for k, e in got.items())
    assert len(got) == 600


# -- generate_with_cache --------------------------------------------------------------------------
def test_first_run_generates_in_chunks_and_second_run_hits_everything(cache: GenerationCache) -> None:
    requests = make_requests(7)
    engine = CountingEngine()
    first, stats = generate_with_cache(engine, requests, Sampling(), cache, chunk_size=3)
    assert [c.request_id for c in first] == [r.id for r in requests]
    assert engine.calls == [["q0", "q1", "q2"], ["q3", "q4", "q5"], ["q6"]]
    assert (stats.hits, stats.misses, stats.engine_calls) == (0, 7, 3)
    assert not any(c.cached for c in first)
    assert len(cache) == 7

    again = CountingEngine(forbid_generate=True)
    second, stats2 = generate_with_cache(again, requests, Sampling(), cache, chunk_size=3)
    assert (stats2.hits, stats2.misses, stats2.engine_calls) == (7, 0, 0)
    assert not again.loaded  # a fully cached run never touches the model
    assert all(c.cached for c in second)
    assert [(c.request_id, c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason) for c in second] == [
        (c.request_id, c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason) for c in first
    ]
    assert all(c.prompt_sha256 == r.prompt_key() for c, r in zip(second, requests))


def test_only_the_misses_are_generated(cache: GenerationCache) -> None:
    requests = make_requests(6)
    generate_with_cache(CountingEngine(), requests[::2], Sampling(), cache, chunk_size=10)
    engine = CountingEngine()
    completions, stats = generate_with_cache(engine, requests, Sampling(), cache, chunk_size=10)
    assert engine.calls == [["q1", "q3", "q5"]]
    assert (stats.hits, stats.misses, stats.engine_calls) == (3, 3, 1)
    assert [c.cached for c in completions] == [True, False] * 3
    assert [c.request_id for c in completions] == [r.id for r in requests]


def test_each_chunk_is_stored_before_the_next_is_generated(cache: GenerationCache) -> None:
    seen: list[int] = []

    class Watching(CountingEngine):
        def generate(self, requests, sampling, on_complete=None):
            seen.append(len(cache))
            return super().generate(requests, sampling, on_complete)

    generate_with_cache(Watching(), make_requests(10), Sampling(), cache, chunk_size=4)
    assert seen == [0, 4, 8]


class Reporting(CountingEngine):
    """Reports each completion as it finishes (like the openai engine); fails on request ``fail_at``."""

    fail_at: int | None = None

    def generate(self, requests, sampling, on_complete=None):
        done = super().generate(requests, sampling)
        for i, completion in enumerate(done):
            if i == self.fail_at:
                raise EngineError(f"request {requests[i].id} failed")
            if on_complete is not None:
                on_complete(i, completion)
        return done


def test_reported_completions_are_cached_although_the_batch_fails(cache: GenerationCache) -> None:
    requests = make_requests(6)
    engine = Reporting()
    engine.fail_at = 3
    with pytest.raises(EngineError, match="request q3 failed"):
        generate_with_cache(engine, requests, Sampling(), cache, chunk_size=6)
    assert len(cache) == 3  # the three finished before the failure
    again = CountingEngine()
    completions, stats = generate_with_cache(again, requests, Sampling(), cache, chunk_size=6)
    assert again.calls == [["q3", "q4", "q5"]]  # only what was not finished
    assert (stats.hits, stats.misses) == (3, 3)
    fresh, _ = generate_with_cache(CountingEngine(), requests, Sampling(), None)
    assert [c.cached for c in completions] == [True] * 3 + [False] * 3
    assert [(c.request_id, c.text, c.completion_tokens) for c in completions] == [
        (c.request_id, c.text, c.completion_tokens) for c in fresh
    ]


def test_each_generation_is_written_once(cache: GenerationCache, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[list[str]] = []
    put_many = CacheWriter.put_many

    def recording(self, entries):
        entries = list(entries)
        written.append([e.key for e in entries])
        return put_many(self, entries)

    monkeypatch.setattr(CacheWriter, "put_many", recording)
    generate_with_cache(Reporting(), make_requests(5), Sampling(), cache, chunk_size=3)
    keys = [k for batch in written for k in batch]
    assert len(keys) == len(set(keys)) == 5
    assert [len(b) for b in written] == [1] * 5  # one write per reported completion, none at the chunk's end


@pytest.mark.parametrize(
    ("index", "request_id", "problem"), [(5, "q0", "out of range"), (1, "q0", "not 'q1'"), (0, "q0", "twice")]
)
def test_a_report_that_does_not_fit_is_an_error(
    cache: GenerationCache, index: int, request_id: str, problem: str
) -> None:
    class Misreporting(CountingEngine):
        def generate(self, requests, sampling, on_complete=None):
            done = super().generate(requests, sampling)
            on_complete(0, done[0])
            on_complete(index, Completion(request_id, "wrong", 1, 1, "stop"))
            return done

    with pytest.raises(EngineError, match=problem):
        generate_with_cache(Misreporting(), make_requests(2), Sampling(), cache)
    assert list(cache.get_many(cache_keys(make_requests(2)))) == cache_keys(make_requests(2))[:1]


def cache_keys(requests: Sequence[Request]) -> list[str]:
    engine = CountingEngine()
    return [cache_key(engine.identity(), engine.render(r), Sampling(), r.max_new_tokens) for r in requests]


def test_request_ids_and_task_fields_do_not_split_the_cache(cache: GenerationCache) -> None:
    generate_with_cache(CountingEngine(), make_requests(3), Sampling(), cache)
    renamed = make_requests(3, prefix="other-", task="problem_summary")
    completions, stats = generate_with_cache(CountingEngine(forbid_generate=True), renamed, Sampling(), cache)
    assert stats.hits == 3
    assert [c.request_id for c in completions] == ["other-0", "other-1", "other-2"]


@pytest.mark.parametrize(
    "change",
    ["revision", "sampling", "max_new_tokens"],
)
def test_what_changes_outputs_misses_the_cache(cache: GenerationCache, change: str) -> None:
    generate_with_cache(CountingEngine(), make_requests(2), Sampling(), cache)
    engine = CountingEngine(revision="r2" if change == "revision" else "r1")
    sampling = Sampling(temperature=0.5) if change == "sampling" else Sampling()
    requests = make_requests(2, max_new_tokens=3 if change == "max_new_tokens" else 16)
    completions, stats = generate_with_cache(engine, requests, sampling, cache)
    assert (stats.hits, stats.misses) == (0, 2)
    assert len(engine.calls) == 1


def test_duplicate_prompts_are_generated_once(cache: GenerationCache) -> None:
    base = make_requests(2)
    twin = Request(id="twin", task="meqsum", messages=base[0].messages, max_new_tokens=16, reference="x")
    engine = CountingEngine()
    completions, stats = generate_with_cache(engine, [base[0], base[1], twin], Sampling(), cache)
    assert engine.calls == [["q0", "q1"]]
    assert stats.misses == 3 and stats.engine_calls == 1
    assert completions[2].request_id == "twin" and completions[2].text == completions[0].text


def test_one_connection_and_one_transaction_per_chunk(cache: GenerationCache, monkeypatch: pytest.MonkeyPatch) -> None:
    connects: list[str] = []
    commits: list[int] = []
    connect, put_many = store.sqlite3.connect, CacheWriter.put_many

    def counting_connect(*args, **kwargs):
        connects.append(str(args[0]))
        return connect(*args, **kwargs)

    def counting_put(self, entries):
        commits.append(put_many(self, entries))
        return commits[-1]

    monkeypatch.setattr(store.sqlite3, "connect", counting_connect)
    monkeypatch.setattr(CacheWriter, "put_many", counting_put)
    generate_with_cache(CountingEngine(), make_requests(10), Sampling(), cache, chunk_size=3)
    assert len(connects) == 2  # one to read the hits, one held for every write of the call
    assert commits == [3, 3, 3, 1]  # one transaction per chunk
    assert len(cache) == 10


def test_by_default_all_misses_go_in_one_call_unless_the_engine_asks_for_chunks(cache: GenerationCache) -> None:
    engine = CountingEngine()
    _, stats = generate_with_cache(engine, make_requests(40), Sampling(), cache)
    assert [len(c) for c in engine.calls] == [40] and stats.chunk_size == 0 and stats.engine_calls == 1

    class Chunked(CountingEngine):
        chunk_size = 16

    chunked = Chunked(revision="r2")
    _, stats = generate_with_cache(chunked, make_requests(40), Sampling(), cache)
    assert [len(c) for c in chunked.calls] == [16, 16, 8] and stats.chunk_size == 16
    assert stats.engine_calls == -(-stats.misses // stats.chunk_size)
    assert engine_chunk_size(chunked, 5) == 5  # the run's setting wins over the engine's
    assert engine_chunk_size(CountingEngine()) is None


def test_without_a_cache_everything_is_generated_in_chunks() -> None:
    engine = CountingEngine()
    completions, stats = generate_with_cache(engine, make_requests(5), Sampling(), None, chunk_size=2)
    assert [len(c) for c in engine.calls] == [2, 2, 1]
    assert (stats.hits, stats.misses, stats.engine_calls) == (0, 5, 3)
    assert len(completions) == 5


def test_an_engine_that_is_not_cacheable_bypasses_the_cache(cache: GenerationCache) -> None:
    class Replaying(CountingEngine):
        cacheable = False

    engine = Replaying()
    completions, stats = generate_with_cache(engine, make_requests(5), Sampling(), cache, chunk_size=2)
    assert engine.calls == [["q0", "q1", "q2", "q3", "q4"]]  # one call: replay matches over a whole task
    assert len(cache) == 0 and stats.engine_calls == 1 and len(completions) == 5


def test_an_engine_returning_the_wrong_count_is_an_error(cache: GenerationCache) -> None:
    class Short(CountingEngine):
        def generate(self, requests, sampling, on_complete=None):
            return super().generate(requests, sampling, on_complete)[:-1]

    with pytest.raises(EngineError, match="returned 1 completions for 2 requests"):
        generate_with_cache(Short(), make_requests(2), Sampling(), cache)


def test_a_failing_cache_write_warns_and_keeps_the_results(
    cache: GenerationCache, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(self, entries):
        raise CacheError(cache.path, "disk full")

    monkeypatch.setattr(CacheWriter, "put_many", refuse)
    with caplog.at_level(logging.WARNING, logger="clue.cache.store"):
        completions, stats = generate_with_cache(CountingEngine(), make_requests(4), Sampling(), cache, chunk_size=2)
    assert len(completions) == 4 and stats.engine_calls == 2
    assert sum("not caching further generations" in r.getMessage() for r in caplog.records) == 1


def test_keys_use_the_request_token_limit(cache: GenerationCache) -> None:
    engine = CountingEngine()
    request = make_requests(1, max_new_tokens=20)[0]
    generate_with_cache(engine, [request], Sampling(max_new_tokens=512), cache)
    expected = cache_key(engine.identity(), engine.render(request), Sampling(), 20)
    assert expected in cache


def test_no_requests_no_work(cache: GenerationCache) -> None:
    engine = CountingEngine(forbid_generate=True)
    assert generate_with_cache(engine, [], Sampling(), cache) == ([], CacheStats())
    with pytest.raises(ValueError, match="chunk_size"):
        generate_with_cache(engine, make_requests(1), Sampling(), cache, chunk_size=0)
