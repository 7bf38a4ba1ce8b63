"""Reading the original file formats with errors that name file, line/row and field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from clue.errors import DataFormatError, DataReadError

_BOM = "\ufeff"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: Path) -> str:
    """UTF-8 text with a leading BOM removed and CRLF/CR normalised to LF."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {exc.start}", "<file>", "not valid UTF-8") from exc
    except IsADirectoryError as exc:
        raise DataReadError(path, "it is a folder, not a file") from exc
    except OSError as exc:
        raise DataReadError(path, f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    if text.startswith(_BOM):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed value) for each non-blank line of a JSON-lines file."""
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        yield number, _loads(line, path, f"line {number}", line_offset=number - 1)


def read_json_records(path: Path) -> list[tuple[str, Any]]:
    """Records of a file that holds a JSON array, or JSON lines. Returns (location, record) pairs.

    The location is "record N" (1-based) for an array and "line N" for JSON lines.
    """
    text = read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataFormatError(path, "line 1", "<file>", "the file is empty")
    if stripped.startswith("["):
        data = _loads(text, path, "line 1")
        return [(f"record {i}", rec) for i, rec in enumerate(data, start=1)]
    return [(f"line {n}", rec) for n, rec in iter_json_lines(path)]


def read_json(path: Path) -> Any:
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(path, "line 1", "<file>", "the file is empty")
    return _loads(text, path, "line 1")


def _loads(text: str, path: Path, location: str, line_offset: int = 0) -> Any:
    """``json.loads`` whose failures (bad syntax, nesting deeper than the parser can follow) name the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno + line_offset}"
        raise DataFormatError(path, where, "<json>", f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError as exc:
        raise DataFormatError(path, location, "<json>", "JSON nested too deeply to be a data record") from exc


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def read_json_unique(path: Path) -> Any:
    """Like ``read_json``, but a key that appears twice in one JSON object is a DataFormatError
    (``json.loads`` would keep the last silently)."""
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(path, "line 1", "<file>", "the file is empty")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, f"line {exc.lineno}", "<json>", f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
    except _DuplicateKey as exc:
        raise DataFormatError(path, "<json>", exc.key, "duplicate key: it appears twice in one JSON object") from exc


def require(record: Any, field: str, kind: type | tuple[type, ...], path: Path, location: str) -> Any:
    """``record[field]``, checked to exist and to be of ``kind``; DataFormatError otherwise."""
    if not isinstance(record, Mapping):
        raise DataFormatError(path, location, "<record>", f"expected a JSON object, got {type(record).__name__}")
    if field not in record:
        raise DataFormatError(path, location, field, "missing")
    value = record[field]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        names = "/".join(k.__name__ for k in _as_tuple(kind))
        raise DataFormatError(path, location, field, f"expected {names}, got {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
