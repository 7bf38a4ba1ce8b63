"""Score outputs already on disk again, without pytest and without a model (``clue score``).

Two input formats (detected per file, see ``clue.engines.replay.detect_format``):

- clue's per-item JSONL (docs/CONTRACTS.md): rows carry ``task``, ``id``, ``output`` (as scored,
  after the protocol's post-processing), ``gold`` (the scoring key) and ``cluster``.
- the CLUE reference implementation's ``predictions.json`` (JSON lines or an array of
  ``{"Model Answer", "Ground Truth Answer"}``). These files carry no ids, so every line is its own
  item and its own statistics cluster. For LongHealth, whose reference files hold the letter the
  reference already parsed, a bare letter is taken as that parsed answer.

Both go through the task's own gold rule (``Task.gold``) and ``score`` function under the chosen
protocol, and are summarised by ``clue.pipeline.estimate_metrics``, exactly as in a pytest run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clue.contracts import ScoringContext
from clue.data.readers import read_json_records, require
from clue.engines.replay import GROUND_TRUTH, MODEL_ANSWER, detect_format
from clue.errors import ConfigError, DataFormatError
from clue.metrics.catalog import needs
from clue.pipeline import estimate_metrics
from clue.prompts.protocol import Protocol
from clue.records import Completion, ItemScore, Request
from clue.stats.bootstrap import Estimate
from clue.tasks import longhealth
from clue.tasks.base import Task

FileFormat = Literal["items", "reference"]


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
        gold = task.gold(record["gold"])  # the scoring key already; checked by the task's rule
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
        max_new_tokens=0,
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
        gold = task.gold(truth)
    except ValueError as exc:
        raise DataFormatError(path, location, GROUND_TRUTH, str(exc)) from exc
    item_id = f"{index}:{location}"  # file number and line/record: unique across the files given
    request = Request(
        id=item_id,
        task=task.name,
        messages=(),
        max_new_tokens=0,
        reference=truth if isinstance(truth, str) else ", ".join(str(t) for t in truth),
        gold=gold,
        cluster=item_id,
        example_id=item_id,
    )
    parsed = task.group == longhealth.GROUP and _BARE_LETTER.fullmatch(answer) is not None
    return request, Completion(
        request_id=item_id, text=answer.strip() if parsed else answer,
        finish_reason=longhealth.PARSED_ANSWER if parsed else "replay",
    )


def _optional_text(record: Mapping[str, Any], field: str, path: Path, location: str) -> str:
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataFormatError(path, location, field, f"expected str, got {type(value).__name__}")
    return value


def _gold_text(gold: Any) -> str:
    return ", ".join(gold) if isinstance(gold, tuple) else str(gold)


_BARE_LETTER = re.compile(r"\s*\w\s*")


# -- scoring --------------------------------------------------------------------------------------
def scoring_context(
    task: Task,
    protocol: Protocol,
    *,
    bertscore: bool = True,
    bertscore_model: str | None = None,
    bertscore_layers: int | None = None,
    processes: int = 1,
) -> ScoringContext:
    """The scorers ``task`` needs under ``protocol``, built as a pytest run builds them
    (``clue.scoring``); nothing is loaded for a task without BERTScore or UMLS metrics, and an encoder
    loads only when scoring needs it. ``bertscore=False`` leaves BERTScore out (reported unavailable)."""
    if bertscore and needs(task.metrics, "bertscore"):
        from clue.config import RunConfig
        from clue.scoring import build_scoring_context

        config = RunConfig(
            models=(), bertscore_model=bertscore_model, bertscore_layers=bertscore_layers, processes=processes
        )
        return build_scoring_context(config, protocol)
    umls = None
    if needs(task.metrics, "umls"):
        from clue.scoring import SessionUmls

        umls = SessionUmls()
    return ScoringContext(
        umls_source=umls,
        bertscore_unavailable_reason="BERTScore left out (--no-bertscore)" if needs(task.metrics, "bertscore") else "",
        processes=processes,
        protocol=protocol,
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
    protocol: str = ""


def rescore(inputs: RescoreInput, scoring: ScoringContext, *, confidence: float = 0.95, seed: int = 1) -> RescoreResult:
    """Item scores by the task's own ``score`` function, then means with bootstrap CIs."""
    items = inputs.task.score(inputs.requests, inputs.completions, scoring)
    estimates, unavailable = estimate_metrics(inputs.task, items, scoring, confidence=confidence, seed=seed)
    description = None
    if needs(inputs.task.metrics, "bertscore"):
        spec = scoring.rules.task(inputs.task.name).bertscore
        description = scoring.resolve_bertscore(spec).description or None
    return RescoreResult(inputs.task, tuple(items), estimates, unavailable, inputs.files, description, confidence, scoring.rules.id)


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
        "protocol": result.protocol,
    }
