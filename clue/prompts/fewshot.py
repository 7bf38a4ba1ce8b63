"""Few-shot prompts as a protocol defines them: shots, turns, prefix, and the fit to the context.

A prompt is the system prompt, one (user, assistant) pair per shot, then the item's user turn
(CLUE-PROTOCOLS §1.1). The shots are the first k records in file order or after the reference's
seeded shuffle (``random.seed(1); random.shuffle``), as the protocol says; the rest are scored.

Truncation (clue's fix, named in every protocol's deviations): when the prompt does not fit, the
protocol's document fields (``documents``) are cut, the shots' first, then the item's, until the
prompt's tokens + a chat-template margin fit the context less ``max(reserve_tokens, max_new_tokens)``
(and ``max_prompt_tokens`` where set). The reference's server kept the last tokens instead and lost
the system prompt first.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from clue.contracts import PromptContext, TokenCounter
from clue.engines.tokens import truncate_at_token_ends
from clue.errors import DataFormatError
from clue.prompts.protocol import TaskProtocol
from clue.records import Example, Message, Request

log = logging.getLogger(__name__)

T = TypeVar("T")

# Tokens the chat template (or the plain rendering's separators) may add: per prompt and per message.
TEMPLATE_MARGIN = 32
TEMPLATE_MARGIN_PER_MESSAGE = 8


def template_margin(n_messages: int) -> int:
    return TEMPLATE_MARGIN + TEMPLATE_MARGIN_PER_MESSAGE * n_messages


def split_shots(records: Sequence[T], k: int, order: str = "shuffle", seed: int = 1) -> tuple[list[T], list[T]]:
    """(shots, scored): the first ``k`` records and the rest, in file order or after a seeded shuffle
    (the same order as ``random.seed(seed); random.shuffle(records)``, without the global generator)."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    ordered = list(records)
    if order == "shuffle":
        random.Random(seed).shuffle(ordered)
    elif order != "file":
        raise ValueError(f"shot order must be 'file' or 'shuffle', got {order!r}")
    return ordered[:k], ordered[k:]


class _MemoCounter:
    """Token counts memoised for one ``requests`` call (the shots' turns repeat in every prompt).

    With a counter that gives token offsets (``token_ends``), truncation keeps them: a shot's letter
    is encoded once for every item it is cut for, and the prefix a cut re-counts is not encoded again
    when the fit counts or cuts it next. The result is the counter's own ``truncate``'s.
    """

    _ENDS_KEPT = 8  # the offsets of the last few texts cut or re-counted (a fit cuts one text repeatedly)

    def __init__(self, tokens: TokenCounter) -> None:
        self._tokens = tokens
        self._counts: dict[str, int] = {}
        self._token_ends: Callable[[str], list[int] | None] | None = getattr(tokens, "token_ends", None)
        self._ends: dict[str, list[int]] = {}  # insertion order: the oldest first out
        self._pinned: dict[str, list[int]] = {}  # original documents cut more than once (the shots')

    def count(self, text: str) -> int:
        if text not in self._counts:
            self._counts[text] = self._tokens.count(text) if text else 0
        return self._counts[text]

    def _ends_of(self, text: str, original: bool = False) -> list[int] | None:
        """The token ends of ``text``, from the memo or encoded now. An original document cut a second
        time (a shot's, cut for every item) is kept for the rest of the call; others only while recent."""
        ends = self._pinned.get(text)
        if ends is not None:
            return ends
        ends = self._ends.get(text)
        if ends is not None:
            if original:
                self._pinned[text] = self._ends.pop(text)
            return ends
        if self._token_ends is None:
            return None
        ends = self._token_ends(text)
        if ends is not None:
            self._counts[text] = len(ends)
            self._ends[text] = ends
            while len(self._ends) > self._ENDS_KEPT:
                self._ends.pop(next(iter(self._ends)))
        return ends

    def _recount(self, text: str) -> int:
        if text in self._counts:
            return self._counts[text]
        ends = self._ends_of(text)
        return len(ends) if ends is not None else self.count(text)

    def truncate(self, text: str, max_tokens: int, original: bool = False) -> str:
        """``tokens.truncate(text, max_tokens)``; ``original``: ``text`` is a document as loaded (its
        offsets are kept for the whole call), not a cut of one."""
        if max_tokens <= 0:
            return ""
        ends = self._ends_of(text, original)
        if ends is None:
            return self._tokens.truncate(text, max_tokens)
        return truncate_at_token_ends(text, max_tokens, ends, self._recount)


