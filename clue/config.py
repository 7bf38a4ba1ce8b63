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
DTYPES = ("auto", "float32", "bfloat16", "float16")

# engine option key -> (command-line option, smallest value); gpu_memory_utilization is checked apart
_ENGINE_MINIMUMS: Mapping[str, tuple[str, int]] = {
    "tensor_parallel_size": ("--clue-tensor-parallel-size", 1),
    "pipeline_parallel_size": ("--clue-pipeline-parallel-size", 1),
    "max_model_len": ("--clue-max-model-len", 1),
}


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
    batch_size: int | None = None  # hf: rows per forward batch at most (None: the token budget decides)
    chunk_size: int | None = None  # requests per engine call (None: the engine's choice, else a whole task)
    report_dir: Path = Path("reports")
    run_id: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    use_cache: bool = True
    include_text: bool = False
    bertscore_model: str | None = None
    bertscore_layers: int | None = None
    bertscore_threads: int | None = None  # CPU threads for BERTScore (None: clue.scoring.default_bertscore_threads)
    registry_files: tuple[Path, ...] = ()
    pyproject: Path | None = None
    gate_mode: str = "significant"
    alpha: float = 0.05
    margin: float | None = None  # None: the registry entry's options.margin (points), else 0
    require_power: bool = False  # an inconclusive (underpowered) regression comparison fails
    power_tolerance: float = 0.05  # inconclusive: not significant and MDE > margin + this (0-1 units)
    baseline: Path | None = None  # a stored run (folder or report.json) holding the bases' results
    api_base: str | None = field(default=None, repr=False)  # may carry user:password: never in a repr
    allow_remote_credentialed: bool = False
    trust_remote_code: bool = False
    max_new_tokens: int | None = None
    processes: int = 1
    protocol: str | Path = "2024-06"  # a shipped protocol id, or a protocol file (clue/prompts/protocol.py)
    engine_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every setting checked once, before anything runs; messages name the option and its value
        in the units the user typed (``margin`` is kept in 0-1 units, given in percentage points)."""
        if self.engine is not None and self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.gate_mode not in ("significant", "noninferior"):
            raise ConfigError(f"--clue-gate-mode must be 'significant' or 'noninferior', got {self.gate_mode!r}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"--clue-alpha must be between 0 and 1 (exclusive), got {self.alpha:g}")
        if self.margin is not None and not 0 <= self.margin <= 1:
            raise ConfigError(
                f"--clue-margin must be between 0 and 100 percentage points, got {self.margin * 100:g}"
            )
        _at_least("--limit", self.limit, 1)
        _at_least("--clue-batch-size", self.batch_size, 1)
        _at_least("--clue-seed", self.seed, 0)
        _at_least("--clue-max-new-tokens", self.max_new_tokens, 1)
        _at_least("--clue-processes", self.processes, 1)
        _at_least("--clue-bertscore-layers", self.bertscore_layers, 1)
        _at_least("--clue-bertscore-threads", self.bertscore_threads, 1)
        _at_least("--clue-chunk-size", self.chunk_size, 1)
        for key, (option, minimum) in _ENGINE_MINIMUMS.items():
            _at_least(option, self.engine_options.get(key), minimum)
        dtype = self.engine_options.get("dtype")
        if dtype is not None and dtype not in DTYPES:
            raise ConfigError(f"--clue-dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        utilisation = self.engine_options.get("gpu_memory_utilization")
        if utilisation is not None and not 0 < utilisation <= 1:
            raise ConfigError(
                f"--clue-gpu-memory-utilization must be a fraction in (0, 1], got {utilisation:g}"
            )
        budget = self.engine_options.get("token_budget")
        if budget is not None and (not isinstance(budget, int) or budget < 0):
            raise ConfigError(f"--clue-token-budget must be an integer >= 0 (0: no token limit), got {budget!r}")
        if not 0 <= self.power_tolerance <= 1:
            raise ConfigError(f"--clue-power-tolerance must be in [0, 100] points, got {100 * self.power_tolerance:g}")

    @property
    def generation_cache_path(self) -> Path:
        return self.cache_dir / "generations.sqlite"


def _at_least(option: str, value: int | None, minimum: int) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be >= {minimum}, got {value}")


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
