"""LongHealth prompts (the reference's ``create_prompt``: accounting, cut, shuffle; the three tasks,
seeding, tokenising once) and scoring (the reference's strict rule, the lenient parse beside it)."""

from __future__ import annotations

import functools
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from clue.contracts import PromptContext, ScoringContext
from clue.prompts.fewshot import template_margin
from clue.prompts.protocol import Protocol, load_protocol
from clue.records import Completion, Example, Message, Request
from clue.tasks import longhealth
from clue.tasks.base import Task
from clue.tasks.longhealth import PARSED_ANSWER, TASK1, TASK2, TASK3, TASKS, gold_letter, load

DEMO = Path(longhealth.__file__).resolve().parent.parent / "data" / "demo" / "LongHealth" / "benchmark_v5.json"
_WORD = re.compile(r"\S+")

P2024 = load_protocol("2024-06")
RULES = P2024.longhealth
TP = P2024.task("longhealth_task1")
N_PROMPTS = RULES.prompts_per_question
N_FOREIGN = RULES.foreign_documents
NOT_ANSWERABLE = "Question cannot be answered with provided documents"
# The user template around the documents: what comes before them and what follows them.
HEAD, _REST = TP.user.split("{documents}")
MIDDLE = _REST.split("{question_text}")[0]


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
    """Tokens for system prompt + user turn: the budget, or less where the context is smaller."""
    return min(RULES.budget_tokens, max_context - TP.max_new_tokens - template_margin(2))


def prompt_tokens(request: Request, tokens: WhitespaceTokens) -> int:
    return sum(tokens.count(m.content) for m in request.messages)


def documents(request: Request) -> list[str]:
    """The documents of a prompt, in prompt order (a document cut to nothing is "")."""
    user = request.messages[-1].content
    assert user.startswith(HEAD)
    body = user[len(HEAD) : user.rindex(MIDDLE)]
    return body.split(RULES.document_separator)


