"""Build the engine a model spec and the run's settings ask for. Engines import their libraries lazily."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clue.config import RunConfig
from clue.engines.base import Engine
from clue.errors import ConfigError
from clue.models.registry import ModelSpec

DEMO_MODELS = ("demo", "demo-base")


def resolve_weights(spec: ModelSpec, config: RunConfig) -> str:
    """A hub id or a local folder; the demo models are built locally on first use."""
    if spec.weights in DEMO_MODELS:
        from clue.models.demo import ensure_demo_model

        return str(ensure_demo_model(spec.weights, config.cache_dir / "models"))
    return spec.weights


def _options(spec: ModelSpec, config: RunConfig, names: tuple[str, ...]) -> dict[str, Any]:
    """Engine keyword options: the registry's, overridden by the command line's."""
    merged = {**spec.options, **config.engine_options}
    return {k: merged[k] for k in names if merged.get(k) is not None}


ADAPTER_ENGINES = ("hf", "vllm")


def engine_kind(spec: ModelSpec, config: RunConfig) -> str:
    """The engine a model runs on: the registry's, unless --engine overrides it (never for the oracle)."""
    return spec.engine if spec.engine == "oracle" else (config.engine or spec.engine)


def build_engine(spec: ModelSpec, config: RunConfig, adapters: Mapping[str, str] | None = None) -> Engine:
    """The engine of ``spec``; with ``adapters`` (model alias -> LoRA folder) one engine that serves
    the base ``spec`` and those adapters (clue/engines/adapters.py)."""
    kind = engine_kind(spec, config)
    if adapters and kind not in ADAPTER_ENGINES:
        raise ConfigError(
            f"adapter(s) {', '.join(adapters)} on {spec.alias}: LoRA adapters run under the "
            f"{' or '.join(ADAPTER_ENGINES)} engine, not {kind}"
        )
    if kind == "oracle":
        from clue.engines.oracle import OracleEngine

        return OracleEngine(corrupt_fraction=spec.corrupt_fraction, seed=config.seed, name=spec.alias)
    if kind == "replay":
        from clue.engines.replay import ReplayEngine

        paths = [Path(p) for p in config.engine_options.get("replay", ())]
        if not paths:
            raise ConfigError("--engine replay needs --clue-replay FILE (per-item JSONL or predictions.json)")
        return ReplayEngine(paths)
    if kind == "openai":
        from clue.engines.openai_engine import OpenAIEngine

        if not config.api_base:
            raise ConfigError("--engine openai needs --api-base URL (an OpenAI-compatible server)")
        return OpenAIEngine(
            api_base=config.api_base,
            model=spec.weights,
            chat_style=spec.chat if spec.chat != "auto" else "system",
            allow_remote_credentialed=config.allow_remote_credentialed,
            **_options(
                spec,
                config,
                ("concurrency", "timeout", "deadline", "max_retries", "max_response_bytes", "tokenizer", "max_context"),
            ),
        )
    weights = resolve_weights(spec, config)
    if kind == "hf":
        from clue.engines.hf import HFEngine

        return HFEngine(
            weights,
            revision=spec.revision,
            batch_size=config.batch_size,
            chat_style=spec.chat,
            trust_remote_code=config.trust_remote_code,
            adapters=adapters,
            **_options(spec, config, ("dtype", "device", "max_context", "attn_implementation", "token_budget")),
        )
    if kind == "vllm":
        from clue.engines.vllm_engine import VLLMEngine

        return VLLMEngine(
            weights,
            revision=spec.revision,
            chat_style=spec.chat,
            seed=config.seed,
            trust_remote_code=config.trust_remote_code,
            adapters=adapters,
            **_options(
                spec,
                config,
                (
                    "dtype",
                    "max_model_len",
                    "tensor_parallel_size",
                    "pipeline_parallel_size",
                    "distributed_executor_backend",
                    "gpu_memory_utilization",
                    "kv_cache_memory_bytes",
                    "enforce_eager",
                ),
            ),
        )
    raise ConfigError(f"unknown engine {kind!r} for model {spec.alias!r}")
