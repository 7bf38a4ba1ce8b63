"""The run folder ``<report dir>/<run id>/``: run ids are names, never paths, and a run never writes
into another run's folder.

``prepare_run_dir`` creates the folder when the run starts, so an unwritable report folder is a
usage error before anything runs, and a run id already used is refused (its parts would otherwise
be merged into this run's report). With ``overwrite`` the old run's files are removed first; a
folder holding files clue did not write is never emptied.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from clue.errors import ConfigError

RUN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_RUN_ID = 128
RUN_FILES = frozenset({"parts", "items", "report.json", "summary.md", "plot.png"})


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a plain name (letters, digits, ``.``, ``_``, ``-``; not starting with a dot)."""
    if not RUN_ID.fullmatch(run_id) or len(run_id) > MAX_RUN_ID:
        raise ConfigError(
            f"--clue-run-id {run_id!r}: a run id is a folder name, not a path: use at most {MAX_RUN_ID} letters, "
            "digits, '.', '_' or '-', not starting with '.'"
        )
    return run_id


def _is_run_file(name: str) -> bool:
    return name in RUN_FILES or (name.startswith(".") and name.endswith(".tmp"))  # an atomic write cut short


def prepare_run_dir(report_dir: Path, run_id: str, *, overwrite: bool = False) -> Path:
    """Create ``report_dir/run_id`` for a new run and return it; ConfigError (naming the option) when
    the report folder cannot be written or the run id is taken (unless ``overwrite``)."""
    check_run_id(run_id)
    report_dir = Path(report_dir)
    run_dir = report_dir / run_id
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--clue-report-dir {report_dir}: cannot create the report folder ({exc.strerror or exc})"
        ) from exc
    if not os.access(report_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"--clue-report-dir {report_dir}: the report folder is not writable")
    if run_dir.exists() or run_dir.is_symlink():
        if not overwrite:
            raise ConfigError(
                f"--clue-run-id {run_id}: {run_dir} already exists (a run with this id was written before). "
                "Choose another run id, or add --clue-overwrite to replace that run's report"
            )
        _clear(run_dir)
    try:
        run_dir.mkdir(exist_ok=overwrite)
    except FileExistsError as exc:
        raise ConfigError(f"--clue-run-id {run_id}: {run_dir} was created by another run just now") from exc
    except OSError as exc:
        raise ConfigError(
            f"--clue-report-dir {report_dir}: cannot create the run folder {run_dir} ({exc.strerror or exc})"
        ) from exc
    return run_dir


def _clear(run_dir: Path) -> None:
    """Remove an earlier run's files from ``run_dir``, refusing when it holds anything else."""
    if run_dir.is_symlink() or not run_dir.is_dir():
        raise ConfigError(f"--clue-overwrite: {run_dir} is not a run folder; not replacing it")
    foreign = sorted(p.name for p in run_dir.iterdir() if not _is_run_file(p.name))
    if foreign:
        raise ConfigError(
            f"--clue-overwrite: {run_dir} holds files clue does not write ({', '.join(foreign[:5])}); "
            "not replacing it"
        )
    try:
        for entry in run_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except OSError as exc:
        raise ConfigError(f"--clue-overwrite: cannot remove the old run in {run_dir} ({exc.strerror or exc})") from exc
