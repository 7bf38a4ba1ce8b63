"""Truncation: prompts that exceed the context are cut (shots' documents first, then the item's),
marked truncated, and then fit prompt + max_new_tokens + template margin."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from clue.engines.tokens import HFTokenCounter
from clue.prompts.chat import render, to_plain_text
from clue.records import Message
from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue.prompts.fewshot import fit_documents, template_margin
from clue.contracts import PromptContext

MODULES = (mednli, meqsum, problem_summary, medisumqa, medisumcode)


def prompt_tokens(messages, counter) -> int:
    return sum(counter.count(m.content) for m in messages)


def full_requests(module, demo_dir: Path, counter):
    examples = module.load(module.TASK.data_path(demo_dir))
    if module is meqsum:
        examples = examples[:40]
    return examples, module.requests(examples, PromptContext(tokens=counter, max_context=10**7))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_long_prompts_are_cut_to_fit(module, demo_dir: Path, words) -> None:
    examples, untouched = full_requests(module, demo_dir, words)
    assert not any(r.truncated for r in untouched)
    needs = sorted(prompt_tokens(r.messages, words) + r.max_new_tokens + template_margin(len(r.messages)) for r in untouched)
    max_context = needs[len(needs) // 2]  # about half of the prompts are too long
    requests = module.requests(examples, PromptContext(tokens=words, max_context=max_context))
    assert [r.id for r in requests] == [r.id for r in untouched]
    for request, original in zip(requests, untouched, strict=True):
        need = prompt_tokens(request.messages, words) + request.max_new_tokens + template_margin(len(request.messages))
        assert need <= max_context
        assert request.truncated == (request.messages != original.messages)
        assert [m.role for m in request.messages] == [m.role for m in original.messages]
        assert request.reference == original.reference and request.gold == original.gold
    assert sum(r.truncated for r in requests) >= len(requests) // 3


def test_shots_are_cut_before_the_item(demo_dir: Path, words) -> None:
    examples, (first, *_) = full_requests(medisumcode, demo_dir, words)
    shot_turn, item_turn = first.messages[1].content, first.messages[3].content
    need = prompt_tokens(first.messages, words) + first.max_new_tokens + template_margin(len(first.messages))
    max_context = need - words.count(shot_turn) // 2  # cut half of the shot's letter
    cut = medisumcode.requests(examples, PromptContext(tokens=words, max_context=max_context))[0]
    assert cut.truncated
    assert cut.messages[3].content == item_turn  # the item's letter is intact
    assert cut.messages[2].content == first.messages[2].content  # the shot's answer is intact
    assert 0 < words.count(cut.messages[1].content) < words.count(shot_turn)
    assert cut.messages[1].content.endswith(medisumcode.USER_TEMPLATE.split("{text}")[1].format(sep=medisumcode.SEPARATOR))


def test_item_document_cut_keeps_a_prefix(demo_dir: Path, words) -> None:
    examples = medisumqa.load(medisumqa.TASK.data_path(demo_dir))
    budget = 100 + medisumqa.MAX_NEW_TOKENS + template_margin(4)
    requests = medisumqa.requests(examples, PromptContext(tokens=words, max_context=budget + 120))
    by_id = {e.id: e for e in examples}
    for request in requests:
        assert request.truncated
        turn = request.messages[-1].content
        letter = turn.split(medisumqa.SEPARATOR + " BEGIN DISCHARGE LETTER " + medisumqa.SEPARATOR + "\n", 1)[1]
        letter = letter.split("\n" + medisumqa.SEPARATOR + " END DISCHARGE LETTER", 1)[0]
        original = by_id[request.id].fields["discharge_summary"]
        assert original.startswith(letter) and len(letter) < len(original)
        assert turn.endswith(by_id[request.id].fields["question"])  # the question is never cut


@pytest.mark.parametrize("style", ["system", "plain"])
def test_rendered_prompt_fits_the_model_context(style: str, demo_dir: Path, chat_tokenizer) -> None:
    """With a real tokenizer: template tokens + prompt + new tokens stay within max_context."""
    counter = HFTokenCounter(chat_tokenizer)
    examples = medisumcode.load(medisumcode.TASK.data_path(demo_dir))
    max_context = 1000
    requests = medisumcode.requests(examples, PromptContext(tokens=counter, max_context=max_context))
    assert all(r.truncated for r in requests)
    for request in requests:
        text = render(request, style, chat_tokenizer) if style == "system" else to_plain_text(request)
        n = len(chat_tokenizer(text, add_special_tokens=True)["input_ids"])
        assert n + request.max_new_tokens <= max_context
        assert n + request.max_new_tokens > max_context - 3 * template_margin(len(request.messages))  # not over-cut


def test_no_limit_when_the_context_is_unknown(demo_dir: Path, words) -> None:
    examples = medisumcode.load(medisumcode.TASK.data_path(demo_dir))
    requests = medisumcode.requests(examples, PromptContext(tokens=words, max_context=0))
    assert not any(r.truncated for r in requests)


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
    examples = medisumcode.load(medisumcode.TASK.data_path(demo_dir))
    with caplog.at_level(logging.WARNING, logger="clue.tasks._budget"):
        requests = medisumcode.requests(examples, PromptContext(tokens=words, max_context=600))
    assert all(r.truncated for r in requests)
    empty = medisumcode.USER_TEMPLATE.format(sep=medisumcode.SEPARATOR, text="")
    assert all(r.messages[-1].content == empty for r in requests)
    assert "exceed the context" in caplog.text
