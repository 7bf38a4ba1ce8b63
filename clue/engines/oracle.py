"""The oracle engine: answers with the gold reference, optionally corrupting a seeded share.

A self-check of the pipeline (gold answers must score at the top of every metric) and, degraded, a
known-worse model for testing the regression gate. Needs no model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from clue.engines.tokens import ApproxTokenCounter
from clue.prompts.chat import ChatStyle, chat_messages
from clue.records import Completion, Request, Sampling

if TYPE_CHECKING:
    from clue.engines.base import OnComplete


def _unit_hash(*parts: object) -> float:
    """A number in [0, 1) determined by ``parts`` alone."""
    digest = hashlib.sha256("\0".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class OracleEngine:
    """Returns ``request.reference``; a share ``corrupt_fraction`` of requests gets a wrong answer.

    Whether a request is corrupted depends only on (seed, task, request id), never on the batch's
    composition or order. A corrupted request gets the reference of another request of the same
    task in the batch whose reference differs (chosen by hash), or "" when none differs.
    """

    name = "oracle"
    chat_style: ChatStyle = "system"

    def __init__(
        self, corrupt_fraction: float = 0.0, seed: int = 0, name: str | None = None, max_context: int = 131072
    ) -> None:
        if not 0.0 <= corrupt_fraction <= 1.0:
            raise ValueError(f"corrupt_fraction must be in [0, 1], got {corrupt_fraction}")
        self.corrupt_fraction = corrupt_fraction
        self.seed = seed
        self.model_id = name or ("oracle-degraded" if corrupt_fraction > 0 else "oracle")
        self.max_context = max_context
        self._tokens = ApproxTokenCounter()

    @property
    def tokens(self) -> ApproxTokenCounter:
        return self._tokens

    @property
    def loaded(self) -> bool:
        return True  # nothing to load

    def render(self, request: Request) -> str:
        return json.dumps([chat_messages(request, self.chat_style), request.rendering.prefix], ensure_ascii=False)

    def identity(self) -> Mapping[str, Any]:
        return {
            "engine": self.name,
            "model_id": self.model_id,
            "corrupt_fraction": self.corrupt_fraction,
            "seed": self.seed,
        }

    def is_corrupted(self, request: Request) -> bool:
        return self.corrupt_fraction > 0 and _unit_hash(self.seed, request.task, request.id) < self.corrupt_fraction

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        by_task: dict[str, set[str]] = {}
        for r in requests:
            by_task.setdefault(r.task, set()).add(r.reference)
        out = []
        for r in requests:
            text = r.reference
            if self.is_corrupted(r):
                others = sorted(ref for ref in by_task[r.task] if ref != r.reference)
                pick = int(_unit_hash(self.seed, "pick", r.task, r.id) * len(others)) if others else 0
                text = others[pick] if others else ""
            out.append(
                Completion(
                    request_id=r.id,
                    text=text,
                    prompt_tokens=r.prompt_tokens or sum(self._tokens.count(m.content) for m in r.messages),
                    completion_tokens=self._tokens.count(text),
                    finish_reason="stop",
                )
            )
        return out

    def close(self) -> None:
        pass