def sources(request: Request, texts: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """(patient, text id) of each non-empty document of a prompt; a cut document is a prefix of its text."""
    found = []
    for doc in documents(request):
        if not doc:
            continue
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


# -- the reference's assembly, written out -----------------------------------------------------
def by_reference(
    examples: Sequence[Example], number: int, tokens: Any, max_context: int, seed: int, protocol: Protocol = P2024
) -> list[tuple[str, str, str | None, bool]]:
    """(example id, user turn, gold letter, cut) per prompt, as eval_LongHealth.py (CLUE ff75877)
    builds them: ``create_prompt`` counts len(encode(.)) of the question, the options, the template
    and each document plus the "NEW DOCUMENT" separator, takes documents while they fit, cuts the
    first that does not to what is left and stops there (the next group gets its first document cut
    to nothing); shuffles; joins with "--------------". Task 1: five prompts per question; tasks 2
    and 3: ten draws per question, each sampling ten foreign documents, even draws task 3, odd task 2.
    clue's fixes: one random.Random(seed) per loop, the budget capped by the context."""
    n = functools.cache(getattr(tokens, "count_encoded", tokens.count))  # the reference re-encoded: same counts
    head = getattr(tokens, "encoded_head", None)

    def cut(doc: str, k: int) -> str:
        return head(doc, k, keep_special=True) if head else tokens.truncate(doc, k)

    system, template = protocol.task("longhealth_task1").system, protocol.task("longhealth_task1").user
    budget = 8140 if max_context <= 0 else min(8140, max_context - 50 - template_margin(2))
    max_len = budget - n(system)
    rng = random.Random(seed)
    first = protocol.longhealth.gold_rule == "first_containing"

    def gold(question: dict[str, Any]) -> str | None:
        letter = None
        for key in question:
            if key.startswith("answer") and not key.endswith("location") and question["correct"] in question[key]:
                letter = key[-1].upper()
                if first:
                    break
        return letter

    def create_prompt(answer_docs: list[str], non_answer_docs: list[str], question: dict[str, Any], labels: str) -> tuple[str, bool]:
        options = "\n".join(label.upper() + ": " + question[f"answer_{label}"] for label in labels)
        len_separator = n("\n\n-------------- NEW DOCUMENT --------------\n\n")
        total = n(question["question"]) + n(options) + n(template)
        selected: list[str] = []
        was_cut = False
        for group in (answer_docs, non_answer_docs):
            for doc in group:
                if total + n(doc) <= max_len:
                    selected.append(doc)
                    total += n(doc) + len_separator
                else:
                    selected.append(cut(doc, max(max_len - total, 0)))
                    total, was_cut = max_len, True
                    break
        rng.shuffle(selected)
        joined = "\n\n--------------\n\n".join(selected)
        return template.format(documents=joined, question_text=question["question"], options=options), was_cut

    out = []
    if number == 1:
        for ex in examples:
            question, patient_texts = dict(ex.fields["record"]), ex.fields["texts"]
            answer = [patient_texts[t] for t in question["answer_location"]]
            others = [text for t, text in patient_texts.items() if t not in question["answer_location"]]
            for _ in range(5):
                prompt, was_cut = create_prompt(answer, others, question, "abcde")
                out.append((ex.id, prompt, gold(question), was_cut))
        return out
    patients = {ex.fields["patient"]: ex.fields["texts"] for ex in examples}
    for ex in examples:
        question = {**ex.fields["record"], "answer_f": NOT_ANSWERABLE}
        patient_texts = ex.fields["texts"]
        pool = [text for pid, ts in patients.items() if pid != ex.fields["patient"] for text in ts.values()]
        for j in range(10):
            foreign = rng.sample(pool, min(10, len(pool)))
            if j % 2 == 0:
                prompt, was_cut = create_prompt([], foreign, question, "abcdef")
                if number == 3:
                    out.append((ex.id, prompt, "F", was_cut))
            else:
                answer = [patient_texts[t] for t in question["answer_location"]]
                prompt, was_cut = create_prompt(answer, foreign, question, "abcdef")
                if number == 2:
                    out.append((ex.id, prompt, gold(question), was_cut))
    return out


def built(task: Task, examples: Sequence[Example], ctx: PromptContext) -> list[tuple[str, str, str | None, bool]]:
    requests = task.requests(examples, ctx)
    assert all(r.messages[0] == Message("system", ctx.rules.task(task.name).system) for r in requests)
    assert all(len(r.messages) == 2 and r.messages[1].role == "user" for r in requests)
    return [(r.example_id, r.messages[1].content, r.gold, r.truncated) for r in requests]


@pytest.mark.parametrize("max_context", [0, 32768, 1300, 600, 150])
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_prompts_equal_the_reference_assembly(demo: list[Example], task: Task, max_context: int) -> None:
    tokens = WhitespaceTokens()
    ctx = PromptContext(tokens, max_context=max_context, seed=5)
    assert built(task, demo, ctx) == by_reference(demo, task.extra.number, tokens, max_context, seed=5)


@pytest.mark.parametrize("max_context", [0, 900])
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_prompts_equal_the_reference_assembly_with_special_tokens(
    demo: list[Example], task: Task, max_context: int, bos_counter
) -> None:
    """With a tokenizer that adds a BOS, counts include it and a cut document is
    decode(encode(doc)[:k]) with the BOS kept, as the reference's tokenizer calls gave."""
    ctx = PromptContext(bos_counter, max_context=max_context, seed=2)
    got = built(task, demo, ctx)
    assert got == by_reference(demo, task.extra.number, bos_counter, max_context, seed=2)
    if max_context:
        assert any(cut for *_, cut in got)
        assert any("<s>" in user for _, user, _, cut in got if cut)  # the kept special token


def test_prompts_equal_the_reference_assembly_2025_01(demo: list[Example]) -> None:
    p = load_protocol("2025-01")
    tokens = WhitespaceTokens()
    for task in TASKS:
        ctx = PromptContext(tokens, max_context=1300, seed=4, protocol=p)
        assert built(task, demo, ctx) == by_reference(demo, task.extra.number, tokens, 1300, seed=4, protocol=p)


# -- the three tasks --------------------------------------------------------------------------
def test_prompt_counts_ids_and_clusters(demo: list[Example]) -> None:
    ctx = PromptContext(WhitespaceTokens(), max_context=32768, seed=1)
    assert (N_PROMPTS, N_FOREIGN, TP.max_new_tokens) == (5, 10, 50)
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
            assert all(r.rendering == TP.rendering for r in group)


def test_task1_own_documents_in_shuffled_orders(demo: list[Example], texts: dict) -> None:
    requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), max_context=32768, seed=1))
    for example, group in zip(demo, by_example(requests).values(), strict=True):
        own = {(example.fields["patient"], tid) for tid in example.fields["texts"]}
        orders = [tuple(sources(r, texts)) for r in group]
        assert all(set(order) == own and len(order) == len(own) for order in orders)
        record = example.fields["record"]
        letter = gold_letter(record, "last_containing")
        for r in group:
            assert r.gold == letter is not None
            assert r.reference == f"The correct answer is {letter}: {record['answer_' + letter.lower()]}"
            assert not r.truncated
            user = r.messages[1].content
            assert f"\nA: {record['answer_a']}\n" in user and f"\nE: {record['answer_e']}\n" in user
            assert "\nF: " not in user
    # the orders are shuffles: not every prompt of a question shows the documents in file order
    assert any(len({tuple(sources(r, texts)) for r in g}) > 1 for g in by_example(requests).values())


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
            assert r.gold == gold_letter({**example.fields["record"], "answer_f": NOT_ANSWERABLE}, "last_containing")
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


