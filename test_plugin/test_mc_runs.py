"""The multiple-choice suites and the case challenges end to end, through pytester: task groups, the
oracle (100 on every new task) and the degraded oracle (every new task fails), the demo model, the
transfer table with the published GEM 2025 numbers, and the dry-run listing of the 2025 pairs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from clue.report.build import report_schema
from clue.tasks.registry import select_tasks

NEW_TASKS = [t.name for t in select_tasks(["mcqa", "cases"])]


def run_clue(pytester: pytest.Pytester, *args: str, run_id: str = "run") -> tuple[pytest.RunResult, dict, Path]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "clue", "--clue-report-dir", "reports",
                                           "--clue-run-id", run_id, "--clue-no-cache", *args)
    run_dir = pytester.path / "reports" / run_id
    report = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").is_file() else {}
    return result, report, run_dir


def metric(report: dict, model: str, task: str, name: str) -> float:
    part = next(p for p in report["tasks"] if p["model"] == model and p["task"] == task)
    return part["metrics"][name]["mean"]


def test_oracle_scores_100_on_every_new_task(pytester: pytest.Pytester) -> None:
    result, report, run_dir = run_clue(pytester, "--model", "oracle", "--task", "mcqa", "--task", "cases")
    assert result.ret == 0, result.stdout.str()
    jsonschema.validate(report, report_schema())
    assert [p["task"] for p in report["tasks"]] == NEW_TASKS
    for task in NEW_TASKS:
        assert metric(report, "oracle", task, "accuracy") == 100, task
        assert metric(report, "oracle", task, "accuracy_lenient") == 100, task
    assert all(p["level"] == 0 and p["suite"] in ("mcqa", "cases") and p["data"]["synthetic"] for p in report["tasks"])
    # Level scores stay CLUE's: none from these tasks
    assert report["models"]["oracle"]["levels"] == {}
    (row,) = report["transfer"]
    assert set(row["composites"]) == {"mcqa", "cases"} and row["composites"]["mcqa"]["diff"] == 0
    summary = (run_dir / "summary.md").read_text()
    assert "## Transfer" in summary and "NEJM Image Challenge: the data file flags 20 items as needing the image" in summary


def test_degraded_oracle_fails_every_new_task_in_the_whole_study(pytester: pytest.Pytester) -> None:
    result, report, run_dir = run_clue(pytester, "--model", "oracle-degraded", "--task", "all", "-rA")
    assert result.ret == 1
    failed_lines = [line for line in result.stdout.str().splitlines() if line.startswith("FAILED")]
    for task in [t.name for t in select_tasks(["all"])]:
        assert any(f"test_regression[oracle-degraded-{task}]" in line for line in failed_lines), task
    verdicts = {v["task"]: v for v in report["verdicts"] if v["metric"] == "accuracy" and v["task"] in NEW_TASKS}
    assert set(verdicts) == set(NEW_TASKS) and not any(v["passed"] for v in verdicts.values())
    assert all(v["rule"].startswith("no significant regression") for v in verdicts.values())
    comparisons = [c for c in report["comparisons"] if c["task"] in NEW_TASKS]
    assert {c["test"] for c in comparisons} == {"exact McNemar"}
    (row,) = report["transfer"]
    assert set(row["composites"]) == {"mcqa", "level1", "level2", "cases"}
    assert all(c["verdict"] == "FAIL" and c["complete"] and c["ci_high"] < 0 for c in row["composites"].values())
    summary = (run_dir / "summary.md").read_text()
    assert summary.index("## Transfer") < summary.index("## Level 1")
    assert (run_dir / "transfer.png").is_file() and "(transfer.png)" in summary


@pytest.mark.parametrize("group", ["mcqa", "cases"])
def test_demo_runs_each_group(pytester: pytest.Pytester, group: str) -> None:
    result, report, run_dir = run_clue(pytester, "--model", "demo", "--task", group, "--limit", "4")
    assert result.ret == 0, result.stdout.str()
    assert {(p["model"], p["task"]) for p in report["tasks"]} == {
        (m, t.name) for m in ("demo", "demo-base") for t in select_tasks([group])
    }
    assert {c["task"] for c in report["comparisons"]} == {t.name for t in select_tasks([group])}
    (row,) = report["transfer"]
    assert row["model"] == "demo" and row["base"] == "demo-base" and group in row["composites"]
    assert "## Transfer" in (run_dir / "summary.md").read_text()


REGISTRY = """
[models.fake-openbiollm-8b]
weights = "aaditya/Llama3-OpenBioLLM-8B"
base = "fake-llama-3-8b"
engine = "oracle"
corrupt_fraction = 0.3
chat = "system"

[models.fake-llama-3-8b]
weights = "meta-llama/Meta-Llama-3-8B"
engine = "oracle"
chat = "system"
"""


def test_the_summary_shows_the_published_gem_numbers_beside_the_measured(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A pair with OpenBioLLM-8B's and Meta-Llama-3-8B's weights (answered by the oracle engine, so no
    model is needed) finds its GEM 2025 row by weights."""
    registry = tmp_path / "pairs.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    result, report, run_dir = run_clue(pytester, "--model", "fake-openbiollm-8b", "--clue-registry", str(registry),
                                       "--task", "mcqa", "--task", "mednli")
    assert result.ret == 1  # the degraded answers fail the gate
    (row,) = report["transfer"]
    assert row["published"]["gem2025"] == {"source": "Dada et al., GEM 2025, Table 3", "model": "OpenBioLLM-8B",
                                           "base": "Meta-Llama-3-8B", "mcqa": -0.63, "level1": -15.17, "level2": -13.54}
    summary = (run_dir / "summary.md").read_text()
    line = next(x for x in summary.splitlines() if x.startswith("| fake-openbiollm-8b vs fake-llama-3-8b"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2] == "-0.63" and cells[4] == "-15.17" and cells[6] == "-13.54"
    assert cells[1].endswith("FAIL") and cells[3].endswith("FAIL (partial)")  # measured MCQA, Level 1 from MedNLI alone
    assert ("Published (Dada et al., GEM 2025, Table 3: OpenBioLLM-8B vs Meta-Llama-3-8B): MCQA -0.63, "
            "CLUE Level 1 -15.17, CLUE Level 2 -13.54; MCQA went down; CLUE went down.") in summary


def test_dry_run_names_the_gem_base_and_runs_nothing(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "clue", "--model", "openbiollm-8b",
                                           "--clue-dry-run", "--task", "all", "--clue-report-dir", "reports")
    assert result.ret == 0
    out = result.stdout.str()
    assert "gated against llama-3-8b (meta-llama/Meta-Llama-3-8B): the pairing of Dada et al., GEM 2025, Table 3" in out
    assert "MCQA -0.63, CLUE Level 1 -15.17, CLUE Level 2 -13.54" in out
    assert "also registered: openbiollm-8b-vs-instruct, gated against llama-3-8b-instruct" in out
    assert "medqa [mcqa]: MedQA/phrases_no_exclude_test.jsonl found" in out
    assert "passed" not in out.splitlines()[-1] and not (pytester.path / "reports").exists()


def test_an_unknown_task_lists_the_groups(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-m", "clue", "--model", "oracle", "--task", "mcq")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str() + result.stdout.str()
    for name in ("mcqa", "cases", "all", "clue", "medqa", "nejm"):
        assert name in text
