"""The generation cache: finished generations on sqlite, safe for several processes and for crashes.

The database runs in WAL mode with a busy timeout, so pytest-xdist workers may read and write it at
once. Each ``put_many`` is one transaction; ``generate_with_cache`` holds one connection per call and
writes each generation as soon as the engine reports it final (a batch engine: its whole chunk, in
one transaction), so a process killed mid-run loses only the generations still in flight. ``generate_with_cache`` asks the engine only for the misses,
and not at all when every request hits (engines load their model on the first ``generate``, so a
fully cached run loads none).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from clue.cache.keys import cache_key
from clue.errors import ClueError, EngineError
from clue.records import Completion, Request, Sampling

if TYPE_CHECKING:  # importing the engine contract at run time would pull in every task module
    from clue.engines.base import Engine

__all__ = [
    "SCHEMA_VERSION",
    "CacheEntry",
    "CacheError",
    "CacheNotWritable",
    "CacheStats",
    "CacheWriter",
    "GenerationCache",
    "cache_key",
    "engine_chunk_size",
    "generate_with_cache",
]

log = logging.getLogger(__name__)

FORMAT_NAME = "clue-generation-cache"
SCHEMA_VERSION = 1
_QUERY_CHUNK = 500  # keys per SELECT ... IN (...), below every sqlite's variable limit

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS clue_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS generations (
        key TEXT PRIMARY KEY,
        model_id TEXT NOT NULL,
        text TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        finish_reason TEXT NOT NULL,
        created REAL NOT NULL
    )""",
)


class CacheError(ClueError):
    """The cache file cannot be used (corrupt, foreign, from a newer clue, or locked for too long)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"generation cache {self.path}: {problem}. Delete the file, point --clue-cache-dir elsewhere, "
            "or run with --clue-no-cache."
        )


class CacheNotWritable(CacheError):
    """There is no cache file, and none can be created where it should be (the folder is read-only)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        ClueError.__init__(
            self, f"cache {self.path}: {problem}. Point --clue-cache-dir at a writable folder to cache results."
        )


def writable(path: Path) -> bool:
    """Whether clue may write ``path``: the file (if it exists) and its folder (for sqlite's -wal and
    -shm files, or to create the file) are writable; a missing folder must be creatable."""
    path = Path(path)
    if path.exists() and not os.access(path, os.W_OK):
        return False
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


