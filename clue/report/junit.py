"""A clue case's numbers as JUnit properties (``record_property``), so ``--junitxml`` carries them.

The values are the report's own (percent, rounded as report.json rounds them), taken from the task
part and the comparison rows the session wrote; a missing number is an empty string. Names:
``clue.<field>`` for the case, ``clue.<metric>.<field>`` per metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Property = tuple[str, Any]
STATUS_ORDER = ("fail", "inconclusive", "pass")


def _value(x: Any) -> Any:
    return "" if x is None else x


def worst_status(statuses: Sequence[str]) -> str:
    """"fail" before "inconclusive" before "pass" ("pass" when there is none)."""
    return next((s for s in STATUS_ORDER if s in statuses), "pass")


def task_properties(part: Mapping[str, Any], threshold_statuses: Sequence[str]) -> list[Property]:
    """``test_task``: model, task, n, cache counts, each metric's score and CI, the threshold verdict."""
    cache = part.get("cache", {})
    props: list[Property] = [
        ("clue.model", part["model"]),
        ("clue.task", part["task"]),
        ("clue.n", part.get("n", 0)),
        ("clue.cache_hits", _value(cache.get("hits"))),
        ("clue.cache_misses", _value(cache.get("misses"))),
        ("clue.verdict", worst_status(threshold_statuses)),
        ("clue.thresholds", len(threshold_statuses)),
    ]
    for metric, m in part.get("metrics", {}).items():
        props += [
            (f"clue.{metric}.score", _value(m.get("mean"))),
            (f"clue.{metric}.ci_low", _value(m.get("ci_low"))),
            (f"clue.{metric}.ci_high", _value(m.get("ci_high"))),
            (f"clue.{metric}.n", _value(m.get("n"))),
        ]
    return props


def regression_properties(
    rows: Sequence[Mapping[str, Any]],
    model_part: Mapping[str, Any] | None,
    base_part: Mapping[str, Any] | None,
) -> list[Property]:
    """``test_regression``: per gated metric the model's score and CI, the base's score, the
    difference and its CI, p, Holm-adjusted p, MDE, needed n, n and verdict; the case's verdict
    (the worst of its metrics) and both sides' cache hits."""
    if not rows:
        return []
    model_metrics = (model_part or {}).get("metrics", {})
    props: list[Property] = [
        ("clue.model", rows[0]["model"]),
        ("clue.base", rows[0]["base"]),
        ("clue.task", rows[0]["task"]),
        ("clue.verdict", worst_status([r["status"] for r in rows])),
        ("clue.cache_hits", _value((model_part or {}).get("cache", {}).get("hits"))),
        ("clue.base_cache_hits", _value((base_part or {}).get("cache", {}).get("hits"))),
    ]
    for r in rows:
        metric = r["metric"]
        score = model_metrics.get(metric, {})
        props += [
            (f"clue.{metric}.score", _value(r.get("model_mean"))),
            (f"clue.{metric}.ci_low", _value(score.get("ci_low"))),
            (f"clue.{metric}.ci_high", _value(score.get("ci_high"))),
            (f"clue.{metric}.base_score", _value(r.get("base_mean"))),
            (f"clue.{metric}.diff", _value(r.get("diff"))),
            (f"clue.{metric}.diff_ci_low", _value(r.get("ci_low"))),
            (f"clue.{metric}.diff_ci_high", _value(r.get("ci_high"))),
            (f"clue.{metric}.p", _value(r.get("p_value"))),
            (f"clue.{metric}.p_adjusted", _value(r.get("p_adjusted"))),
            (f"clue.{metric}.mde", _value(r.get("mde"))),
            (f"clue.{metric}.n_needed", _value(r.get("n_needed"))),
            (f"clue.{metric}.n", _value(r.get("n"))),
            (f"clue.{metric}.verdict", r["status"]),
        ]
    return props
