"""MeDiSumQA: patient-oriented question answering on discharge letters (Dada et al., 2025).

Original file ``MeDiSumQA.json`` (PhysioNet, credentialed; built from MIMIC-IV-Note): records with
``discharge_summary``, ``Question`` and ``Answer``, as a JSON array or as JSON lines (the reference
generator writes lines, its evaluator read arrays: CLUE-SPEC defect 8). Items that share a discharge
letter share a statistics cluster. Metrics: ROUGE-1/2/L, BERTScore, UMLS entity P/R/F1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from clue.data.readers import read_json_records, require
from clue.errors import DataFormatError
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks._budget import PromptSpec, fewshot_requests, summary_item_scores
from clue.tasks.base import PromptContext, ScoringContext, Task

NAME = "medisumqa"
N_SHOTS = 1
MAX_NEW_TOKENS = 512
ID_FIELD = "id"
HASH_CHARS = 16

SYSTEM_PROMPT = (
    "You help patients understand the letter they received when they left the hospital. You will "
    "be given a discharge letter between separator lines and a question from the patient about it. "
    "Answer the question correctly and briefly, in plain words a person without medical training "
    "understands. Explain what measurements mean rather than repeating their values. Output only "
    "the answer."
)
SEPARATOR = "-" * 15
USER_TEMPLATE = (
    "{sep} BEGIN DISCHARGE LETTER {sep}\n{discharge_summary}\n{sep} END DISCHARGE LETTER {sep}\n"
    "{question}"
)

HOW_TO_OBTAIN = (
    "MeDiSumQA is credentialed data on PhysioNet (derived from MIMIC-IV-Note): sign in with a "
    "credentialed account at https://physionet.org/content/medisumqa/1.0.0/, sign the data use "
    "agreement, download the data set and save it as <data dir>/MeDiSumQA/MeDiSumQA.json (a JSON "
    "array or JSON lines with discharge_summary, Question and Answer)."
)


def short_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def load(path: Path) -> list[Example]:
    """Examples with the record's ``id`` if it has one, else a hash of letter + question."""
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for location, record in read_json_records(path):
        summary = require(record, "discharge_summary", str, path, location)
        question = require(record, "Question", str, path, location).strip()
        answer = require(record, "Answer", str, path, location).strip()
        for field, value in (("Question", question), ("Answer", answer)):
            if not value:
                raise DataFormatError(path, location, field, "empty")
        if ID_FIELD in record:
            example_id = str(require(record, ID_FIELD, (str, int), path, location)).strip()
            if not example_id:
                raise DataFormatError(path, location, ID_FIELD, "empty")
            id_field = ID_FIELD
        else:
            example_id = short_sha256(f"{summary}\n{question}")
            id_field = "Question"
        if example_id in seen:
            raise DataFormatError(
                path, location, id_field, f"duplicate item {example_id!r} (same id as {seen[example_id]})"
            )
        seen[example_id] = location
        examples.append(
            Example(
                id=example_id,
                task=NAME,
                fields={"discharge_summary": summary, "question": question, "document_id": short_sha256(summary)},
                reference=answer,
                source_line=int(location.split()[-1]),
            )
        )
    return examples


def _user_turn(example: Example, docs: Mapping[str, str]) -> str:
    return USER_TEMPLATE.format(
        sep=SEPARATOR, discharge_summary=docs["discharge_summary"], question=example.fields["question"]
    )


PROMPT = PromptSpec(system=SYSTEM_PROMPT, user=_user_turn, documents=("discharge_summary",))


def requests(examples: Sequence[Example], ctx: PromptContext, n_shots: int = N_SHOTS) -> list[Request]:
    """Items sharing a discharge letter share a cluster (the letter's hash) for the statistics."""
    return fewshot_requests(
        NAME, examples, ctx, PROMPT, n_shots=n_shots, max_new_tokens=MAX_NEW_TOKENS,
        gold=lambda ex: ex.reference, cluster=lambda ex: str(ex.fields["document_id"]),
    )


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """ROUGE-1/2/L, BERTScore and UMLS entity P/R/F1 per item against the reference answer."""
    return summary_item_scores(requests, completions, sctx, with_umls=True)


TASK = Task(
    name=NAME,
    display_name="MeDiSumQA",
    level=2,
    group=NAME,
    data_file="MeDiSumQA/MeDiSumQA.json",
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
