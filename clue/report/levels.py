"""CLUE's Level 1 and Level 2 scores (CLUE-SPEC, common protocol).

Level N = mean over the level's task groups of (mean of the group's level metrics). A group is a task,
except LongHealth whose three tasks form one group. Scores in, scores out, on any one scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clue.tasks.base import Task


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
    for level in sorted({t.level for t in tasks}):
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
