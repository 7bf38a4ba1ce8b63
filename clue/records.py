"""The records that flow through a run: examples, requests, completions and item scores.

All are frozen dataclasses. Ids are stable across runs and models (derived from the source
records), so items pair for the statistics and the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Example:
    """One record of a task's source file, as loaded.

    ``fields`` holds the record's fields under their names in the original file (the protocol's
    templates read them), ``reference`` the gold answer as text, ``source`` and ``location`` the file
    and the line/row/record ("line 3"), ``source_line`` its 1-based number. ``notes`` flags what the
    report should count ("empty_gold", "derived:<field>").
    """

    id: str
    task: str
    fields: Mapping[str, Any]
    reference: str
    source_line: int = 0
    source: str = ""
    location: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. Greedy with a fixed seed by default (CLUE-SPEC defect 3)."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 1
    max_new_tokens: int = 512


@dataclass(frozen=True)
class Rendering:
    """How a conversation becomes one prompt string, besides the chat template (a protocol's data).

    ``prefix``: the generation prefix, appended after the generation prompt (chat) or the last
    separator (plain), before the model writes. ``fold_separator`` joins the system text and the first
    user turn for templates without a system role; ``plain_separator`` joins the turns of the plain
    rendering for base models, which ends with the separator and the prefix when
    ``plain_ends_with_prefix``.
    """

    prefix: str = ""
    fold_separator: str = "\n\n"
    plain_separator: str = "\n\n"
    plain_ends_with_prefix: bool = True


@dataclass(frozen=True)
class Request:
    """One prompt to generate for.

    ``id`` is unique within the task (an example id, plus a variant suffix where one example yields
    several prompts, e.g. LongHealth's five document orders). ``cluster`` groups requests that share a
    source (the question for LongHealth, the document where items share one) for the statistics.
    ``gold`` is the scoring key (e.g. "C" for a multiple-choice item, the code list for MeDiSumCode);
    ``reference`` the gold answer as text, which the oracle engine returns verbatim. ``stop``: strings
    that end the generation (engines that cannot stop on strings get the output cut afterwards).
    ``prompt_tokens``: the prompt's size as prompt building counted it with the engine's token
    counter (the messages' tokens; LongHealth: the sum of its counted parts), 0 when not counted.
    Engines without a tokenizer of their own (oracle, replay) report it instead of counting again.
    """

    id: str
    task: str
    messages: tuple[Message, ...]
    max_new_tokens: int
    reference: str
    gold: Any = None
    cluster: str = ""
    truncated: bool = False
    example_id: str = ""
    rendering: Rendering = field(default_factory=Rendering)
    stop: tuple[str, ...] = ()
    prompt_tokens: int = 0

    def prompt_key(self) -> str:
        """sha256 of the messages and the rendering rules: identifies the prompt independent of the
        model's chat template."""
        payload = json.dumps(
            [[[m.role, m.content] for m in self.messages], dataclasses.asdict(self.rendering)], ensure_ascii=False
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Completion:
    request_id: str
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    cached: bool = False
    prompt_sha256: str = ""


@dataclass(frozen=True)
class ItemScore:
    """Scores of one request, metric name -> value in [0, 1]."""

    id: str
    cluster: str
    scores: Mapping[str, float]
    output: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
