"""Planning a run: which models, which base each is gated against, which tasks and cases.

A pure function of the registry and the run's settings (``plan_run``); nothing is loaded. The
session holds the plan, runs its cases and keeps their results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from clue.config import RunConfig
from clue.models.adapters import resolve_model
from clue.models.registry import ModelSpec, Registry
from clue.tasks.base import Task
from clue.tasks.registry import select_tasks


@dataclass(frozen=True)
class Case:
    """One model x task evaluation case."""

    model: str
    task: Task

    @property
    def id(self) -> str:
        return f"{self.model}-{self.task.name}"


@dataclass(frozen=True)
class Pairing:
    """A model gated against its base."""

    model: str
    base: str


@dataclass(frozen=True)
class RunPlan:
    """The models of a run (each base before the models gated on it), its pairings and tasks.

    ``from_baseline``: the bases whose results are read from a stored run (``--clue-baseline``)
    instead of being run.
    """

    specs: Mapping[str, ModelSpec]
    pairings: tuple[Pairing, ...]
    tasks: tuple[Task, ...]
    from_baseline: frozenset[str] = frozenset()

    def base_of(self, alias: str) -> str | None:
        return next((p.base for p in self.pairings if p.model == alias), None)

    def cases(self) -> list[Case]:
        """Model x task cases, each model's cases together, a base before the models gated on it;
        none for a base served by the stored baseline."""
        return [Case(alias, task) for alias in self.specs if alias not in self.from_baseline for task in self.tasks]

    def regression_cases(self) -> list[Case]:
        return [Case(p.model, task) for p in self.pairings for task in self.tasks]

    def gated_family(self, alias: str) -> str:
        """The model that is gated, for a model or its base (a base joins its fine-tune)."""
        return next((p.model for p in self.pairings if alias in (p.model, p.base)), alias)


def plan_run(registry: Registry, config: RunConfig) -> RunPlan:
    """The plan of ``config``'s models and tasks (ConfigError for an unknown model or task)."""
    specs: dict[str, ModelSpec] = {}
    pairings: list[Pairing] = []
    for name in config.models:
        spec, base_spec = resolve_model(registry, name, config.base)
        if base_spec is not None and base_spec.alias != spec.alias:
            specs.setdefault(base_spec.alias, base_spec)
        specs.setdefault(spec.alias, spec)
        if base_spec is not None:
            pairings.append(Pairing(spec.alias, base_spec.alias))
    served: frozenset[str] = frozenset()
    if config.baseline is not None:
        served = frozenset(p.base for p in pairings if p.base != p.model and p.base not in config.models)
    return RunPlan(MappingProxyType(specs), tuple(pairings), tuple(select_tasks(config.tasks)), served)