def _question(correct: str, **options: str) -> dict[str, Any]:
    answers = {f"answer_{x}": options.get(x, f"option {x}") for x in "abcde"}
    return {"No": 1, "question": "Which?", **answers, "correct": correct,
            "answer_location": {"text_1": {"start": [0.1], "end": [0.2]}}}


def _examples(tmp_path: Path, question: dict[str, Any]) -> list[Example]:
    data = {
        f"patient_0{p}": {"name": "n", "birthday": "b", "diagnosis": "d",
                          "texts": {"text_0": f"Doc {p} zero.", "text_1": f"Doc {p} one."}, "questions": [question]}
        for p in (1, 2)
    }
    path = tmp_path / "benchmark_v5.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return load(path)


def test_gold_rule_of_each_protocol_and_option_f_in_task_2(tmp_path: Path) -> None:
    """The reference added option F to the question before reading the gold of tasks 2 and 3, so
    under 2024-06 (the last option containing ``correct``) a correct text inside F's gives F."""
    examples = _examples(tmp_path, _question("cannot be answered", c="It cannot be answered"))
    for pid, task2_gold in (("2024-06", "F"), ("2025-01", "C")):
        ctx = PromptContext(WhitespaceTokens(), max_context=0, seed=1, protocol=load_protocol(pid))
        assert {r.gold for r in TASK1.requests(examples, ctx)} == {"C"}
        assert {r.gold for r in TASK2.requests(examples, ctx)} == {task2_gold}
        assert {r.gold for r in TASK3.requests(examples, ctx)} == {"F"}
    examples = _examples(tmp_path, _question("Heparin", b="Heparin", d="Heparin sodium"))
    for pid, letter in (("2024-06", "D"), ("2025-01", "B")):
        ctx = PromptContext(WhitespaceTokens(), max_context=0, seed=1, protocol=load_protocol(pid))
        for task in (TASK1, TASK2):
            requests = task.requests(examples, ctx)
            assert {r.gold for r in requests} == {letter}
            text = "Heparin sodium" if letter == "D" else "Heparin"
            assert {r.reference for r in requests} == {f"The correct answer is {letter}: {text}"}


