"""Assembling report.json from a run's parts (every worker's), validated against the shipped schema.

The session writes parts as cases finish; this reads them back once the run is over, decides the
outcome (clue.report.outcome), builds the report (clue.report.build) and writes it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue.report import parts as part_files
from clue.report.atomic import write_json
from clue.report.build import build_report, validate_report
from clue.report.metadata import run_metadata
from clue.report.outcome import run_outcome
from clue.tasks.base import Task

log = logging.getLogger(__name__)


def assemble_report(
    run_dir: Path,
    *,
    run_id: str,
    started: dt.datetime,
    duration_s: float,
    seed: int,
    settings: dict[str, Any],
    models: dict[str, dict[str, Any]],
    tasks: Sequence[Task],
    exit_status: int | None = None,
    workers: int = 0,
    expected_cases: Sequence[Mapping[str, Any]] | None = None,
    allow_skips: bool = False,
    stop_reason: str | None = None,
) -> dict[str, Any]:
    """Read the parts of a run (from every worker), build, validate and write report.json.

    ``exit_status`` is pytest's; the report's outcome (clue.report.outcome) is decided from it, the
    selected cases (``expected_cases``: nodeid, kind, model, task; those without a recorded outcome did
    not run) and every recorded check. ``run.exit_status`` is the status the process exits with.
    """
    task_parts = part_files.read_task_parts(run_dir)
    gates = part_files.read_gate_parts(run_dir)
    verdicts = [v for t in part_files.read_threshold_parts(run_dir) for v in t["verdicts"]]
    verdicts += [v for g in gates for v in g["verdicts"]]
    cases = merge_cases(expected_cases, part_files.read_cases(run_dir))
    outcome = run_outcome(
        pytest_exit_status=int(exit_status or 0),
        cases=cases,
        verdicts=verdicts,
        allow_skips=allow_skips,
        stop_reason=stop_reason,
    )
    transfers = part_files.read_parts(run_dir, prefix="transfer__")
    generation = sum(p.get("durations", {}).get("generate_s", 0.0) for p in task_parts)
    run = {
        "id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3),
        "harness_overhead_s": round(max(duration_s - generation, 0.0), 3),
        "generation_s": round(generation, 3),
        "seed": seed,
        "exit_status": outcome.exit_status,
        "workers": workers,
        **run_metadata(),
    }
    report = build_report(
        run=run,
        settings=settings,
        models=models,
        parts=task_parts,
        tasks=tasks,
        comparisons=[c for g in gates for c in g["comparisons"]],
        verdicts=verdicts,
        outcome=outcome.as_dict(),
        cases=cases,
        transfer=transfers,
    )
    try:
        validate_report(report)
    except Exception as exc:  # never lose a finished run over a schema slip, and never call it a pass
        log.exception("report.json does not follow its schema; writing it anyway")
        _fail_schema(report, exc)
    write_json(run_dir / "report.json", report)
    return report


def _fail_schema(report: dict[str, Any], exc: Exception) -> None:
    """A report that breaks its own schema cannot be trusted by what reads it: the run fails, saying why."""
    outcome = report["outcome"]
    why = str(getattr(exc, "message", None) or exc).splitlines()[0][:300]
    if outcome["status"] == "PASS":
        outcome["status"] = "FAIL"
    outcome["reasons"] = [*outcome["reasons"], f"report.json does not follow its schema ({why})"]
    if not outcome["exit_status"]:
        outcome["exit_status"] = 1
        report["run"]["exit_status"] = 1


def merge_cases(
    expected: Sequence[Mapping[str, Any]] | None, recorded: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per selected case, in selection order: its recorded outcome, or ``not_run``.

    ``expected`` None: the recorded cases only (a run driven without pytest's selection).
    """
    by_id = {str(r["nodeid"]): dict(r) for r in recorded}
    if expected is None:
        return list(by_id.values())
    rows = []
    for case in expected:
        row = by_id.pop(str(case["nodeid"]), None)
        if row is None:
            row = {**case, "outcome": "not_run", "category": "not_run", "message": "did not run"}
        rows.append(row)
    return rows + list(by_id.values())  # outcomes of cases not in the selection (none expected)
