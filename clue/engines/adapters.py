"""One engine for a base model and its LoRA adapters: a view per model, the adapter switched per call.

An engine built with ``adapters`` (hf through peft, vllm with ``enable_lora``) loads the base once.
:class:`AdapterView` is what the pool hands out for each model of the group: the base (``adapter``
None: every adapter off) or one adapter. A view's ``generate`` runs the shared engine inside
``engine.adapter(name)``; its ``identity`` adds the adapter's sha256 (config and weights), so the
generations of a retrained adapter never come from the cache. Closing a view does nothing: the pool
closes the shared engine.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from clue.errors import EngineError
from clue.models.adapters import AdapterInfo, adapter_sha256
from clue.prompts.chat import ChatStyle
from clue.records import Completion, Request, Sampling

if TYPE_CHECKING:
    from clue.contracts import TokenCounter
    from clue.engines.base import Engine, OnComplete

PEFT_HINT = "LoRA adapters under the hf engine need peft: pip install 'clue[lora]' (or pip install peft)"


class AdapterHost(Protocol):
    """An engine that serves a base and its adapters (``clue.engines.hf.HFEngine``, ``VLLMEngine``)."""

    adapters: Mapping[str, AdapterInfo]  # by model alias

    def adapter(self, name: str | None) -> AbstractContextManager[None]:
        """Generation inside runs with adapter ``name`` on (None: every adapter off)."""
        ...


def require_peft() -> None:
    if importlib.util.find_spec("peft") is None:
        raise EngineError(PEFT_HINT)


def attach_peft(model: Any, adapters: Mapping[str, AdapterInfo]) -> Any:
    """``model`` wrapped by peft with every adapter loaded (inference only), the first one active."""
    require_peft()
    from peft import PeftModel

    wrapped = None
    for name, info in adapters.items():
        try:
            if wrapped is None:
                wrapped = PeftModel.from_pretrained(model, str(info.path), adapter_name=name, is_trainable=False)
            else:
                wrapped.load_adapter(str(info.path), adapter_name=name, is_trainable=False)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise EngineError(
                f"adapter {name} ({info.path}) does not fit its base model: {exc}. Is it a LoRA adapter of this base?"
            ) from exc
    return wrapped if wrapped is not None else model


class AdapterView:
    """``clue.engines.base.Engine`` for one model of an engine group: the base, or one of its adapters."""

    def __init__(self, engine: Engine, adapter: str | None) -> None:
        adapters: Mapping[str, AdapterInfo] = getattr(engine, "adapters", {})
        if adapter is not None and adapter not in adapters:
            raise EngineError(f"engine {engine.name} ({engine.model_id}) serves no adapter {adapter!r}")
        self.engine = engine
        self.adapter_name = adapter
        self._identity: Mapping[str, Any] | None = None

    # attributes of the shared engine: the base's tokenizer, template and context are the adapter's
    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def model_id(self) -> str:
        """The base's id: the protocol's model-id rules follow the chat template, which is the base's."""
        return self.engine.model_id

    @property
    def chat_style(self) -> ChatStyle:
        return self.engine.chat_style

    @property
    def max_context(self) -> int:
        return self.engine.max_context

    @property
    def tokens(self) -> TokenCounter:
        return self.engine.tokens

    @property
    def tokenizer(self) -> Any:
        return getattr(self.engine, "tokenizer", None)

    @property
    def loaded(self) -> bool:
        return self.engine.loaded

    @property
    def chunk_size(self) -> int | None:
        """The shared engine's preferred requests per call (``clue.cache.store.engine_chunk_size``)."""
        return getattr(self.engine, "chunk_size", None)

    def render(self, request: Request) -> str:
        return self.engine.render(request)

    def identity(self) -> Mapping[str, Any]:
        if self._identity is None:
            identity = dict(self.engine.identity())
            if self.adapter_name is not None:
                info: AdapterInfo = self.engine.adapters[self.adapter_name]  # type: ignore[attr-defined]
                identity["adapter"] = {"sha256": adapter_sha256(info.path)}
            self._identity = identity
        return self._identity

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        if not requests:
            return []
        with self.engine.adapter(self.adapter_name):  # type: ignore[attr-defined]
            return self.engine.generate(requests, sampling, on_complete)

    def close(self) -> None:
        """Nothing: the pool closes the shared engine."""
