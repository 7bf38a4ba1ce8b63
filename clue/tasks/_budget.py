"""Few-shot prompt assembly with a token budget, shared by the single-prompt CLUE tasks.

A prompt is: the system prompt, one (user, assistant) pair per shot, then the item's user turn
(CLUE-SPEC, common protocol). When it does not fit the model's context, the long document fields
are cut (``TokenCounter.truncate``): the shots' documents first, then the item's, until prompt +
``max_new_tokens`` + a chat-template margin fit ``max_context``.
"""

from __future__ import annotations

import logging
from functools import partial
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clue.prompts.fewshot import split_shots
from clue.metrics.summary import score_summaries
from clue.records import Completion, Example, ItemScore, Message, Request
from clue.tasks.base import PromptContext, ScoringContext, TokenCounter

log = logging.getLogger(__name__)

# Tokens the chat template (or the plain rendering's labels) may add: per prompt and per message.
TEMPLATE_MARGIN = 32
TEMPLATE_MARGIN_PER_MESSAGE = 8

UserTurn = Callable[[Example, Mapping[str, str]], str]


@dataclass(frozen=True)
class PromptSpec:
    """How a task turns examples into messages.

    ``user`` builds an example's user turn from the example and its (possibly cut) document fields;
    ``documents`` names the fields of ``Example.fields`` that may be cut, in the order they are cut.
    """

    system: str
    user: UserTurn
    documents: tuple[str, ...] = ()


def template_margin(n_messages: int) -> int:
    return TEMPLATE_MARGIN + TEMPLATE_MARGIN_PER_MESSAGE * n_messages


class _MemoCounter:
    """Token counts memoised for one ``requests`` call (the shots' turns repeat in every prompt)."""

    def __init__(self, tokens: TokenCounter) -> None:
        self._tokens = tokens
        self._counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        if text not in self._counts:
            self._counts[text] = self._tokens.count(text) if text else 0
        return self._counts[text]

    def truncate(self, text: str, max_tokens: int) -> str:
        return self._tokens.truncate(text, max_tokens) if max_tokens > 0 else ""


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
    while over > 0 and i < len(docs):
        n = tokens.count(docs[i])
        if n == 0:
            i += 1
            continue
        keep = min(n - 1, n - over)
        cut = tokens.truncate(docs[i], keep) if keep > 0 else ""
        if len(cut) >= len(docs[i]):  # a counter that cannot shorten it: drop the field
            cut = ""
        docs[i] = cut
        truncated = True
        messages = build(docs)
        over = sum(tokens.count(m.content) for m in messages) - budget
    return messages, truncated


def fewshot_requests(
    task: str,
    examples: Sequence[Example],
    ctx: PromptContext,
    spec: PromptSpec,
    *,
    n_shots: int,
    max_new_tokens: int,
    gold: Callable[[Example], Any],
    cluster: Callable[[Example], str] | None = None,
) -> list[Request]:
    """One request per scored example; the first ``n_shots`` of the seeded shuffle are the shots."""
    shots, scored = split_shots(examples, n_shots, seed=ctx.seed)
    counter = _MemoCounter(ctx.tokens)
    n_messages = 2 + 2 * len(shots)
    unlimited = ctx.max_context <= 0
    budget = ctx.max_context - max_new_tokens - template_margin(n_messages)
    requests: list[Request] = []
    n_over = 0
    for item in scored:
        owners = [*shots, item]
        originals = [str(ex.fields.get(name, "")) for ex in owners for name in spec.documents]
        build = partial(_messages, spec, owners)
        if unlimited:
            messages, truncated = build(originals), False
        else:
            messages, truncated = fit_documents(build, originals, counter, budget)
            if truncated and sum(counter.count(m.content) for m in messages) > budget:
                n_over += 1
        requests.append(
            Request(
                id=item.id,
                task=task,
                messages=messages,
                max_new_tokens=max_new_tokens,
                reference=item.reference,
                gold=gold(item),
                cluster=cluster(item) if cluster else item.id,
                truncated=truncated,
                example_id=item.id,
            )
        )
    if n_over:
        log.warning(
            "%s: %d prompt(s) exceed the context of %d tokens even with their documents removed",
            task, n_over, ctx.max_context,
        )
    return requests


def _messages(spec: PromptSpec, owners: Sequence[Example], docs: Sequence[str]) -> tuple[Message, ...]:
    """System turn, (user, assistant) per shot, the item's user turn; ``owners`` = shots + item and
    ``docs`` their document fields, ``len(spec.documents)`` per owner."""
    size = len(spec.documents)
    turns = [Message("system", spec.system)]
    for k, example in enumerate(owners):
        fields = dict(zip(spec.documents, docs[k * size : (k + 1) * size], strict=True))
        turns.append(Message("user", spec.user(example, fields)))
        if k < len(owners) - 1:
            turns.append(Message("assistant", example.reference))
    return tuple(turns)


def paired(requests: Sequence[Request], completions: Sequence[Completion]) -> list[tuple[Request, Completion]]:
    """Requests with their completions, matched by request id (order may differ)."""
    if len(requests) != len(completions):
        raise ValueError(f"{len(requests)} requests but {len(completions)} completions")
    if all(r.id == c.request_id for r, c in zip(requests, completions, strict=True)):
        return list(zip(requests, completions, strict=True))
    by_id = {c.request_id: c for c in completions}
    missing = [r.id for r in requests if r.id not in by_id]
    if missing:
        raise ValueError(f"no completion for request(s) {', '.join(missing[:5])}")
    return [(r, by_id[r.id]) for r in requests]


def summary_item_scores(
    requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext, *, with_umls: bool
) -> list[ItemScore]:
    """Item scores of a summary task: ROUGE, BERTScore (when available), UMLS (where asked) vs the gold text."""
    pairs = paired(requests, completions)
    scores = score_summaries([c.text for _, c in pairs], [str(r.gold) for r, _ in pairs], sctx, with_umls=with_umls)
    return [
        ItemScore(id=r.id, cluster=r.cluster, scores=s, output=c.text) for (r, c), s in zip(pairs, scores, strict=True)
    ]
