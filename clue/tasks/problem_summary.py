"""ProblemSummary: problem list summarization of progress notes (BioNLP 2023 shared task 1A,
Gao et al.). Original file ``BioNLP2023-1A-Test.csv`` (PhysioNet, credentialed): columns
``File ID, Subjectives, Objectives, Assessment, Summary``; ``Summary`` is a ";"-separated problem list.

Reference cleaning (CLUE-SPEC defect 2): split on ";", strip, drop empty parts, join with ", ".
Metrics: ROUGE-1/2/L, BERTScore, UMLS entity P/R/F1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue.data.readers import read_text
from clue.errors import DataFormatError
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks._budget import PromptSpec, fewshot_requests, summary_item_scores
from clue.tasks.base import PromptContext, ScoringContext, Task

NAME = "problemsummary"
N_SHOTS = 3
MAX_NEW_TOKENS = 512
ID_COLUMN = "File ID"
REQUIRED_COLUMNS = (ID_COLUMN, "Subjectives", "Assessment", "Summary")
OPTIONAL_COLUMNS = ("Objectives",)

SYSTEM_PROMPT = (
    "You are a physician reading a daily progress note of a hospitalized patient. The note's "
    "subjective section and its assessment are given between separator lines. List the patient's "
    "diagnoses and problems, most important first, separated by commas. Output the list only."
)
SEPARATOR = "-" * 15
USER_TEMPLATE = (
    "{sep} SUBJECTIVE {sep}\n{subjectives}\n"
    "{sep} ASSESSMENT {sep}\n{assessment}\n"
    "{sep} END OF NOTE {sep}\n"
    "List the diagnoses and problems of this patient."
)

HOW_TO_OBTAIN = (
    "ProblemSummary (BioNLP 2023 task 1A) is credentialed data on PhysioNet: sign in with a "
    "credentialed account at https://physionet.org/content/bionlp-workshop-2023-task-1a/2.0.0/, sign "
    "the data use agreement, download BioNLP2023-1A-Test.csv and put it at "
    "<data dir>/ProblemSummary/BioNLP2023-1A-Test.csv."
)


def clean_problem_list(summary: str) -> str:
    """"Lower GI bleed; Hypotension; CAD;" -> "Lower GI bleed, Hypotension, CAD"; "" -> ""."""
    return ", ".join(part.strip() for part in summary.split(";") if part.strip())


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
    seen: dict[str, str] = {}
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
        file_id = values[ID_COLUMN].strip()
        if not file_id:
            raise DataFormatError(path, location, ID_COLUMN, "empty")
        if file_id in seen:
            raise DataFormatError(path, location, ID_COLUMN, f"duplicate id {file_id!r} (first at {seen[file_id]})")
        seen[file_id] = location
        examples.append(
            Example(
                id=file_id,
                task=NAME,
                fields={
                    "subjectives": values["Subjectives"].strip(),
                    "objectives": values.get("Objectives", "").strip(),
                    "assessment": values["Assessment"].strip(),
                    "summary": values["Summary"],
                },
                reference=clean_problem_list(values["Summary"]),
                source_line=row_number,
            )
        )
    return examples


def _user_turn(example: Example, docs: Mapping[str, str]) -> str:
    return USER_TEMPLATE.format(sep=SEPARATOR, subjectives=docs["subjectives"], assessment=docs["assessment"])


PROMPT = PromptSpec(system=SYSTEM_PROMPT, user=_user_turn, documents=("subjectives", "assessment"))


def requests(examples: Sequence[Example], ctx: PromptContext, n_shots: int = N_SHOTS) -> list[Request]:
    return fewshot_requests(
        NAME, examples, ctx, PROMPT, n_shots=n_shots, max_new_tokens=MAX_NEW_TOKENS, gold=lambda ex: ex.reference
    )


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """ROUGE-1/2/L, BERTScore and UMLS entity P/R/F1 per item against the cleaned problem list."""
    return summary_item_scores(requests, completions, sctx, with_umls=True)


TASK = Task(
    name=NAME,
    display_name="ProblemSummary",
    level=1,
    group=NAME,
    data_file="ProblemSummary/BioNLP2023-1A-Test.csv",
    how_to_obtain=HOW_TO_OBTAIN,
    credentialed=True,
    n_shots=N_SHOTS,
    max_new_tokens=MAX_NEW_TOKENS,
    metrics=(
        "rouge1", "rouge2", "rougeL",
        "bertscore_precision", "bertscore_recall", "bertscore_f1",
        "umls_precision", "umls_recall", "umls_f1",
    ),
    level_metrics=("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1"),
    load=load,
    requests=requests,
    score=score,
)
