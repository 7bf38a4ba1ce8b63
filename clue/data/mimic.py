"""Reading MIMIC-IV tables as a stream: plain or gzip-compressed CSV, one row at a time, with progress.

The CLUE generator read ``discharge.csv`` with ``open(path)`` and ``csv.reader``; the same reading is
done here (UTF-8, universal newlines, the excel dialect), on the ``.csv`` or the ``.csv.gz`` as
PhysioNet ships it. A row never outgrows memory: only the current row is held.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from clue.errors import DataFormatError, DataMissingError

NOTE_COLUMNS = ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text")
DIAGNOSES_COLUMNS = ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version")
_PROGRESS_EVERY = 2048  # rows between progress-bar updates


def find_table(location: Path, stem: str, how_to_obtain: str) -> Path:
    """``location`` itself when it is a file, else ``<location>/<stem>.csv`` or ``<stem>.csv.gz``."""
    location = Path(location)
    if location.is_file():
        return location
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (location / name).is_file():
            return location / name
    raise DataMissingError(stem, location / f"{stem}.csv.gz", how_to_obtain)


@contextlib.contextmanager
def _field_limit() -> Iterator[None]:
    """csv's field-size limit raised for the duration (a discharge note can exceed its 128 KiB default)."""
    old = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


@dataclass(frozen=True)
class Row:
    index: int  # 0-based data row (the header is not counted)
    line: int  # file line where the row ends (csv's line_num; rows may span lines)
    cells: list[str]


class Table:
    """A CSV table read once, front to back: ``header`` and ``rows()``."""

    def __init__(
        self, path: Path, columns: Sequence[str], *, by_position: bool, progress: bool = True, desc: str = ""
    ) -> None:
        """``columns`` the table must have; ``by_position``: as its first columns, in this order (the
        generator read the notes by position), else anywhere (read by name: see ``column``)."""
        self.path = Path(path)
        self._expected = tuple(columns)
        self._by_position = by_position
        self._progress = progress
        self._desc = desc or self.path.name
        self.header: list[str] = []
        self._index: dict[str, int] = {}

    def column(self, name: str) -> int:
        """The index of column ``name`` (after ``rows()`` has read the header)."""
        return self._index[name]

    def _check_columns(self) -> None:
        expected = self._expected
        exact_prefix = self._by_position
        index = {name.strip(): i for i, name in enumerate(self.header)}
        if exact_prefix:
            found = [h.strip() for h in self.header[: len(expected)]]
            if found != list(expected):
                raise DataFormatError(
                    self.path, "row 1 (line 1)", "<header>",
                    f"expected the columns {', '.join(expected)}; found {', '.join(h.strip() for h in self.header) or 'none'}",
                )
        else:
            for name in expected:
                if name not in index:
                    raise DataFormatError(
                        self.path, "row 1 (line 1)", name,
                        f"missing column (found: {', '.join(h.strip() for h in self.header) or 'none'})",
                    )
        self._index = index

    def rows(self) -> Iterator[Row]:
        """The data rows after the header (read into ``header`` first). DataFormatError names the line."""
        raw = open(self.path, "rb")  # noqa: SIM115 - closed below, after the wrappers
        try:
            size = self.path.stat().st_size
            binary = gzip.GzipFile(fileobj=raw, mode="rb") if _is_gzip(self.path) else raw
            text = io.TextIOWrapper(binary, encoding="utf-8", newline=None)
            with _field_limit(), tqdm(
                total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=self._desc,
                disable=None if self._progress else True, leave=False,
            ) as bar:
                reader = csv.reader(text)
                try:
                    self.header = next(reader)
                except StopIteration:
                    raise DataFormatError(self.path, "line 1", "<file>", "the file is empty") from None
                self._check_columns()
                index = 0
                done = 0
                while True:
                    try:
                        cells = next(reader)
                    except StopIteration:
                        break
                    except (csv.Error, UnicodeDecodeError, EOFError, OSError) as exc:
                        raise DataFormatError(
                            self.path, f"row {index + 2} (line {reader.line_num + 1})", "<csv>",
                            f"cannot be read ({type(exc).__name__}: {exc}); is the file complete?",
                        ) from None
                    yield Row(index, reader.line_num, cells)
                    index += 1
                    if index % _PROGRESS_EVERY == 0:
                        position = raw.tell()
                        bar.update(position - done)
                        done = position
                bar.update(size - done)
        finally:
            raw.close()


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"
