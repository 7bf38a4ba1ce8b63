"""The CLUE cases. Collected when ``--model`` is given; parametrized by the clue plugin."""

from __future__ import annotations

from clue.engines.pool import EnginePool
from clue.pytest_plugin import run_case, run_regression
from clue.session import Case, ClueSession


def test_task(clue_session: ClueSession, clue_engines: EnginePool, clue_case: Case) -> None:
    """Evaluate one model on one task; fail when a metric is below its threshold."""
    run_case(clue_session, clue_case)


def test_regression(clue_session: ClueSession, clue_engines: EnginePool, clue_case: Case) -> None:
    """Fail when the model is worse than its base model on this task, by the gate's rule."""
    run_regression(clue_session, clue_case)
