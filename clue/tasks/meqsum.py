"""MeQSum: consumer health question summarization (Ben Abacha & Demner-Fushman, ACL 2019).

Original file ``MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx`` (public, CC BY 4.0): sheet "QS",
header row ``File | CHQ | Summary``, one question per row. Some rows carry empty styled cells in
unnamed columns; those columns and fully empty rows are ignored. Cell texts reach the prompt as
stored (as the reference's ``pandas.read_excel`` gave them). Prompts: the protocol's
``[tasks.meqsum]``. Metrics: ROUGE-1/2/L and BERTScore against ``Summary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


from clue.contracts import PromptContext, ScoringContext
from clue.data.records import UniqueIds
from clue.errors import DataFormatError
from clue.prompts.fewshot import fewshot_requests
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks.base import Task
from clue.tasks.scoring_common import summary_item_scores

NAME = "meqsum"
SHEET = "QS"
COLUMNS = ("File", "CHQ", "Summary")

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
    ids = UniqueIds(path)
    for row_number, row in enumerate(rows[1:], start=2):
        if all(_blank(v) for v in row):
            continue
        location = f"row {row_number}"
        values = {c: row[header[c]] if header[c] < len(row) else None for c in COLUMNS}
        file_id = ids.add(_text(values["File"], path, location, "File", allow_number=True).strip(), location, "File")
        fields = {
            "File": file_id,
            "CHQ": _text(values["CHQ"], path, location, "CHQ"),
            "Summary": _text(values["Summary"], path, location, "Summary"),
        }
        examples.append(
            Example(id=file_id, task=NAME, fields=fields, reference=fields["Summary"], source_line=row_number,
                    source=str(path), location=location)
        )
    return examples


def _read_sheet(path: Path) -> list[tuple[Any, ...]]:
    import openpyxl  # 0.2 s to import: only when MeQSum is loaded

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
    return value


def gold(truth: Any) -> str:
    """The reference summary itself."""
    if not isinstance(truth, str):
        raise ValueError(f"expected text, got {type(truth).__name__}")
    return truth


def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    return fewshot_requests(ctx.rules.task(NAME), examples, ctx, gold=lambda ex: gold(ex.fields["Summary"]))


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """ROUGE-1/2/L and BERTScore per item (BERTScore absent when unavailable)."""
    return summary_item_scores(NAME, requests, completions, sctx, with_umls=False)


TASK = Task(
    name=NAME,
    display_name="MeQSum",
    level=1,
    group=NAME,
    data_file="MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
    how_to_obtain=HOW_TO_OBTAIN,
    credentialed=False,
    metrics=("rouge1", "rouge2", "rougeL", "bertscore_precision", "bertscore_recall", "bertscore_f1"),
    level_metrics=("rougeL", "rouge1", "rouge2", "bertscore_f1"),
    load=load,
    requests=requests,
    score=score,
    gold=gold,
)
