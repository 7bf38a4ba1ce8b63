"""Truncation: prompts that exceed the context are cut (shots' documents first, then the item's),
marked truncated, and then fit prompt + the protocol's reserve (the larger of ``reserve_tokens`` and
``max_new_tokens``) + generation prefix + template margin, and ``max_prompt_tokens`` where set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from clue.contracts import PromptContext
from clue.engines.tokens import HFTokenCounter
from clue.prompts.chat import render, to_plain_text
from clue.prompts.fewshot import fit_documents, template_margin
from clue.prompts.protocol import load_protocol
from clue.records import Example, Message
from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary

MODULES = (mednli, meqsum, problem_summary, medisumqa, medisumcode)
PROTOCOLS = ("2024-06", "2025-01")


def prompt_tokens(messages, counter) -> int:
    return sum(counter.count(m.content) for m in messages)


def reserve_of(tp) -> int:
    return max(tp.reserve_tokens, tp.max_new_tokens)


def reserve(module, pid: str = "2024-06") -> int:
    return reserve_of(load_protocol(pid).task(module.NAME))


def need(request, counter, pid: str = "2024-06") -> int:
    """Context a request needs by the protocol's rule."""
    tp = load_protocol(pid).task(request.task)
    return (
        prompt_tokens(request.messages, counter) + reserve_of(tp) + template_margin(len(request.messages)) + counter.count(tp.prefix)
    )


def context(counter, max_context: int, pid: str = "2024-06") -> PromptContext:
    return PromptContext(tokens=counter, max_context=max_context, protocol=load_protocol(pid))


def full_requests(module, demo_dir: Path, counter, pid: str = "2024-06"):
    examples = module.load(module.TASK.data_path(demo_dir))
    if module is meqsum:
        examples = examples[:40]
    return examples, module.requests(examples, context(counter, 10**7, pid))


