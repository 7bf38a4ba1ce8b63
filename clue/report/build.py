"""Assemble report.json from the run's parts, and validate it against the shipped schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from clue.report.levels import compute_levels
from clue.report.published import published
from clue.tasks.base import Task

SCHEMA_VERSION = "1.1"  # 1.1: "outcome" and "cases"; threshold verdicts recorded; models[].adapter, engine_shared_with, group_engine_loads, engine_note
SCHEMA_FILE = "report-v1.schema.json"


@cache
def report_schema() -> dict[str, Any]:
    return json.loads(resources.files("clue.report.schema").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def validate_report(report: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the report does not follow the schema."""
    import jsonschema

    jsonschema.validate(report, report_schema())


def model_levels(parts: Sequence[Mapping[str, Any]], model: str, tasks: Sequence[Task]) -> dict[str, Any]:
    means = {
        p["task"]: {m: v["mean"] for m, v in p["metrics"].items() if v["mean"] is not None}
        for p in parts
        if p["model"] == model and p["status"] == "ok"
    }
    levels = compute_levels(means, tasks)
    return {
        f"level{lv.level}": {
            "score": None if lv.score is None else round(lv.score, 4),
            "complete": lv.complete,
            "groups": {g: round(s, 4) for g, s in lv.groups.items()},
            "missing": list(lv.missing),
        }
        for lv in levels.values()
    }


def _loads(parts: Sequence[Mapping[str, Any]], models: Sequence[str]) -> int:
    return sum(1 for p in parts if p["model"] in models and p.get("engine_loaded"))


def published_block(name: str | None, tasks: Sequence[Task]) -> dict[str, Any] | None:
    pub = published(name)
    if pub is None:
        return None
    wanted = {t.name for t in tasks}
    return {
        "name": pub.name,
        "source": "CLUE website, June 2024",
        "level1": pub.level1,
        "level2": pub.level2,
        "tasks": {t: dict(m) for t, m in pub.scores.items() if t in wanted},
    }


def build_report(
    *,
    run: Mapping[str, Any],
    settings: Mapping[str, Any],
    models: Mapping[str, Mapping[str, Any]],
    parts: Sequence[Mapping[str, Any]],
    tasks: Sequence[Task],
    comparisons: Sequence[Mapping[str, Any]] = (),
    verdicts: Sequence[Mapping[str, Any]] = (),
    outcome: Mapping[str, Any] | None = None,
    cases: Sequence[Mapping[str, Any]] = (),
    transfer: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report. ``outcome`` (see clue.report.outcome) defaults to one computed from the verdicts and
    cases alone, as if pytest had exited 0."""
    if outcome is None:
        from clue.report.outcome import run_outcome

        outcome = run_outcome(pytest_exit_status=0, cases=cases, verdicts=verdicts).as_dict()
    model_names = list(models) or sorted({p["model"] for p in parts})
    order = {t.name: i for i, t in enumerate(tasks)}
    ordered = sorted(parts, key=lambda p: (model_names.index(p["model"]) if p["model"] in model_names else 99, order.get(p["task"], 99)))
    # published numbers only beside runs of the protocol they came from (2024-06)
    show_published = bool(settings.get("protocol", {}).get("published_results", False))
    model_blocks = {}
    for name in model_names:
        block = dict(models.get(name, {}))
        has_parts = any(p["model"] == name for p in ordered)
        if has_parts or "levels" not in block:  # a base read from a stored baseline keeps its stored levels
            block["levels"] = model_levels(ordered, name, tasks)
        # counted from the parts, so that the workers of an xdist run are all counted
        block["engine_loads"] = _loads(ordered, [name])
        shared = list(block.get("engine_shared_with") or ())
        if shared:  # an adapter and its base: one engine, one load for the group
            block["group_engine_loads"] = _loads(ordered, [name, *shared])
            block["engine_note"] = (
                f"one engine serves {', '.join([name, *shared])} (a base and its LoRA adapters): the base model "
                "loads once for all of them, counted in engine_loads of the model whose case loaded it"
            )
        block["published"] = published_block(block.get("published_name"), tasks) if show_published else None
        model_blocks[name] = block
    return {
        "schema_version": SCHEMA_VERSION,
        "outcome": dict(outcome),
        "run": dict(run),
        "settings": dict(settings),
        "models": model_blocks,
        "tasks": ordered,
        "cases": list(cases),
        "comparisons": list(comparisons),
        "verdicts": list(verdicts),
        # per gated pair: MCQA vs CLUE Level 1/2 vs case challenges, measured and published (clue.report.transfer)
        "transfer": sorted((dict(t) for t in transfer), key=lambda t: model_names.index(t["model"]) if t["model"] in model_names else 99),
        "scale": "percent",
    }