def test_no_option_holds_the_correct_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The reference crashed there; clue builds the prompts, warns, and scores them wrong."""
    examples = _examples(tmp_path, _question("nothing like it"))
    ctx = PromptContext(WhitespaceTokens(), max_context=0, seed=1)
    with caplog.at_level(logging.WARNING, logger="clue.tasks.longhealth"):
        requests = TASK1.requests(examples, ctx)
    assert len(requests) == 2 * N_PROMPTS and {r.gold for r in requests} == {None}
    assert "2 question(s) have no option containing their correct answer" in caplog.text
    # even an output naming every letter scores 0
    outputs = [Completion(r.id, "The correct answer is A: option a") for r in requests]
    items = TASK1.score(requests, outputs, ScoringContext())
    assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 0.0} for i in items)


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


# -- budget and the reference's cut ------------------------------------------------------------
@pytest.mark.parametrize("max_context", [700, 900, 1300, 2000])
def test_prompts_fit_a_small_context(demo: list[Example], max_context: int) -> None:
    """The counted separator (4 words) is longer than the inserted one (1 word), and the template's
    three fields are counted too, so whitespace prompts stay within the limit."""
    tokens = WhitespaceTokens()
    for task in TASKS:
        for r in task.requests(demo, PromptContext(tokens, max_context=max_context, seed=1)):
            assert prompt_tokens(r, tokens) <= limit_for(max_context)


def test_a_document_that_does_not_fit_is_cut_and_ends_the_selection(demo: list[Example], texts: dict) -> None:
    """At 600 tokens no demo document fits whole: the first evidence document is cut to what is
    left, and the first of the other documents is added cut to nothing (the reference's loop)."""
    tokens = WhitespaceTokens()
    max_context = 600
    system = tokens.count(TP.system)
    for task in (TASK1, TASK2):
        requests = task.requests(demo, PromptContext(tokens, max_context=max_context, seed=1))
        for example, group in zip(demo, by_example(requests).values(), strict=True):
            first_evidence = example.fields["texts"][example.fields["evidence"][0]]
            for r in group:
                docs = documents(r)
                assert sorted(docs, key=len)[0] == "" and len(docs) == 2 and r.truncated
                (kept,) = [d for d in docs if d]
                assert first_evidence.startswith(kept) and kept != first_evidence
                # the cut fills the limit exactly: system + question + options + template + cut
                letters = "ABCDE" if task is TASK1 else "ABCDEF"
                options = task_options(example, letters)
                used = tokens.count(example.fields["question"]) + tokens.count(options) + tokens.count(TP.user)
                assert system + used + tokens.count(kept) == limit_for(max_context)
    for r in TASK3.requests(demo, PromptContext(tokens, max_context=max_context, seed=1)):
        (doc,) = documents(r)  # no evidence group: only the cut foreign document
        assert doc and doc not in texts and r.truncated


def task_options(example: Example, letters: str) -> str:
    record = {**example.fields["record"], "answer_f": NOT_ANSWERABLE}
    return "\n".join(f"{x}: {record['answer_' + x.lower()]}" for x in letters)


def test_later_smaller_documents_stay_out(tmp_path: Path) -> None:
    """Unlike a greedy fill, the first document that does not fit ends the selection: the short
    documents after it are not taken."""
    sizes = [200, 50, 10, 10]  # text_1 (50 words) is the evidence
    examples = load(write_corpus(tmp_path / "benchmark_v5.json", n_patients=1, n_docs=4, words=sizes))
    tokens = WhitespaceTokens()
    record = examples[0].fields["record"]
    options = "\n".join(f"{x}: {record['answer_' + x.lower()]}" for x in "ABCDE")
    used = tokens.count(record["question"]) + tokens.count(options) + tokens.count(TP.user)
    sep = tokens.count(RULES.counted_separator)
    # room for the evidence with its counted separator and 30 words more: text_0 (200) is cut to 30
    max_context = tokens.count(TP.system) + used + 50 + sep + 30 + TP.max_new_tokens + template_margin(2)
    texts = examples[0].fields["texts"]
    for r in TASK1.requests(examples[:1], PromptContext(tokens, max_context=max_context, seed=1)):
        docs = documents(r)
        assert sorted(docs) == sorted([texts["text_1"], tokens.truncate(texts["text_0"], 30)])
        assert texts["text_2"] not in docs and texts["text_3"] not in docs
        assert r.truncated


def test_no_room_for_documents(demo: list[Example], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clue.tasks.longhealth"):
        requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), max_context=150, seed=1))
    assert len(requests) == N_PROMPTS * len(demo)
    # each group's first document cut to nothing, the selection ends there
    assert all(r.truncated and documents(r) == ["", ""] for r in requests)
    assert "no room for documents" in caplog.text


