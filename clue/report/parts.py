"""The parts of a run folder, from which the report is assembled at the end of the session.

- ``parts/<model>__<task>.json``: one model x task result (or why there is none), beside its
  per-item JSONL ``items/<model>/<task>.jsonl``;
- ``parts/gate__<model>.json``: a model's comparisons with its base and the regression verdicts;
- ``parts/thresholds/<model>__<task>.json``: the threshold verdicts of a case;
- ``parts/cases/<id>.json``: how each selected pytest case ended (written by the controller).

Parts are written as soon as a case finishes (finished work survives a crash) and by each xdist
worker on its own.

Per-item rows carry sha256 digests of the prompt and of the gold answer; the prompt, the gold
answer and the reference text themselves only with ``include_text`` (``--clue-include-text``):
for the credentialed tasks they are MIMIC-derived text, which may not be redistributed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clue.pipeline import TaskResult
from clue.report.atomic import write_json, write_jsonl
from clue.report.records import MetricRecord
from clue.tasks.base import Task


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def plain_gold(gold: Any) -> Any:
    """A gold answer as JSON writes it (tuples become lists)."""
    if isinstance(gold, tuple | list):
        return [plain_gold(g) for g in gold]
    return gold


def gold_sha256(gold: Any) -> str:
    """sha256 of the gold answer's compact JSON (UTF-8, keys sorted): compares golds without showing them."""
    text = json.dumps(plain_gold(gold), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_rows(result: TaskResult, include_text: bool) -> list[dict[str, Any]]:
    by_id = {req.id: (req, comp) for req, comp in result.records}
    rows = []
    for item in result.items:
        req, comp = by_id[item.id]
        row: dict[str, Any] = {
            "task": result.task,
            "id": item.id,
            "example_id": req.example_id or req.id,
            "cluster": item.cluster,
            "prompt_sha256": comp.prompt_sha256 or req.prompt_key(),
            "gold_sha256": gold_sha256(req.gold),
            "output": item.output,
            "scores": dict(item.scores),
            "truncated": req.truncated,
            "cached": comp.cached,
        }
        if comp.text != item.output:  # the protocol's stop strings / post-processing changed it
            row["raw_output"] = comp.text
        if include_text:
            row["gold"] = plain_gold(req.gold)
            row["prompt"] = [[m.role, m.content] for m in req.messages]
            row["reference"] = req.reference
        rows.append(row)
    return rows


def task_part(
    result: TaskResult,
    task: Task,
    items_file: str,
    scorers: str = "",
    n_shots: int = 0,
    scorers_built: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The task's entry of report.json. ``scorers``: the scorer identity (also in the score cache's key);
    ``scorers_built``: the model-backed scorers scoring this task used, with where they ran
    (e.g. {"bertscore": "all-MiniLM-L6-v2 ..., on cpu, 1 threads"}); empty when none was needed or
    every score came from the score cache."""
    metrics = {
        name: MetricRecord(est.mean, est.ci_low, est.ci_high, est.n, est.n_clusters, name in task.level_metrics).to_json()
        for name, est in result.estimates.items()
    }
    tokens = dict(result.tokens)
    gen = result.durations.get("generate_s", 0.0)
    tokens["completion_per_s"] = round(tokens.get("completion", 0) / gen, 2) if gen > 0 else None
    return {
        "status": "ok",
        "model": result.model,
        "task": task.name,
        "display_name": task.display_name,
        "level": task.level,
        "group": task.group,
        "suite": task.suite,
        "n": result.n,
        "n_examples": result.n_examples,
        "n_shots": n_shots,
        "n_truncated": result.n_truncated,
        "data": dict(result.data),
        "metrics": metrics,
        "level_metrics": list(task.level_metrics),
        "unavailable": dict(result.unavailable),
        "cache": dict(result.cache),
        "engine_loaded": result.engine_loaded,
        "durations": {k: round(v, 4) for k, v in result.durations.items()},
        "tokens": tokens,
        "items_file": items_file,
        "scorers": scorers,
        "scorers_built": dict(scorers_built or {}),
    }


def write_result(
    run_dir: Path,
    result: TaskResult,
    task: Task,
    include_text: bool,
    scorers: str = "",
    n_shots: int = 0,
    scorers_built: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write the per-item JSONL and the part file; return the part."""
    items_rel = f"items/{safe_name(result.model)}/{task.name}.jsonl"
    write_jsonl(run_dir / items_rel, item_rows(result, include_text))
    part = task_part(result, task, items_rel, scorers=scorers, n_shots=n_shots, scorers_built=scorers_built)
    write_json(run_dir / "parts" / f"{safe_name(result.model)}__{task.name}.json", part)
    return part


def write_failed(run_dir: Path, model: str, task: Task, status: str, reason: str) -> None:
    """A part for a case that did not produce scores (skipped: data missing; error: malformed data)."""
    part = {
        "status": status,
        "model": model,
        "task": task.name,
        "display_name": task.display_name,
        "level": task.level,
        "group": task.group,
        "suite": task.suite,
        "reason": reason,
    }
    write_json(run_dir / "parts" / f"{safe_name(model)}__{task.name}.json", part)


def write_thresholds(run_dir: Path, model: str, task: Task, verdicts: list[Mapping[str, Any]]) -> None:
    """The threshold verdicts of one case (passed or not), so the report records every check made."""
    part = {"model": model, "task": task.name, "verdicts": list(verdicts)}
    write_json(run_dir / "parts" / "thresholds" / f"{safe_name(model)}__{task.name}.json", part)


def case_file(run_dir: Path, nodeid: str) -> Path:
    return run_dir / "parts" / "cases" / f"{hashlib.sha256(nodeid.encode('utf-8')).hexdigest()[:20]}.json"


def write_case(run_dir: Path, record: Mapping[str, Any]) -> None:
    """How one selected pytest case ended (``record["nodeid"]`` names it)."""
    write_json(case_file(run_dir, str(record["nodeid"])), dict(record))


def read_parts(run_dir: Path, prefix: str = "", folder: str = "") -> list[dict[str, Any]]:
    """The JSON parts directly in ``parts/`` (or its subfolder ``folder``) whose names start with ``prefix``."""
    where = run_dir / "parts" / folder if folder else run_dir / "parts"
    if not where.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(where.glob(f"{prefix}*.json"))]


def read_task_parts(run_dir: Path) -> list[dict[str, Any]]:
    return [p for p in read_parts(run_dir) if "status" in p and "task" in p and "comparisons" not in p]


def read_gate_parts(run_dir: Path) -> list[dict[str, Any]]:
    return [p for p in read_parts(run_dir, prefix="gate__") if "comparisons" in p]


def read_threshold_parts(run_dir: Path) -> list[dict[str, Any]]:
    return read_parts(run_dir, folder="thresholds")


def read_cases(run_dir: Path) -> list[dict[str, Any]]:
    return read_parts(run_dir, folder="cases")
