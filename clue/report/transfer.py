"""The transfer row of one gated pair: does a multiple-choice gain carry over to clinical work?

Four composite differences, model - base on the same items, each with a paired bootstrap CI
(``clue.stats.composite``) and the gate's verdict on the tasks inside it:

- ``mcqa``: the mean accuracy over MedQA, MedMCQA and PubMedQA (GEM 2025 averaged the same three);
- ``level1``, ``level2``: the CLUE Level scores, by CLUE's own weighting (``levels.level_weights``);
- ``cases``: the mean accuracy over the JAMA and NEJM clinical challenges.

A composite is computed from the tasks the run scored for both models; ``complete`` says whether
every task of the composite was among them. Beside them, the published differences of the same
pair (matched by weights) from GEM 2025 Table 3 and JAMIA 2025. Numbers in percent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clue.report.levels import level_weights
from clue.report.records import percent
from clue.stats.composite import Component, CompositeDifference, composite_difference
from clue.tasks.base import Task

Values = Mapping[str, float]  # item id -> score
MetricValues = Callable[[str, str, str], Values | None]  # (model, task, metric) -> values, None when not scored


@dataclass(frozen=True)
class CompositeSpec:
    key: str
    label: str
    weights: Callable[[Sequence[Task], set[tuple[str, str]]], dict[tuple[str, str], float]]
    members: Callable[[Sequence[Task]], list[Task]]


def _suite_mean(suite: str) -> Callable[[Sequence[Task], set[tuple[str, str]]], dict[tuple[str, str], float]]:
    def weights(tasks: Sequence[Task], available: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
        keys = [(t.name, t.level_metrics[0]) for t in tasks if t.suite == suite and (t.name, t.level_metrics[0]) in available]
        return {k: 1.0 / len(keys) for k in keys}

    return weights


def _level(level: int) -> Callable[[Sequence[Task], set[tuple[str, str]]], dict[tuple[str, str], float]]:
    def weights(tasks: Sequence[Task], available: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
        return level_weights(tasks, level, available)

    return weights


COMPOSITES: tuple[CompositeSpec, ...] = (
    CompositeSpec("mcqa", "MCQA (MedQA, MedMCQA, PubMedQA)", _suite_mean("mcqa"),
                  lambda ts: [t for t in ts if t.suite == "mcqa"]),
    CompositeSpec("level1", "CLUE Level 1", _level(1), lambda ts: [t for t in ts if t.level == 1]),
    CompositeSpec("level2", "CLUE Level 2", _level(2), lambda ts: [t for t in ts if t.level == 2]),
    CompositeSpec("cases", "case challenges (JAMA, NEJM)", _suite_mean("cases"),
                  lambda ts: [t for t in ts if t.suite == "cases"]),
)


def composite_row(
    spec: CompositeSpec,
    all_tasks: Sequence[Task],
    values: MetricValues,
    clusters: Callable[[str], Mapping[str, str]],
    model: str,
    base: str,
    failed_tasks: set[str],
    gated_tasks: set[str],
    *,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any] | None:
    """One composite of the pair (None when no task of it was scored for both)."""
    members = spec.members(all_tasks)
    candidates = {(t.name, m) for t in members for m in t.level_metrics}
    pairs = {key: (values(model, *key), values(base, *key)) for key in candidates}
    available = {key for key, (a, b) in pairs.items() if a and b}
    weights = spec.weights(all_tasks, available)
    if not weights:
        return None
    groups = {t.name: t.group for t in members}
    components = [
        Component(groups[task], w, pairs[(task, metric)][0], pairs[(task, metric)][1], clusters(task))
        for (task, metric), w in sorted(weights.items())
    ]
    result: CompositeDifference = composite_difference(components, confidence=confidence, seed=seed)
    used = sorted({task for task, _ in weights}, key=[t.name for t in all_tasks].index)
    in_gate = [t for t in used if t in gated_tasks]
    verdict = "-" if not in_gate else ("FAIL" if any(t in failed_tasks for t in in_gate) else "pass")
    return {
        "label": spec.label,
        "diff": percent(result.diff),
        "ci_low": percent(result.ci_low),
        "ci_high": percent(result.ci_high),
        "confidence": confidence,
        "n_items": result.n_items,
        "tasks": used,
        "complete": len(used) == len(members),
        "verdict": verdict,
        "failed_tasks": sorted(t for t in in_gate if t in failed_tasks),
    }


def transfer_row(
    all_tasks: Sequence[Task],
    values: MetricValues,
    clusters: Callable[[str], Mapping[str, str]],
    model: str,
    base: str,
    verdicts: Sequence[Mapping[str, Any]],
    published: Mapping[str, Any] | None,
    *,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The pair's composites and the published differences beside them (``published_transfer``)."""
    regression = [v for v in verdicts if v.get("kind") == "regression" and v.get("model") == model]
    failed = {v["task"] for v in regression if not v["passed"]}
    gated = {v["task"] for v in regression}
    composites = {}
    for spec in COMPOSITES:
        row = composite_row(spec, all_tasks, values, clusters, model, base, failed, gated, confidence=confidence, seed=seed)
        if row is not None:
            composites[spec.key] = row
    return {"model": model, "base": base, "composites": composites, "published": dict(published) if published else None}
