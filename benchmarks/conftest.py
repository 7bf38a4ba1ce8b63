"""Collect the ``bench_*.py`` files when the whole folder is given (``pytest benchmarks``, as in the
Makefile's ``bench`` target); a file named on the command line is collected by pytest itself."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
