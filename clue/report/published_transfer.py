"""The published differences between biomedical fine-tunes and their bases, beside clue's measurements:
Dada et al., GEM 2025, Table 3 (MCQA gain vs CLUE Level 1 and Level 2 change) and the case-challenge
accuracies of Dorfner et al., JAMIA 2025. Sources: clue/data/published/SOURCE.txt. A pair is found by
the two models' weights (hub ids), so a pair measured under another alias still matches. Percent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

GEM_FILE = "gem2025_table3.json"
JAMIA_FILE = "jamia2025_case_challenges.json"


@dataclass(frozen=True)
class PublishedPair:
    """One row of GEM 2025 Table 3: fine-tune minus base, points (None: not in the table)."""

    model: str
    base: str
    model_weights: str
    base_weights: str
    mcqa: float | None
    level1: float | None
    level2: float | None
    source: str


@dataclass(frozen=True)
class PublishedCase:
    """A case-challenge accuracy of a fine-tune and of the model it is compared with (JAMIA 2025)."""

    challenge: str
    task: str
    model: str
    model_weights: str
    accuracy: float
    base: str
    base_weights: str
    base_accuracy: float
    source: str

    @property
    def diff(self) -> float:
        return round(self.accuracy - self.base_accuracy, 4)


def _read(name: str) -> dict[str, Any]:
    return json.loads(resources.files("clue.data.published").joinpath(name).read_text(encoding="utf-8"))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@cache
def published_pairs() -> tuple[PublishedPair, ...]:
    raw = _read(GEM_FILE)
    source = raw["source"]["citation"]
    return tuple(
        PublishedPair(p["model"], p["base"], p["model_weights"], p["base_weights"], _number(p["mcqa"]),
                      _number(p["level1"]), _number(p["level2"]), source)
        for p in raw["pairs"]
    )


@cache
def published_cases() -> tuple[PublishedCase, ...]:
    raw = _read(JAMIA_FILE)
    source = raw["source"]["citation"]
    return tuple(
        PublishedCase(c["challenge"], c["task"], c["model"], c["model_weights"], float(c["accuracy"]), c["base"],
                      c["base_weights"], float(c["base_accuracy"]), source)
        for c in raw["comparisons"]
    )


def pair_deltas(model_weights: str | None, base_weights: str | None) -> PublishedPair | None:
    """The GEM 2025 row of exactly this fine-tune and base, if the table has one."""
    return next((p for p in published_pairs() if (p.model_weights, p.base_weights) == (model_weights, base_weights)), None)


def pair_cases(model_weights: str | None, base_weights: str | None) -> tuple[PublishedCase, ...]:
    """The JAMIA 2025 comparisons of exactly this fine-tune and base."""
    return tuple(c for c in published_cases() if (c.model_weights, c.base_weights) == (model_weights, base_weights))


def published_summary(model_weights: str | None, base_weights: str | None) -> dict[str, Any] | None:
    """What the report records of a pair's published differences (None when there are none)."""
    gem = pair_deltas(model_weights, base_weights)
    cases = pair_cases(model_weights, base_weights)
    if gem is None and not cases:
        return None
    out: dict[str, Any] = {}
    if gem is not None:
        out["gem2025"] = {"source": gem.source, "model": gem.model, "base": gem.base, "mcqa": gem.mcqa,
                          "level1": gem.level1, "level2": gem.level2}
    if cases:
        out["cases"] = [
            {"source": c.source, "challenge": c.challenge, "task": c.task, "model": c.model, "base": c.base,
             "accuracy": c.accuracy, "base_accuracy": c.base_accuracy, "diff": c.diff}
            for c in cases
        ]
    return out
