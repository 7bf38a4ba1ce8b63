"""CLUE's Level 1 and Level 2 scores (CLUE-SPEC, common protocol).

Level N = mean over the level's task groups of (mean of the group's level metrics). A group is a task,
except LongHealth whose three tasks form one group. Scores in, scores out, on any one scale. Only the
CLUE tasks have a level (1 or 2): the families beside CLUE (level 0) never enter a Level score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from clue.tasks.base import Task

CLUE_LEVELS = (1, 2)


@dataclass(frozen=True)
class LevelScore:
    level: int
    score: float | None  # None when no group of the level has a score
    groups: Mapping[str, float]  # group -> mean of its level metrics
    missing: tuple[str, ...]  # "task:metric" pairs without a value (task not run, metric unavailable)

    @property
    def complete(self) -> bool:
        return not self.missing and self.score is not None


def compute_levels(scores: Mapping[str, Mapping[str, float]], tasks: Sequence[Task]) -> dict[int, LevelScore]:
    """``scores``: task name -> metric -> value. Returns level -> LevelScore for each level in ``tasks``."""
    out: dict[int, LevelScore] = {}
    for level in sorted({t.level for t in tasks if t.level in CLUE_LEVELS}):
        groups: dict[str, list[float]] = {}
        missing: list[str] = []
        for task in (t for t in tasks if t.level == level):
            for metric in task.level_metrics:
                value = scores.get(task.name, {}).get(metric)
                if value is None:
                    missing.append(f"{task.name}:{metric}")
                else:
                    groups.setdefault(task.group, []).append(float(value))
        group_means = {g: sum(v) / len(v) for g, v in groups.items()}
        score = sum(group_means.values()) / len(group_means) if group_means else None
        out[level] = LevelScore(level, score, group_means, tuple(missing))
    return out


def level_weights(tasks: Sequence[Task], level: int, available: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """The weight of each (task, metric) in the Level score, over the ``available`` pairs: the score
    is the weighted sum of those metrics' values (each group 1/groups, shared by its metrics)."""
    have = set(available)
    groups: dict[str, list[tuple[str, str]]] = {}
    for task in (t for t in tasks if t.level == level and level in CLUE_LEVELS):
        for metric in task.level_metrics:
            if (task.name, metric) in have:
                groups.setdefault(task.group, []).append((task.name, metric))
    return {key: 1.0 / (len(groups) * len(members)) for members in groups.values() for key in members}
