"""MeQSum: consumer health question summarization (Ben Abacha & Demner-Fushman, ACL 2019).

Original file ``MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx`` (public, CC BY 4.0): sheet "QS",
header row ``File | CHQ | Summary``, one question per row. Some rows carry empty styled cells in
unnamed columns; those columns and fully empty rows are ignored. Metrics: ROUGE-1/2/L and BERTScore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl

from clue.errors import DataFormatError
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks._budget import PromptSpec, fewshot_requests, summary_item_scores
from clue.tasks.base import PromptContext, ScoringContext, Task

NAME = "meqsum"
N_SHOTS = 3
MAX_NEW_TOKENS = 512
SHEET = "QS"
COLUMNS = ("File", "CHQ", "Summary")

SYSTEM_PROMPT = (
    "You are a medical expert who helps answer questions that patients send to a health information "
    "service. Patients often write long messages with background that is not needed to answer them. "
    "Summarize the patient's inquiry as one concise question that keeps what is needed to answer it. "
    "Output only the question."
)
USER_TEMPLATE = "Patient inquiry:\n{chq}"

HOW_TO_OBTAIN = (
    "MeQSum is public (CC BY 4.0): download MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx from "
    "https://github.com/abachaa/MeQSum and put it at "
    "<data dir>/MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx (clue's demo data ships a copy)."
)


def load(path: Path) -> list[Example]:
    """The examples of sheet "QS"; ids are the ``File`` column."""
    rows = _read_sheet(path)
    if not rows:
        raise DataFormatError(path, "row 1", "<header>", f"sheet {SHEET!r} is empty")
    header = {str(v).strip(): i for i, v in enumerate(rows[0]) if v is not None and str(v).strip()}
    for column in COLUMNS:
        if column not in header:
            raise DataFormatError(path, "row 1", column, f"missing column (found: {', '.join(header) or 'none'})")
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(rows[1:], start=2):
        if all(_blank(v) for v in row):
            continue
        location = f"row {row_number}"
        values = {c: row[header[c]] if header[c] < len(row) else None for c in COLUMNS}
        file_id = _text(values["File"], path, location, "File", allow_number=True)
        if file_id in seen:
            raise DataFormatError(path, location, "File", f"duplicate id {file_id!r} (first at row {seen[file_id]})")
        seen[file_id] = row_number
        chq = _text(values["CHQ"], path, location, "CHQ")
        summary = _text(values["Summary"], path, location, "Summary")
        examples.append(
            Example(id=file_id, task=NAME, fields={"chq": chq}, reference=summary, source_line=row_number)
        )
    return examples


def _read_sheet(path: Path) -> list[tuple[Any, ...]]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise DataFormatError(path, "file", "<workbook>", f"not a readable .xlsx workbook ({exc})") from exc
    try:
        if SHEET not in workbook.sheetnames:
            raise DataFormatError(path, "file", f"<sheet {SHEET}>", f"missing sheet (found: {', '.join(workbook.sheetnames)})")
        return [tuple(row) for row in workbook[SHEET].iter_rows(values_only=True)]
    finally:
        workbook.close()


def _blank(value: Any) -> bool:
    return value is None or isinstance(value, str) and not value.strip()


def _text(value: Any, path: Path, location: str, field: str, *, allow_number: bool = False) -> str:
    if _blank(value):
        raise DataFormatError(path, location, field, "empty cell")
    if allow_number and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        raise DataFormatError(path, location, field, f"expected text, got {type(value).__name__}")
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _user_turn(example: Example, docs: Mapping[str, str]) -> str:
    return USER_TEMPLATE.format(chq=docs["chq"])


PROMPT = PromptSpec(system=SYSTEM_PROMPT, user=_user_turn, documents=("chq",))


def requests(examples: Sequence[Example], ctx: PromptContext, n_shots: int = N_SHOTS) -> list[Request]:
    return fewshot_requests(
        NAME, examples, ctx, PROMPT, n_shots=n_shots, max_new_tokens=MAX_NEW_TOKENS, gold=lambda ex: ex.reference
    )


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """ROUGE-1/2/L and BERTScore per item (BERTScore absent when unavailable)."""
    return summary_item_scores(requests, completions, sctx, with_umls=False)


TASK = Task(
    name=NAME,
    display_name="MeQSum",
    level=1,
    group=NAME,
    data_file="MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
    how_to_obtain=HOW_TO_OBTAIN,
    credentialed=False,
    n_shots=N_SHOTS,
    max_new_tokens=MAX_NEW_TOKENS,
    metrics=("rouge1", "rouge2", "rougeL", "bertscore_precision", "bertscore_recall", "bertscore_f1"),
    level_metrics=("rougeL", "rouge1", "rouge2", "bertscore_f1"),
    load=load,
    requests=requests,
    score=score,
)
