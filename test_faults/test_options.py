"""Bad settings are one usage error at start-up (exit 4) naming the option and the value as the user
gave it; no traceback, nothing run, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_runs import IS_ROOT, clue_run


@pytest.mark.parametrize(
    "args,expected",
    [
        (("--limit", "0"), "--limit must be >= 1, got 0"),
        (("--limit", "-1"), "--limit must be >= 1, got -1"),
        (("--clue-batch-size", "0"), "--clue-batch-size must be >= 1, got 0"),
        (("--clue-seed", "-3"), "--clue-seed must be >= 0, got -3"),
        (("--clue-max-new-tokens", "-1"), "--clue-max-new-tokens must be >= 1, got -1"),
        (("--clue-margin", "150"), "--clue-margin must be between 0 and 100 percentage points, got 150"),
        (("--clue-margin", "-1"), "--clue-margin must be between 0 and 100 percentage points, got -1"),
        (("--clue-alpha", "1.5"), "--clue-alpha must be between 0 and 1 (exclusive), got 1.5"),
        (("--clue-processes", "0"), "--clue-processes must be >= 1, got 0"),
        (("--clue-bertscore-layers", "0"), "--clue-bertscore-layers must be >= 1, got 0"),
        (("--clue-tensor-parallel-size", "0"), "--clue-tensor-parallel-size must be >= 1, got 0"),
        (("--clue-pipeline-parallel-size", "-2"), "--clue-pipeline-parallel-size must be >= 1, got -2"),
        (("--clue-max-model-len", "0"), "--clue-max-model-len must be >= 1, got 0"),
        (("--clue-gpu-memory-utilization", "1.2"), "--clue-gpu-memory-utilization must be a fraction in (0, 1], got 1.2"),
        (("--clue-dtype", "float8"), "--clue-dtype must be one of auto, float32, bfloat16, float16, got 'float8'"),
        (("--engine", "openai"), "--engine openai needs --api-base URL"),
        (("--engine", "replay"), "--engine replay needs --clue-replay FILE"),
        (("--engine", "replay", "--clue-replay", "missing.jsonl"), "--clue-replay: replay: file not found: missing.jsonl"),
        (("--task", "nosuchtask"), "unknown task 'nosuchtask'"),
    ],
)
def test_bad_options_are_one_usage_error(pytester: pytest.Pytester, args: tuple[str, ...], expected: str) -> None:
    run = clue_run(pytester, "--model", "demo", *args)
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert expected in run.output
    assert run.output.count("ERROR:") == 1
    assert "Traceback" not in run.output
    assert not (pytester.path / "reports").exists()


def test_an_unwritable_report_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    blocker = pytester.path / "reports"
    blocker.write_text("a file where the report folder should be\n", encoding="utf-8")
    run = clue_run(pytester, "--model", "oracle", "--task", "meqsum")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "--clue-report-dir reports: cannot create the report folder" in run.output
    assert "Traceback" not in run.output
    blocker.unlink()
    locked = pytester.path / "reports"
    locked.mkdir()
    faults = {"read_only": [str(locked)]} if IS_ROOT else None
    if not IS_ROOT:
        locked.chmod(0o555)
    try:
        run = clue_run(pytester, "--model", "oracle", "--task", "meqsum", faults=faults)
    finally:
        locked.chmod(0o755)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "--clue-report-dir reports: the report folder is not writable" in run.output
    assert list(locked.iterdir()) == []


def _registry(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_registry_cycle_is_a_usage_error(pytester: pytest.Pytester) -> None:
    registry = _registry(
        pytester.path / "cycle.toml",
        '[models.ft-a]\nweights = "org/a"\nbase = "ft-b"\n[models.ft-b]\nweights = "org/b"\nbase = "ft-a"\n',
    )
    run = clue_run(pytester, "--model", "ft-a", "--clue-registry", str(registry))
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "ft-a -> ft-b -> ft-a" in run.output and "cycle.toml" in run.output
    assert "Traceback" not in run.output


def test_a_broken_registry_entry_does_not_block_other_models(pytester: pytest.Pytester) -> None:
    registry = _registry(
        pytester.path / "mixed.toml",
        '[models.broken]\nweights = "org/x"\ncolour = "red"\n'
        '[models.orphan]\nweights = "org/y"\nbase = "nowhere"\n',
    )
    run = clue_run(pytester, "--model", "oracle", "--task", "meqsum", "--limit", "2", "--clue-registry", str(registry))
    assert run.ret == 0, run.output
    assert run.first_line.startswith("# PASS")
    run = clue_run(pytester, "--model", "broken", "--clue-registry", str(registry), run_id="broken")
    assert run.ret == pytest.ExitCode.USAGE_ERROR and "unknown field(s) colour" in run.output
    run = clue_run(pytester, "--model", "orphan", "--clue-registry", str(registry), run_id="orphan")
    assert run.ret == pytest.ExitCode.USAGE_ERROR and "base 'nowhere'" in run.output
