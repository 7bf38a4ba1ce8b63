"""The CLUE cases. Collected when ``--model`` is given; parametrized by the clue plugin.

Each case's numbers go into its ``user_properties`` (what ``record_property`` does, without its
warning under the default junit_family), so ``--junitxml`` carries them into any CI system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clue.engines.pool import EnginePool
from clue.pytest_plugin import run_case, run_regression
from clue.planning import Case
from clue.session import ClueSession

if TYPE_CHECKING:
    import pytest


def test_task(clue_session: ClueSession, clue_engines: EnginePool, clue_case: Case, request: pytest.FixtureRequest) -> None:
    """Evaluate one model on one task; fail when a metric is below its threshold."""
    run_case(clue_session, clue_case, request.node.user_properties)


def test_regression(
    clue_session: ClueSession, clue_engines: EnginePool, clue_case: Case, request: pytest.FixtureRequest
) -> None:
    """Fail when the model is worse than its base model on this task, by the gate's rule."""
    run_regression(clue_session, clue_case, request.node.user_properties)
