"""The engine contract: turn requests into completions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from clue.prompts.chat import ChatStyle
from clue.records import Completion, Request, Sampling
from clue.contracts import TokenCounter

OnComplete = Callable[[int, Completion], None]
"""``on_complete(index, completion)``: the completion of ``requests[index]`` is final."""


@runtime_checkable
class Engine(Protocol):
    """An engine is cheap to construct (tokenizer and config only); the model loads on the first
    ``generate`` call, so a run whose generations are all cached loads no model."""

    name: str  # "hf", "vllm", "openai", "replay", "oracle"
    model_id: str
    chat_style: ChatStyle
    max_context: int

    @property
    def tokens(self) -> TokenCounter: ...

    @property
    def loaded(self) -> bool: ...

    def render(self, request: Request) -> str:
        """The exact prompt text (or a canonical serialisation of chat messages) sent to the model."""
        ...

    def identity(self) -> Mapping[str, Any]:
        """Everything that changes outputs besides prompt and sampling: model id, revision, dtype..."""
        ...

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        """One completion per request, same order. ``request.max_new_tokens`` overrides sampling's.

        ``on_complete``, when given, may be called on the calling thread, at most once per index,
        as soon as a completion is final, before ``generate`` returns or raises: an engine that
        finishes requests one by one (openai) reports each, so a failure later in the batch loses
        none of them. An engine that finishes the batch at once may leave it uncalled; the caller
        takes what ``generate`` returns for every index not reported.
        """
        ...

    def close(self) -> None:
        """Free the model (GPU memory included). Idempotent."""
        ...
