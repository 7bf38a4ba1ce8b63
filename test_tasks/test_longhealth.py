"""LongHealth prompts (budget, evidence first, the three tasks, seeding, tokenising once) and scoring."""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from clue.records import Completion, Example, Message, Request
from clue.tasks import longhealth
from clue.prompts.fewshot import template_margin
from clue.contracts import PromptContext, ScoringContext
from clue.tasks.base import Task
from clue.tasks.longhealth import (
    BUDGET_CAP,
    DOC_SEPARATOR,
    DOCS_HEADER,
    MAX_NEW_TOKENS,
    N_FOREIGN,
    N_PROMPTS,
    NOT_ANSWERABLE,
    QUESTION_GAP,
    TASK1,
    TASK2,
    TASK3,
    TASKS,
    load,
)

DEMO = Path(longhealth.__file__).resolve().parent.parent / "data" / "demo" / "LongHealth" / "benchmark_v5.json"
_WORD = re.compile(r"\S+")


class WhitespaceTokens:
    """A TokenCounter whose tokens are whitespace-separated words (counts add up across joins)."""

    def count(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        for i, match in enumerate(_WORD.finditer(text)):
            if i == max_tokens - 1:
                return text[: match.end()]
        return text


class CountingTokens(WhitespaceTokens):
    def __init__(self) -> None:
        self.counted: list[str] = []

    def count(self, text: str) -> int:
        self.counted.append(text)
        return super().count(text)


@pytest.fixture(scope="module")
def demo() -> list[Example]:
    return load(DEMO)


@pytest.fixture(scope="module")
def texts(demo: list[Example]) -> dict[str, tuple[str, str]]:
    """document text -> (patient, text id)"""
    return {text: (e.fields["patient"], tid) for e in demo for tid, text in e.fields["texts"].items()}


def limit_for(max_context: int) -> int:
    return min(BUDGET_CAP, max_context - MAX_NEW_TOKENS - template_margin(2))


def prompt_tokens(request: Request, tokens: WhitespaceTokens) -> int:
    return sum(tokens.count(m.content) for m in request.messages)


def documents(request: Request) -> list[str]:
    user = request.messages[-1].content
    assert user.startswith(DOCS_HEADER)
    body = user[len(DOCS_HEADER) : user.rindex(QUESTION_GAP + "Question: ")]
    return body.split(DOC_SEPARATOR) if body else []


def sources(request: Request, texts: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """(patient, text id) of each document of a prompt; a cut document is a prefix of its text."""
    found = []
    for doc in documents(request):
        if doc in texts:
            found.append(texts[doc])
        else:
            owners = [key for text, key in texts.items() if text.startswith(doc)]
            assert len(owners) == 1, doc[:80]
            found.append(owners[0])
    return found


def by_example(requests: Sequence[Request]) -> dict[str, list[Request]]:
    grouped: dict[str, list[Request]] = {}
    for r in requests:
        grouped.setdefault(r.example_id, []).append(r)
    return grouped


def write_corpus(path: Path, n_patients: int, n_docs: int, words: int | Sequence[int], seed: int = 0) -> Path:
    """A LongHealth-format file of generated documents ``words`` words long (or ``words[d]`` for
    document d), the first word naming patient and document ("P2D1"); evidence: text_1."""
    sizes = [words] * n_docs if isinstance(words, int) else list(words)
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(500)]
    data: dict[str, object] = {"canary": "generated for tests"}
    for p in range(1, n_patients + 1):
        docs = {f"text_{d}": f"P{p}D{d} " + " ".join(rng.choices(vocab, k=sizes[d] - 1)) for d in range(n_docs)}
        questions = [
            {
                "No": q,
                "question": f"Question {q} about patient {p}?",
                **{f"answer_{x}": f"option {x} {q}" for x in "abcde"},
                "correct": f"option b {q}",
                "answer_location": {"text_1": {"start": [0.1], "end": [0.2]}},
            }
            for q in (1, 2)
        ]
        data[f"patient_{p:02d}"] = {"name": f"Patient {p}", "birthday": "1970-01-01", "diagnosis": "d", "texts": docs, "questions": questions}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- the three tasks --------------------------------------------------------------------------
def test_prompt_counts_ids_and_clusters(demo: list[Example]) -> None:
    ctx = PromptContext(WhitespaceTokens(), max_context=32768, seed=1)
    for task in TASKS:
        requests = task.requests(demo, ctx)
        assert len(requests) == N_PROMPTS * len(demo)
        assert len({r.id for r in requests}) == len(requests)
        for example, group in zip(demo, by_example(requests).values(), strict=True):
            assert [r.id for r in group] == [f"{example.id}/p{k}" for k in range(1, N_PROMPTS + 1)]
            assert {r.cluster for r in group} == {example.id}
            assert {r.example_id for r in group} == {example.id}
            assert all(r.task == task.name and r.max_new_tokens == 50 for r in group)
            assert all(r.messages[0].role == "system" and r.messages[1].role == "user" for r in group)


def test_task1_own_documents_all_orders_distinct(demo: list[Example], texts: dict) -> None:
    requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), max_context=32768, seed=1))
    for example, group in zip(demo, by_example(requests).values(), strict=True):
        own = {(example.fields["patient"], tid) for tid in example.fields["texts"]}
        orders = [tuple(sources(r, texts)) for r in group]
        assert all(set(order) == own and len(order) == len(own) for order in orders)
        assert len(set(orders)) == N_PROMPTS  # five different document orders
        for r in group:
            assert r.gold == example.fields["gold"]
            assert r.reference == example.reference
            assert not r.truncated
            assert "\nE: " in r.messages[1].content and "\nF: " not in r.messages[1].content


