"""What a task is: its data file, prompt contract, metrics, and three functions (load, requests, score)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from clue.records import Completion, Example, ItemScore, Request


class TokenCounter(Protocol):
    """Counts and truncates text in a model's tokens (engines supply one; it is cheap to build)."""

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` of at most ``max_tokens`` tokens."""
        ...


@dataclass(frozen=True)
class PromptContext:
    """What prompt building needs from the model: token counting and the context size."""

    tokens: TokenCounter
    max_context: int
    seed: int = 1


class BertScorer(Protocol):
    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> list[tuple[float, float, float]]:
        """(precision, recall, f1) per pair."""
        ...


class EntityExtractor(Protocol):
    def __call__(self, texts: Sequence[str]) -> list[frozenset[str]]:
        """Set of concept ids/names per text."""
        ...


@dataclass(frozen=True)
class ScoringContext:
    """Session-scoped scorers that load a model; None where unavailable (reported, never scored 0)."""

    bertscore: BertScorer | None = None
    umls: EntityExtractor | None = None
    umls_unavailable_reason: str = ""
    bertscore_description: str = ""
    bertscore_unavailable_reason: str = ""
    processes: int = 1


LoadFn = Callable[[Path], list[Example]]
RequestsFn = Callable[[Sequence[Example], PromptContext], list[Request]]
ScoreFn = Callable[[Sequence[Request], Sequence[Completion], ScoringContext], list[ItemScore]]


@dataclass(frozen=True)
class Task:
    name: str  # id used in test ids and options: "meqsum", "longhealth_task1"
    display_name: str  # as CLUE writes it: "MeQSum", "LongHealth Task 1"
    level: int  # 1 or 2
    group: str  # Level-score group: the three LongHealth tasks share "longhealth"
    data_file: str  # path under the data folder, original file name: "MeQSum/MeQSum_....xlsx"
    how_to_obtain: str
    credentialed: bool
    n_shots: int
    max_new_tokens: int
    metrics: tuple[str, ...]  # every metric reported
    level_metrics: tuple[str, ...]  # the metrics CLUE averages into the level score
    load: LoadFn
    requests: RequestsFn
    score: ScoreFn
    gated_metrics: tuple[str, ...] = ()  # metrics the regression gate tests; default: level_metrics
    extra: Any = None

    def data_path(self, data_dir: Path) -> Path:
        return Path(data_dir) / self.data_file

    @property
    def gate_metrics(self) -> tuple[str, ...]:
        return self.gated_metrics or self.level_metrics
