"""LoRA adapters as models: recognise one, read its config, fingerprint its files, pair it with its base.

An adapter is a ``--model`` folder holding ``adapter_config.json`` (as peft's ``save_pretrained``
writes it), or a registry entry with ``adapter = "<folder or hub id>"`` whose ``weights`` name the
model it is attached to. Its base, the model it is attached to and gated against, is in this order:
``--base``, the entry's ``base``, the entry's ``weights``, the adapter's ``base_model_name_or_path``;
each resolved through the registry (an alias, a registered weights id or a folder), else taken as a
hub id. The adapter runs on its base's engine, chat style and engine options (its own options win),
so an adapter and its base share one engine and one model load (clue/engines/adapters.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from clue.errors import ConfigError
from clue.models.registry import ModelSpec, Registry

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class AdapterInfo:
    """What clue needs to know of a LoRA adapter folder."""

    path: Path
    base_model: str  # base_model_name_or_path as written ("" when absent)
    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    weights_file: Path


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path).expanduser() / ADAPTER_CONFIG).is_file()


def read_adapter(path: str | Path) -> AdapterInfo:
    """Read and check an adapter folder; ConfigError saying what is wrong and what to do."""
    folder = Path(path).expanduser()
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        raise ConfigError(f"{folder}: no {ADAPTER_CONFIG}: not a peft adapter folder (save it with save_pretrained)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{config_path}: not a readable JSON adapter config: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path}: expected a JSON object")
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise ConfigError(
            f"{config_path}: peft_type {config.get('peft_type')!r}: clue runs LoRA adapters only "
            "(merge other adapter types into the model and pass the merged folder)"
        )
    weights = next((folder / n for n in ADAPTER_WEIGHTS if (folder / n).is_file()), None)
    if weights is None:
        raise ConfigError(f"{folder}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)}) beside {ADAPTER_CONFIG}")
    rank = config.get("r")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ConfigError(f"{config_path}: field 'r' (the LoRA rank) must be a positive integer, got {rank!r}")
    targets = config.get("target_modules") or ()
    return AdapterInfo(
        path=folder.resolve(),
        base_model=str(config.get("base_model_name_or_path") or ""),
        rank=rank,
        alpha=float(config.get("lora_alpha") or rank),
        target_modules=(targets,) if isinstance(targets, str) else tuple(str(t) for t in targets),
        weights_file=weights,
    )


def adapter_sha256(path: str | Path) -> str:
    """sha256 of the adapter's config and weights files (names and contents): a retrained adapter differs."""
    info = read_adapter(path)
    h = hashlib.sha256()
    for file in (info.path / ADAPTER_CONFIG, info.weights_file):
        h.update(file.name.encode() + b"\0")
        with open(file, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def locate_adapter(source: str, revision: str | None = None) -> Path:
    """The local folder of an adapter: ``source`` itself, or its hub snapshot (the local cache first)."""
    folder = Path(source).expanduser()
    if folder.is_dir() or source.startswith((".", "/", "~")) or os.path.isabs(source):
        if not folder.is_dir():
            raise ConfigError(f"adapter folder not found: {folder}")
        return folder.resolve()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    token = os.environ.get("HF_TOKEN") or None
    try:
        return Path(snapshot_download(source, revision=revision, local_files_only=True, token=token))
    except LocalEntryNotFoundError:
        pass
    try:
        return Path(snapshot_download(source, revision=revision, token=token))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise ConfigError(
            f"adapter {source!r}: not a local folder and not downloadable from the hub ({exc}). Give the "
            "adapter's folder, or download it once with network access (gated repositories need HF_TOKEN)."
        ) from exc


def resolve_model(
    registry: Registry, name_or_path: str, base_override: str | None = None
) -> tuple[ModelSpec, ModelSpec | None]:
    """The spec of ``name_or_path`` and of the model it is gated against (None: no base).

    For an adapter the spec's ``adapter`` is its local folder and its ``weights``, ``revision``,
    ``engine`` and ``chat`` are the base's, which is always returned.
    """
    spec = registry.resolve(name_or_path, base_override=base_override)
    if spec.adapter is None and is_adapter_dir(spec.weights):
        spec = replace(spec, adapter=spec.weights, weights="")  # a folder holding an adapter
    if spec.adapter is None:
        return spec, (registry.resolve(spec.base) if spec.base else None)
    info = read_adapter(locate_adapter(spec.adapter))
    base_name = base_override or spec.base or spec.weights or info.base_model
    if not base_name:
        raise ConfigError(
            f"adapter {spec.alias!r}: {ADAPTER_CONFIG} names no base_model_name_or_path; give its base with --base"
        )
    base = base_spec(registry, base_name)
    if not base_override and spec.base and spec.weights and spec.weights != base.weights:
        raise ConfigError(
            f"model {spec.alias!r}: an adapter is attached to the base it is gated against, but its weights "
            f"{spec.weights!r} are not those of its base {base.alias!r} ({base.weights!r}); give one of the two"
        )
    adapter = replace(
        spec,
        weights=base.weights,
        revision=base.revision,
        base=base.alias,
        chat=base.chat,
        engine=base.engine,
        options={**base.options, **spec.options},
        adapter=str(info.path),
    )
    return adapter, base


def base_spec(registry: Registry, name: str) -> ModelSpec:
    """The spec of an adapter's base: registered (alias or weights id), a folder, else a hub id."""
    try:
        spec = registry.resolve(name)
    except ConfigError:
        if Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or os.path.isabs(name):
            raise
        return ModelSpec(alias=name, weights=name)  # a hub id nobody registered
    if spec.adapter is not None or is_adapter_dir(spec.weights):
        raise ConfigError(f"{name!r} is an adapter: the base of an adapter must be a full model")
    return spec


def adapter_summary(path: str | Path) -> Mapping[str, Any]:
    """The adapter block of a report's model entry."""
    info = read_adapter(path)
    return {
        "path": str(info.path),
        "sha256": adapter_sha256(info.path),
        "base_model_name_or_path": info.base_model or None,
        "rank": info.rank,
        "alpha": info.alpha,
        "target_modules": list(info.target_modules),
    }
