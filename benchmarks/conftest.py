"""Collect the ``bench_*.py`` files when the whole folder is given (``pytest benchmarks``, as in the
Makefile's ``bench`` target); a file named on the command line is collected by pytest itself.

``bench_tables``: benchmarks append text tables to it; they are printed at the end of the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_TABLES = pytest.StashKey[list[str]]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def bench_tables(request: pytest.FixtureRequest) -> list[str]:
    return request.config.stash.setdefault(_TABLES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    tables = config.stash.get(_TABLES, [])
    if tables:
        terminalreporter.write_sep("-", "benchmark tables")
        for table in tables:
            terminalreporter.write_line(table)
