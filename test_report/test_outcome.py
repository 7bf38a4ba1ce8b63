"""The run's outcome rule (clue/report/outcome.py) and the summary line and report built from it."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema
import pytest

from clue.prompts.protocol import load_protocol
from clue.report.build import build_report, report_schema
from clue.report.outcome import FAIL, INCOMPLETE, PASS, run_outcome
from clue.report.summary import render_markdown


def case(outcome: str, category: str = "ok", kind: str = "task", task: str = "meqsum") -> dict[str, Any]:
    return {"nodeid": f"x::test_{kind}[m-{task}-{outcome}-{category}]", "kind": kind, "model": "m", "task": task,
            "outcome": outcome, "category": category, "message": ""}


def verdict(passed: bool, kind: str = "threshold") -> dict[str, Any]:
    return {"kind": kind, "model": "m", "task": "meqsum", "metric": "rougeL", "passed": passed, "rule": "r",
            "message": "m"}


def test_a_clean_run_passes() -> None:
    out = run_outcome(pytest_exit_status=0, cases=[case("passed"), case("passed", kind="regression")],
                      verdicts=[verdict(True), verdict(True, "regression")])
    assert (out.status, out.exit_status, out.reasons) == (PASS, 0, ())


def test_threshold_failures_count_as_checks() -> None:
    out = run_outcome(pytest_exit_status=1, cases=[case("failed", "threshold")], verdicts=[verdict(False)])
    assert out.status == FAIL and out.exit_status == 1
    assert out.reasons == ("1 check failed: 1 below a registry minimum",)


@pytest.mark.parametrize("category", ["data_error", "refused", "engine_error", "cache_error", "crashed", "error"])
def test_every_kind_of_broken_case_fails(category: str) -> None:
    out = run_outcome(pytest_exit_status=1, cases=[case("passed"), case("failed", category)], verdicts=[])
    assert out.status == FAIL and "1 case failed" in out.reasons[0]


def test_data_skips_fail_unless_allowed_and_then_exit_non_zero() -> None:
    cases = [case("passed"), case("skipped", "data_missing", task="mednli")]
    out = run_outcome(pytest_exit_status=0, cases=cases, verdicts=[verdict(True)])
    assert out.status == FAIL and out.exit_status == 1 and out.pytest_exit_status == 0
    assert "--clue-allow-skips" in out.reasons[0]
    allowed = run_outcome(pytest_exit_status=0, cases=cases, verdicts=[verdict(True)], allow_skips=True)
    assert allowed.status == PASS and allowed.exit_status == 0


def test_a_skip_without_base_is_no_blemish() -> None:
    out = run_outcome(pytest_exit_status=0, cases=[case("passed"), case("skipped", "no_base", "regression")],
                      verdicts=[])
    assert out.status == PASS


def test_interruption_and_unrun_cases_are_incomplete() -> None:
    interrupted = run_outcome(pytest_exit_status=2, cases=[case("passed"), case("not_run", "not_run")], verdicts=[],
                              stop_reason="KeyboardInterrupt")
    assert interrupted.status == INCOMPLETE and interrupted.exit_status == 2
    assert interrupted.reasons[0] == "pytest was interrupted (KeyboardInterrupt)"
    stopped = run_outcome(pytest_exit_status=1, cases=[case("failed", "threshold"), case("not_run", "not_run")],
                          verdicts=[verdict(False)], stop_reason="stopping after 1 failures")
    assert stopped.status == INCOMPLETE
    assert stopped.reasons[0] == "1 of 2 selected cases did not run (stopping after 1 failures)"
    unexplained = run_outcome(pytest_exit_status=0, cases=[case("not_run", "not_run")], verdicts=[])
    assert unexplained.status == INCOMPLETE and unexplained.exit_status == 1


def test_nothing_selected_or_nothing_run_is_no_pass() -> None:
    assert run_outcome(pytest_exit_status=5, cases=[], verdicts=[]).status == FAIL
    skipped = run_outcome(pytest_exit_status=0, cases=[case("skipped", "data_missing")], verdicts=[], allow_skips=True)
    assert skipped.status == FAIL and skipped.exit_status == 1


CASE_SETS = [
    [],
    [case("passed")],
    [case("passed"), case("skipped", "data_missing")],
    [case("failed", "threshold")],
    [case("error", "crashed")],
    [case("passed"), case("not_run", "not_run")],
]


@pytest.mark.parametrize(("exit_status", "cases", "allow_skips"),
                         list(itertools.product(range(6), CASE_SETS, (False, True))))
def test_a_non_zero_exit_is_never_a_pass(exit_status: int, cases: list[dict[str, Any]], allow_skips: bool) -> None:
    out = run_outcome(pytest_exit_status=exit_status, cases=cases, verdicts=[], allow_skips=allow_skips)
    assert (out.status == PASS) == (out.exit_status == 0)
    if exit_status != 0:
        assert out.status != PASS and out.exit_status == exit_status
    if out.status != PASS:
        assert out.reasons


def _report(outcome: dict[str, Any], cases: list[dict[str, Any]]) -> dict[str, Any]:
    run = {"id": "r1", "started": "s", "finished": "f", "duration_s": 1.0, "suite_version": "0", "git_commit": None,
           "python": "3", "packages": {}, "seed": 1, "exit_status": outcome["exit_status"]}
    settings = {"sampling": {"temperature": 0.0, "top_p": 1.0, "seed": 1}, "data_dir": "d",
                "gate": {"mode": "significant", "alpha": 0.05, "margin": 0.0},
                "protocol": load_protocol("2024-06").summary()}
    return build_report(run=run, settings=settings, models={}, parts=[], tasks=[], outcome=outcome, cases=cases)


@pytest.mark.parametrize("exit_status", [0, 1, 2, 3])
def test_the_summary_opens_with_the_outcome_and_the_report_follows_the_schema(exit_status: int) -> None:
    cases = [case("passed"), case("failed", "data_error", task="mednli")] if exit_status else [case("passed")]
    outcome = run_outcome(pytest_exit_status=exit_status, cases=cases, verdicts=[]).as_dict()
    report = _report(outcome, cases)
    jsonschema.validate(report, report_schema())
    lines = render_markdown(report).splitlines()
    assert lines[0] == f"# {outcome['status']}: clue run `r1`"
    assert lines[0].startswith("# PASS") == (exit_status == 0)
    if exit_status:
        assert any("data file malformed or unreadable" in line for line in lines)
        assert "## Cases that did not pass" in lines


def test_the_schema_refuses_a_pass_with_a_non_zero_exit() -> None:
    outcome = run_outcome(pytest_exit_status=0, cases=[case("passed")], verdicts=[]).as_dict()
    report = _report({**outcome, "exit_status": 1}, [case("passed")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, report_schema())
