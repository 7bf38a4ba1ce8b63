"""The model registry: alias -> weights, revision, base, chat style, engine, thresholds, options.

The package ships ``models.toml`` (``[models.<alias>]`` tables); a user extends or overrides it
from their pyproject's ``[tool.clue.models.<alias>]`` tables and from TOML files given with
``--clue-registry`` (``[models.<alias>]``, ``[tool.clue.models.<alias>]`` or top-level ``[<alias>]``
tables). Later sources win field by field; ``thresholds`` merge per task and metric, ``options``
per key. ``base = ""`` removes a base. ``adapter = "..."`` (a LoRA adapter folder or hub id) makes
the entry an adapter on the model ``weights`` names (see clue/models/adapters.py).
``alternative_of = "<alias>"`` marks an entry with that alias's weights gated against another base (a
second published pairing); resolving a hub id finds the primary entry, never an alternative.

Entries are checked when a run uses them (``get`` / ``resolve``), not when the files are read: a
broken entry (a bad field, a missing base, a base cycle A -> B -> A) stops only the runs that use it.
A model that is its own base (the oracle) is not a cycle: it is compared with itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from clue.errors import ConfigError

CHAT_STYLES = ("auto", "system", "nosystem", "plain")
ENGINES = ("hf", "vllm", "openai", "oracle", "replay")
FIELDS = (
    "weights", "revision", "base", "chat", "engine", "published", "thresholds", "options", "corrupt_fraction", "adapter",
    "alternative_of",
)


@dataclass(frozen=True)
class ModelSpec:
    """One model: ``weights`` is a hub id or a local folder; ``base`` the alias it is gated against.

    ``thresholds`` maps task -> metric -> minimum (0-1); ``options`` are engine keyword options
    (dtype, max_model_len, tensor_parallel_size, ...; ``max_new_tokens`` and ``limit`` caps).
    ``adapter``: a LoRA adapter (folder or hub id) attached to ``weights``; None for a full model.
    """

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
    adapter: str | None = None
    alternative_of: str | None = None  # the same weights as that alias, gated against another base


@dataclass(frozen=True)
class Registry:
    """Model specs by alias; ``broken`` holds, by alias, why an entry cannot be used (raised on use)."""

    models: Mapping[str, ModelSpec]
    broken: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # alias -> file of its last definition

    def __contains__(self, alias: object) -> bool:
        return alias in self.models or alias in self.broken

    def __iter__(self) -> Iterator[str]:
        return iter([*self.models, *(a for a in self.broken if a not in self.models)])

    def __len__(self) -> int:
        return len(set(self.models) | set(self.broken))

    @property
    def aliases(self) -> list[str]:
        return sorted(set(self.models) | set(self.broken))

    def get(self, alias: str) -> ModelSpec:
        """The spec of a registered alias, checked: its entry, its base's existence, no base cycle."""
        if alias in self.broken:
            raise ConfigError(self.broken[alias])
        try:
            spec = self.models[alias]
        except KeyError:
            raise ConfigError(self._unknown(alias)) from None
        if spec.base and spec.base != alias:
            if self._alias_of(spec.base) is None and not Path(spec.base).expanduser().is_dir():
                raise ConfigError(
                    f"{self.sources.get(alias, 'registry')}: model {alias!r}: base {spec.base!r} is neither a "
                    f"registered alias nor an existing folder. Known aliases: {', '.join(self.aliases)}"
                )
            self._check_chain(alias, spec.base)
        return spec

    def _alias_of(self, name: str) -> str | None:
        """The registered alias ``name`` stands for (an alias, or a weights id registered once)."""
        if name in self.models or name in self.broken:
            return name
        # an adapter entry names its base in ``weights``: the base is meant, not the adapter
        by_weights = [
            s.alias for s in self.models.values() if s.weights == name and s.adapter is None and not s.alternative_of
        ]
        return by_weights[0] if len(by_weights) == 1 else None

    def _check_chain(self, alias: str, base: str) -> None:
        """Follow the bases from ``alias`` (whose base is ``base``); ConfigError on a cycle A -> B -> A."""
        chain = [alias]
        current: str | None = self._alias_of(base)
        while current is not None and current not in self.broken:
            if current in chain:
                if current == chain[-1]:
                    return  # a model that is its own base ends the chain (compared with itself)
                cycle = " -> ".join([*chain[chain.index(current):], current])
                raise ConfigError(
                    f"{self.sources.get(alias, 'registry')}: model {alias!r}: its bases form a cycle "
                    f"({cycle}): a model cannot be gated against a base that is gated against it. Change the "
                    f"'base' field of one of them."
                )
            chain.append(current)
            nxt = self.models[current].base
            current = self._alias_of(nxt) if nxt else None

    def resolve(self, name_or_path: str, base_override: str | None = None) -> ModelSpec:
        """The spec of an alias, of a registered weights id, or an ad-hoc spec for a local folder.

        A folder's alias is its name (its path when that name is taken by the registry).
        ``base_override`` (an alias, a registered weights id or a folder) replaces the registered base;
        it is kept as given, so resolving it again yields the base's spec.
        """
        registered = self._alias_of(name_or_path)
        spec = self.get(registered) if registered is not None else None
        if spec is None:
            path = Path(name_or_path).expanduser()
            if not path.is_dir():
                raise ConfigError(self._unknown(name_or_path))
            alias = path.resolve().name
            if not alias or alias in self.models:
                alias = str(path)
            spec = ModelSpec(alias=alias, weights=str(path.resolve()))
        if base_override:
            base_spec = self.resolve(base_override)  # fails early, naming the known aliases
            if base_spec.alias != spec.alias:
                self._check_chain(spec.alias, base_override)
            spec = replace(spec, base=base_override)
        return spec

    def _unknown(self, name: str) -> str:
        return (
            f"unknown model {name!r}: not a registered alias and not an existing local folder. "
            f"Known aliases: {', '.join(self.aliases)}. Register a model in your pyproject.toml under "
            f"[tool.clue.models.<alias>] (weights = \"org/name\"), in a file given with --clue-registry, "
            f"or pass a checkpoint folder."
        )


