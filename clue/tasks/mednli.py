"""MedNLI: natural language inference on clinical sentences (Romanov & Shivade, EMNLP 2018).

Original file ``mli_test_v1.jsonl`` (PhysioNet, credentialed): one JSON object per line with
``pairID``, ``gold_label`` (lowercase), ``sentence1``, ``sentence2`` and four parse-tree strings,
which the prompt does not use. Prompts: the protocol's ``[tasks.mednli]``. Metric: accuracy by the
reference rule (the gold label occurs exactly once in the upper-cased output) and a strict variant
(the reference rule holds and exactly one of the three labels is named).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.data.readers import read_json_records, require
from clue.data.records import UniqueIds, record_number
from clue.errors import DataFormatError
from clue.metrics.label_accuracy import label_accuracy
from clue.prompts.fewshot import fewshot_requests
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks.base import Task
from clue.tasks.scoring_common import paired

NAME = "mednli"
LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")

HOW_TO_OBTAIN = (
    "MedNLI is credentialed data on PhysioNet: sign in with a credentialed account at "
    "https://physionet.org/content/mednli/1.0.0/, sign the data use agreement, download "
    "mli_test_v1.jsonl and put it at <data dir>/MedNLI/mli_test_v1.jsonl."
)


def gold(truth: Any) -> str:
    """"entailment" -> "ENTAILMENT" (one of the three labels, any case)."""
    if not isinstance(truth, str):
        raise ValueError(f"expected a label, got {type(truth).__name__}")
    label = truth.strip().upper()
    if label not in LABELS:
        raise ValueError(f"expected one of {', '.join(l.lower() for l in LABELS)}, got {truth!r}")
    return label


def load(path: Path) -> list[Example]:
    """The examples of ``mli_test_v1.jsonl`` (JSON lines; a JSON array is accepted too)."""
    examples: list[Example] = []
    ids = UniqueIds(path)
    for location, record in read_json_records(path):
        pair_id = ids.add(str(require(record, "pairID", (str, int), path, location)).strip(), location, "pairID")
        label = require(record, "gold_label", str, path, location)
        try:
            gold(label)
        except ValueError as exc:
            raise DataFormatError(path, location, "gold_label", str(exc)) from None
        fields = {
            "sentence1": require(record, "sentence1", str, path, location),
            "sentence2": require(record, "sentence2", str, path, location),
            "gold_label": label.strip(),
        }
        examples.append(
            Example(id=pair_id, task=NAME, fields=fields, reference=label.strip(), source_line=record_number(location),
                    source=str(path), location=location)
        )
    return examples


def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    """Few-shot prompts by the protocol (a protocol with ``shots = 0`` gives zero-shot prompts: the
    reference crashed there, CLUE-SPEC defect 8)."""
    return fewshot_requests(ctx.rules.task(NAME), examples, ctx, gold=lambda ex: gold(ex.fields["gold_label"]))


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """Per item: ``accuracy`` (reference rule) and ``accuracy_strict``, each 0 or 1."""
    items: list[ItemScore] = []
    for request, completion in paired(requests, completions):
        reference_rule, strict = label_accuracy(completion.text, str(request.gold))
        items.append(
            ItemScore(
                id=request.id,
                cluster=request.cluster,
                scores={"accuracy": reference_rule, "accuracy_strict": strict},
                output=completion.text,
            )
        )
    return items


TASK = Task(
    name=NAME,
    display_name="MedNLI",
    level=1,
    group=NAME,
    data_file="MedNLI/mli_test_v1.jsonl",
    how_to_obtain=HOW_TO_OBTAIN,
    credentialed=True,
    metrics=("accuracy", "accuracy_strict"),
    level_metrics=("accuracy",),
    load=load,
    requests=requests,
    score=score,
    gold=gold,
)
