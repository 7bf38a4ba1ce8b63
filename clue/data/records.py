"""Loader helpers every task shares: record locations and unique ids."""

from __future__ import annotations

from pathlib import Path

from clue.errors import DataFormatError


def record_number(location: str) -> int:
    """1-based number of "line 3" / "record 3" / "row 3 (line 5)"."""
    for word in location.replace("(", " ").split():
        if word.isdigit():
            return int(word)
    return 0


class UniqueIds:
    """Remembers each id's first location; a repeat is a DataFormatError naming both places."""

    def __init__(self, path: Path, what: str = "id") -> None:
        self._path = Path(path)
        self._what = what
        self._seen: dict[str, str] = {}

    def add(self, item_id: str, location: str, field: str) -> str:
        if not item_id:
            raise DataFormatError(self._path, location, field, "empty")
        if item_id in self._seen:
            raise DataFormatError(
                self._path, location, field, f"duplicate {self._what} {item_id!r} (first at {self._seen[item_id]})"
            )
        self._seen[item_id] = location
        return item_id
