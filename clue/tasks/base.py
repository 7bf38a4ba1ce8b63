"""What a task is: its data file, metrics, and four functions (load, requests, score, gold).

The prompts and output rules live in the protocol data (``clue/prompts/protocols``), keyed by the
task's name; the module holds the file format and the scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.records import Completion, Example, ItemScore, Request

LoadFn = Callable[[Path], list[Example]]
RequestsFn = Callable[[Sequence[Example], PromptContext], list[Request]]
ScoreFn = Callable[[Sequence[Request], Sequence[Completion], ScoringContext], list[ItemScore]]
GoldFn = Callable[[Any], Any]


@dataclass(frozen=True)
class Task:
    name: str  # id used in test ids, options and protocol sections: "meqsum", "longhealth_task1"
    display_name: str  # as CLUE writes it: "MeQSum", "LongHealth Task 1"
    level: int  # CLUE level 1 or 2; 0 for the task families beside CLUE (no Level score)
    group: str  # Level-score group: the three LongHealth tasks share "longhealth"
    data_file: str  # path under the data folder, original file name: "MeQSum/MeQSum_....xlsx"
    how_to_obtain: str
    credentialed: bool
    metrics: tuple[str, ...]  # every metric reported (each declared in clue/metrics/catalog.py)
    level_metrics: tuple[str, ...]  # the metrics CLUE averages into the level score (outside CLUE: the headline metric)
    load: LoadFn
    requests: RequestsFn
    score: ScoreFn
    gold: GoldFn  # ground truth (as a reference predictions file or the record holds it) -> scoring key
    gated_metrics: tuple[str, ...] = ()  # metrics the regression gate tests; default: level_metrics
    extra: Any = None
    suite: str = "clue"  # task family, a --task group: "clue" (the default run), "mcqa" or "cases"

    def data_path(self, data_dir: Path) -> Path:
        return Path(data_dir) / self.data_file

    @property
    def gate_metrics(self) -> tuple[str, ...]:
        return self.gated_metrics or self.level_metrics