def test_task2_evidence_plus_foreign_documents_and_option_f(demo: list[Example], texts: dict) -> None:
    requests = TASK2.requests(demo, PromptContext(WhitespaceTokens(), max_context=32768, seed=1))
    for example, group in zip(demo, by_example(requests).values(), strict=True):
        patient = example.fields["patient"]
        evidence = {(patient, tid) for tid in example.fields["evidence"]}
        draws = set()
        for r in group:
            found = sources(r, texts)
            assert evidence <= set(found)
            foreign = [s for s in found if s[0] != patient]
            assert len(foreign) == N_FOREIGN == len(set(foreign))
            assert {s for s in found if s[0] == patient} == evidence  # no other own documents
            assert f"\nF: {NOT_ANSWERABLE}\n" in r.messages[1].content
            assert r.gold == example.fields["gold"]
            draws.add(frozenset(foreign))
        assert len(draws) > 1  # each prompt draws its own foreign documents


def test_task3_only_foreign_documents_gold_f(demo: list[Example], texts: dict) -> None:
    requests = TASK3.requests(demo, PromptContext(WhitespaceTokens(), max_context=32768, seed=1))
    for example, group in zip(demo, by_example(requests).values(), strict=True):
        for r in group:
            found = sources(r, texts)
            assert len(found) == N_FOREIGN
            assert all(s[0] != example.fields["patient"] for s in found)
            assert r.gold == "F"
            assert r.reference == f"The correct answer is F: {NOT_ANSWERABLE}"
            assert f"\nF: {NOT_ANSWERABLE}\n" in r.messages[1].content


# -- reproducibility (defect 4: the reference had no seed) ------------------------------------
def test_same_seed_same_prompts_other_seed_other_orders(demo: list[Example]) -> None:
    def prompts(task: Task, seed: int) -> list[tuple[Message, ...]]:
        return [r.messages for r in task.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=seed))]

    for task in TASKS:
        assert prompts(task, 7) == prompts(task, 7)
        assert prompts(task, 7) != prompts(task, 8)
    # the generator is private to the call: the global one is neither used nor disturbed
    random.seed(0)
    expected = random.random()
    random.seed(0)
    TASK2.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=3))
    assert random.random() == expected


# -- budget, evidence first, truncation ---------------------------------------------------------
@pytest.mark.parametrize("max_context", [700, 900, 1300, 2000])
def test_prompts_fit_a_small_context(demo: list[Example], texts: dict, max_context: int) -> None:
    tokens = WhitespaceTokens()
    for task in TASKS:
        for r in task.requests(demo, PromptContext(tokens, max_context=max_context, seed=1)):
            assert prompt_tokens(r, tokens) <= limit_for(max_context)


def test_evidence_goes_in_first_and_is_cut_when_it_does_not_fit(demo: list[Example], texts: dict) -> None:
    tokens = WhitespaceTokens()
    max_context = 600  # room for about one demo document
    for task in (TASK1, TASK2):
        requests = task.requests(demo, PromptContext(tokens, max_context=max_context, seed=1))
        evidence_cut = 0
        for example, group in zip(demo, by_example(requests).values(), strict=True):
            evidence = {(example.fields["patient"], tid) for tid in example.fields["evidence"]}
            for r in group:
                assert prompt_tokens(r, tokens) <= limit_for(max_context)
                found = set(sources(r, texts))
                cut = [sources_of(d, texts) for d in documents(r) if d not in texts]
                assert len(cut) <= 1
                assert found & evidence  # the first evidence document drawn is always there
                assert r.truncated == (bool(cut) or not evidence <= found)
                if not evidence <= found or (cut and cut[0] in evidence):
                    assert found <= evidence  # no other document while evidence is missing or cut
                    evidence_cut += 1
        assert evidence_cut > 0