def read_only_connection(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that never writes ``path``: sqlite's ``mode=ro``; where even that needs to create
    the -shm file of a WAL database in a read-only folder, ``immutable=1`` (the file as it is on disk)."""
    uri = "file:" + urllib.parse.quote(str(Path(path).resolve()))
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(f"{uri}?{flags}", uri=True, timeout=timeout, isolation_level=None)
        try:
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:  # "attempt to write a readonly database", "unable to open"
            conn.close()
            last = exc
            continue
        except BaseException:
            conn.close()
            raise
        return conn
    assert last is not None
    raise last


@dataclass(frozen=True)
class CacheEntry:
    """One stored generation. ``created`` is a Unix time in seconds."""

    key: str
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    model_id: str = ""
    created: float = 0.0

    @classmethod
    def from_completion(
        cls, key: str, completion: Completion, model_id: str, created: float | None = None
    ) -> CacheEntry:
        return cls(
            key=key,
            text=completion.text,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
            model_id=model_id,
            created=time.time() if created is None else created,
        )

    def to_completion(self, request_id: str, prompt_sha256: str = "") -> Completion:
        return Completion(
            request_id=request_id,
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            finish_reason=self.finish_reason,
            cached=True,
            prompt_sha256=prompt_sha256,
        )


class GenerationCache:
    """Generations keyed by ``cache_key``; one sqlite file, shared by processes.

    Connections are opened per operation, so an instance is safe to use after a fork and from
    several threads. ``timeout`` is how long a writer waits for another one's lock (seconds).

    A cache that clue may not write (the file or its folder is read-only: a shared cache) is opened
    read-only (``read_only``): it serves hits and ``put_many`` stores nothing. ``read_only=None``
    decides from the file system; a missing file that cannot be created raises ``CacheNotWritable``.
    """

    def __init__(self, path: Path, timeout: float = 60.0, read_only: bool | None = None) -> None:
        self.path = Path(path)
        self.timeout = timeout
        if self.path.is_dir():
            raise CacheError(self.path, "is a folder, not a cache file")
        self.read_only = not writable(self.path) if read_only is None else read_only
        if self.read_only:
            if not self.path.is_file():
                raise CacheNotWritable(self.path, "there is no cache file and its folder is not writable")
            log.info("generation cache %s is not writable: reading it, storing no new generations", self.path)
            self._check_meta()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheNotWritable(self.path, f"cannot create its folder ({exc})") from exc
        self._initialise()

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if self.read_only:
                conn = read_only_connection(self.path, self.timeout)
            else:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            if type(exc) is sqlite3.DatabaseError:  # the read-only probe met a corrupt or foreign file
                raise self._explain(exc) from exc
            raise CacheError(self.path, f"cannot open the file ({exc})") from exc
        except sqlite3.Error as exc:
            raise CacheError(self.path, f"cannot open the file ({exc})") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")  # per connection; WAL stays crash-safe with it
            yield conn
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                try:
                    conn.rollback()
                except sqlite3.Error:
                    pass  # the connection is closed below; sqlite discards the open transaction
            raise self._explain(exc) from exc
        finally:
            conn.close()

    def _explain(self, exc: sqlite3.DatabaseError) -> CacheError:
        message = str(exc)
        if "locked" in message or "busy" in message:
            return CacheError(self.path, f"still locked by another process after {self.timeout:g} s ({message})")
        if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "disk image is malformed"
            return CacheError(self.path, f"not a readable clue cache: the file is corrupt or foreign ({message})")
        return CacheError(self.path, f"sqlite failed ({type(exc).__name__}: {message})")

    def _initialise(self) -> None:
        with self._connect() as conn:
            # Reading the schema first makes sqlite check the file header: a foreign or corrupt
            # file fails here, before anything is written to it.
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "clue_meta" not in tables:
                raise CacheError(
                    self.path, f"an sqlite database of another program (tables: {', '.join(sorted(tables))})"
                )
            mode = self._switch_to_wal(conn)
            if str(mode).lower() != "wal":
                log.warning("generation cache %s: journal mode is %s, not WAL", self.path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO clue_meta (name, value) VALUES (?, ?)",
                [("format", FORMAT_NAME), ("schema_version", str(SCHEMA_VERSION))],
            )
            conn.execute("COMMIT")
        self._check_meta()

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """``PRAGMA journal_mode = WAL``, retried while another process holds the file: sqlite answers
        "locked" at once, without waiting, when two connections switch at the same time."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                message = str(exc)
                if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _check_meta(self) -> None:
        with self._connect() as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "clue_meta" not in tables:
                what = f"an sqlite database of another program (tables: {', '.join(sorted(tables))})"
                raise CacheError(self.path, what if tables else "an empty file, not a clue cache")
            meta = dict(conn.execute("SELECT name, value FROM clue_meta").fetchall())
        if meta.get("format") != FORMAT_NAME:
            raise CacheError(self.path, f"not a clue cache (format {meta.get('format')!r})")
        version = meta.get("schema_version", "")
        if version != str(SCHEMA_VERSION):
            raise CacheError(
                self.path, f"schema version {version} is not the version {SCHEMA_VERSION} this clue reads"
            )

    # -- reading and writing ------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        """The stored entries among ``keys`` (absent keys are left out)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CacheEntry] = {}
        if not wanted:
            return found
        with self._connect() as conn:
            for start in range(0, len(wanted), _QUERY_CHUNK):
                chunk = wanted[start : start + _QUERY_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT key, text, prompt_tokens, completion_tokens, finish_reason, model_id, created "
                    f"FROM generations WHERE key IN ({marks})",
                    chunk,
                )
                for key, text, p_tok, c_tok, finish, model_id, created in rows:
                    found[key] = CacheEntry(key, text, int(p_tok), int(c_tok), finish, model_id, float(created))
        return found

    def put_many(self, entries: Iterable[CacheEntry]) -> int:
        """Store ``entries`` in one transaction (all or none); a key already present is replaced.

        A read-only cache stores nothing and returns 0 (it warned once, when it was opened).
        """
        if self.read_only:
            return 0
        with self.writer() as writer:
            return writer.put_many(entries)

    @contextmanager
    def writer(self) -> Iterator[CacheWriter]:
        """One connection for a run of writes (``generate_with_cache`` holds one per call): each
        ``put_many`` on it is one transaction, without a connection's set-up and WAL checkpoint each.
        On a read-only cache its writes store nothing."""
        with self._connect() as conn:
            yield CacheWriter(self, conn)

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.get_many([key]))

    def __repr__(self) -> str:
        return f"GenerationCache({str(self.path)!r})"


