"""The task registry: every CLUE task, in CLUE's order. Adding a task = one module + one line here."""

from __future__ import annotations

from collections.abc import Iterable

from clue.errors import ConfigError
from clue.tasks import longhealth, medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue.tasks.base import Task

ALL_TASKS: tuple[Task, ...] = (
    mednli.TASK,
    meqsum.TASK,
    problem_summary.TASK,
    medisumcode.TASK,
    medisumqa.TASK,
    *longhealth.TASKS,
)

_BY_NAME = {t.name: t for t in ALL_TASKS}


def select_tasks(names: Iterable[str] = ()) -> list[Task]:
    """Tasks by name, in CLUE order; a group name ("longhealth") selects the whole group. Empty = all."""
    wanted = [n.strip().lower() for n in names if n.strip()]
    if not wanted:
        return list(ALL_TASKS)
    chosen: set[str] = set()
    for name in wanted:
        matches = [t.name for t in ALL_TASKS if name in (t.name, t.group)]
        if not matches:
            known = ", ".join(sorted({t.name for t in ALL_TASKS} | {t.group for t in ALL_TASKS}))
            raise ConfigError(f"unknown task {name!r}; known tasks: {known}")
        chosen.update(matches)
    return [t for t in ALL_TASKS if t.name in chosen]


def get_task(name: str) -> Task:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(_BY_NAME)}") from None
