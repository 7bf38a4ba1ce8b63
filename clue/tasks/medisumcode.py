"""MeDiSumCode: ICD-10-CM coding of discharge letters (CLUE, Dada et al. 2024).

Original file ``MeDiSumCode.json`` (built from MIMIC-IV with CLUE's generator, credentialed):
records ``{"hadm_id", "text", "icd_codes": [{"code", "description"}]}``, codes without dots, as a
JSON array or JSON lines (the generator writes lines: CLUE-SPEC defect 8). The prompt's ``{codes}``
is ``", ".join`` of the codes as the file holds them (CLUE-PROTOCOLS §2.5). Prompts: the protocol's
``[tasks.medisumcode]``. Metrics per item (``clue.metrics.icd10``, the reference's rules): exact and
category P/R/F1 and the valid-code ratio. Records with an empty code list are counted in the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.data.readers import read_json_records, require
from clue.data.records import UniqueIds, record_number
from clue.errors import DataFormatError
from clue.metrics.icd10 import gold_codes, icd_scores_many, parse_icd_codes
from clue.prompts.fewshot import fewshot_requests
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks.base import Task
from clue.tasks.scoring_common import paired

NAME = "medisumcode"
_CODE_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z]\.?[0-9A-Z]{0,4}")
_ANSWER_LABEL = re.compile(r"^\s*ICD-10 Codes:\s*")

HOW_TO_OBTAIN = (
    "MeDiSumCode is built from credentialed MIMIC-IV data: get credentialed access to MIMIC-IV v2.2 "
    "(https://physionet.org/content/mimiciv/2.2/, hosp/diagnoses_icd.csv.gz) and MIMIC-IV-Note v2.2 "
    "(https://physionet.org/content/mimic-iv-note/2.2/, note/discharge.csv.gz), run CLUE's generator "
    "data/MeDiSumCode/generate_code_dataset.py from https://github.com/TIO-IKIM/CLUE (--max_examples "
    "500) and save its output as <data dir>/MeDiSumCode/MeDiSumCode.json."
)


def gold(truth: Any) -> str:
    """The gold code string ("I10, E119"): from the record's joined codes, a list of codes, or a
    reference predictions file's ground truth (an "ICD-10 Codes: " label is dropped)."""
    if isinstance(truth, list | tuple):
        if not all(isinstance(c, str) for c in truth):
            raise ValueError("the code list holds a non-string")
        return ", ".join(truth)
    if not isinstance(truth, str):
        raise ValueError(f"expected a code string or list, got {type(truth).__name__}")
    return _ANSWER_LABEL.sub("", truth)


def load(path: Path) -> list[Example]:
    """Examples keyed by ``hadm_id``; codes checked for their shape and kept as the file holds them."""
    examples: list[Example] = []
    ids = UniqueIds(path)
    for location, record in read_json_records(path):
        hadm_id = ids.add(str(require(record, "hadm_id", (str, int), path, location)).strip(), location, "hadm_id")
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
            if not _CODE_SHAPE.fullmatch(raw):
                raise DataFormatError(path, location, f"{field}.code", f"{raw!r} is not an ICD-10-CM code")
            codes.append(raw)
        joined = ", ".join(codes)
        examples.append(
            Example(
                id=hadm_id,
                task=NAME,
                fields={"text": text, "codes": joined, "hadm_id": hadm_id},
                reference=joined,
                source_line=record_number(location),
                source=str(path),
                location=location,
                notes=() if codes else ("empty_gold",),
            )
        )
    return examples


def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    """The gold is the code string; the shot's answer follows the protocol's assistant template."""
    return fewshot_requests(ctx.rules.task(NAME), examples, ctx, gold=lambda ex: gold(ex.fields["codes"]))


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """Codes parsed from the output by the protocol's pattern against the gold list."""
    rules = sctx.rules
    pairs = paired(requests, completions)
    predicted = [parse_icd_codes(c.text, rules.icd_pattern) for _, c in pairs]
    golds = [gold_codes(str(r.gold)) for r, _ in pairs]
    scores = icd_scores_many(predicted, golds, processes=sctx.processes, code_list=rules.icd_code_list)
    return [
        ItemScore(id=r.id, cluster=r.cluster, scores=s, output=c.text, extra={"predicted_codes": codes})
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
    metrics=(
        "icd_exact_precision", "icd_exact_recall", "icd_exact_f1",
        "icd_approx_precision", "icd_approx_recall", "icd_approx_f1",
        "icd_valid_ratio",
    ),
    level_metrics=("icd_exact_f1", "icd_approx_f1", "icd_valid_ratio"),
    load=load,
    requests=requests,
    score=score,
    gold=gold,
)
