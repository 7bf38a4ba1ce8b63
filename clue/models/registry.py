"""The model registry: alias -> weights, revision, base alias, chat rendering, engine, thresholds.

Shipped as clue/models/models.toml; extended or overridden by the user's pyproject
(``[tool.clue.models.<alias>]``) and by files given with ``--clue-registry``, later sources winning
field by field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from clue.errors import ConfigError

CHAT_STYLES = ("auto", "system", "nosystem", "plain")
ENGINES = ("hf", "vllm", "openai", "oracle", "replay")
_FIELDS = {"weights", "revision", "base", "chat", "engine", "published", "thresholds", "options", "corrupt_fraction"}


@dataclass(frozen=True)
class ModelSpec:
    alias: str
    weights: str
    revision: str | None = None
    base: str | None = None
    chat: str = "auto"
    engine: str = "hf"
    published: str | None = None
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    corrupt_fraction: float = 0.0


def _spec(alias: str, table: Mapping[str, Any], source: str) -> ModelSpec:
    unknown = set(table) - _FIELDS
    if unknown:
        raise ConfigError(f"{source}: model {alias!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(table.get("weights"), str) or not table["weights"]:
        raise ConfigError(f"{source}: model {alias!r}: 'weights' (a hub id or a folder) is required")
    chat = table.get("chat", "auto")
    if chat not in CHAT_STYLES:
        raise ConfigError(f"{source}: model {alias!r}: chat must be one of {', '.join(CHAT_STYLES)}, got {chat!r}")
    engine = table.get("engine", "hf")
    if engine not in ENGINES:
        raise ConfigError(f"{source}: model {alias!r}: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    thresholds = table.get("thresholds", {})
    for task, metrics in thresholds.items():
        for metric, value in metrics.items():
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(
                    f"{source}: model {alias!r}: threshold {task}.{metric} must be a number in [0, 1] (got {value!r})"
                )
    fraction = float(table.get("corrupt_fraction", 0.0))
    if not 0 <= fraction <= 1:
        raise ConfigError(f"{source}: model {alias!r}: corrupt_fraction must be in [0, 1]")
    return ModelSpec(
        alias=alias,
        weights=table["weights"],
        revision=table.get("revision"),
        base=table.get("base"),
        chat=chat,
        engine=engine,
        published=table.get("published"),
        thresholds={t: {m: float(v) for m, v in ms.items()} for t, ms in thresholds.items()},
        options=dict(table.get("options", {})),
        corrupt_fraction=fraction,
    )


@dataclass(frozen=True)
class Registry:
    models: Mapping[str, ModelSpec]

    def get(self, alias: str) -> ModelSpec:
        try:
            return self.models[alias]
        except KeyError:
            raise ConfigError(
                f"unknown model {alias!r}: not a registry alias and not a local folder. "
                f"Known aliases: {', '.join(sorted(self.models))}. Add it with [tool.clue.models.{alias}] in "
                "pyproject.toml or --clue-registry FILE, or pass a checkpoint folder."
            ) from None

    def resolve(self, name: str, base_override: str | None = None) -> ModelSpec:
        """An alias, or a local checkpoint folder (an ad-hoc spec; its base from ``base_override``)."""
        if name in self.models:
            spec = self.models[name]
        elif Path(name).is_dir():
            folder = Path(name)
            spec = ModelSpec(alias=folder.name or str(folder), weights=str(folder.resolve()))
        else:
            spec = self.get(name)
        if base_override:
            base = self.resolve(base_override).alias if base_override not in self.models else base_override
            spec = ModelSpec(**{**spec.__dict__, "base": base})
        return spec


def _merge(into: dict[str, dict[str, Any]], tables: Mapping[str, Any], source: str) -> None:
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{source}: [models] must be a table of model tables")
    for alias, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: model {alias!r} must be a table")
        into[alias] = {**into.get(alias, {}), **table}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"registry file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def load_registry(extra_files: Sequence[Path] = (), pyproject: Path | None = None) -> Registry:
    shipped = resources.files("clue.models").joinpath("models.toml").read_text(encoding="utf-8")
    tables: dict[str, dict[str, Any]] = {}
    _merge(tables, tomllib.loads(shipped).get("models", {}), "clue/models/models.toml")
    if pyproject is not None and Path(pyproject).is_file():
        user = _read_toml(Path(pyproject)).get("tool", {}).get("clue", {}).get("models", {})
        _merge(tables, user, str(pyproject))
    for path in extra_files:
        _merge(tables, _read_toml(Path(path)).get("models", {}), str(path))
    models = {alias: _spec(alias, table, "registry") for alias, table in tables.items()}
    for spec in models.values():
        if spec.base and spec.base not in models and not Path(spec.base).is_dir():
            raise ConfigError(f"registry: model {spec.alias!r} has base {spec.base!r}, which is not in the registry")
    return Registry(models)