def test_other_documents_fill_what_is_left(tmp_path: Path) -> None:
    """Task 3 has no evidence: whole foreign documents fill the budget; one that does not fit is
    left out (not cut) and later, smaller ones still go in. Three patients of five documents make
    the ten foreign documents all of the pool, so every left-out one is known."""
    sizes = [40, 70, 110, 160, 230]
    examples = load(write_corpus(tmp_path / "benchmark_v5.json", n_patients=3, n_docs=5, words=sizes))
    texts = {t: (e.fields["patient"], tid) for e in examples for tid, t in e.fields["texts"].items()}
    tokens = WhitespaceTokens()
    sep = tokens.count(DOC_SEPARATOR)
    skipped_then_filled = 0
    for max_context in range(400, 1400, 50):
        limit = limit_for(max_context)
        for r in TASK3.requests(examples, PromptContext(tokens, max_context=max_context, seed=1)):
            docs = documents(r)
            assert docs and all(d in texts for d in docs) and not r.truncated
            accounted = prompt_tokens(r, tokens) + longhealth.BOUNDARY_SLACK * (len(docs) + 2)
            assert accounted <= limit
            patient = r.example_id.split("/")[0]
            left_out = [t for t, key in texts.items() if key[0] != patient and t not in docs]
            for text in left_out:  # none of them would have fitted
                assert accounted + sep + longhealth.BOUNDARY_SLACK + tokens.count(text) > limit
            if left_out and min(tokens.count(d) for d in docs) < max(tokens.count(t) for t in left_out):
                skipped_then_filled += 1
    assert skipped_then_filled > 0


def test_small_context_gets_one_cut_document(demo: list[Example], texts: dict) -> None:
    """When no document fits whole, the first one drawn is cut to the budget rather than none shown."""
    tokens = WhitespaceTokens()
    limit = limit_for(400)  # below the shortest demo document
    for task in TASKS:
        for r in task.requests(demo, PromptContext(tokens, max_context=400, seed=1)):
            docs = documents(r)
            assert len(docs) == 1 and docs[0] not in texts and r.truncated
            assert prompt_tokens(r, tokens) + 3 * longhealth.BOUNDARY_SLACK == limit  # filled exactly


def sources_of(doc: str, texts: dict[str, tuple[str, str]]) -> tuple[str, str]:
    return next(key for text, key in texts.items() if text.startswith(doc))


def test_no_room_for_documents(demo: list[Example], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clue.tasks.longhealth"):
        requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), max_context=150, seed=1))
    assert len(requests) == N_PROMPTS * len(demo)
    assert all(r.truncated and documents(r) == [] for r in requests)
    assert "no room for documents" in caplog.text


def test_one_budget_for_all_three_tasks(tmp_path: Path) -> None:
    """Defect 4: the reference capped task 1 at 8k tokens and left tasks 2 and 3 uncapped. Here every
    task's prompt stays within 8,140 tokens on a long context, and the cap is what binds."""
    examples = load(write_corpus(tmp_path / "benchmark_v5.json", n_patients=4, n_docs=4, words=2500))
    tokens = WhitespaceTokens()
    for task in TASKS:
        for r in task.requests(examples, PromptContext(tokens, max_context=32768, seed=1)):
            n = prompt_tokens(r, tokens)
            assert n <= BUDGET_CAP
            assert n > BUDGET_CAP - 2500 - 40  # full: one more 2,500-token document would not fit
            assert not r.truncated  # evidence (2,500 tokens) always fits whole


def test_separator_is_counted_as_inserted(tmp_path: Path) -> None:
    """Defect 4: the reference counted a separator other than the one it inserted, so its prompts
    overran the budget by the difference per document. Many small documents make that visible:
    each prompt fits, is full, and holds one separator less than documents."""
    examples = load(write_corpus(tmp_path / "benchmark_v5.json", n_patients=3, n_docs=12, words=10))
    tokens = WhitespaceTokens()
    sep = tokens.count(DOC_SEPARATOR)
    assert sep >= 3
    checked = 0
    for max_context in range(260, 420, 7):
        for task in TASKS:
            for r in task.requests(examples, PromptContext(tokens, max_context=max_context, seed=1)):
                docs = documents(r)
                user = r.messages[1].content
                assert user.count(DOC_SEPARATOR) == max(len(docs) - 1, 0)
                used = prompt_tokens(r, tokens)
                # whitespace tokens add up exactly, so the accounting (with its slack per joined
                # piece: the documents and two fixed pieces) must fit too, not just the prompt
                accounted = used + longhealth.BOUNDARY_SLACK * (len(docs) + 2)
                assert used <= accounted <= limit_for(max_context)
                if len(docs) < (12 if task is TASK1 else 1 + N_FOREIGN if task is TASK2 else N_FOREIGN):
                    # full: one more 10-word document with its separator would overrun
                    assert accounted + 10 + sep + longhealth.BOUNDARY_SLACK > limit_for(max_context)
                checked += 1
    assert checked > 0


