"""Errors stay in their task: whatever goes wrong reading one task's file fails that task alone, with its
cause; the other tasks' cases and the report are unaffected."""

from __future__ import annotations

import builtins
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_runs import IS_ROOT, clue_run, copy_demo_data

from clue.errors import DataFormatError, DataMissingError, DataReadError
from clue.pipeline import demo_data_dir, load_task_data
from clue.tasks.registry import ALL_TASKS, get_task, select_tasks

LOADER_TASKS = [
    "mednli", "meqsum", "problemsummary", "medisumcode", "medisumqa", "longhealth_task1",
    "medqa", "medmcqa", "pubmedqa", "jama", "nejm",
]
JSON_TASKS = ["mednli", "medisumcode", "medisumqa", "longhealth_task1", "medqa", "medmcqa", "pubmedqa", "nejm"]


def _data(tmp_path: Path) -> Path:
    return copy_demo_data(tmp_path / "data")


def _file(data: Path, task_name: str) -> Path:
    return get_task(task_name).data_path(data)


def _fail_opening(monkeypatch: pytest.MonkeyPatch, target: Path, error: Callable[[str], BaseException]) -> None:
    """Opening ``target`` raises ``error`` (through builtins.open and io.open, which pathlib uses)."""
    real = io.open

    def fake(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(file, str | os.PathLike) and Path(os.fspath(file)) == target:
            raise error(str(target))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake)
    monkeypatch.setattr(io, "open", fake)


# -- every loader, every way a file can be unreadable ----------------------------------------------
@pytest.mark.parametrize("task_name", LOADER_TASKS)
def test_garbage_bytes_are_a_data_error_naming_the_file(tmp_path: Path, task_name: str) -> None:
    data = _data(tmp_path)
    path = _file(data, task_name)
    path.write_bytes(b"\xff\xfe\x00 not a data file \x80\x81")
    with pytest.raises(DataFormatError) as info:
        load_task_data(get_task(task_name), data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("task_name", LOADER_TASKS)
def test_a_folder_where_the_file_should_be_is_not_reported_missing(tmp_path: Path, task_name: str) -> None:
    data = _data(tmp_path)
    path = _file(data, task_name)
    path.unlink()
    path.mkdir()
    with pytest.raises(DataReadError, match="is a folder, not a file") as info:
        load_task_data(get_task(task_name), data)
    assert not isinstance(info.value, DataMissingError) and str(path) in str(info.value)


@pytest.mark.parametrize("task_name", LOADER_TASKS)
def test_an_unreadable_file_is_a_data_error_with_its_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_name: str
) -> None:
    data = _data(tmp_path)
    path = _file(data, task_name)
    if IS_ROOT:  # root reads a mode-000 file: make the open fail as it would for anyone else
        _fail_opening(monkeypatch, path, lambda p: PermissionError(13, "Permission denied", p))
    else:
        path.chmod(0)
    try:
        with pytest.raises(DataReadError, match="PermissionError: Permission denied") as info:
            load_task_data(get_task(task_name), data)
    finally:
        path.chmod(0o644)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("task_name", LOADER_TASKS)
def test_memory_exhaustion_while_reading_is_a_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_name: str
) -> None:
    data = _data(tmp_path)
    path = _file(data, task_name)
    _fail_opening(monkeypatch, path, lambda p: MemoryError())
    with pytest.raises(DataReadError, match="MemoryError"):
        load_task_data(get_task(task_name), data)


@pytest.mark.parametrize("task_name", JSON_TASKS)
def test_deeply_nested_json_is_a_data_error(tmp_path: Path, task_name: str) -> None:
    data = _data(tmp_path)
    path = _file(data, task_name)
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(DataFormatError, match="nested too deeply") as info:
        load_task_data(get_task(task_name), data)
    assert str(path) in str(info.value)


def test_deeply_nested_json_lines_name_the_line(tmp_path: Path) -> None:
    data = _data(tmp_path)
    path = _file(data, "mednli")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = '{"a":' * 100_000 + "1" + "}" * 100_000
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 3.*nested too deeply"):
        load_task_data(get_task("mednli"), data)


def test_a_missing_file_is_still_missing(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match="physionet"):
        load_task_data(get_task("mednli"), tmp_path)


def test_every_task_has_a_loader_test() -> None:
    assert {t.group if t.group == "longhealth" else t.name for t in ALL_TASKS} == {
        "longhealth" if n.startswith("longhealth") else n for n in LOADER_TASKS
    }


# -- a run with several broken files: each fails alone, the rest pass, the report is whole ---------
def test_broken_files_fail_their_tasks_alone(pytester: pytest.Pytester, tmp_path: Path) -> None:
    data = _data(tmp_path)
    (_file(data, "medisumqa")).write_text("[" * 100_000, encoding="utf-8")  # RecursionError in the parser
    folder = _file(data, "problemsummary")
    folder.unlink()
    folder.mkdir()
    faults = {"open": {"MedNLI/mli_test_v1.jsonl": "PermissionError", "MeDiSumCode/MeDiSumCode.json": "MemoryError"}}
    if not IS_ROOT:
        _file(data, "mednli").chmod(0)
    try:
        run = clue_run(pytester, "--model", "oracle", "--clue-data", str(data), "--limit", "3", "-rA", faults=faults)
    finally:
        _file(data, "mednli").chmod(0o644)
    assert run.ret == 1, run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output
    causes = {
        "mednli": "PermissionError",
        "medisumcode": "MemoryError",
        "medisumqa": "nested too deeply",
        "problemsummary": "is a folder",
    }
    statuses = {p["task"]: p["status"] for p in run.report["tasks"]}
    assert statuses == {t.name: ("error" if t.name in causes else "ok") for t in select_tasks()}  # the default run
    for task, cause in causes.items():
        for kind in ("task", "regression"):
            case = run.case(kind, "oracle", task)
            assert case["outcome"] == "failed" and case["category"] == "data_error", case
            assert cause in case["message"], case
    for task in ("meqsum", "longhealth_task1", "longhealth_task2", "longhealth_task3"):
        for kind in ("task", "regression"):
            assert run.case(kind, "oracle", task)["outcome"] == "passed"
    assert {v["task"] for v in run.report["verdicts"]} == {
        "meqsum", "longhealth_task1", "longhealth_task2", "longhealth_task3"
    }
    assert run.first_line.startswith("# FAIL")


def test_an_unreadable_data_folder_entry_is_not_a_crash(tmp_path: Path) -> None:
    """A task folder replaced by a file: the task's file cannot exist, so it is missing (with its path)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "MedNLI").write_text("not a folder\n", encoding="utf-8")
    with pytest.raises(DataMissingError) as info:
        load_task_data(get_task("mednli"), data)
    assert "mli_test_v1.jsonl" in str(info.value)
    shutil.rmtree(data)
    assert load_task_data(get_task("meqsum"), demo_data_dir()).examples
