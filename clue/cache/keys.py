"""Cache keys: sha256 of a canonical JSON of everything that decides a generation's text.

What goes in: the engine's identity (model id, revision, dtype, engine settings that change outputs),
the rendered prompt exactly as sent, the sampling settings and the token limit. What stays out:
request ids, task names, references, gold answers (they do not change what the model writes).
Greedy decoding (temperature 0) ignores ``top_p`` and ``seed``, so those only count when sampling.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from clue.records import Sampling

KEY_FORMAT = "clue-generation-key/1"


def sampling_fields(sampling: Sampling) -> dict[str, float | int]:
    """The sampling settings that change outputs (``max_new_tokens`` is passed separately)."""
    temperature = float(sampling.temperature)
    if temperature <= 0.0:
        return {"temperature": 0.0}
    return {"temperature": temperature, "top_p": float(sampling.top_p), "seed": int(sampling.seed)}


def cache_key(
    engine_identity: Mapping[str, Any], rendered_prompt: str, sampling: Sampling, max_new_tokens: int, namespace: str = ""
) -> str:
    """Hex sha256 identifying one generation; equal keys mean the same output is expected.
    ``namespace``: what else keeps generations apart (the protocol's sha256 in a run)."""
    payload = {
        "format": KEY_FORMAT,
        "namespace": namespace,
        "engine": engine_identity,
        "prompt": rendered_prompt,
        "sampling": sampling_fields(sampling),
        "max_new_tokens": int(max_new_tokens),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text kept as is; rejects values without a stable form."""
    return json.dumps(
        _canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"engine identity holds a non-finite number ({value!r}), which has no stable key")
        return value
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value))
    # repr() of arbitrary objects may hold memory addresses: such a key would never hit again.
    raise TypeError(
        f"engine identity holds a {type(value).__name__} value ({value!r:.80}), which has no stable key; "
        "use strings, numbers, lists or mappings"
    )