# -- tokenising once per call ----------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_each_document_is_tokenised_once_per_call(demo: list[Example], texts: dict, task: Task) -> None:
    tokens = CountingTokens()
    requests = task.requests(demo, PromptContext(tokens, max_context=32768, seed=1))
    calls = Counter(tokens.counted)
    for text in texts:
        assert calls[text] <= 1
    used = {s for r in requests for s in sources(r, texts)}
    assert all(calls[text] == 1 for text, key in texts.items() if key in used)
    # no prompt (documents joined) is counted
    assert not any(DOC_SEPARATOR in text and text != DOC_SEPARATOR for text in tokens.counted)
    # the rest: the system prompt, the separator, the fixed text and one question block per question
    assert len(tokens.counted) - sum(calls[t] for t in texts) <= len(demo) + 3


def test_real_tokenizer_prompts_fit(demo: list[Example], texts: dict) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from clue.engines.tokens import HFTokenCounter

    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=700, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer)
    counter = HFTokenCounter(tok)
    max_context = 1200
    for task in TASKS:
        requests = task.requests(demo, PromptContext(counter, max_context=max_context, seed=1))
        whole = [len(tok.encode(m.content, add_special_tokens=False).ids) for r in requests for m in r.messages]
        per_prompt = [sum(whole[i : i + 2]) for i in range(0, len(whole), 2)]
        assert max(per_prompt) <= limit_for(max_context)
        assert max(per_prompt) > limit_for(max_context) - 400  # the budget is used, not wasted
        if task is not TASK3:
            assert any(r.truncated for r in requests)
            for r in requests:
                assert sources(r, texts)  # some evidence is always there


# -- scoring ------------------------------------------------------------------------------------
def _complete(requests: Sequence[Request], text: Callable[[Request], str]) -> list[Completion]:
    return [Completion(request_id=r.id, text=text(r)) for r in requests]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_oracle_scores_one(demo: list[Example], task: Task) -> None:
    requests = task.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    items = task.score(requests, _complete(requests, lambda r: r.reference), ScoringContext())
    assert [i.id for i in items] == [r.id for r in requests]
    assert all(i.scores == {"accuracy": 1.0, "accuracy_strict": 1.0} for i in items)
    assert all(i.cluster == r.example_id for i, r in zip(items, requests, strict=True))


def test_defect_5_lenient_variants_count_as_right(demo: list[Example]) -> None:
    """The reference's case-sensitive, colon-requiring regex scores these 0; accuracy reads them."""
    requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    variants = ["the correct answer is {g}: x", "The correct answer is {g}.", "The correct answer is: {g}", "Answer: {g}"]
    for form in variants:
        items = TASK1.score(requests, _complete(requests, lambda r: form.format(g=r.gold)), ScoringContext())
        assert all(i.scores["accuracy"] == 1.0 and i.scores["accuracy_strict"] == 0.0 for i in items)


def test_wrong_missing_and_out_of_range_letters(demo: list[Example]) -> None:
    requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))

    def wrong(r: Request) -> str:
        return f"The correct answer is {'A' if r.gold != 'A' else 'B'}: x"

    for text in (wrong, lambda r: "I am not sure.", lambda r: "The correct answer is F: none"):
        items = TASK1.score(requests, _complete(requests, text), ScoringContext())
        assert all(i.scores == {"accuracy": 0.0, "accuracy_strict": 0.0} for i in items)
    # F is an option in task 3 (and the gold there)
    requests3 = TASK3.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    items = TASK3.score(requests3, _complete(requests3, lambda r: "The correct answer is F."), ScoringContext())
    assert all(i.scores == {"accuracy": 1.0, "accuracy_strict": 0.0} for i in items)


def test_completions_are_matched_by_id(demo: list[Example]) -> None:
    requests = TASK2.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    completions = _complete(requests, lambda r: r.reference)[::-1]
    items = TASK2.score(requests, completions, ScoringContext())
    assert all(i.scores["accuracy"] == 1.0 for i in items)
    with pytest.raises(ValueError):
        TASK2.score(requests, completions[:-1], ScoringContext())
