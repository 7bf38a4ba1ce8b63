"""Tiny source files in each task's original format, written into a test's tmp_path."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl

LABELS = ("entailment", "neutral", "contradiction")


def mednli_record(i: int, label: str | None = None, **extra: Any) -> dict[str, Any]:
    s1 = f"The patient number {i} was admitted with chest pain."
    s2 = f"Patient {i} has chest pain."
    record = {
        "sentence1": s1,
        "sentence2": s2,
        "gold_label": label or LABELS[i % 3],
        "pairID": f"pair-{i}",
        "sentence1_parse": f"(ROOT (S (NP (DT The) (NN patient)) (VP (VBD was) (VBN admitted))))",
        "sentence2_parse": "(ROOT (S (NP (NN Patient)) (VP (VBZ has) (NP (NN chest) (NN pain)))))",
        "sentence1_binary_parse": "( ( The patient ) ( was admitted ) )",
        "sentence2_binary_parse": "( Patient ( has ( chest pain ) ) )",
    }
    record.update(extra)
    return record


def meqsum_row(i: int) -> tuple[str, str, str]:
    return (f"{i}-question.xml.txt", f"SUBJECT: pills {i}\nMESSAGE: Can I take pill {i} with food? thanks", f"Can pill {i} be taken with food?")


def problem_row(i: int, summary: str | None = None) -> list[str]:
    return [
        f"{1000 + i}",
        f"Patient {i} feels tired today.",
        f"HR {60 + i} BP 120/80.",
        f"Anemia number {i}, likely chronic disease.",
        summary if summary is not None else f"Anemia {i}; Fatigue;",
    ]


PROBLEM_HEADER = ["File ID", "Subjectives", "Objectives", "Assessment", "Summary"]


def letter(i: int) -> str:
    return f"Discharge letter {i}.\nDiagnosis: pneumonia number {i}.\nFollow up with your doctor."


def medisumqa_record(i: int, doc: int | None = None, **extra: Any) -> dict[str, Any]:
    record = {
        "discharge_summary": letter(i if doc is None else doc),
        "Question": f"Why was I in hospital ({i})?",
        "Answer": f"You had pneumonia number {i}.",
    }
    record.update(extra)
    return record


def medisumcode_record(i: int, codes: Sequence[Any] = ("J189", "I10"), **extra: Any) -> dict[str, Any]:
    record = {
        "hadm_id": f"{2000 + i}",
        "text": letter(i),
        "icd_codes": [c if not isinstance(c, str) else {"code": c, "description": "desc"} for c in codes],
    }
    record.update(extra)
    return record


def json_lines(records: Sequence[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def json_array(records: Sequence[Any]) -> str:
    return json.dumps(list(records), indent=2) + "\n"


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], sheet: str = "QS", extra_styled_cells: bool = False) -> Path:
    """A workbook like MeQSum's: one sheet, header row first. ``extra_styled_cells`` adds empty
    formatted cells in unnamed columns, as some rows of the original carry."""
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    if extra_styled_cells:
        for r in range(2, len(rows) + 1):
            ws.cell(row=r, column=5).font = openpyxl.styles.Font(bold=True)
            ws.cell(row=r, column=6).number_format = "0.00"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def zero_shot_protocol(folder: Path, task: str, base: str = "2024-06"):
    """A shipped protocol file with ``shots = 0`` for one task (how a zero-shot run is asked for)."""
    from clue.prompts.protocol import builtin_path, load_protocol

    text = builtin_path(base).read_text(encoding="utf-8")
    start = text.index(f"[tasks.{task}]\n")
    at = text.index("\nshots = ", start)
    end = text.index("\n", at + 1)
    path = folder / f"zero-shot-{task}.toml"
    path.write_text(text[:at] + "\nshots = 0" + text[end:], encoding="utf-8")
    protocol = load_protocol(path)
    assert protocol.task(task).shots == 0 and not protocol.builtin
    return protocol
