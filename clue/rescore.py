"""Score outputs already on disk again, without pytest and without a model (``clue score``).

Two input formats (detected per file, see ``clue.engines.replay.detect_format``):

- clue's per-item JSONL (docs/CONTRACTS.md): rows carry ``task``, ``id``, ``output``, ``gold`` (the
  scoring key) and ``cluster``; the gold is checked and used as recorded.
- the CLUE reference implementation's ``predictions.json`` (JSON lines or an array of
  ``{"Model Answer", "Ground Truth Answer"}``): the scoring key is derived from the ground truth by
  the task's function below (one per task kind). These files carry no ids, so every line is its own
  item and its own statistics cluster.

The items are then scored by the task's own ``score`` function and summarised by
``clue.pipeline.estimate_metrics``, exactly as in a pytest run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clue.data.readers import read_json_records, require
from clue.engines.replay import GROUND_TRUTH, MODEL_ANSWER, detect_format
from clue.errors import ConfigError, DataFormatError
from clue.metrics.answer_letter import parse_answer_letter
from clue.metrics.icd10 import normalise_code, parse_icd_codes
from clue.pipeline import estimate_metrics
from clue.records import Completion, ItemScore, Request
from clue.stats.bootstrap import Estimate
from clue.tasks import longhealth
from clue.tasks.base import ScoringContext, Task
from clue.tasks.mednli import LABELS
from clue.tasks.problem_summary import clean_problem_list

FileFormat = Literal["items", "reference"]
GoldFn = Callable[[Any], Any]

_SPACES = re.compile(r"\s+")


# -- scoring keys from ground truths (one function per task kind) -----------------------------------
def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def mednli_gold(truth: Any) -> str:
    """"entailment" -> "ENTAILMENT" (one of the three MedNLI labels)."""
    label = _text(truth).strip().upper()
    if label not in LABELS:
        raise ValueError(f"expected one of {', '.join(LABELS)} (any case), got {truth!r}")
    return label


def text_gold(truth: Any) -> str:
    """MeQSum / MeDiSumQA: the reference text itself."""
    return _text(truth)


def problem_summary_gold(truth: Any) -> str:
    """The problem list cleaned as ProblemSummary's loader cleans it (``clean_problem_list``).

    The reference evaluator wrote its ground truth after replacing ";" with ", " (CLUE-SPEC defect 2:
    "A; B;" became "A,  B, "). Such a text (no ";" left) also loses its trailing comma and repeated
    spaces, so both spellings give the key a pytest run scores against ("A, B").
    """
    text = _text(truth)
    cleaned = clean_problem_list(text)
    if ";" not in text:
        cleaned = _SPACES.sub(" ", cleaned).strip().rstrip(",").strip()
    return cleaned


def icd_gold(truth: Any) -> tuple[str, ...]:
    """MeDiSumCode: a list of codes (normalised, de-duplicated) or a text parsed with ``parse_icd_codes``."""
    if isinstance(truth, list | tuple):
        codes: dict[str, None] = {}
        for j, code in enumerate(truth):
            if not isinstance(code, str):
                raise ValueError(f"element {j} of the code list is {type(code).__name__}, not a code string")
            if normalise_code(code):
                codes.setdefault(normalise_code(code), None)
        return tuple(codes)
    return parse_icd_codes(_text(truth))


def longhealth_gold(truth: Any, letters: str) -> str:
    """LongHealth: "C", "C: text", "The correct answer is C: ..." (any letter case) -> "C".

    With a sixth option (tasks 2 and 3) the text of option F alone also means "F".
    """
    text = _text(truth).strip()
    if "F" in letters and text.rstrip(".").strip().lower() == longhealth.NOT_ANSWERABLE.lower():
        return "F"
    if len(text) == 1:
        text = text.upper()
    letter = parse_answer_letter(text, letters).letter
    if letter is None:
        raise ValueError(
            f"no answer letter ({', '.join(letters)}) found; expected 'C', 'C: <option text>' or "
            f"'The correct answer is C: ...', got {truth!r}"
        )
    return letter


def gold_function(task: Task) -> GoldFn:
    """The function deriving ``task``'s scoring key from a reference ground truth."""
    if task.group == longhealth.GROUP:
        variant = task.extra
        letters = longhealth.LETTERS_WITH_F if getattr(variant, "foreign", False) else longhealth.LETTERS
        return lambda truth: longhealth_gold(truth, letters)
    by_name: Mapping[str, GoldFn] = {
        "mednli": mednli_gold,
        "meqsum": text_gold,
        "medisumqa": text_gold,
        "problemsummary": problem_summary_gold,
        "medisumcode": icd_gold,
    }
    if task.name not in by_name:
        raise ConfigError(f"clue score cannot read ground truths of task {task.name!r}")
    return by_name[task.name]


