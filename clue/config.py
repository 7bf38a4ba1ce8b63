"""RunConfig: every setting of a run, from options, the user's pyproject ``[tool.clue]`` and the environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clue.errors import ConfigError

ENGINES = ("hf", "vllm", "openai", "oracle", "replay")


def default_cache_dir() -> Path:
    env = os.environ.get("CLUE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "clue"


@dataclass(frozen=True)
class RunConfig:
    models: tuple[str, ...]
    base: str | None = None
    tasks: tuple[str, ...] = ()
    data_dir: Path | None = None  # None: the demo data shipped with clue
    engine: str | None = None  # None: the registry's engine for each model
    limit: int | None = None
    strict: bool = False
    seed: int = 1
    batch_size: int = 16
    report_dir: Path = Path("reports")
    run_id: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    use_cache: bool = True
    include_text: bool = False
    bertscore_model: str | None = None
    bertscore_layers: int | None = None
    registry_files: tuple[Path, ...] = ()
    pyproject: Path | None = None
    gate_mode: str = "significant"
    alpha: float = 0.05
    margin: float | None = None  # None: the registry entry's options.margin (points), else 0
    require_power: bool = False  # an inconclusive (underpowered) regression comparison fails
    power_tolerance: float = 0.05  # inconclusive: not significant and MDE > margin + this (0-1 units)
    baseline: Path | None = None  # a stored run (folder or report.json) holding the bases' results
    api_base: str | None = None
    allow_remote_credentialed: bool = False
    trust_remote_code: bool = False
    max_new_tokens: int | None = None
    processes: int = 1
    protocol: str | Path = "2024-06"  # a shipped protocol id, or a protocol file (clue/prompts/protocol.py)
    engine_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.engine is not None and self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.gate_mode not in ("significant", "noninferior"):
            raise ConfigError(f"--clue-gate-mode must be 'significant' or 'noninferior', got {self.gate_mode!r}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"--clue-alpha must be in (0, 1), got {self.alpha}")
        if self.margin is not None and self.margin < 0:
            raise ConfigError(f"--clue-margin must be >= 0, got {self.margin}")
        if not 0 <= self.power_tolerance <= 1:
            raise ConfigError(f"--clue-power-tolerance must be in [0, 100] points, got {100 * self.power_tolerance:g}")

    @property
    def generation_cache_path(self) -> Path:
        return self.cache_dir / "generations.sqlite"


def pyproject_settings(pyproject: Path | None) -> dict[str, Any]:
    """The ``[tool.clue]`` table of a pyproject.toml ({} when absent)."""
    if pyproject is None or not pyproject.is_file():
        return {}
    try:
        with open(pyproject, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: invalid TOML: {exc}") from exc
    table = data.get("tool", {}).get("clue", {})
    return table if isinstance(table, dict) else {}