@pytest.mark.parametrize("pid", PROTOCOLS)
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_long_prompts_are_cut_to_fit(module, pid: str, demo_dir: Path, words) -> None:
    examples, untouched = full_requests(module, demo_dir, words, pid)
    assert not any(r.truncated for r in untouched)
    needs = sorted(need(r, words, pid) for r in untouched)
    max_context = needs[len(needs) // 2]  # about half of the prompts are too long
    requests = module.requests(examples, context(words, max_context, pid))
    assert [r.id for r in requests] == [r.id for r in untouched]
    for request, original in zip(requests, untouched, strict=True):
        assert need(request, words, pid) <= max_context
        assert request.truncated == (request.messages != original.messages)
        assert [m.role for m in request.messages] == [m.role for m in original.messages]
        assert request.reference == original.reference and request.gold == original.gold
        assert request.messages[0] == original.messages[0]  # the system prompt is never cut
    assert sum(r.truncated for r in requests) >= len(requests) // 3


def test_shots_are_cut_before_the_item(demo_dir: Path, words) -> None:
    tp = load_protocol("2024-06").task("medisumcode")
    examples, (first, *_) = full_requests(medisumcode, demo_dir, words)
    shot_turn, item_turn = first.messages[1].content, first.messages[3].content
    max_context = need(first, words) - words.count(shot_turn) // 2  # cut half of the shot's letter
    cut = medisumcode.requests(examples, context(words, max_context))[0]
    assert cut.truncated
    assert cut.messages[3].content == item_turn  # the item's letter is intact
    assert cut.messages[2].content == first.messages[2].content  # the shot's answer is intact
    assert 0 < words.count(cut.messages[1].content) < words.count(shot_turn)
    head, tail = tp.user.split("{text}")
    assert cut.messages[1].content.startswith(head) and cut.messages[1].content.endswith(tail)


def test_item_document_cut_keeps_a_prefix(demo_dir: Path, words) -> None:
    tp = load_protocol("2024-06").task("medisumqa")
    examples = medisumqa.load(medisumqa.TASK.data_path(demo_dir))
    budget = 100 + reserve(medisumqa) + template_margin(4) + words.count(tp.prefix)
    requests = medisumqa.requests(examples, context(words, budget + 120))
    by_id = {e.id: e for e in examples}
    head, tail = tp.user.split("{without_discharge_summary}")
    end_marker = tail.split("{Question}")[0]
    for request in requests:
        assert request.truncated
        turn = request.messages[-1].content
        assert turn.startswith(head)
        letter = turn[len(head) : turn.rindex(end_marker)]
        original = by_id[request.id].fields["without_discharge_summary"]
        assert original.startswith(letter) and len(letter) < len(original)
        assert turn.endswith("Question: " + by_id[request.id].fields["Question"])  # the question is never cut


@pytest.mark.parametrize("style", ["system", "plain"])
def test_rendered_prompt_fits_the_model_context(style: str, demo_dir: Path, chat_tokenizer) -> None:
    """With a real tokenizer: template tokens + prompt + prefix + reserve stay within max_context."""
    counter = HFTokenCounter(chat_tokenizer)
    examples = medisumcode.load(medisumcode.TASK.data_path(demo_dir))
    max_context = 1000
    requests = medisumcode.requests(examples, context(counter, max_context))
    assert all(r.truncated for r in requests)
    for request in requests:
        text = render(request, style, chat_tokenizer) if style == "system" else to_plain_text(request)
        assert text.endswith("ICD-10 Codes: ")  # the 2024-06 generation prefix, inside the budget
        n = len(chat_tokenizer(text, add_special_tokens=True)["input_ids"])
        assert n + reserve(medisumcode) <= max_context
        assert n + reserve(medisumcode) > max_context - 3 * template_margin(len(request.messages))  # not over-cut


def test_no_limit_when_the_context_is_unknown(demo_dir: Path, words) -> None:
    examples = medisumcode.load(medisumcode.TASK.data_path(demo_dir))
    requests = medisumcode.requests(examples, context(words, 0))
    assert not any(r.truncated for r in requests)


def test_the_reserve_is_the_larger_of_reserve_and_new_tokens(demo_dir: Path, words) -> None:
    """2024-06 keeps 200 tokens free for MedNLI's 20 new ones (the reference's TGI truncation
    reserve); 2025-01 reserves only the new tokens."""
    assert (reserve(mednli, "2024-06"), reserve(mednli, "2025-01")) == (200, 20)
    for pid, truncated in (("2024-06", True), ("2025-01", False)):
        examples, untouched = full_requests(mednli, demo_dir, words, pid)
        longest = max(untouched, key=lambda r: prompt_tokens(r.messages, words))
        # room for the longest prompt and its 20 new tokens, not for a 200-token reserve
        max_context = prompt_tokens(longest.messages, words) + 20 + template_margin(len(longest.messages))
        requests = {r.id: r for r in mednli.requests(examples, context(words, max_context, pid))}
        assert requests[longest.id].truncated is truncated


def test_max_prompt_tokens_caps_a_long_context(words) -> None:
    """2024-06 caps MeQSum prompts at 24,576 tokens whatever the context (the reference's limit)."""
    examples = [
        Example(id=str(i), task="meqsum", reference="?", fields={"File": str(i), "CHQ": "word " * 12000, "Summary": f"Why {i}?"})
        for i in range(4)
    ]
    p = load_protocol("2024-06")
    tp = p.task("meqsum")
    assert tp.max_prompt_tokens == 24576
    (request,) = meqsum.requests(examples, PromptContext(words, max_context=10**6, protocol=p))
    assert request.truncated
    n = prompt_tokens(request.messages, words)
    assert n <= tp.max_prompt_tokens - template_margin(len(request.messages)) - words.count(tp.prefix)
    assert n > tp.max_prompt_tokens - 200
    (request,) = meqsum.requests(examples, PromptContext(words, max_context=10**6, protocol=load_protocol("2025-01")))
    assert not request.truncated and prompt_tokens(request.messages, words) > 48000


def test_fit_documents_drops_what_cannot_be_shortened(words) -> None:
    class Stubborn:
        def count(self, text: str) -> int:
            return words.count(text)

        def truncate(self, text: str, max_tokens: int) -> str:
            return text  # a counter that never shortens

    def build(docs):
        return (Message("system", "s"), Message("user", " | ".join(docs)))

    messages, truncated = fit_documents(build, ["a b c d", "e f g h"], Stubborn(), budget=7)
    assert truncated and messages[1].content == " | e f g h"


def test_impossible_budget_empties_documents_and_warns(demo_dir: Path, words, caplog) -> None:
    tp = load_protocol("2024-06").task("medisumcode")
    examples = medisumcode.load(medisumcode.TASK.data_path(demo_dir))
    _, untouched = full_requests(medisumcode, demo_dir, words)
    # less than the prompts need with their letters removed
    fixed = words.count(tp.system) + 2 * words.count(tp.user.format(text="")) + max(words.count(r.messages[2].content) for r in untouched)
    max_context = fixed + reserve(medisumcode) + template_margin(4) + words.count(tp.prefix) - 1
    with caplog.at_level(logging.WARNING, logger="clue.prompts.fewshot"):
        requests = medisumcode.requests(examples, context(words, max_context))
    assert all(r.truncated for r in requests)
    empty = tp.user.format(text="")
    assert all(r.messages[-1].content == empty and r.messages[1].content == empty for r in requests)
    assert "exceed the context" in caplog.text