def fit_documents(
    build: Callable[[Sequence[str]], tuple[Message, ...]],
    documents: Sequence[str],
    tokens: TokenCounter,
    budget: int,
) -> tuple[tuple[Message, ...], bool]:
    """Messages from ``build(documents)``, cutting documents in order until the messages' tokens
    fit ``budget``. Returns (messages, whether anything was cut)."""
    docs = list(documents)
    messages = build(docs)
    over = sum(tokens.count(m.content) for m in messages) - budget
    truncated = False
    i = 0
    memo = isinstance(tokens, _MemoCounter)
    while over > 0 and i < len(docs):
        n = tokens.count(docs[i])
        if n == 0:
            i += 1
            continue
        keep = min(n - 1, n - over)
        if keep <= 0:
            cut = ""
        elif memo:
            cut = tokens.truncate(docs[i], keep, original=docs[i] is documents[i])
        else:
            cut = tokens.truncate(docs[i], keep)
        if len(cut) >= len(docs[i]):  # a counter that cannot shorten it: drop the field
            cut = ""
        docs[i] = cut
        truncated = True
        messages = build(docs)
        over = sum(tokens.count(m.content) for m in messages) - budget
    return messages, truncated


def prompt_budget(tp: TaskProtocol, ctx: PromptContext, n_messages: int, prefix_tokens: int) -> int:
    """Tokens the messages' contents may take (negative context = unlimited is handled by the caller)."""
    limit = ctx.max_context - max(tp.reserve_tokens, tp.max_new_tokens)
    if tp.max_prompt_tokens:
        limit = min(limit, tp.max_prompt_tokens)
    return limit - template_margin(n_messages) - prefix_tokens


def check_fields(tp: TaskProtocol, examples: Sequence[Example]) -> None:
    """Every field the protocol's templates read is in every record (DataFormatError otherwise)."""
    for ex in examples:
        for name in sorted(tp.fields):
            if name not in ex.fields:
                raise DataFormatError(
                    Path(ex.source or ex.task), ex.location or f"record {ex.source_line}", name,
                    f"missing (the {tp.task} prompt of this protocol reads it)",
                )


def answer_text(tp: TaskProtocol, example: Example) -> str:
    """What the model should write after the prompt: the assistant answer less the generation prefix."""
    full = tp.assistant.format(**example.fields)
    return full[len(tp.prefix):] if tp.prefix and full.startswith(tp.prefix) else full


def fewshot_requests(
    tp: TaskProtocol,
    examples: Sequence[Example],
    ctx: PromptContext,
    *,
    gold: Callable[[Example], Any],
    cluster: Callable[[Example], str] | None = None,
) -> list[Request]:
    """One request per scored example."""
    shots, scored = split_shots(examples, tp.shots, tp.shot_order, tp.shot_seed)
    check_fields(tp, [*shots, *scored])
    counter = _MemoCounter(ctx.tokens)
    unlimited = ctx.max_context <= 0
    budget = prompt_budget(tp, ctx, 2 + 2 * len(shots), counter.count(tp.prefix))
    stop = tp.stop_strings(ctx.model_id)
    requests: list[Request] = []
    n_over = 0
    for item in scored:
        owners = [*shots, item]
        originals = [str(ex.fields[name]) for ex in owners for name in tp.documents]
        build = partial(_messages, tp, owners)
        if unlimited:
            messages, truncated = build(originals), False
        else:
            messages, truncated = fit_documents(build, originals, counter, budget)
        n_tokens = sum(counter.count(m.content) for m in messages)  # counted (memoised) by the fit
        if truncated and n_tokens > budget:
            n_over += 1
        requests.append(
            Request(
                id=item.id,
                task=tp.task,
                messages=messages,
                max_new_tokens=tp.max_new_tokens,
                reference=answer_text(tp, item),
                gold=gold(item),
                cluster=cluster(item) if cluster else item.id,
                truncated=truncated,
                example_id=item.id,
                rendering=tp.rendering,
                stop=stop,
                prompt_tokens=n_tokens,
            )
        )
    if n_over:
        log.warning(
            "%s: %d prompt(s) exceed the context of %d tokens even with their documents removed",
            tp.task, n_over, ctx.max_context,
        )
    return requests


def _messages(tp: TaskProtocol, owners: Sequence[Example], docs: Sequence[str]) -> tuple[Message, ...]:
    """System turn, (user, assistant) per shot, the item's user turn; ``owners`` = shots + item and
    ``docs`` their document fields, ``len(tp.documents)`` per owner."""
    size = len(tp.documents)
    turns = [Message("system", tp.system)]
    for k, example in enumerate(owners):
        cut = dict(zip(tp.documents, docs[k * size : (k + 1) * size], strict=True))
        turns.append(Message("user", tp.user.format(**{**example.fields, **cut})))
        if k < len(owners) - 1:
            turns.append(Message("assistant", tp.assistant.format(**example.fields)))
    return tuple(turns)
