"""Helpers of the fault-injection suite: clue runs in pytester subprocesses, each checked against the
one rule that must hold for every run: a run whose exit status is not 0 never has a summary whose
first line says PASS (and a PASS summary means exit status 0)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clue.pipeline import demo_data_dir

RUN_ID = "run"
OUTCOME_LINES = ("# PASS: ", "# FAIL: ", "# INCOMPLETE: ")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # permission bits do not stop root

# A pytest plugin (-p clue_faults) that injects the faults named in $CLUE_FAULTS (JSON):
#   "open": {path suffix: exception name}   opening that file raises it (builtins.open and io.open)
#   "read_only": [folder, ...]              os.access reports no write permission below these folders
#   "interrupt_at": test name               KeyboardInterrupt when that test's call starts
#   "exit_at": test name                    the process dies (os._exit) when that test's call starts
#   "schema_broken": true                   the finished report fails its schema validation
# Root ignores permission bits, so a chmod alone cannot make a file unreadable or a folder
# read-only for a test run as root; the plugin makes the same conditions visible to clue.
FAULT_PLUGIN = '''
import builtins, io, json, os

FAULTS = json.loads(os.environ.get("CLUE_FAULTS", "{}"))
_open, _access = io.open, os.access


def _error(kind, name):
    if kind == "PermissionError":
        return PermissionError(13, "Permission denied", name)
    if kind == "MemoryError":
        return MemoryError()
    if kind == "IsADirectoryError":
        return IsADirectoryError(21, "Is a directory", name)
    raise ValueError(kind)


def _open_with_faults(file, *args, **kwargs):
    if isinstance(file, (str, os.PathLike)):
        name = os.fspath(file)
        for suffix, kind in FAULTS.get("open", {}).items():
            if isinstance(name, str) and name.endswith(suffix):
                raise _error(kind, name)
    return _open(file, *args, **kwargs)


def _access_with_faults(path, mode, *args, **kwargs):
    if mode & os.W_OK and isinstance(path, (str, os.PathLike)):
        where = os.path.abspath(os.fspath(path))
        if any(where == p or where.startswith(p + os.sep) for p in FAULTS.get("read_only", [])):
            return False
    return _access(path, mode, *args, **kwargs)


builtins.open = io.open = _open_with_faults
os.access = _access_with_faults


def pytest_configure(config):
    if FAULTS.get("schema_broken"):
        import jsonschema
        import clue.report.assemble

        def broken(report):
            raise jsonschema.ValidationError("'n' is a required property (injected)")

        clue.report.assemble.validate_report = broken


def pytest_runtest_call(item):
    if item.name == FAULTS.get("interrupt_at"):
        raise KeyboardInterrupt
    if item.name == FAULTS.get("exit_at"):
        os._exit(3)
'''


@dataclass(frozen=True)
class Run:
    result: pytest.RunResult
    run_dir: Path

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def output(self) -> str:
        return self.result.stdout.str() + "\n" + self.result.stderr.str()

    @property
    def report(self) -> dict[str, Any]:
        path = self.run_dir / "report.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @property
    def summary(self) -> str:
        path = self.run_dir / "summary.md"
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    @property
    def first_line(self) -> str:
        return self.summary.splitlines()[0] if self.summary else ""

    def case(self, kind: str, model: str, task: str) -> dict[str, Any]:
        return next(c for c in self.report["cases"] if (c["kind"], c["model"], c["task"]) == (kind, model, task))


def check_verdict_line(run: Run) -> None:
    """The invariant of every run: the summary's first line agrees with the exit status."""
    if run.ret == pytest.ExitCode.USAGE_ERROR or not run.summary:
        return  # a usage error writes nothing (what is there is an earlier run's)
    assert run.first_line.startswith(OUTCOME_LINES), run.first_line
    if run.ret != 0:
        assert not run.first_line.startswith("# PASS"), (run.ret, run.first_line)
    if run.first_line.startswith("# PASS"):
        assert run.ret == 0, run.output
    report = run.report
    if report:
        assert report["outcome"]["exit_status"] == run.ret
        assert report["run"]["exit_status"] == run.ret
        assert run.first_line.startswith(f"# {report['outcome']['status']}: ")


def clue_run(
    pytester: pytest.Pytester, *args: str, run_id: str = RUN_ID, faults: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
) -> Run:
    """``pytest -m clue ARGS`` in a subprocess (no generation cache unless ``cache_dir``), checked."""
    plugin: tuple[str, ...] = ()
    if faults is not None:
        pytester.makepyfile(clue_faults=FAULT_PLUGIN)
        os.environ["CLUE_FAULTS"] = json.dumps(faults)
        plugin = ("-p", "clue_faults")
    cache = ("--clue-cache-dir", str(cache_dir)) if cache_dir else ("--clue-no-cache",)
    try:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", *plugin, "-m", "clue", "--clue-report-dir", "reports",
            "--clue-run-id", run_id, *cache, *args,
        )
    finally:
        os.environ.pop("CLUE_FAULTS", None)
    run = Run(result, pytester.path / "reports" / run_id)
    check_verdict_line(run)
    return run


def copy_demo_data(target: Path) -> Path:
    shutil.copytree(demo_data_dir(), target)
    return target