def _check(source: str, alias: str, entry: Any) -> dict[str, Any]:
    where = f"{source}: model {alias!r}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    for key in ("weights", "revision", "base", "published", "adapter", "alternative_of"):
        if key in entry and not isinstance(entry[key], str):
            raise ConfigError(f"{where}: field {key!r} must be a string, got {entry[key]!r}")
    if "chat" in entry and entry["chat"] not in CHAT_STYLES:
        raise ConfigError(f"{where}: field 'chat' must be one of {', '.join(CHAT_STYLES)}, got {entry['chat']!r}")
    if "engine" in entry and entry["engine"] not in ENGINES:
        raise ConfigError(f"{where}: field 'engine' must be one of {', '.join(ENGINES)}, got {entry['engine']!r}")
    if "options" in entry and not isinstance(entry["options"], dict):
        raise ConfigError(f"{where}: field 'options' must be a table")
    if "corrupt_fraction" in entry:
        cf = entry["corrupt_fraction"]
        if isinstance(cf, bool) or not isinstance(cf, int | float) or not 0.0 <= cf <= 1.0:
            raise ConfigError(f"{where}: field 'corrupt_fraction' must be a number in [0, 1], got {cf!r}")
    thresholds = entry.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise ConfigError(f"{where}: field 'thresholds' must be a table of task -> metric -> minimum")
    for task, metrics in thresholds.items():
        if not isinstance(metrics, dict):
            raise ConfigError(f"{where}: thresholds.{task} must be a table of metric -> minimum")
        for metric, minimum in metrics.items():
            if isinstance(minimum, bool) or not isinstance(minimum, int | float) or not 0.0 <= minimum <= 1.0:
                raise ConfigError(
                    f"{where}: thresholds.{task}.{metric} must be a number in [0, 1] (0.35 = 35%), got {minimum!r}"
                )
    return entry


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = {**old, **{k: v for k, v in new.items() if k not in ("thresholds", "options")}}
    merged["options"] = {**old.get("options", {}), **new.get("options", {})}
    thresholds = {task: dict(metrics) for task, metrics in old.get("thresholds", {}).items()}
    for task, metrics in new.get("thresholds", {}).items():
        thresholds.setdefault(task, {}).update(metrics)
    merged["thresholds"] = thresholds
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: model registry file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _tool_models(data: dict[str, Any], source: str) -> dict[str, Any]:
    models = data.get("tool", {}).get("clue", {}).get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(f"{source}: [tool.clue.models] must be a table of model tables")
    return models