def test_one_budget_for_all_three_tasks(tmp_path: Path) -> None:
    """Defect 4: the reference capped task 1 at 8k tokens and left tasks 2 and 3 uncapped. Here every
    task's prompt stays within 8,140 tokens on a long context, and the cap is what binds: the
    document that overruns it is cut, so the prompt is full."""
    examples = load(write_corpus(tmp_path / "benchmark_v5.json", n_patients=4, n_docs=4, words=2500))
    tokens = WhitespaceTokens()
    for task in TASKS:
        for r in task.requests(examples, PromptContext(tokens, max_context=32768, seed=1)):
            n = prompt_tokens(r, tokens)
            assert n <= RULES.budget_tokens
            # the counted separators (3 words more than the inserted ones, per whole document) and
            # the template's three fields are all the prompt falls short of the budget by
            whole = sum(1 for d in documents(r) if len(d.split()) == 2500)
            assert n == RULES.budget_tokens - 3 - 3 * whole
            assert r.truncated


def test_the_counted_separator_is_counted_never_inserted(tmp_path: Path) -> None:
    """The reference counts "NEW DOCUMENT" separators for every document taken and inserts another,
    shorter one: many small documents make the difference visible."""
    examples = load(write_corpus(tmp_path / "benchmark_v5.json", n_patients=3, n_docs=12, words=10))
    tokens = WhitespaceTokens()
    counted, inserted = tokens.count(RULES.counted_separator), tokens.count(RULES.document_separator)
    assert (counted, inserted) == (4, 1)
    checked = cut_filled = roomy = 0
    for max_context in range(350, 520, 7):  # from about room for the fixed text on
        limit = limit_for(max_context)
        for task in TASKS:
            for r in task.requests(examples, PromptContext(tokens, max_context=max_context, seed=1)):
                docs = documents(r)
                user = r.messages[1].content
                assert "NEW DOCUMENT" not in user
                assert user.count(RULES.document_separator) == len(docs) - 1
                whole = [d for d in docs if len(d.split()) == 10]
                parts = [d for d in docs if len(d.split()) != 10]  # a cut document has fewer words
                assert len(parts) <= 2 and r.truncated == bool(parts)
                # the reference's total: the prompt less the inserted separators, plus the template's
                # three field names and the counted separator per whole document
                total = prompt_tokens(r, tokens) - inserted * (len(docs) - 1) + 3 + counted * len(whole)
                if whole:
                    assert total - counted <= limit  # each whole document fitted when it was taken
                if any(parts):
                    assert total == limit  # a cut fills what was left exactly
                elif not parts:
                    assert len(whole) == (12 if task is TASK1 else 1 + N_FOREIGN if task is TASK2 else N_FOREIGN)
                checked += 1
                cut_filled += any(parts)
                # room for one more whole document by the inserted separator, yet it was cut
                roomy += bool(parts) and prompt_tokens(r, tokens) + inserted + 10 <= limit
    assert checked > 0 and cut_filled > 0 and roomy > 0


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
    assert not any(RULES.document_separator in text for text in tokens.counted)
    # the rest: system prompt, separator, template, and per question its text and its options
    assert len(tokens.counted) - sum(calls[t] for t in texts) <= 2 * len(demo) + 3


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
        assert by_reference(demo, task.extra.number, counter, max_context, seed=1) == [
            (r.example_id, r.messages[1].content, r.gold, r.truncated) for r in requests
        ]
        whole = [len(tok.encode(m.content, add_special_tokens=False).ids) for r in requests for m in r.messages]
        per_prompt = [sum(whole[i : i + 2]) for i in range(0, len(whole), 2)]
        assert max(per_prompt) <= limit_for(max_context)
        assert max(per_prompt) > limit_for(max_context) - 400  # the budget is used, not wasted
        assert all(r.truncated for r in requests)  # no two demo documents fit in 1,200 tokens
        if task is not TASK3:
            for r in requests:
                assert sources(r, texts)  # some evidence is always there


# -- scoring ------------------------------------------------------------------------------------
def _complete(requests: Sequence[Request], text: Callable[[Request], str], finish: str = "") -> list[Completion]:
    return [Completion(request_id=r.id, text=text(r), finish_reason=finish) for r in requests]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_oracle_scores_one(demo: list[Example], task: Task) -> None:
    assert task.metrics == ("accuracy", "accuracy_lenient") and task.level_metrics == ("accuracy",)
    requests = task.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    items = task.score(requests, _complete(requests, lambda r: r.reference), ScoringContext())
    assert [i.id for i in items] == [r.id for r in requests]
    assert all(i.scores == {"accuracy": 1.0, "accuracy_lenient": 1.0} for i in items)
    assert all(i.cluster == r.example_id for i, r in zip(items, requests, strict=True))
    assert all(i.extra == {"parsed": r.gold, "parsed_lenient": r.gold} for i, r in zip(items, requests, strict=True))


