"""The score cache: per-item scores of outputs already scored, so a fully cached re-run loads neither
a model nor a scorer's encoder (BERTScore). sqlite in WAL mode, beside the generation cache.

Key = sha256 of the task, clue's scoring version, the scorers' settings, the request's gold answer
and the output text.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path

from clue.cache.store import CacheError
from clue.records import Request

SCORING_VERSION = "2"  # bump when a metric's computation changes
_QUERY_CHUNK = 500


def score_key(task: str, scorers: str, request: Request, output: str) -> str:
    gold = list(request.gold) if isinstance(request.gold, tuple) else request.gold
    payload = json.dumps(
        [task, SCORING_VERSION, scorers, gold, request.reference, output], ensure_ascii=False, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ScoreCache:
    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, scores TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise CacheError(self.path, f"not a usable score cache ({exc})") from exc

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout)

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        unique = list(dict.fromkeys(keys))
        with closing(self._connect()) as db:
            for i in range(0, len(unique), _QUERY_CHUNK):
                chunk = unique[i : i + _QUERY_CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, scores in db.execute(f"SELECT key, scores FROM scores WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(scores)
        return found

    def put_many(self, items: Iterable[tuple[str, Mapping[str, float]]]) -> None:
        rows = [(key, json.dumps(dict(scores))) for key, scores in items]
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO scores (key, scores) VALUES (?, ?)", rows)
