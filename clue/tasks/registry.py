"""The task registry: every CLUE task, in CLUE's order. Adding a task = one module + one line here
(and its section in the protocol files; README, "Adding a task")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def select_tasks(names: Iterable[str] = (), tasks: Sequence[Task] = ALL_TASKS) -> list[Task]:
    """Tasks by name, in registry order; a group name ("longhealth") selects the whole group. Empty = all."""
    wanted = [n.strip().lower() for n in names if n.strip()]
    if not wanted:
        return list(tasks)
    chosen: set[str] = set()
    for name in wanted:
        matches = [t.name for t in tasks if name in (t.name, t.group)]
        if not matches:
            known = ", ".join(sorted({t.name for t in tasks} | {t.group for t in tasks}))
            raise ConfigError(f"unknown task {name!r}; known tasks: {known}")
        chosen.update(matches)
    return [t for t in tasks if t.name in chosen]


def get_task(name: str) -> Task:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(_BY_NAME)}") from None
