"""The task registry: the six CLUE tasks in CLUE's order, then the families beside CLUE.

Adding a task = one module + one line here (and its section in the protocol files; README,
"Adding a task"). Every task belongs to a suite, which ``--task`` also accepts as a group name:
``clue`` (the default run), ``mcqa`` (MedQA, MedMCQA, PubMedQA), ``cases`` (the JAMA and NEJM
clinical challenges); ``all`` selects every task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clue.errors import ConfigError
from clue.tasks import (
    jama,
    longhealth,
    medisumcode,
    medisumqa,
    medmcqa,
    mednli,
    medqa,
    meqsum,
    nejm,
    problem_summary,
    pubmedqa,
)
from clue.tasks.base import Task

ALL_TASKS: tuple[Task, ...] = (
    mednli.TASK,
    meqsum.TASK,
    problem_summary.TASK,
    medisumcode.TASK,
    medisumqa.TASK,
    *longhealth.TASKS,
    medqa.TASK,
    medmcqa.TASK,
    pubmedqa.TASK,
    jama.TASK,
    nejm.TASK,
)

DEFAULT_SUITE = "clue"
ALL = "all"

_BY_NAME = {t.name: t for t in ALL_TASKS}


def select_tasks(names: Iterable[str] = (), tasks: Sequence[Task] = ALL_TASKS) -> list[Task]:
    """Tasks by name, in registry order. A group name selects its tasks: a task group
    ("longhealth"), a suite ("clue", "mcqa", "cases") or "all". Empty = the CLUE suite."""
    wanted = [n.strip().lower() for n in names if n.strip()] or [DEFAULT_SUITE]
    chosen: set[str] = set()
    for name in wanted:
        matches = [t.name for t in tasks if name == ALL or name in (t.name, t.group, t.suite)]
        if not matches:
            known = ", ".join(sorted({t.name for t in tasks} | {t.group for t in tasks} | {t.suite for t in tasks} | {ALL}))
            raise ConfigError(f"unknown task {name!r}; known tasks and groups: {known}")
        chosen.update(matches)
    return [t for t in tasks if t.name in chosen]


def get_task(name: str) -> Task:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(_BY_NAME)}") from None