def _item_gold(task: Task, value: Any) -> Any:
    """A recorded per-item gold, checked; text golds are used as recorded (they are the key already)."""
    if task.name in ("meqsum", "medisumqa", "problemsummary"):
        return _text(value)
    return gold_function(task)(value)


# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputFile:
    path: Path
    format: FileFormat
    n: int


@dataclass(frozen=True)
class RescoreInput:
    """What was read: requests (with their scoring keys) and the recorded outputs, in file order."""

    task: Task
    requests: tuple[Request, ...]
    completions: tuple[Completion, ...]
    files: tuple[InputFile, ...]


def read_outputs(task: Task, paths: Sequence[Path | str]) -> RescoreInput:
    """Read per-item JSONL and reference predictions.json files of one task.

    Raises ``FileNotFoundError`` for a missing file and ``DataFormatError`` (file, line, field) for a
    malformed record, a record of another task, a duplicate id or an unreadable ground truth.
    """
    if not paths:
        raise ConfigError("give at least one file to score")
    requests: list[Request] = []
    completions: list[Completion] = []
    files: list[InputFile] = []
    seen: dict[str, str] = {}
    for index, given in enumerate(paths, start=1):
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(f"file not found: {path}")
        fmt = detect_format(path)
        records = read_json_records(path)
        reader = _item_record if fmt == "items" else _reference_record
        count = 0
        for location, record in records:
            request, completion = reader(task, path, location, record, index)
            where = f"{path}: {location}"
            if request.id in seen:
                raise DataFormatError(path, location, "id", f"duplicate item {request.id!r} (first at {seen[request.id]})")
            seen[request.id] = where
            requests.append(request)
            completions.append(completion)
            count += 1
        files.append(InputFile(path, fmt, count))
    return RescoreInput(task, tuple(requests), tuple(completions), tuple(files))


def _item_record(task: Task, path: Path, location: str, record: Any, index: int) -> tuple[Request, Completion]:
    row_task = require(record, "task", str, path, location)
    if row_task != task.name:
        raise DataFormatError(path, location, "task", f"a {row_task!r} item, but the task scored is {task.name!r}")
    item_id = require(record, "id", str, path, location)
    output = require(record, "output", str, path, location)
    if "gold" not in record or record["gold"] is None:
        if "gold_sha256" in record:  # a per-item file of a run without --clue-include-text
            raise DataFormatError(
                path, location, "gold",
                "missing: this per-item file holds only the gold answer's sha256; re-run pytest with "
                "--clue-include-text to write gold answers that can be scored again",
            )
        raise DataFormatError(path, location, "gold", "missing")
    try:
        gold = _item_gold(task, record["gold"])
    except ValueError as exc:
        raise DataFormatError(path, location, "gold", str(exc)) from exc
    cluster = _optional_text(record, "cluster", path, location) or item_id
    example_id = _optional_text(record, "example_id", path, location) or item_id
    sha = _optional_text(record, "prompt_sha256", path, location)
    reference = _optional_text(record, "reference", path, location) or _gold_text(gold)
    request = Request(
        id=item_id,
        task=task.name,
        messages=(),
        max_new_tokens=task.max_new_tokens,
        reference=reference,
        gold=gold,
        cluster=cluster,
        example_id=example_id,
    )
    return request, Completion(request_id=item_id, text=output, finish_reason="replay", prompt_sha256=sha)


