"""The gate end to end: inconclusive verdicts and --clue-require-power, JUnit properties, stored baselines."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from clue.pipeline import demo_data_dir
from clue.report.build import report_schema


def run(pytester: pytest.Pytester, run_id: str, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "clue", "--clue-report-dir", "reports",
                                           "--clue-run-id", run_id, *args)
    path = pytester.path / "reports" / run_id / "report.json"
    return result, (json.loads(path.read_text()) if path.is_file() else {})


def properties(xml: Path) -> dict[str, dict[str, str]]:
    cases = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        cases[case.get("name", "")] = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    return cases


def _same(value: str, number: object) -> bool:
    return value == ("" if number is None else str(number))


def test_junit_properties_carry_the_reports_numbers(pytester: pytest.Pytester) -> None:
    args = ("--model", "oracle-degraded", "--task", "mednli", "--task", "longhealth_task1", "--clue-no-cache")
    result, report = run(pytester, "junit", *args, "--junitxml", "out.xml")
    assert result.ret == 1
    cases = properties(pytester.path / "out.xml")
    assert len(cases) == 6  # 4 test_task + 2 test_regression
    for part in report["tasks"]:
        props = cases[f"test_task[{part['model']}-{part['task']}]"]
        assert props["clue.n"] == str(part["n"]) and props["clue.cache_hits"] == str(part["cache"]["hits"])
        assert props["clue.verdict"] == "pass"
        for metric, m in part["metrics"].items():
            assert _same(props[f"clue.{metric}.score"], m["mean"])
            assert _same(props[f"clue.{metric}.ci_low"], m["ci_low"]) and _same(props[f"clue.{metric}.ci_high"], m["ci_high"])
    for c in report["comparisons"]:
        props = cases[f"test_regression[{c['model']}-{c['task']}]"]
        metric = c["metric"]
        assert props["clue.verdict"] == c["status"] == "fail"
        for prop, key in (("score", "model_mean"), ("base_score", "base_mean"), ("diff", "diff"), ("diff_ci_low", "ci_low"),
                          ("diff_ci_high", "ci_high"), ("p", "p_value"), ("p_adjusted", "p_adjusted"), ("mde", "mde"),
                          ("n_needed", "n_needed"), ("n", "n")):
            assert _same(props[f"clue.{metric}.{prop}"], c[key]), (prop, props[f"clue.{metric}.{prop}"], c[key])
        assert float(props[f"clue.{metric}.mde"]) > 0 and int(props[f"clue.{metric}.n_needed"]) > c["n"]
        assert "clue.base_cache_hits" in props


def test_demo_inconclusive_passes_with_a_warning_and_fails_when_power_is_required(pytester: pytest.Pytester) -> None:
    # the demo models come from the user's model cache (trained once per machine); no generation cache
    args = ("--model", "demo", "--task", "mednli", "--task", "medisumcode", "--limit", "10", "--clue-no-cache", "-rA", "-v")
    result, report = run(pytester, "demo", *args)
    out = result.stdout.str()
    assert result.ret == 0, out
    jsonschema.validate(report, report_schema())
    inconclusive = [v for v in report["verdicts"] if v["status"] == "inconclusive"]
    assert inconclusive and all(v["passed"] and v["mde"] > 0.05 and v["n_needed"] > 10 for v in inconclusive)
    assert "InconclusiveWarning" in out and "INCONCLUSIVE" in out and "inconclusive" in out.splitlines()[-1]
    summary = (pytester.path / "reports" / "demo" / "summary.md").read_text()
    assert summary.splitlines()[2].startswith("Verdicts: ") and " inconclusive" in summary.splitlines()[2]
    assert "**inconclusive** (MDE" in summary and "items would detect" in summary
    shown = [c for c in report["comparisons"] if c["status"] != "pass" and c["disagreements"]]
    assert ("## Where the base was right and the model wrong" in summary) == bool(shown)
    for c in shown:
        assert all(d["base_score"] > d["model_score"] for d in c["disagreements"])
        assert f"| {c['disagreements'][0]['id']} |" in summary
    result, report = run(pytester, "strict", *args, "--clue-require-power")
    assert result.ret == 1
    assert all(not v["passed"] for v in report["verdicts"] if v["status"] == "inconclusive")
    assert "--clue-require-power" in result.stdout.str()


def test_stored_baseline_gives_the_same_verdicts_without_running_the_base(pytester: pytest.Pytester, tmp_path: Path) -> None:
    args = ("--model", "oracle-degraded", "--task", "mednli", "--task", "medisumcode", "--clue-no-cache")
    first_result, first = run(pytester, "first", *args)
    assert first_result.ret == 1
    result, second = run(pytester, "second", *args, "--base", "oracle", "--clue-baseline", "reports/first", "-rA")
    out = result.stdout.str()
    assert result.ret == 1
    assert "test_task[oracle-mednli]" not in out and "test_task[oracle-degraded-mednli]" in out
    assert {p["model"] for p in second["tasks"]} == {"oracle-degraded"}
    assert second["models"]["oracle"]["engine_loads"] == 0
    assert second["models"]["oracle"]["levels"] == first["models"]["oracle"]["levels"]
    keys = ("task", "metric", "status", "passed", "diff", "p_adjusted", "mde", "n_needed")
    assert [{k: v[k] for k in keys} for v in second["verdicts"]] == [{k: v[k] for k in keys} for v in first["verdicts"]]
    assert second["settings"]["baseline"]["run_id"] == "first"
    assert second["settings"]["baseline"]["models"] == ["oracle"]
    jsonschema.validate(second, report_schema())
    assert "read from the stored baseline run `first`" in (pytester.path / "reports" / "second" / "summary.md").read_text()
    # a baseline made on other data is refused before anything runs
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir(), data)
    path = data / "MedNLI" / "mli_test_v1.jsonl"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    result, _ = run(pytester, "third", *args, "--clue-baseline", "reports/first", "--clue-data", str(data))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "refusing the stored baseline" in err and "mednli was scored on other data" in err
    result, _ = run(pytester, "fourth", *args, "--clue-baseline", "reports/nothing-here")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "no report.json" in result.stderr.str()
