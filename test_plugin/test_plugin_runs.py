"""The plugin end to end, through pytester: options, cases, skips, failures, exit codes, reports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from clue.pipeline import demo_data_dir
from clue.report.build import report_schema
from clue.tasks.registry import select_tasks

ALL_TASK_NAMES = [t.name for t in select_tasks()]  # the default run: the six CLUE tasks


def run_clue(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    """Run the clue cases in a fresh pytester dir; return the result and the run's report."""
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "clue", "--clue-report-dir", "reports",
                                "--clue-run-id", "run", "--clue-overwrite", "--clue-no-cache", *args)
    report_path = pytester.path / "reports" / "run" / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return result, report


def metric(report: dict, model: str, task: str, name: str) -> float:
    part = next(p for p in report["tasks"] if p["model"] == model and p["task"] == task)
    return part["metrics"][name]["mean"]


def test_collect_ids(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--collect-only", "-q", "--model", "oracle", "--task", "meqsum", "--task", "longhealth")
    out = result.stdout.str()
    assert "test_task[oracle-meqsum]" in out
    assert "test_task[oracle-longhealth_task3]" in out
    assert "test_regression[oracle-longhealth_task1]" in out
    assert "oracle-mednli" not in out


def oracle_icd_f1() -> tuple[float, float]:
    """MeDiSumCode's exact and approximate F1 (percent) of the gold answers on the demo data, by hand:
    2024-06 takes the first record as the shot; the reference's pattern reads a gold code when it
    starts with a letter other than U and two digits, so P is 1 (0 when nothing is read) and R the
    share of codes (categories) read."""
    lines = (demo_data_dir() / "MeDiSumCode" / "MeDiSumCode.json").read_text(encoding="utf-8").splitlines()
    exact, approx = [], []
    for line in lines[1:]:
        gold = [c["code"] for c in json.loads(line)["icd_codes"]]
        read = [c for c in gold if re.fullmatch(r"[A-TV-Z][0-9]{2}[0-9A-Z]{0,4}", c)]
        for scores, pred, ref in ((exact, read, gold), (approx, {c[:3] for c in read}, {c[:3] for c in gold})):
            p, r = (1.0 if pred else 0.0), len(pred) / len(ref)
            scores.append(2 * p * r / (p + r) if p + r else 0.0)
    return 100 * sum(exact) / len(exact), 100 * sum(approx) / len(approx)


def test_oracle_scores_100_and_passes(pytester: pytest.Pytester) -> None:
    result, report = run_clue(pytester, "--model", "oracle")
    assert result.ret == 0, result.stdout.str()
    jsonschema.validate(report, report_schema())
    assert {p["task"] for p in report["tasks"]} == set(ALL_TASK_NAMES)
    assert metric(report, "oracle", "mednli", "accuracy") == 100
    for t in ("longhealth_task1", "longhealth_task2", "longhealth_task3"):
        assert metric(report, "oracle", t, "accuracy") == 100
    # the demo's gold lists hold U07.1 and C7A codes, which the reference's code pattern does not read:
    # the gold answer scores what the reference gave it, below 100
    exact, approx = oracle_icd_f1()
    assert exact < 100 and approx < 100
    assert metric(report, "oracle", "medisumcode", "icd_exact_f1") == pytest.approx(exact, abs=1e-3)
    assert metric(report, "oracle", "medisumcode", "icd_approx_f1") == pytest.approx(approx, abs=1e-3)
    for t in ("meqsum", "problemsummary", "medisumqa"):
        for m in ("rouge1", "rouge2", "rougeL"):
            assert metric(report, "oracle", t, m) == 100, (t, m)
    # every task is compared with the base (itself) and passes
    assert {v["task"] for v in report["verdicts"] if v["kind"] == "regression"} == set(ALL_TASK_NAMES)
    assert all(v["passed"] for v in report["verdicts"])
    run_dir = pytester.path / "reports" / "run"
    assert (run_dir / "summary.md").is_file() and (run_dir / "plot.png").is_file()


def test_degraded_oracle_fails_every_task_with_numbers(pytester: pytest.Pytester) -> None:
    result, report = run_clue(pytester, "--model", "oracle-degraded", "-rA")
    assert result.ret == 1
    out = result.stdout.str()
    failed_lines = [line for line in out.splitlines() if line.startswith("FAILED")]
    for task in ALL_TASK_NAMES:
        assert any(f"test_regression[oracle-degraded-{task}]" in line for line in failed_lines), task
    failed = [v for v in report["verdicts"] if not v["passed"]]
    assert {v["task"] for v in failed} == set(ALL_TASK_NAMES)
    message = failed[0]["message"]
    for needle in ("model", "base", "diff", "CI", "p="):
        assert needle in message, message
    summary = (pytester.path / "reports" / "run" / "summary.md").read_text()
    assert "FAIL" in summary


def test_missing_data_skips_with_path_and_strict_fails(pytester: pytest.Pytester, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir() / "MeQSum", data / "MeQSum")
    args = ("--model", "oracle", "--clue-data", str(data), "-rs", "--task", "meqsum", "--task", "mednli")
    result, report = run_clue(pytester, *args)
    assert result.ret == 1  # a check not made is not a pass
    out = result.stdout.str()
    assert str(data / "MedNLI" / "mli_test_v1.jsonl") in out
    assert "physionet" in out.lower()
    statuses = {p["task"]: p["status"] for p in report["tasks"]}
    assert statuses == {"meqsum": "ok", "mednli": "skipped"}
    assert report["outcome"]["status"] == "FAIL" and "--clue-allow-skips" in report["outcome"]["reasons"][0]
    result, report = run_clue(pytester, *args, "--clue-allow-skips")
    assert result.ret == 0 and report["outcome"]["status"] == "PASS"
    result, _ = run_clue(pytester, "--model", "oracle", "--clue-data", str(data), "--task", "mednli", "--clue-strict")
    assert result.ret == 1


def test_malformed_file_fails_its_task_only(pytester: pytest.Pytester, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir(), data)
    path = data / "MedNLI" / "mli_test_v1.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[4])
    del record["gold_label"]
    lines[4] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    result, report = run_clue(pytester, "--model", "oracle", "--clue-data", str(data), "--task", "mednli", "--task", "meqsum")
    assert result.ret == 1
    out = result.stdout.str()
    assert "mli_test_v1.jsonl" in out and "line 5" in out and "gold_label" in out
    statuses = {p["task"]: p["status"] for p in report["tasks"]}
    assert statuses == {"mednli": "error", "meqsum": "ok"}


def test_items_have_no_source_text_unless_asked(pytester: pytest.Pytester) -> None:
    _, report = run_clue(pytester, "--model", "oracle", "--task", "medisumqa", "--limit", "2")
    items_file = pytester.path / "reports" / "run" / report["tasks"][0]["items_file"]
    rows = [json.loads(line) for line in items_file.read_text().splitlines()]
    assert rows and all("prompt" not in r and len(r["prompt_sha256"]) == 64 for r in rows)
    _, report = run_clue(pytester, "--model", "oracle", "--task", "medisumqa", "--limit", "2", "--clue-include-text")
    rows = [json.loads(line) for line in items_file.read_text().splitlines()]
    assert all("prompt" in r for r in rows)


def test_unknown_model_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-m", "clue", "--model", "no-such-model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "oracle" in result.stderr.str() + result.stdout.str()


def test_demo_runs_model_and_base_and_compares(pytester: pytest.Pytester) -> None:
    result, report = run_clue(pytester, "--model", "demo", "--task", "meqsum", "--task", "mednli", "--limit", "4")
    assert result.ret in (0, 1), result.stdout.str()
    assert set(report["models"]) == {"demo-base", "demo"}
    assert {(p["model"], p["task"]) for p in report["tasks"]} == {
        (m, t) for m in ("demo", "demo-base") for t in ("meqsum", "mednli")
    }
    comparisons = {(c["task"], c["metric"]) for c in report["comparisons"]}
    assert ("meqsum", "rougeL") in comparisons and ("mednli", "accuracy") in comparisons
    assert report["models"]["demo"]["base"] == "demo-base"
    part = next(p for p in report["tasks"] if p["task"] == "meqsum")
    assert part["data"]["synthetic"] is False  # MeQSum is the real set
    assert next(p for p in report["tasks"] if p["task"] == "mednli")["data"]["synthetic"] is True


def _scores(report: dict) -> dict:
    return {(p["model"], p["task"], m): v["mean"] for p in report["tasks"] for m, v in p["metrics"].items()}


def test_xdist_gives_the_same_scores_as_one_process(pytester: pytest.Pytester) -> None:
    args = ("--model", "oracle-degraded", "--task", "mednli", "--task", "medisumcode", "--task", "longhealth_task1")
    _, serial = run_clue(pytester, *args)
    shutil.rmtree(pytester.path / "reports")
    result, parallel = run_clue(pytester, "-n", "2", *args)
    assert result.ret == serial["run"]["exit_status"]
    assert parallel["run"]["workers"] == 2
    assert _scores(parallel) == _scores(serial)
    assert [v["passed"] for v in parallel["verdicts"]] == [v["passed"] for v in serial["verdicts"]]


def test_second_run_is_served_from_the_cache(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The same demo run twice: the second loads no model and every generation is a cache hit."""
    cache = ("--clue-cache-dir", str(tmp_path / "cache"))
    args = ("--model", "demo", "--task", "mednli", "--task", "medisumqa", "--limit", "3")
    result = pytester.runpytest_subprocess("-m", "clue", "--clue-report-dir=reports", "--clue-run-id=first", *cache, *args)
    assert result.ret in (0, 1), result.stdout.str()
    result = pytester.runpytest_subprocess("-m", "clue", "--clue-report-dir=reports", "--clue-run-id=second", *cache, *args)
    first = json.loads((pytester.path / "reports" / "first" / "report.json").read_text())
    second = json.loads((pytester.path / "reports" / "second" / "report.json").read_text())
    assert sum(m["engine_loads"] for m in first["models"].values()) == 2
    assert sum(m["engine_loads"] for m in second["models"].values()) == 0
    assert all(p["cache"]["misses"] == 0 and p["cache"]["hits"] == p["n"] for p in second["tasks"])
    assert _scores(second) == _scores(first)


def test_markdown_summary_is_appended_to_the_ci_step_summary(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result, _ = run_clue(pytester, "--model", "oracle", "--task", "mednli", "--task", "longhealth")
    assert result.ret == 0
    text = step_summary.read_text()
    assert text.startswith("earlier step\n")
    for name in ("MedNLI", "LongHealth Task 1", "LongHealth Task 2", "LongHealth Task 3"):
        assert name in text
    assert text.splitlines()[1] == "# PASS: clue run `run`"  # the run's outcome heads the step summary
