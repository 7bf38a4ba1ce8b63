"""Planning is a pure function of the registry and the settings: models, bases, pairings, cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue.config import RunConfig
from clue.errors import ConfigError
from clue.models.registry import load_registry
from clue.planning import Case, Pairing, plan_run


def _plan(tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    config = RunConfig(report_dir=tmp_path, **settings)  # type: ignore[arg-type]
    return plan_run(load_registry((), None), config)


def test_a_model_brings_its_base_first_and_one_pairing(tmp_path: Path) -> None:
    plan = _plan(tmp_path, models=("demo",), tasks=("meqsum", "mednli"))
    assert list(plan.specs) == ["demo-base", "demo"]
    assert plan.pairings == (Pairing("demo", "demo-base"),)
    assert [t.name for t in plan.tasks] == ["mednli", "meqsum"]  # registry order, not the order given
    assert [c.id for c in plan.cases()] == ["demo-base-mednli", "demo-base-meqsum", "demo-mednli", "demo-meqsum"]
    assert [c.id for c in plan.regression_cases()] == ["demo-mednli", "demo-meqsum"]
    assert plan.base_of("demo") == "demo-base" and plan.base_of("demo-base") is None
    assert plan.gated_family("demo-base") == plan.gated_family("demo") == "demo"


def test_base_override_and_stored_baseline(tmp_path: Path) -> None:
    plan = _plan(tmp_path, models=("oracle-degraded",), base="demo-base", tasks=("meqsum",),
                 baseline=tmp_path / "earlier")
    assert plan.pairings == (Pairing("oracle-degraded", "demo-base"),)
    assert plan.from_baseline == frozenset({"demo-base"})
    assert plan.cases() == [Case("oracle-degraded", plan.tasks[0])]  # the stored base is not run
    assert _plan(tmp_path, models=("demo",)).from_baseline == frozenset()


def test_unknown_names_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no-such-model"):
        _plan(tmp_path, models=("no-such-model",))
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        _plan(tmp_path, models=("demo",), tasks=("nope",))
