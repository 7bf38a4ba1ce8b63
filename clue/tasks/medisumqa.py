"""MeDiSumQA: patient-oriented question answering on discharge letters (Dada et al., 2025).

Original file ``MeDiSumQA.json`` (PhysioNet, credentialed; built from MIMIC-IV-Note): records with
``Question``, ``Answer`` and the letter: ``without_discharge_summary`` (the note less its discharge
instructions, which the 2024-06 protocol reads) and/or ``discharge_summary`` (the 2025-01 protocol),
as a JSON array or as JSON lines (the reference generator writes lines, its evaluator read arrays:
CLUE-SPEC defect 8). A file without ``without_discharge_summary`` gets it derived from
``discharge_summary`` by the reference generator's rule (``without_instructions``), and the report
counts the records derived so. Items that share a letter share a statistics cluster. Metrics:
ROUGE-1/2/L, BERTScore, UMLS entity P/R/F1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.data.readers import read_json_records, require
from clue.data.records import UniqueIds, record_number
from clue.errors import DataFormatError
from clue.prompts.fewshot import fewshot_requests
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks.base import Task
from clue.tasks.scoring_common import summary_item_scores

NAME = "medisumqa"
ID_FIELD = "id"
LETTER_FIELDS = ("without_discharge_summary", "discharge_summary")
HASH_CHARS = 16
_SECTION_BREAK = re.compile(r"\n\s*\n\s*\n")
_INSTRUCTIONS = "discharge instructions"

HOW_TO_OBTAIN = (
    "MeDiSumQA is credentialed data on PhysioNet (derived from MIMIC-IV-Note): sign in with a "
    "credentialed account at https://physionet.org/content/medisumqa/1.0.0/, sign the data use "
    "agreement, download the data set and save it as <data dir>/MeDiSumQA/MeDiSumQA.json (a JSON "
    "array or JSON lines with Question, Answer and discharge_summary or without_discharge_summary)."
)


def short_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def without_instructions(note: str) -> str:
    """The note without its discharge-instructions sections (the source of the QA pairs), as the
    reference generator's ``find_instructions`` cut it: sections split at two or more blank lines,
    stripped, those starting with "discharge instructions" (any case) dropped, joined by a blank line."""
    parts = [part.strip() for part in _SECTION_BREAK.split(note)]
    return "\n\n".join(part for part in parts if not part.lower().startswith(_INSTRUCTIONS))


def gold(truth: Any) -> str:
    """The reference answer itself."""
    if not isinstance(truth, str):
        raise ValueError(f"expected text, got {type(truth).__name__}")
    return truth


def load(path: Path) -> list[Example]:
    """Examples with the record's ``id`` if it has one, else a hash of letter + question."""
    examples: list[Example] = []
    ids = UniqueIds(path, "item")
    for location, record in read_json_records(path):
        question = require(record, "Question", str, path, location)
        answer = require(record, "Answer", str, path, location)
        for field, value in (("Question", question), ("Answer", answer)):
            if not value.strip():
                raise DataFormatError(path, location, field, "empty")
        letters = {f: require(record, f, str, path, location) for f in LETTER_FIELDS if f in record}
        if not letters:
            raise DataFormatError(path, location, LETTER_FIELDS[1], f"missing (neither {' nor '.join(LETTER_FIELDS)})")
        notes: tuple[str, ...] = ()
        if "without_discharge_summary" not in letters:
            letters["without_discharge_summary"] = without_instructions(letters["discharge_summary"])
            notes = ("derived:without_discharge_summary",)
        letter = letters.get("discharge_summary", letters["without_discharge_summary"])
        if ID_FIELD in record:
            example_id = ids.add(str(require(record, ID_FIELD, (str, int), path, location)).strip(), location, ID_FIELD)
        else:
            example_id = ids.add(short_sha256(f"{letter}\n{question.strip()}"), location, "Question")
        examples.append(
            Example(
                id=example_id,
                task=NAME,
                fields={**letters, "Question": question, "Answer": answer, "document_id": short_sha256(letter)},
                reference=answer,
                source_line=record_number(location),
                source=str(path),
                location=location,
                notes=notes,
            )
        )
    return examples


def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    """Items sharing a discharge letter share a cluster (the letter's hash) for the statistics."""
    return fewshot_requests(
        ctx.rules.task(NAME), examples, ctx,
        gold=lambda ex: gold(ex.fields["Answer"]), cluster=lambda ex: str(ex.fields["document_id"]),
    )


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """ROUGE-1/2/L, BERTScore and UMLS entity P/R/F1 per item against the reference answer."""
    return summary_item_scores(NAME, requests, completions, sctx, with_umls=True)


TASK = Task(
    name=NAME,
    display_name="MeDiSumQA",
    level=2,
    group=NAME,
    data_file="MeDiSumQA/MeDiSumQA.json",
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