def _file_models(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The model tables of a registry file: [models.*], [tool.clue.models.*] or top-level tables."""
    if "tool" in data:
        return _tool_models(data, source)
    if "models" in data:
        if not isinstance(data["models"], dict):
            raise ConfigError(f"{source}: [models] must be a table of model tables")
        return data["models"]
    return data


def _apply(
    entries: dict[str, dict[str, Any]], broken: dict[str, str], tables: Mapping[str, Any], source: str
) -> None:
    """Merge ``tables`` into ``entries``; an entry that fails its checks goes to ``broken`` (its first error)."""
    for alias, entry in tables.items():
        if alias in broken:
            continue
        try:
            entry = _check(source, alias, entry)
        except ConfigError as exc:
            broken[alias] = str(exc)
            entries.pop(alias, None)
            continue
        entries[alias] = _merge(entries.get(alias, {}), entry)


def _build(alias: str, entry: dict[str, Any], source: str) -> ModelSpec:
    if not entry.get("weights"):
        raise ConfigError(f"{source}: model {alias!r}: field 'weights' is required (a hub id or a local folder)")
    return ModelSpec(
        alias=alias,
        weights=entry["weights"],
        revision=entry.get("revision") or None,
        base=entry.get("base") or None,
        chat=entry.get("chat", "auto"),
        engine=entry.get("engine", "hf"),
        published=entry.get("published") or None,
        thresholds={t: {m: float(v) for m, v in ms.items()} for t, ms in entry.get("thresholds", {}).items()},
        options=dict(entry.get("options", {})),
        corrupt_fraction=float(entry.get("corrupt_fraction", 0.0)),
        adapter=entry.get("adapter") or None,
        alternative_of=entry.get("alternative_of") or None,
    )


def load_registry(extra_files: Sequence[Path] = (), pyproject: Path | None = None) -> Registry:
    """The shipped registry, extended by the pyproject's [tool.clue.models] and then by ``extra_files``."""
    entries: dict[str, dict[str, Any]] = {}
    broken: dict[str, str] = {}
    shipped = resources.files("clue.models").joinpath("models.toml")
    _apply(entries, broken, _file_models(tomllib.loads(shipped.read_text(encoding="utf-8")), "models.toml"),
           "clue/models/models.toml")
    sources = {alias: "clue/models/models.toml" for alias in entries}
    if pyproject is not None and Path(pyproject).is_file():
        tables = _tool_models(_read_toml(Path(pyproject)), str(pyproject))
        _apply(entries, broken, tables, str(pyproject))
        sources.update({alias: str(pyproject) for alias in tables})
    for path in extra_files:
        tables = _file_models(_read_toml(Path(path)), str(path))
        _apply(entries, broken, tables, str(path))
        sources.update({alias: str(path) for alias in tables})
    specs: dict[str, ModelSpec] = {}
    for alias, entry in entries.items():
        try:
            spec = _build(alias, entry, sources[alias])
        except ConfigError as exc:
            broken[alias] = str(exc)
            continue
        specs[alias] = spec
    for alias, spec in list(specs.items()):
        other = specs.get(spec.alternative_of) if spec.alternative_of else None
        if spec.alternative_of and (other is None or other.weights != spec.weights):
            broken[alias] = (
                f"{sources[alias]}: model {alias!r}: alternative_of {spec.alternative_of!r} must name a "
                f"registered model with the same weights ({spec.weights})"
            )
            del specs[alias]
    return Registry(specs, broken, sources)
