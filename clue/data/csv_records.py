"""CSV files with a header row, read into (location, record) pairs whose errors name file, row and
line, and column. Fields may hold newlines (quoted) and exceed csv's default 128 KiB field limit."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from clue.data.readers import read_text
from clue.errors import DataFormatError


def read_csv_records(path: Path, required: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """("row N (line L)", {column: cell}) per non-blank data row; the header is row 1.

    Every ``required`` column must be in the header and in every row; header names are stripped.
    """
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(path, "line 1", "<file>", "the file is empty")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return _records(path, csv.reader(io.StringIO(text)), required)
    finally:
        csv.field_size_limit(limit)


def _records(path: Path, reader: "csv._reader", required: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise DataFormatError(path, "row 1 (line 1)", "<header>", f"invalid CSV ({exc})") from exc
    index = {name: i for i, name in enumerate(header) if name}
    for column in required:
        if column not in index:
            raise DataFormatError(path, "row 1 (line 1)", column, f"missing column (found: {', '.join(index) or 'none'})")
    out: list[tuple[str, dict[str, str]]] = []
    row_number, line = 1, reader.line_num + 1
    while True:
        row_number += 1
        location = f"row {row_number} (line {line})"
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataFormatError(path, location, "<csv>", f"invalid CSV ({exc})") from exc
        line = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        for column in required:
            if index[column] >= len(row):
                raise DataFormatError(path, location, column, f"missing (the row has {len(row)} of {len(header)} fields)")
        out.append((location, {name: row[i] for name, i in index.items() if i < len(row)}))
    return out
