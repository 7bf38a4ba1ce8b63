"""MedNLI: natural language inference on clinical sentences (Romanov & Shivade, EMNLP 2018).

Original file ``mli_test_v1.jsonl`` (PhysioNet, credentialed): one JSON object per line with
``pairID``, ``gold_label`` (lowercase), ``sentence1``, ``sentence2`` and four parse-tree strings,
which the prompt does not use. Metric: accuracy by the reference rule (the gold label occurs exactly
once in the upper-cased output) and a strict variant (exactly one of the three labels occurs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from clue.data.readers import read_json_records, require
from clue.errors import DataFormatError
from clue.metrics.label_accuracy import label_accuracy
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks._budget import PromptSpec, fewshot_requests, paired
from clue.tasks.base import PromptContext, ScoringContext, Task

NAME = "mednli"
N_SHOTS = 3
MAX_NEW_TOKENS = 20
LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")

SYSTEM_PROMPT = (
    "You are a clinician reading statements from patient records. You will be given two sentences, "
    "SENTENCE_1 and SENTENCE_2. Decide how SENTENCE_2 relates to SENTENCE_1 and answer with one word: "
    "ENTAILMENT if SENTENCE_2 must be true when SENTENCE_1 is true, CONTRADICTION if SENTENCE_2 cannot "
    "be true when SENTENCE_1 is true, NEUTRAL if neither holds. Answer with ENTAILMENT, NEUTRAL or "
    "CONTRADICTION only."
)
USER_TEMPLATE = "SENTENCE_1: {sentence1}\nSENTENCE_2: {sentence2}"

HOW_TO_OBTAIN = (
    "MedNLI is credentialed data on PhysioNet: sign in with a credentialed account at "
    "https://physionet.org/content/mednli/1.0.0/, sign the data use agreement, download "
    "mli_test_v1.jsonl and put it at <data dir>/MedNLI/mli_test_v1.jsonl."
)


def load(path: Path) -> list[Example]:
    """The examples of ``mli_test_v1.jsonl`` (JSON lines; a JSON array is accepted too)."""
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for location, record in read_json_records(path):
        pair_id = require(record, "pairID", (str, int), path, location)
        pair_id = str(pair_id).strip()
        if not pair_id:
            raise DataFormatError(path, location, "pairID", "empty")
        if pair_id in seen:
            raise DataFormatError(path, location, "pairID", f"duplicate id {pair_id!r} (first at {seen[pair_id]})")
        seen[pair_id] = location
        label = require(record, "gold_label", str, path, location).strip().upper()
        if label not in LABELS:
            raise DataFormatError(
                path, location, "gold_label", f"expected one of {', '.join(l.lower() for l in LABELS)}, got {record['gold_label']!r}"
            )
        sentence1 = require(record, "sentence1", str, path, location)
        sentence2 = require(record, "sentence2", str, path, location)
        examples.append(
            Example(
                id=pair_id,
                task=NAME,
                fields={"sentence1": sentence1, "sentence2": sentence2, "gold_label": label},
                reference=label,
                source_line=int(location.split()[-1]),
            )
        )
    return examples


def _user_turn(example: Example, docs: Mapping[str, str]) -> str:
    return USER_TEMPLATE.format(sentence1=docs["sentence1"], sentence2=docs["sentence2"])


PROMPT = PromptSpec(system=SYSTEM_PROMPT, user=_user_turn, documents=("sentence1", "sentence2"))


def requests(examples: Sequence[Example], ctx: PromptContext, n_shots: int = N_SHOTS) -> list[Request]:
    """Few-shot prompts; ``n_shots=0`` gives zero-shot prompts (the reference crashed there, defect 8)."""
    return fewshot_requests(
        NAME, examples, ctx, PROMPT, n_shots=n_shots, max_new_tokens=MAX_NEW_TOKENS,
        gold=lambda ex: ex.fields["gold_label"],
    )


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    """Per item: ``accuracy`` (reference rule) and ``accuracy_strict``, each 0 or 1."""
    items: list[ItemScore] = []
    for request, completion in paired(requests, completions):
        reference_rule, strict = label_accuracy(completion.text, str(request.gold))
        items.append(
            ItemScore(
                id=request.id,
                cluster=request.cluster,
                scores={"accuracy": float(reference_rule), "accuracy_strict": float(strict)},
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
    n_shots=N_SHOTS,
    max_new_tokens=MAX_NEW_TOKENS,
    metrics=("accuracy", "accuracy_strict"),
    level_metrics=("accuracy",),
    load=load,
    requests=requests,
    score=score,
)
