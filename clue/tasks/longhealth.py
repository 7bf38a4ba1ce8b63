"""LongHealth (CLUE Level 2): multiple-choice questions over long clinical documents, three tasks.

Data: ``benchmark_v5.json`` of github.com/kbressem/LongHealth (Adams et al., 2024), an object keyed
``patient_01`` .. with each patient's documents (``texts``) and questions (CLUE-SPEC, LongHealth).

- Task 1 (information extraction): the patient's own documents.
- Task 2 (negation): the evidence documents plus 10 documents of other patients, and a sixth
  option F "Question cannot be answered with provided documents".
- Task 3 (hallucination): only the 10 foreign documents; the right answer is F.

Each question yields five prompts with different document orders (and draws); they form one
cluster for the statistics. Documents get min(8,140, context - 50 new tokens - chat-template
margin) tokens less the system prompt and the question; evidence documents go in first (the one
that does not fit is cut), other documents fill what is left, and the prompt's documents are
shuffled (``select_documents``).

Fixes of the reference (CLUE-SPEC defects 4 and 5): one token budget for all three tasks, the
inserted separator is the one counted, all randomness from one ``random.Random(seed)`` per call,
and a lenient answer parser beside the strict one. Each document is tokenised once per
``requests`` call (the reference re-tokenised every document for every prompt).
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from clue.data.readers import read_text, require
from clue.errors import DataFormatError
from clue.metrics.answer_letter import parse_answer_letter
from clue.records import Completion, Example, ItemScore, Message, Request
from clue.tasks._budget import paired, template_margin
from clue.tasks.base import PromptContext, ScoreFn, ScoringContext, Task, TokenCounter

log = logging.getLogger(__name__)

GROUP = "longhealth"
DATA_FILE = "LongHealth/benchmark_v5.json"
HOW_TO_OBTAIN = (
    "LongHealth is public: download data/benchmark_v5.json from https://github.com/kbressem/LongHealth "
    "and put it at <data dir>/LongHealth/benchmark_v5.json."
)

BUDGET_CAP = 8140  # tokens for system prompt, documents and question (CLUE-SPEC)
MAX_NEW_TOKENS = 50
N_PROMPTS = 5  # prompts per question in each task
N_FOREIGN = 10  # documents of other patients in tasks 2 and 3
BOUNDARY_SLACK = 2  # tokens per joined piece: a tokenizer may merge differently across a join
MIN_FRAGMENT = 32  # fewest tokens worth giving a cut non-evidence document
MAX_ORDER_TRIES = 20  # redraws to give a question's prompts distinct document orders

LETTERS = "ABCDE"
LETTERS_WITH_F = "ABCDEF"
NOT_ANSWERABLE = "Question cannot be answered with provided documents"

SYSTEM_PROMPT = (
    "You are a physician reading a patient's clinical records: discharge letters, reports and "
    "notes. You answer multiple-choice questions about the patient using only what the documents "
    "say. Exactly one option is correct."
)
DOCS_HEADER = "Clinical documents:\n\n"
DOC_SEPARATOR = "\n\n---------- next document ----------\n\n"
QUESTION_GAP = "\n\n"
ANSWER_INSTRUCTION = (
    "Give the letter and the text of the correct option, in exactly this form: "
    '"The correct answer is <letter>: <option text>".'
)

_PATIENT_KEY = re.compile(r"patient_\d+")
_OPTION_FIELDS = ("answer_a", "answer_b", "answer_c", "answer_d", "answer_e")


# -- loading ---------------------------------------------------------------------------------------
class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _parse(path: Path) -> Any:
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(path, "line 1", "<file>", "the file is empty")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            path, f"line {exc.lineno}", "<json>", f"invalid JSON ({exc.msg} at column {exc.colno})"
        ) from exc
    except _DuplicateKey as exc:
        raise DataFormatError(path, "<json>", exc.key, "duplicate key: it appears twice in one JSON object") from exc


def load(path: Path) -> list[Example]:
    """One Example per question of ``benchmark_v5.json``; non-patient top-level keys (a canary) are
    skipped. Malformed input raises DataFormatError naming file, JSON path and field."""
    path = Path(path)
    data = _parse(path)
    if not isinstance(data, Mapping):
        raise DataFormatError(path, "top level", "<json>", f"expected a JSON object keyed patient_01.., got {type(data).__name__}")
    examples: list[Example] = []
    for key, patient in data.items():
        if not _PATIENT_KEY.fullmatch(key):
            log.debug("%s: skipping top-level key %r (not a patient)", path, key)
            continue
        examples.extend(_patient_examples(path, key, patient, start=len(examples)))
    if not examples:
        raise DataFormatError(path, "top level", "patient_01", "no patient_NN record with questions")
    return examples


def _patient_examples(path: Path, key: str, patient: Any, start: int) -> list[Example]:
    for name in ("name", "birthday", "diagnosis"):
        require(patient, name, str, path, key)
    texts = require(patient, "texts", Mapping, path, key)
    if not texts:
        raise DataFormatError(path, key, "texts", "no documents")
    for text_id, body in texts.items():
        if not isinstance(body, str):
            raise DataFormatError(path, f"{key}.texts", text_id, f"expected str, got {type(body).__name__}")
    shared_texts = MappingProxyType(dict(texts))
    questions = require(patient, "questions", list, path, key)
    examples: list[Example] = []
    seen: set[int] = set()
    for i, question in enumerate(questions):
        where = f"{key}.questions[{i}]"
        example = _question_example(path, where, key, question, shared_texts, start + len(examples) + 1)
        number = example.fields["number"]
        if number in seen:
            raise DataFormatError(path, where, "No", f"duplicate question number {number} for {key}")
        seen.add(number)
        examples.append(example)
    return examples


def _question_example(
    path: Path, where: str, key: str, record: Any, texts: Mapping[str, str], record_number: int
) -> Example:
    raw_no = require(record, "No", (int, str), path, where)
    try:
        number = int(raw_no)
    except ValueError:
        raise DataFormatError(path, where, "No", f"expected a question number, got {raw_no!r}") from None
    question = require(record, "question", str, path, where)
    options = tuple(require(record, name, str, path, where) for name in _OPTION_FIELDS)
    correct = require(record, "correct", str, path, where)
    letter = _gold_letter(options, correct)
    if letter is None:
        raise DataFormatError(path, where, "correct", f"{correct!r} matches none (or several) of answer_a..answer_e")
    location = require(record, "answer_location", Mapping, path, where)
    evidence = tuple(_check_location(path, f"{where}.answer_location", location, texts))
    qid = f"{key}/q{number:02d}"
    option = options[LETTERS.index(letter)]
    return Example(
        id=qid,
        task=GROUP,
        fields={
            "patient": key,
            "number": number,
            "question": question,
            "options": options,
            "correct": correct,
            "gold": letter,
            "evidence": evidence,
            "answer_location": location,
            "texts": texts,
        },
        reference=answer_text(letter, option),
        source_line=record_number,
    )


def _check_location(path: Path, where: str, location: Mapping[str, Any], texts: Mapping[str, str]) -> list[str]:
    for text_id, span in location.items():
        if text_id not in texts:
            known = ", ".join(texts)
            raise DataFormatError(path, where, text_id, f"names no document of this patient (documents: {known})")
        for side in ("start", "end"):
            values = require(span, side, list, path, f"{where}.{text_id}")
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise DataFormatError(path, f"{where}.{text_id}", side, "expected a list of numbers")
    return list(location)


def _gold_letter(options: Sequence[str], correct: str) -> str | None:
    """Letter of the option whose text is ``correct``: exact match first, then containment."""
    target = correct.strip()
    exact = [k for k, text in enumerate(options) if text.strip() == target]
    if exact:
        return LETTERS[exact[0]]
    folded = target.casefold()
    if not folded:
        return None
    for contains in (
        lambda o: folded in o,  # the option holds the correct text
        lambda o: bool(o) and o in folded,  # the correct text holds the option
    ):
        hits = [k for k, text in enumerate(options) if contains(text.strip().casefold())]
        if len(hits) == 1:
            return LETTERS[hits[0]]
    return None


def answer_text(letter: str, option: str) -> str:
    """The answer in the form the prompt asks for (what the oracle returns)."""
    return f"The correct answer is {letter}: {option}"


# -- prompts ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Doc:
    key: tuple[str, str]  # (patient, text id)
    text: str


class _Counts:
    """Token counts for one ``requests`` call: each document is tokenised once, cuts are memoised."""

    def __init__(self, tokens: TokenCounter) -> None:
        self._tokens = tokens
        self._docs: dict[tuple[str, str], int] = {}
        self._texts: dict[str, int] = {}
        self._cuts: dict[tuple[tuple[str, str], int], str] = {}

    def doc(self, doc: _Doc) -> int:
        if doc.key not in self._docs:
            self._docs[doc.key] = self._tokens.count(doc.text) if doc.text else 0
        return self._docs[doc.key]

    def text(self, text: str) -> int:
        if text not in self._texts:
            self._texts[text] = self._tokens.count(text) if text else 0
        return self._texts[text]

    def cut(self, doc: _Doc, max_tokens: int) -> str:
        if (doc.key, max_tokens) not in self._cuts:
            self._cuts[(doc.key, max_tokens)] = self._tokens.truncate(doc.text, max_tokens) if max_tokens > 0 else ""
        return self._cuts[(doc.key, max_tokens)]


def question_block(question: str, options: Sequence[str]) -> str:
    lines = [f"Question: {question}", *(f"{letter}: {text}" for letter, text in zip(LETTERS_WITH_F, options, strict=False))]
    return "\n".join(lines) + "\n\n" + ANSWER_INSTRUCTION


def user_turn(documents: Sequence[str], question: str, options: Sequence[str]) -> str:
    return f"{DOCS_HEADER}{DOC_SEPARATOR.join(documents)}{QUESTION_GAP}{question_block(question, options)}"


def prompt_limit(max_context: int) -> int:
    """Tokens for system prompt + user turn: CLUE's 8,140, less where the model's context is smaller
    (room kept for the 50 new tokens and the chat template)."""
    if max_context <= 0:
        return BUDGET_CAP
    return min(BUDGET_CAP, max_context - MAX_NEW_TOKENS - template_margin(2))


def select_documents(
    evidence: Sequence[_Doc], others: Sequence[_Doc], budget: int, counts: _Counts, sep_tokens: int
) -> tuple[list[tuple[_Doc, str]], bool]:
    """Fit documents to ``budget`` tokens. Returns ((document, text) pairs, whether one was cut).

    Evidence documents go in first; the one that does not fit is cut at the budget, which ends the
    selection. Then the other documents fill what is left: each one that fits whole goes in, in
    the given order. Only when none fits at all is the first cut to the budget (so a small context
    still gets text; at least ``MIN_FRAGMENT`` tokens). A document costs its tokens, a separator
    before all but the first, and the boundary slack; counts come from ``counts`` (one tokenisation
    per document per call), so filling costs no tokenisation.
    """
    chosen: list[tuple[_Doc, str]] = []
    used = 0

    def cost(doc: _Doc) -> int:
        return counts.doc(doc) + (sep_tokens if chosen else 0) + BOUNDARY_SLACK

    for doc in evidence:
        if used + cost(doc) <= budget:
            used += cost(doc)
            chosen.append((doc, doc.text))
            continue
        room = budget - used - (sep_tokens if chosen else 0) - BOUNDARY_SLACK
        cut = counts.cut(doc, room) if room > 0 else ""
        if cut:
            chosen.append((doc, cut))
        return chosen, True
    for doc in others:
        if used + cost(doc) <= budget:
            used += cost(doc)
            chosen.append((doc, doc.text))
    if chosen or not others:
        return chosen, False
    room = budget - BOUNDARY_SLACK
    cut = counts.cut(others[0], room) if room >= MIN_FRAGMENT else ""
    return ([(others[0], cut)] if cut else []), True


@dataclass(frozen=True)
class Variant:
    """What distinguishes the three tasks (also ``Task.extra`` of each)."""

    task: str
    own_documents: bool  # task 1: all of the patient's documents
    evidence: bool  # tasks 1 and 2: the evidence documents
    foreign: bool  # tasks 2 and 3: documents of other patients
    answerable: bool  # task 3: gold is F


def _docs_by_patient(examples: Sequence[Example]) -> dict[str, list[_Doc]]:
    by_patient: dict[str, list[_Doc]] = {}
    for ex in examples:
        patient = ex.fields["patient"]
        if patient not in by_patient:
            by_patient[patient] = [_Doc((patient, tid), text) for tid, text in ex.fields["texts"].items()]
    return by_patient


def _requests(variant: Variant, examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    rng = random.Random(ctx.seed)
    counts = _Counts(ctx.tokens)
    by_patient = _docs_by_patient(examples)
    foreign_pool = {p: [d for q, docs in by_patient.items() if q != p for d in docs] for p in by_patient}
    limit = prompt_limit(ctx.max_context)
    fixed = counts.text(SYSTEM_PROMPT) + counts.text(DOCS_HEADER + QUESTION_GAP) + 2 * BOUNDARY_SLACK
    sep_tokens = counts.text(DOC_SEPARATOR)
    with_f = variant.foreign
    out: list[Request] = []
    n_short = 0
    for ex in examples:
        f = ex.fields
        options = (*f["options"], NOT_ANSWERABLE) if with_f else tuple(f["options"])
        letter = f["gold"] if variant.answerable else "F"
        reference = answer_text(letter, options[LETTERS_WITH_F.index(letter)])
        budget = limit - fixed - counts.text(question_block(f["question"], options))
        if budget <= 0:
            n_short += 1
        own = by_patient[f["patient"]]
        evidence = [d for d in own if d.key[1] in f["evidence"]] if variant.evidence else []  # file order
        seen_orders: set[tuple[tuple[str, str], ...]] = set()
        for k in range(N_PROMPTS):
            for _ in range(MAX_ORDER_TRIES):
                chosen, truncated = _draw(variant, rng, own, evidence, foreign_pool[f["patient"]], budget, counts, sep_tokens)
                order = tuple(doc.key for doc, _ in chosen)
                if order not in seen_orders:
                    break
            seen_orders.add(order)
            messages = (
                Message("system", SYSTEM_PROMPT),
                Message("user", user_turn([text for _, text in chosen], f["question"], options)),
            )
            out.append(
                Request(
                    id=f"{ex.id}/p{k + 1}",
                    task=variant.task,
                    messages=messages,
                    max_new_tokens=MAX_NEW_TOKENS,
                    reference=reference,
                    gold=letter,
                    cluster=ex.id,
                    truncated=truncated or budget <= 0,
                    example_id=ex.id,
                )
            )
    if n_short:
        log.warning("%s: %d question(s) leave no room for documents in a context of %d tokens", variant.task, n_short, ctx.max_context)
    return out


def _draw(
    variant: Variant,
    rng: random.Random,
    own: Sequence[_Doc],
    evidence: Sequence[_Doc],
    pool: Sequence[_Doc],
    budget: int,
    counts: _Counts,
    sep_tokens: int,
) -> tuple[list[tuple[_Doc, str]], bool]:
    """One prompt's documents: evidence and others in random order, fitted to the budget, shuffled."""
    first = list(evidence)
    rng.shuffle(first)
    others: list[_Doc] = []
    if variant.own_documents:
        chosen_keys = {d.key for d in evidence}
        others = [d for d in own if d.key not in chosen_keys]
        rng.shuffle(others)
    if variant.foreign:
        others += rng.sample(list(pool), min(N_FOREIGN, len(pool)))
    chosen, truncated = select_documents(first, others, max(budget, 0), counts, sep_tokens)
    rng.shuffle(chosen)
    return chosen, truncated


