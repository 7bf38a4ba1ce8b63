"""ProblemSummary: problem list summarization of progress notes (BioNLP 2023 shared task 1A,
Gao et al.). Original file ``BioNLP2023-1A-Test.csv`` (PhysioNet, credentialed): columns
``File ID, Subjectives, Objectives, Assessment, Summary``; ``Summary`` is a ";"-separated problem list.

Gold cleaning, clue's fix of CLUE-SPEC defect 2 (named in the protocols' deviations): split on ";",
strip, drop empty parts, join with ", " (the reference left "A,  B, "). The note's fields reach the
prompt as the file holds them. Prompts: the protocol's ``[tasks.problemsummary]``.
Metrics: ROUGE-1/2/L, BERTScore, UMLS entity P/R/F1 (lower-casing as the protocol says).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.data.readers import read_text
from clue.data.records import UniqueIds
from clue.errors import DataFormatError
from clue.prompts.fewshot import fewshot_requests
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks.base import Task
from clue.tasks.scoring_common import summary_item_scores

NAME = "problemsummary"
ID_COLUMN = "File ID"
REQUIRED_COLUMNS = (ID_COLUMN, "Subjectives", "Assessment", "Summary")
OPTIONAL_COLUMNS = ("Objectives",)
_SPACES = re.compile(r"\s+")

HOW_TO_OBTAIN = (
    "ProblemSummary (BioNLP 2023 task 1A) is credentialed data on PhysioNet: sign in with a "
    "credentialed account at https://physionet.org/content/bionlp-workshop-2023-task-1a/2.0.0/, sign "
    "the data use agreement, download BioNLP2023-1A-Test.csv and put it at "
    "<data dir>/ProblemSummary/BioNLP2023-1A-Test.csv."
)


def clean_problem_list(summary: str) -> str:
    """"Lower GI bleed; Hypotension; CAD;" -> "Lower GI bleed, Hypotension, CAD"; "" -> ""."""
    return ", ".join(part.strip() for part in summary.split(";") if part.strip())


def gold(truth: Any) -> str:
    """The cleaned problem list, from the file's ";"-list or from a reference predictions file, whose
    ground truth was written after the reference's cleaning ("A; B;" became "A,  B, "): such a text
    (no ";" left) also loses its trailing comma and repeated spaces, so both give "A, B"."""
    if not isinstance(truth, str):
        raise ValueError(f"expected text, got {type(truth).__name__}")
    cleaned = clean_problem_list(truth)
    if ";" not in truth:
        cleaned = _SPACES.sub(" ", cleaned).strip().rstrip(",").strip()
    return cleaned


def load(path: Path) -> list[Example]:
    """The notes of the CSV; ids are the ``File ID`` column. Row numbers count the header as row 1."""
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(path, "line 1", "<file>", "the file is empty")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # notes may exceed csv's default 128 KiB field limit
    try:
        return _parse(path, csv.reader(io.StringIO(text)))
    finally:
        csv.field_size_limit(limit)


def _parse(path: Path, reader: Any) -> list[Example]:
    """Rows of a ``csv.reader`` (its ``line_num`` gives the file line of each row)."""
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise DataFormatError(path, "row 1 (line 1)", "<header>", f"invalid CSV ({exc})") from exc
    index = {name: i for i, name in enumerate(header) if name}
    for column in REQUIRED_COLUMNS:
        if column not in index:
            raise DataFormatError(path, "row 1 (line 1)", column, f"missing column (found: {', '.join(index) or 'none'})")
    examples: list[Example] = []
    ids = UniqueIds(path)
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
        values: dict[str, str] = {}
        for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            if column not in index:
                continue
            if index[column] >= len(row):
                raise DataFormatError(path, location, column, f"missing (the row has {len(row)} of {len(header)} fields)")
            values[column] = row[index[column]]
        file_id = ids.add(values[ID_COLUMN].strip(), location, ID_COLUMN)
        summary = clean_problem_list(values["Summary"])
        fields = {
            ID_COLUMN: file_id,
            "Subjectives": values["Subjectives"],
            "Objectives": values.get("Objectives", ""),
            "Assessment": values["Assessment"],
            "Summary": summary,  # cleaned: the shots' answers and the gold
        }
        examples.append(
            Example(id=file_id, task=NAME, fields=fields, reference=summary, source_line=row_number,
                    source=str(path), location=location, notes=() if summary else ("empty_gold",))
        )
    return examples


def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    return fewshot_requests(ctx.rules.task(NAME), examples, ctx, gold=lambda ex: gold(ex.fields["Summary"]))


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """ROUGE-1/2/L, BERTScore and UMLS entity P/R/F1 per item against the cleaned problem list."""
    return summary_item_scores(NAME, requests, completions, sctx, with_umls=True)


TASK = Task(
    name=NAME,
    display_name="ProblemSummary",
    level=1,
    group=NAME,
    data_file="ProblemSummary/BioNLP2023-1A-Test.csv",
    how_to_obtain=HOW_TO_OBTAIN,
    credentialed=True,
    metrics=(
        "rouge1", "rouge2", "rougeL",
        "bertscore_precision", "bertscore_recall", "bertscore_f1",
        "umls_precision", "umls_recall", "umls_f1",
    ),
    level_metrics=("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1"),
    load=load,
    requests=requests,
    score=score,
    gold=gold,
)
