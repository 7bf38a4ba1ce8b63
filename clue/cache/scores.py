"""The score cache: per-item scores of outputs already scored, so a fully cached re-run loads neither
a model nor a scorer's encoder (BERTScore). sqlite in WAL mode, beside the generation cache.

Key = sha256 of the task, clue's scoring version, the scorers' settings, the request's gold answer
and the output text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path

from clue.cache.store import CacheError, CacheNotWritable, read_only_connection, writable
from clue.records import Request

log = logging.getLogger(__name__)

SCORING_VERSION = "2"  # bump when a metric's computation changes
_QUERY_CHUNK = 500


def score_key(task: str, scorers: str, request: Request, output: str) -> str:
    gold = list(request.gold) if isinstance(request.gold, tuple) else request.gold
    payload = json.dumps(
        [task, SCORING_VERSION, scorers, gold, request.reference, output], ensure_ascii=False, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ScoreCache:
    """Item scores by ``score_key``. Like the generation cache, a file or folder clue may not write is
    opened read-only (``read_only``): it serves hits and ``put_many`` stores nothing."""

    def __init__(self, path: Path, timeout: float = 60.0, read_only: bool | None = None) -> None:
        self.path = Path(path)
        self.timeout = timeout
        if self.path.is_dir():
            raise CacheError(self.path, "is a folder, not a cache file")
        self.read_only = not writable(self.path) if read_only is None else read_only
        if self.read_only and not self.path.is_file():
            raise CacheNotWritable(self.path, "there is no score cache file and its folder is not writable")
        try:
            if self.read_only:
                log.info("score cache %s is not writable: reading it, storing no new scores", self.path)
                with closing(self._connect()) as db:
                    db.execute("SELECT COUNT(*) FROM scores").fetchone()
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CacheNotWritable(self.path, f"cannot create its folder ({exc})") from exc
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, scores TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise CacheError(self.path, f"not a usable score cache ({exc})") from exc

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return read_only_connection(self.path, self.timeout)
        return sqlite3.connect(self.path, timeout=self.timeout)

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        unique = list(dict.fromkeys(keys))
        try:
            with closing(self._connect()) as db:
                for i in range(0, len(unique), _QUERY_CHUNK):
                    chunk = unique[i : i + _QUERY_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for key, scores in db.execute(f"SELECT key, scores FROM scores WHERE key IN ({marks})", chunk):
                        found[key] = json.loads(scores)
        except sqlite3.DatabaseError as exc:
            raise CacheError(self.path, f"not a usable score cache ({exc})") from exc
        return found

    def put_many(self, items: Iterable[tuple[str, Mapping[str, float]]]) -> None:
        if self.read_only:
            return
        rows = [(key, json.dumps(dict(scores))) for key, scores in items]
        try:
            with closing(self._connect()) as db, db:
                db.executemany("INSERT OR REPLACE INTO scores (key, scores) VALUES (?, ?)", rows)
        except sqlite3.OperationalError as exc:  # read-only file system, a lock held too long: scores still count
            log.warning("score cache %s: storing no further scores (%s)", self.path, exc)
            self.read_only = True
        except sqlite3.DatabaseError as exc:
            raise CacheError(self.path, f"not a usable score cache ({exc})") from exc