def test_defect_5_lenient_variants_count_only_in_the_lenient_metric(demo: list[Example]) -> None:
    """The reference's case-sensitive, colon-requiring regex scores these 0, and so does the
    headline ``accuracy``; ``accuracy_lenient`` reads them."""
    requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    variants = ["the correct answer is {g}: x", "The correct answer is {g}.", "The correct answer is: {g}",
                "Answer: {g}", "The correct answer is {lower}: x"]
    for form in variants:
        items = TASK1.score(
            requests, _complete(requests, lambda r: form.format(g=r.gold, lower=r.gold.lower())), ScoringContext()
        )
        assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 1.0} for i in items), form


def test_strict_takes_the_first_match_whatever_the_letter(demo: list[Example]) -> None:
    """``The correct answer is (\\w):``, first match: G is read (and is wrong), even though a valid
    letter follows; the lenient parse skips G and reads B."""
    requests = [r for r in TASK1.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1)) if r.gold == "B"]
    assert requests
    text = "The correct answer is G: x. The correct answer is B: y"
    items = TASK1.score(requests, _complete(requests, lambda r: text), ScoringContext())
    assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 1.0} for i in items)
    assert all(i.extra["parsed"] == "G" and i.extra["parsed_lenient"] == "B" for i in items)
    # the first match decides even when a later one is right
    items = TASK1.score(requests, _complete(requests, lambda r: "The correct answer is A: x. The correct answer is B: y"), ScoringContext())
    assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 0.0} for i in items)


def test_wrong_missing_and_out_of_range_letters(demo: list[Example]) -> None:
    requests = TASK1.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))

    def wrong(r: Request) -> str:
        return f"The correct answer is {'A' if r.gold != 'A' else 'B'}: x"

    for text in (wrong, lambda r: "I am not sure.", lambda r: "The correct answer is F: none", lambda r: ""):
        items = TASK1.score(requests, _complete(requests, text), ScoringContext())
        assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 0.0} for i in items)
    # F is an option in task 3 (and the gold there)
    requests3 = TASK3.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    items = TASK3.score(requests3, _complete(requests3, lambda r: "The correct answer is F."), ScoringContext())
    assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 1.0} for i in items)
    items = TASK3.score(requests3, _complete(requests3, lambda r: f"The correct answer is F: {NOT_ANSWERABLE}."), ScoringContext())
    assert all(i.scores == {"accuracy": 1.0, "accuracy_lenient": 1.0} for i in items)


def test_a_parsed_answer_is_taken_as_the_letter(demo: list[Example]) -> None:
    """Completions that carry the letter the reference already parsed (its predictions files)."""
    requests = TASK2.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    items = TASK2.score(requests, _complete(requests, lambda r: f" {r.gold} ", PARSED_ANSWER), ScoringContext())
    assert all(i.scores == {"accuracy": 1.0, "accuracy_lenient": 1.0} for i in items)
    items = TASK2.score(requests, _complete(requests, lambda r: "A" if r.gold != "A" else "B", PARSED_ANSWER), ScoringContext())
    assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 0.0} for i in items)
    # without the mark, a bare letter is no strict answer
    items = TASK2.score(requests, _complete(requests, lambda r: str(r.gold)), ScoringContext())
    assert all(i.scores == {"accuracy": 0.0, "accuracy_lenient": 1.0} for i in items)


def test_completions_are_matched_by_id(demo: list[Example]) -> None:
    requests = TASK2.requests(demo, PromptContext(WhitespaceTokens(), 32768, seed=1))
    completions = _complete(requests, lambda r: r.reference)[::-1]
    items = TASK2.score(requests, completions, ScoringContext())
    assert all(i.scores["accuracy"] == 1.0 for i in items)
    with pytest.raises(ValueError):
        TASK2.score(requests, completions[:-1], ScoringContext())
