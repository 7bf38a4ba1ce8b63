"""Reference defects 3 (accidental temperature 1.0) and 7 (mixed score scales), fixed in clue."""

from __future__ import annotations

import math

from clue.config import RunConfig
from clue.records import Sampling
from clue.report.build import build_report
from clue.report.parts import task_part
from clue.session import ClueSession
from clue.stats.bootstrap import mean_ci
from clue.tasks.registry import get_task


def test_decoding_is_greedy_and_seeded_by_default() -> None:
    """Defect 3: the 2025 reference sampled at vLLM's default temperature 1.0."""
    assert Sampling().temperature == 0.0
    session = ClueSession(RunConfig(models=("oracle",), use_cache=False))
    assert session.sampling.temperature == 0.0
    assert session.sampling.seed == 1


def test_every_metric_is_reported_on_one_percent_scale() -> None:
    """Defect 7: the reference mixed 0-1 floats, rounded strings and 0-100 numbers by task."""
    from clue.pipeline import TaskResult

    task = get_task("medisumcode")
    estimates = {m: mean_ci([0.25, 0.75]) for m in task.metrics}
    result = TaskResult(
        model="m", task=task.name, items=(), estimates=estimates, unavailable={}, n_examples=2, n_truncated=0,
        cache={"hits": 0, "misses": 2, "engine_calls": 1}, durations={"generate_s": 1.0}, tokens={"completion": 4},
        data={"file": "f", "sha256": "0" * 64, "synthetic": True}, engine_loaded=True,
    )
    part = task_part(result, task, "items/m/medisumcode.jsonl")
    for metric in task.metrics:
        value = part["metrics"][metric]["mean"]
        assert isinstance(value, float) and math.isclose(value, 50.0)
    report = build_report(run={}, settings={}, models={"m": {}}, parts=[part], tasks=[task])
    assert report["scale"] == "percent"
    assert report["models"]["m"]["levels"]["level2"]["groups"]["medisumcode"] == 50.0