# -- scoring ---------------------------------------------------------------------------------------
def _scorer(letters: str) -> ScoreFn:
    def score(requests: Sequence[Request], completions: Sequence[Completion], scoring: ScoringContext) -> list[ItemScore]:
        """accuracy: the leniently parsed letter is the gold one; accuracy_strict: and in the exact
        form "The correct answer is X:" (the reference's rule)."""
        items: list[ItemScore] = []
        for request, completion in paired(requests, completions):
            parsed = parse_answer_letter(completion.text, letters)
            right = parsed.letter is not None and parsed.letter == request.gold
            items.append(
                ItemScore(
                    id=request.id,
                    cluster=request.cluster or request.example_id or request.id,
                    scores={"accuracy": float(right), "accuracy_strict": float(right and parsed.strict)},
                    output=completion.text,
                    extra={"parsed": parsed.letter, "strict": parsed.strict},
                )
            )
        return items

    return score


def _task(number: int, variant: Variant, letters: str) -> Task:
    def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
        return _requests(variant, examples, ctx)

    return Task(
        name=variant.task,
        display_name=f"LongHealth Task {number}",
        level=2,
        group=GROUP,
        data_file=DATA_FILE,
        how_to_obtain=HOW_TO_OBTAIN,
        credentialed=False,
        n_shots=0,
        max_new_tokens=MAX_NEW_TOKENS,
        metrics=("accuracy", "accuracy_strict"),
        level_metrics=("accuracy",),
        load=load,
        requests=requests,
        score=_scorer(letters),
        extra=variant,
    )


TASK1 = _task(1, Variant("longhealth_task1", own_documents=True, evidence=True, foreign=False, answerable=True), LETTERS)
TASK2 = _task(2, Variant("longhealth_task2", own_documents=False, evidence=True, foreign=True, answerable=True), LETTERS_WITH_F)
TASK3 = _task(3, Variant("longhealth_task3", own_documents=False, evidence=False, foreign=True, answerable=False), LETTERS_WITH_F)
TASKS: tuple[Task, Task, Task] = (TASK1, TASK2, TASK3)
