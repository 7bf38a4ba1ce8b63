"""The verdict line tells the truth: the summary's first line and report.json's outcome follow from the
exit status, every case and every check, whichever way the run ended."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from fault_runs import clue_run, copy_demo_data

from clue.report.build import report_schema

STRICT_REGISTRY = """
[models.strict-oracle]
weights = "oracle"
engine = "oracle"
corrupt_fraction = 0.3
thresholds = { mednli = { accuracy = 0.95 } }
"""


def test_a_threshold_failure_is_recorded_and_fails_the_run(pytester: pytest.Pytester) -> None:
    registry = pytester.path / "strict.toml"
    registry.write_text(STRICT_REGISTRY, encoding="utf-8")
    run = clue_run(pytester, "--model", "strict-oracle", "--clue-registry", str(registry),
                   "--task", "mednli", "--task", "meqsum", "--limit", "6")
    assert run.ret == 1, run.output
    report = run.report
    jsonschema.validate(report, report_schema())
    failed = [v for v in report["verdicts"] if not v["passed"]]
    assert [(v["kind"], v["task"], v["metric"]) for v in failed] == [("threshold", "mednli", "accuracy")]
    assert failed[0]["minimum"] == 0.95 and "minimum 95.00" in failed[0]["message"]
    assert run.case("task", "strict-oracle", "mednli")["category"] == "threshold"
    assert run.case("task", "strict-oracle", "meqsum")["outcome"] == "passed"
    assert run.first_line == "# FAIL: clue run `run`"
    assert "1 check failed: 1 below a registry minimum" in run.summary
    assert report["outcome"]["counts"]["checks_failed"] == 1


def test_a_malformed_data_file_fails_the_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    data = copy_demo_data(tmp_path / "data")
    (data / "MedNLI" / "mli_test_v1.jsonl").write_text('{"sentence1": "a"\n', encoding="utf-8")
    run = clue_run(pytester, "--model", "oracle", "--clue-data", str(data), "--task", "mednli", "--task", "meqsum",
                   "--limit", "3")
    assert run.ret == 1
    assert run.first_line.startswith("# FAIL")
    case = run.case("task", "oracle", "mednli")
    assert case["category"] == "data_error" and "mli_test_v1.jsonl" in case["message"] and "line 1" in case["message"]
    assert run.case("task", "oracle", "meqsum")["outcome"] == "passed"
    assert run.case("regression", "oracle", "meqsum")["outcome"] == "passed"
    assert "data file malformed or unreadable" in run.summary


def test_a_missing_data_folder_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    run = clue_run(pytester, "--model", "oracle", "--clue-data", str(missing))
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--clue-data {missing}" in run.output and "does not exist" in run.output
    assert "Traceback" not in run.output
    assert not (pytester.path / "reports").exists()


def test_a_data_folder_without_the_files_fails_unless_skips_are_allowed(pytester: pytest.Pytester, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run = clue_run(pytester, "--model", "oracle", "--clue-data", str(empty), "--task", "mednli", "--task", "meqsum")
    assert run.ret == 1  # pytest alone would exit 0: every case skipped
    assert run.first_line.startswith("# FAIL")
    assert {c["category"] for c in run.report["cases"]} == {"data_missing"}
    assert "--clue-allow-skips" in run.summary
    # allowing skips does not make a run in which nothing was checked pass
    run = clue_run(pytester, "--model", "oracle", "--clue-data", str(empty), "--task", "mednli", "--clue-overwrite",
                   "--clue-allow-skips")
    assert run.ret == 1 and "every one was skipped" in run.summary


def test_maxfail_stops_the_run_incomplete(pytester: pytest.Pytester) -> None:
    registry = pytester.path / "strict.toml"
    registry.write_text(STRICT_REGISTRY, encoding="utf-8")
    run = clue_run(pytester, "--model", "strict-oracle", "--clue-registry", str(registry), "--task", "mednli",
                   "--task", "meqsum", "--limit", "6", "-x")
    assert run.ret == 1
    assert run.first_line == "# INCOMPLETE: clue run `run`"
    outcomes = [c["outcome"] for c in run.report["cases"]]
    assert "failed" in outcomes and "not_run" in outcomes
    assert any("did not run" in r and "stopping after 1 failures" in r for r in run.report["outcome"]["reasons"])


def test_keyboard_interrupt_is_incomplete(pytester: pytest.Pytester) -> None:
    run = clue_run(pytester, "--model", "oracle", "--task", "mednli", "--task", "meqsum", "--limit", "3",
                   faults={"interrupt_at": "test_task[oracle-meqsum]"})
    assert run.ret == pytest.ExitCode.INTERRUPTED
    assert run.first_line == "# INCOMPLETE: clue run `run`"
    report = run.report
    assert report["outcome"]["pytest_exit_status"] == 2
    assert run.case("task", "oracle", "mednli")["outcome"] == "passed"
    assert run.case("task", "oracle", "meqsum")["outcome"] == "not_run"
    assert "pytest was interrupted (KeyboardInterrupt)" in report["outcome"]["reasons"]


@pytest.mark.slow  # a demo run interrupted with a real SIGINT
def test_sigint_mid_generation_is_incomplete(pytester: pytest.Pytester, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "clue", "--clue-report-dir", "reports",
               "--clue-run-id", "run", "--clue-cache-dir", str(tmp_path / "cache"), "--model", "demo",
               "--task", "meqsum", "--task", "mednli", "--limit", "6", "--clue-batch-size", "1"]
    cases = pytester.path / "reports" / "run" / "parts" / "cases"
    proc = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and not any(cases.glob("*.json")):
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    summary = (pytester.path / "reports" / "run" / "summary.md").read_text(encoding="utf-8")
    assert summary.splitlines()[0] == "# INCOMPLETE: clue run `run`"
    report = json.loads((pytester.path / "reports" / "run" / "report.json").read_text(encoding="utf-8"))
    assert report["outcome"]["exit_status"] == 2
    outcomes = [c["outcome"] for c in report["cases"]]
    assert outcomes[0] == "passed" and "not_run" in outcomes


def test_a_credentialed_task_refused_for_a_remote_server_fails_the_run(pytester: pytest.Pytester) -> None:
    run = clue_run(pytester, "--model", "demo", "--engine", "openai", "--api-base", "http://192.0.2.1:9/v1",
                   "--task", "mednli")
    assert run.ret == 1
    assert run.first_line.startswith("# FAIL")
    for model in ("demo", "demo-base"):
        case = run.case("task", model, "mednli")
        assert case["category"] == "refused" and "--clue-allow-remote-credentialed" in case["message"]
    assert run.case("regression", "demo", "mednli")["category"] == "refused"
    assert "credentialed data refused for a remote server" in run.summary


def test_an_engine_that_cannot_be_built_fails_its_cases_with_one_message(pytester: pytest.Pytester) -> None:
    registry = pytester.path / "broken.toml"
    registry.write_text('[models.nowhere]\nweights = "org/not-in-any-cache"\nengine = "hf"\n', encoding="utf-8")
    run = clue_run(pytester, "--model", "nowhere", "--model", "oracle", "--clue-registry", str(registry),
                   "--task", "meqsum", "--limit", "2")
    assert run.ret == 1
    case = run.case("task", "nowhere", "meqsum")
    assert case["category"] == "engine_error" and "org/not-in-any-cache" in case["message"]
    assert run.case("task", "oracle", "meqsum")["outcome"] == "passed"
    assert run.first_line.startswith("# FAIL")


def test_a_crashed_xdist_worker_is_recorded(pytester: pytest.Pytester) -> None:
    # --dist worksteal: pytest-xdist 3.8's loadgroup scheduler (clue's default under -n) never finishes
    # after a worker crash, with or without clue
    run = clue_run(pytester, "-n", "2", "--dist", "worksteal", "--model", "oracle", "--task", "mednli",
                   "--task", "meqsum", "--limit", "3", faults={"exit_at": "test_task[oracle-meqsum]"})
    assert run.ret != 0
    case = run.case("task", "oracle", "meqsum")
    assert (case["outcome"], case["category"]) == ("error", "crashed"), case
    assert run.case("task", "oracle", "mednli")["outcome"] == "passed"
    assert not run.first_line.startswith("# PASS")


def test_a_reused_run_id_is_refused_and_overwrite_starts_afresh(pytester: pytest.Pytester) -> None:
    registry = pytester.path / "strict.toml"
    registry.write_text(STRICT_REGISTRY, encoding="utf-8")
    failing = clue_run(pytester, "--model", "strict-oracle", "--clue-registry", str(registry), "--task", "mednli",
                       "--task", "meqsum", "--limit", "6")
    assert failing.ret == 1 and failing.first_line.startswith("# FAIL")
    again = clue_run(pytester, "--model", "oracle", "--task", "meqsum", "--limit", "3")
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    assert "--clue-run-id run" in again.output and "--clue-overwrite" in again.output
    assert "Traceback" not in again.output
    assert failing.first_line.startswith("# FAIL")  # the earlier run's report is untouched
    fresh = clue_run(pytester, "--model", "oracle", "--task", "meqsum", "--limit", "3", "--clue-overwrite")
    assert fresh.ret == 0 and fresh.first_line == "# PASS: clue run `run`"
    report = fresh.report
    assert {(p["model"], p["task"]) for p in report["tasks"]} == {("oracle", "meqsum")}
    assert all(v["passed"] for v in report["verdicts"])
    assert not (fresh.run_dir / "items" / "strict-oracle").exists()


@pytest.mark.parametrize("run_id", ["../../x", "a/b", ".hidden", "..", "semi;colon"])
def test_run_ids_are_names_not_paths(pytester: pytest.Pytester, run_id: str) -> None:
    run = clue_run(pytester, "--model", "oracle", "--task", "meqsum", run_id=run_id)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "--clue-run-id" in run.output and "Traceback" not in run.output
    assert not (pytester.path / "reports").exists()
    assert not (pytester.path.parent / "x").exists()


def test_overwrite_never_empties_a_folder_clue_did_not_write(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "reports" / "run"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine\n", encoding="utf-8")
    run = clue_run(pytester, "--model", "oracle", "--task", "meqsum", "--clue-overwrite")
    assert run.ret == pytest.ExitCode.USAGE_ERROR and "notes.txt" in run.output
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "mine\n"


def test_xdist_workers_cases_are_recorded(pytester: pytest.Pytester) -> None:
    registry = pytester.path / "strict.toml"
    registry.write_text(STRICT_REGISTRY, encoding="utf-8")
    run = clue_run(pytester, "-n", "2", "--model", "strict-oracle", "--model", "oracle", "--clue-registry",
                   str(registry), "--task", "mednli", "--task", "meqsum", "--limit", "6")
    assert run.ret == 1
    report = run.report
    assert report["run"]["workers"] == 2
    outcomes = {(c["kind"], c["model"], c["task"]): c["outcome"] for c in report["cases"]}
    assert outcomes == {
        ("task", "strict-oracle", "mednli"): "failed",
        ("task", "strict-oracle", "meqsum"): "passed",
        ("task", "oracle", "mednli"): "passed",
        ("task", "oracle", "meqsum"): "passed",
        ("regression", "oracle", "mednli"): "passed",
        ("regression", "oracle", "meqsum"): "passed",
    }
    assert run.case("task", "strict-oracle", "mednli")["category"] == "threshold"
    assert run.first_line.startswith("# FAIL")


def test_k_and_lf_generate_only_the_selected_cases(pytester: pytest.Pytester) -> None:
    run = clue_run(pytester, "--model", "oracle-degraded", "-k", "meqsum", "--limit", "10")
    assert run.ret in (0, 1), run.output
    parts = sorted(p.name for p in (run.run_dir / "parts").glob("*.json"))
    assert parts == [  # the pair's gate and its transfer row are written with the gate case
        "gate__oracle-degraded.json", "oracle-degraded__meqsum.json", "oracle__meqsum.json",
        "transfer__oracle-degraded.json",
    ]
    assert {c["task"] for c in run.report["cases"]} == {"meqsum"}
    assert {c["task"] for c in run.report["comparisons"]} == {"meqsum"}
    # --lf (pytest's cache on): only the case that failed is run again, and only its task evaluated
    args = ("-m", "clue", "--clue-report-dir", "reports", "--clue-no-cache", "--model", "oracle",
            "--task", "mednli", "--task", "meqsum", "--limit", "3")
    first = pytester.runpytest_subprocess(*args, "--clue-run-id", "first", "--clue-margin", "-1")
    assert first.ret == pytest.ExitCode.USAGE_ERROR  # a usage error is not a failure for --lf to remember
    data = copy_demo_data(pytester.path / "data")
    (data / "MedNLI" / "mli_test_v1.jsonl").write_text("[[", encoding="utf-8")
    first = pytester.runpytest_subprocess(*args, "--clue-run-id", "first", "--clue-data", str(data))
    assert first.ret == 1
    again = pytester.runpytest_subprocess(*args, "--clue-run-id", "again", "--clue-data", str(data), "--lf")
    assert again.ret == 1
    report = json.loads((pytester.path / "reports" / "again" / "report.json").read_text(encoding="utf-8"))
    assert {(c["kind"], c["task"]) for c in report["cases"]} == {("task", "mednli"), ("regression", "mednli")}
    assert {p["task"] for p in report["tasks"]} == {"mednli"}


def test_a_report_that_breaks_its_schema_fails_the_run(pytester: pytest.Pytester) -> None:
    """Every case passed, but the report does not follow its schema: written all the same, never a PASS."""
    run = clue_run(pytester, "--model", "oracle", "--task", "meqsum", "--limit", "3", faults={"schema_broken": True})
    assert run.ret == 1, run.output
    assert {c["outcome"] for c in run.report["cases"]} == {"passed"}
    assert run.first_line.startswith("# FAIL")
    assert any("does not follow its schema" in r and "injected" in r for r in run.report["outcome"]["reasons"])
