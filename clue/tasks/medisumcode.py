"""MeDiSumCode: ICD-10-CM coding of discharge letters (CLUE, Dada et al. 2024).

Original file ``MeDiSumCode.json`` (built from MIMIC-IV with CLUE's generator, credentialed):
records ``{"hadm_id", "text", "icd_codes": [{"code", "description"}]}``, codes without dots, as a
JSON array or JSON lines (the generator writes lines: CLUE-SPEC defect 8). Metrics per item:
exact and category (first three characters) P/R/F1 and the valid-code ratio.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from clue.data.readers import read_json_records, require
from clue.errors import DataFormatError
from clue.metrics.icd10 import icd_scores_many, parse_icd_codes
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks._budget import PromptSpec, fewshot_requests, paired
from clue.tasks.base import PromptContext, ScoringContext, Task

NAME = "medisumcode"
N_SHOTS = 1
MAX_NEW_TOKENS = 512
ANSWER_PREFIX = "ICD-10 Codes: "
_CODE_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")

SYSTEM_PROMPT = (
    "You are a clinical coding assistant who reads hospital discharge letters for medical "
    "professionals. You will be given a discharge letter between separator lines. Identify all "
    "primary and secondary diagnoses of the stay and list their ICD-10-CM codes, separated by commas."
)
SEPARATOR = "-" * 15
USER_TEMPLATE = (
    "{sep} BEGIN DISCHARGE LETTER {sep}\n{text}\n{sep} END DISCHARGE LETTER {sep}\n"
    "List the ICD-10 codes of all diagnoses in this letter. Output the codes only, nothing else."
)

HOW_TO_OBTAIN = (
    "MeDiSumCode is built from credentialed MIMIC-IV data: get credentialed access to MIMIC-IV v2.2 "
    "(https://physionet.org/content/mimiciv/2.2/, hosp/diagnoses_icd.csv.gz) and MIMIC-IV-Note v2.2 "
    "(https://physionet.org/content/mimic-iv-note/2.2/, note/discharge.csv.gz), run CLUE's generator "
    "data/MeDiSumCode/generate_code_dataset.py from https://github.com/TIO-IKIM/CLUE (--max_examples "
    "500) and save its output as <data dir>/MeDiSumCode/MeDiSumCode.json."
)


def normalize_code(code: str) -> str:
    """"e11.65 " -> "E1165"."""
    return code.strip().replace(".", "").upper()


def load(path: Path) -> list[Example]:
    """Examples keyed by ``hadm_id``; gold codes normalised (no dots, upper case) and de-duplicated."""
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for location, record in read_json_records(path):
        hadm_id = str(require(record, "hadm_id", (str, int), path, location)).strip()
        if not hadm_id:
            raise DataFormatError(path, location, "hadm_id", "empty")
        if hadm_id in seen:
            raise DataFormatError(path, location, "hadm_id", f"duplicate id {hadm_id!r} (first at {seen[hadm_id]})")
        seen[hadm_id] = location
        text = require(record, "text", str, path, location)
        entries = require(record, "icd_codes", list, path, location)
        codes: list[str] = []
        for j, entry in enumerate(entries):
            field = f"icd_codes[{j}]"
            raw = entry.get("code") if isinstance(entry, Mapping) else entry
            if not isinstance(raw, str):
                problem = "missing" if isinstance(entry, Mapping) and "code" not in entry else (
                    f"expected a code string, got {type(raw).__name__}"
                )
                raise DataFormatError(path, location, f"{field}.code", problem)
            code = normalize_code(raw)
            if not _CODE_SHAPE.fullmatch(code):
                raise DataFormatError(path, location, f"{field}.code", f"{raw!r} is not an ICD-10-CM code")
            if code not in codes:
                codes.append(code)
        examples.append(
            Example(
                id=hadm_id,
                task=NAME,
                fields={"text": text, "codes": tuple(codes)},
                reference=ANSWER_PREFIX + ", ".join(codes),
                source_line=int(location.split()[-1]),
            )
        )
    return examples


def _user_turn(example: Example, docs: Mapping[str, str]) -> str:
    return USER_TEMPLATE.format(sep=SEPARATOR, text=docs["text"])


PROMPT = PromptSpec(system=SYSTEM_PROMPT, user=_user_turn, documents=("text",))


def requests(examples: Sequence[Example], ctx: PromptContext, n_shots: int = N_SHOTS) -> list[Request]:
    """The shot's answer is "ICD-10 Codes: " + its codes; gold is the tuple of codes."""
    return fewshot_requests(
        NAME, examples, ctx, PROMPT, n_shots=n_shots, max_new_tokens=MAX_NEW_TOKENS,
        gold=lambda ex: tuple(ex.fields["codes"]),
    )


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """Codes parsed from the output (dots stripped, de-duplicated) against the gold codes."""
    pairs = paired(requests, completions)
    predicted = [parse_icd_codes(c.text) for _, c in pairs]
    scores = icd_scores_many(predicted, [tuple(r.gold) for r, _ in pairs], processes=sctx.processes)
    return [
        ItemScore(id=r.id, cluster=r.cluster, scores=s, output=c.text, extra={"predicted_codes": list(codes)})
        for (r, c), codes, s in zip(pairs, predicted, scores, strict=True)
    ]


TASK = Task(
    name=NAME,
    display_name="MeDiSumCode",
    level=2,
    group=NAME,
    data_file="MeDiSumCode/MeDiSumCode.json",
    how_to_obtain=HOW_TO_OBTAIN,
    credentialed=True,
    n_shots=N_SHOTS,
    max_new_tokens=MAX_NEW_TOKENS,
    metrics=(
        "icd_exact_precision", "icd_exact_recall", "icd_exact_f1",
        "icd_approx_precision", "icd_approx_recall", "icd_approx_f1",
        "icd_valid_ratio",
    ),
    level_metrics=("icd_exact_f1", "icd_approx_f1", "icd_valid_ratio"),
    load=load,
    requests=requests,
    score=score,
)