def _reference_record(task: Task, path: Path, location: str, record: Any, index: int) -> tuple[Request, Completion]:
    answer = require(record, MODEL_ANSWER, str, path, location)
    truth = require(record, GROUND_TRUTH, (str, list), path, location)
    try:
        gold = gold_function(task)(truth)
    except ValueError as exc:
        raise DataFormatError(path, location, GROUND_TRUTH, str(exc)) from exc
    item_id = f"{index}:{location}"  # file number and line/record: unique across the files given
    request = Request(
        id=item_id,
        task=task.name,
        messages=(),
        max_new_tokens=task.max_new_tokens,
        reference=truth if isinstance(truth, str) else ", ".join(str(t) for t in truth),
        gold=gold,
        cluster=item_id,
        example_id=item_id,
    )
    return request, Completion(request_id=item_id, text=answer, finish_reason="replay")


def _optional_text(record: Mapping[str, Any], field: str, path: Path, location: str) -> str:
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataFormatError(path, location, field, f"expected str, got {type(value).__name__}")
    return value


def _gold_text(gold: Any) -> str:
    return ", ".join(gold) if isinstance(gold, tuple) else str(gold)


# -- scoring --------------------------------------------------------------------------------------
def uses_bertscore(task: Task) -> bool:
    return any(m.startswith("bertscore") for m in task.metrics)


def uses_umls(task: Task) -> bool:
    return any(m.startswith("umls") for m in task.metrics)


def scoring_context(
    task: Task,
    *,
    bertscore: bool = True,
    bertscore_model: str | None = None,
    bertscore_layers: int | None = None,
    processes: int = 1,
) -> ScoringContext:
    """The scorers ``task`` needs, built as a pytest run builds them (``clue.scoring``); nothing is
    loaded for a task without BERTScore or UMLS metrics. ``bertscore=False`` leaves BERTScore out
    (reported unavailable)."""
    if not uses_bertscore(task) and not uses_umls(task):
        return ScoringContext(processes=processes)
    if bertscore and uses_bertscore(task):
        from clue.config import RunConfig
        from clue.scoring import build_scoring_context

        config = RunConfig(
            models=(), bertscore_model=bertscore_model, bertscore_layers=bertscore_layers, processes=processes
        )
        return build_scoring_context(config)
    extractor, umls_reason = (None, "")
    if uses_umls(task):
        from clue.metrics.umls import load_scispacy_extractor

        extractor, umls_reason = load_scispacy_extractor()
    return ScoringContext(
        umls=extractor,
        umls_unavailable_reason=umls_reason,
        bertscore_unavailable_reason="BERTScore left out (--no-bertscore)" if uses_bertscore(task) else "",
        processes=processes,
    )


@dataclass(frozen=True)
class RescoreResult:
    task: Task
    items: tuple[ItemScore, ...]
    estimates: Mapping[str, Estimate]
    unavailable: Mapping[str, str]
    files: tuple[InputFile, ...]
    bertscore: str | None
    confidence: float


def rescore(inputs: RescoreInput, scoring: ScoringContext, *, confidence: float = 0.95, seed: int = 1) -> RescoreResult:
    """Item scores by the task's own ``score`` function, then means with bootstrap CIs."""
    items = inputs.task.score(inputs.requests, inputs.completions, scoring)
    estimates, unavailable = estimate_metrics(inputs.task, items, scoring, confidence=confidence, seed=seed)
    description = scoring.bertscore_description if scoring.bertscore is not None else None
    return RescoreResult(inputs.task, tuple(items), estimates, unavailable, inputs.files, description, confidence)


def _percent(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x * 100.0, 4)


def result_json(result: RescoreResult) -> dict[str, Any]:
    """The JSON object ``clue score`` prints: metrics in percent with their confidence intervals."""
    return {
        "task": result.task.name,
        "n": len(result.items),
        "confidence": result.confidence,
        "metrics": {
            name: {"mean": _percent(e.mean), "ci_low": _percent(e.ci_low), "ci_high": _percent(e.ci_high)}
            for name, e in result.estimates.items()
        },
        "unavailable": dict(result.unavailable),
        "files": [{"path": str(f.path), "format": f.format, "n": f.n} for f in result.files],
        "bertscore": result.bertscore,
    }
