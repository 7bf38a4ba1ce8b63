"""Typed records of report.json: frozen dataclasses, 0-1 units inside, percent in the JSON.

A field holding a 0-1 score, difference or effect is declared ``percent_field()``; ``Record.to_json``
scales exactly those, once, for every record type (``percent``: 4 decimals, NaN and None as null).
Counts, p-values, confidences and ratios are written as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from clue.gate.rules import GatedComparison, Verdict

PERCENT = 100.0
_PERCENT = "clue.percent"


def percent(x: float | None) -> float | None:
    """A 0-1 number in percent as the report writes it (None for None and NaN)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x * PERCENT, 4)


def percent_field(default: Any = None) -> Any:
    """A dataclass field in 0-1 units that ``to_json`` writes in percent."""
    return field(default=default, metadata={_PERCENT: True})


@dataclass(frozen=True)
class Record:
    """A report record: ``to_json`` writes its fields in order, percent fields scaled, nested
    records and sequences of records written by their own ``to_json``."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get(_PERCENT):
                value = percent(value)
            elif isinstance(value, Record):
                value = value.to_json()
            elif isinstance(value, tuple | list) and value and all(isinstance(v, Record) for v in value):
                value = [v.to_json() for v in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class MetricRecord(Record):
    """One metric of a model x task: mean and bootstrap CI (0-1), counts."""

    mean: float | None = percent_field()
    ci_low: float | None = percent_field()
    ci_high: float | None = percent_field()
    n: int = 0
    n_clusters: int = 0
    level_metric: bool = False


@dataclass(frozen=True)
class DisagreementRecord(Record):
    """An item where the base scored above the model (scores 0-1, outputs cut to one line)."""

    id: str
    model_score: float | None = percent_field()
    base_score: float | None = percent_field()
    model_output: str = ""
    base_output: str = ""
    reference: str | None = None  # the gold text, only with --clue-include-text

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if out["reference"] is None:
            del out["reference"]
        return out


@dataclass(frozen=True)
class ComparisonRecord(Record):
    """One gated comparison of model and base, with its power and its verdict's status."""

    model: str
    base: str
    task: str
    metric: str
    n: int
    n_clusters: int
    n_model_only: int
    n_base_only: int
    model_mean: float | None = percent_field()
    base_mean: float | None = percent_field()
    diff: float | None = percent_field()
    ci_low: float | None = percent_field()
    ci_high: float | None = percent_field()
    p_value: float | None = None
    test: str = ""
    confidence: float = 0.95
    n_model_better: int = 0
    n_base_better: int = 0
    n_discordant: int = 0
    p_adjusted: float | None = None
    status: str = ""
    mde: float | None = percent_field()
    n_needed: int | None = None
    power_target: float | None = percent_field()
    power: float | None = None
    power_alpha: float | None = None
    design_effect: float | None = None
    power_basis: str | None = None
    n_truncated_model: int | None = None
    n_truncated_base: int | None = None
    problem: str | None = None
    disagreements: tuple[DisagreementRecord, ...] = ()

    @classmethod
    def of(cls, g: GatedComparison, v: Verdict, disagreements: Sequence[Any] = ()) -> ComparisonRecord:
        """The record of a gated comparison ``g`` and its verdict ``v`` (``disagreements``:
        ``clue.gate.family.Disagreement`` items)."""
        c, power = g.comparison, g.power
        return cls(
            model=g.model, base=g.base, task=g.task, metric=g.metric,
            n=c.n, n_clusters=c.n_clusters, n_model_only=c.n_model_only, n_base_only=c.n_base_only,
            model_mean=c.model_mean, base_mean=c.base_mean, diff=c.diff, ci_low=c.ci_low, ci_high=c.ci_high,
            p_value=None if g.problem else c.p_value, test=c.test, confidence=c.confidence,
            n_model_better=c.n_model_better, n_base_better=c.n_base_better, n_discordant=c.n_discordant,
            p_adjusted=v.p_adjusted, status=v.status,
            mde=None if power is None else power.mde,
            n_needed=None if power is None else power.n_needed,
            power_target=None if power is None else power.target,
            power=None if power is None else power.power,
            power_alpha=None if power is None else power.alpha,
            design_effect=None if power is None else round(power.design_effect, 4),
            power_basis=None if power is None else power.basis,
            n_truncated_model=None if g.truncated is None else g.truncated[0],
            n_truncated_base=None if g.truncated is None else g.truncated[1],
            problem=g.problem or None,
            disagreements=tuple(
                DisagreementRecord(d.item, d.model_score, d.base_score, d.model_output, d.base_output, d.reference)
                for d in disagreements
            ),
        )