class CacheWriter:
    """Writes to a cache over one open connection (``GenerationCache.writer``); use it on the thread
    that opened it. A failed write raises CacheError and leaves the connection usable."""

    def __init__(self, cache: GenerationCache, conn: sqlite3.Connection) -> None:
        self._cache = cache
        self._conn = conn

    def put_many(self, entries: Iterable[CacheEntry]) -> int:
        """Store ``entries`` in one transaction (all or none); a key already present is replaced."""
        if self._cache.read_only:
            return 0
        rows = [
            (e.key, e.model_id, e.text, int(e.prompt_tokens), int(e.completion_tokens), e.finish_reason, e.created)
            for e in entries
        ]
        if not rows:
            return 0
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO generations "
                "(key, model_id, text, prompt_tokens, completion_tokens, finish_reason, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                try:
                    conn.rollback()
                except sqlite3.Error:
                    pass  # the caller stops writing; the connection closes with its context
            raise self._cache._explain(exc) from exc
        return len(rows)


@dataclass(frozen=True)
class CacheStats:
    """Requests found in the cache, requests generated, ``engine.generate`` calls made, and the chunk
    size they were made with (requests per call; 0: all of the misses in one call)."""

    hits: int = 0
    misses: int = 0
    engine_calls: int = 0
    chunk_size: int = 0


def engine_chunk_size(engine: Engine, chunk_size: int | None = None) -> int | None:
    """Requests per ``engine.generate`` call: ``chunk_size`` when given, else the engine's own
    ``chunk_size`` attribute (vLLM: enough to keep continuous batching full), else None: all of a
    task's misses in one call (engines that report each finished request or batch)."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    preferred = getattr(engine, "chunk_size", None)
    return preferred if isinstance(preferred, int) and preferred >= 1 else None


def generate_with_cache(
    engine: Engine,
    requests: Sequence[Request],
    sampling: Sampling,
    cache: GenerationCache | None,
    chunk_size: int | None = None,
    namespace: str = "",
) -> tuple[list[Completion], CacheStats]:
    """Completions for ``requests`` in their order, generating only what the cache lacks.

    Misses go to ``engine.generate`` in as few calls as the chunk size allows (``engine_chunk_size``:
    by default all of them at once, or the engine's preferred chunk). Each generation is stored as
    soon as it is final: when the engine reports it through ``on_complete`` (the openai engine
    request by request, the hf engine forward batch by forward batch), else when its chunk returns,
    all in one transaction over the one connection this call holds. An interrupted run, or a chunk
    that fails part way, resumes where it stopped: a killed run loses at most the chunk in flight.
    Requests with the same key are generated once. Hits come back with ``cached=True``. An engine
    with ``cacheable = False`` (replay) bypasses the cache and gets all requests in one call.
    ``namespace`` (the protocol's sha256) is part of every key, so runs under different protocols never
    share generations.
    """
    size = engine_chunk_size(engine, chunk_size)
    requests = list(requests)
    if not requests:
        return [], CacheStats(chunk_size=size or 0)
    if not getattr(engine, "cacheable", True):
        completions = _checked(engine.generate(requests, sampling), requests, engine)
        return completions, CacheStats(hits=0, misses=len(requests), engine_calls=1)

    identity = engine.identity()
    keys = [
        cache_key(identity, engine.render(r), sampling, r.max_new_tokens or sampling.max_new_tokens, namespace)
        for r in requests
    ]
    stored = cache.get_many(keys) if cache is not None else {}
    results: dict[str, Completion] = {}  # by key, for the misses generated now
    first_of_key: dict[str, Request] = {}
    for request, key in zip(requests, keys, strict=True):
        if key not in stored and key not in first_of_key:
            first_of_key[key] = request
    todo = list(first_of_key.items())
    misses = sum(key not in stored for key in keys)
    log.info("%s: %d cached, %d to generate", engine.model_id, len(requests) - misses, misses)

    calls = 0
    step = size or max(len(todo), 1)
    with ExitStack() as stack:
        connection: CacheWriter | None = None
        if cache is not None and todo:
            try:
                connection = stack.enter_context(cache.writer())
            except CacheError as exc:
                log.warning("not caching these generations: %s", exc)
        writer = _Writer(connection, engine.model_id)
        bar = stack.enter_context(
            tqdm(total=len(todo), desc=f"generate {engine.model_id}", unit="prompt", disable=None, leave=False)
        )
        for start in range(0, len(todo), step):
            chunk = _Chunk(todo[start : start + step], engine, writer)
            generated = _checked(
                engine.generate(chunk.requests, sampling, on_complete=chunk.on_complete), chunk.requests, engine
            )
            calls += 1
            results.update(chunk.finish(generated))
            bar.update(len(chunk.requests))

    completions: list[Completion] = []
    for request, key in zip(requests, keys, strict=True):
        if key in stored:
            completions.append(stored[key].to_completion(request.id, request.prompt_key()))
        else:
            done = results[key]
            completions.append(done if done.request_id == request.id else replace(done, request_id=request.id))
    stats = CacheStats(hits=len(requests) - misses, misses=misses, engine_calls=calls, chunk_size=size or 0)
    return completions, stats


def _checked(generated: Sequence[Completion], requests: Sequence[Request], engine: Engine) -> list[Completion]:
    generated = list(generated)
    if len(generated) != len(requests):
        raise EngineError(
            f"engine {engine.name} ({engine.model_id}) returned {len(generated)} completions "
            f"for {len(requests)} requests"
        )
    return generated


class _Chunk:
    """One chunk of misses on its way through ``engine.generate``: what the engine reported final
    is stored at once, the rest when the chunk returns."""

    def __init__(self, items: Sequence[tuple[str, Request]], engine: Engine, writer: _Writer) -> None:
        self._items = list(items)
        self.requests = [r for _, r in self._items]
        self._engine = engine
        self._writer = writer
        self._reported: set[int] = set()

    def on_complete(self, index: int, completion: Completion) -> None:
        """The engine's report that ``requests[index]`` is done; EngineError for one that does not fit."""
        name = f"engine {self._engine.name} ({self._engine.model_id})"
        if not 0 <= index < len(self._items) or index in self._reported:
            raise EngineError(f"{name} reported completion {index} of {len(self._items)} twice or out of range")
        key, request = self._items[index]
        if completion.request_id != request.id:
            raise EngineError(
                f"{name} reported completion {index} for request {completion.request_id!r}, not {request.id!r}"
            )
        self._reported.add(index)
        self._writer.store([(key, completion)])

    def finish(self, generated: Sequence[Completion]) -> dict[str, Completion]:
        """Store what was not reported; every completion of the chunk by key."""
        done = [(key, replace(c, cached=False)) for (key, _), c in zip(self._items, generated, strict=True)]
        self._writer.store([kc for i, kc in enumerate(done) if i not in self._reported])
        return dict(done)


class _Writer:
    """Writes finished generations over one cache connection; on a failure warns once and stops writing."""

    def __init__(self, cache: CacheWriter | None, model_id: str) -> None:
        self._cache = cache
        self._model_id = model_id

    def store(self, done: Sequence[tuple[str, Completion]]) -> None:
        if self._cache is None or not done:
            return
        now = time.time()
        try:
            self._cache.put_many(CacheEntry.from_completion(key, c, self._model_id, now) for key, c in done)
        except CacheError as exc:
            log.warning("not caching further generations: %s", exc)
            self._cache = None
