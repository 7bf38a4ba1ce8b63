"""LongHealth (CLUE Level 2): multiple-choice questions over long clinical documents, three tasks.

Data: ``benchmark_v5.json`` of github.com/kbressem/LongHealth (Adams et al., 2024), an object keyed
``patient_01`` .. with each patient's documents (``texts``) and questions (CLUE-SPEC, LongHealth).

- Task 1 (information extraction): the question's evidence documents, then the patient's others.
- Task 2 (negation): the evidence documents plus 10 documents of other patients, and a sixth
  option F "Question cannot be answered with provided documents".
- Task 3 (hallucination): only the 10 foreign documents; the right answer is F.

Prompts follow the protocol's ``[tasks.longhealth]`` (CLUE-PROTOCOLS §2.6, ``create_prompt``):
documents are taken in order while their token counts (special tokens included, plus the counted
separator) fit L = budget - n(system prompt); the first that does not fit is cut to what is left
and ends the selection; the prompt's documents are shuffled, joined by the document separator and
put in the user template with the question and the options. Five prompts per question and task; a
question's prompts form one cluster for the statistics.

clue's fixes (named in the protocols' deviations): every random draw comes from one
``random.Random(seed)`` (task 1 from one, tasks 2 and 3 from another, drawn alternately as the
reference drew them: a fresh sample of foreign documents, then the shuffle, per prompt); one
budget for the three tasks, never more than the model's context less the 50 new tokens and the
chat template. Each document is tokenised once per ``requests`` call.

Scoring: ``accuracy`` is the reference's strict rule (the first match of the protocol's
``answer_pattern``; its letter must equal the gold letter, case-sensitive); ``accuracy_lenient``
reads the letter with ``parse_answer_letter``. The gold letter is the protocol's rule: the last
(2024-06) or first (2025-01) option whose text contains ``correct``.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from clue.contracts import PromptContext, ScoringContext, TokenCounter
from clue.data.readers import read_text, require
from clue.errors import DataFormatError
from clue.metrics.answer_letter import parse_answer_letter
from clue.prompts.fewshot import template_margin
from clue.prompts.protocol import LongHealthRules, TaskProtocol, load_protocol
from clue.records import Completion, Example, ItemScore, Message, Request
from clue.tasks.base import ScoreFn, Task
from clue.tasks.scoring_common import paired

log = logging.getLogger(__name__)

GROUP = "longhealth"
DATA_FILE = "LongHealth/benchmark_v5.json"
HOW_TO_OBTAIN = (
    "LongHealth is public: download data/benchmark_v5.json from https://github.com/kbressem/LongHealth "
    "and put it at <data dir>/LongHealth/benchmark_v5.json."
)

LETTERS = "ABCDE"
LETTERS_WITH_F = "ABCDEF"
# A completion whose text is an already-parsed letter (the reference's predictions_task*.json files).
PARSED_ANSWER = "parsed-answer"

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
    for name in _OPTION_FIELDS:
        require(record, name, str, path, where)
    correct = require(record, "correct", str, path, where)
    location = require(record, "answer_location", Mapping, path, where)
    evidence = tuple(_check_location(path, f"{where}.answer_location", location, texts))
    return Example(
        id=f"{key}/q{number:02d}",
        task=GROUP,
        fields={
            "patient": key,
            "number": number,
            "question": question,
            "correct": correct,
            "evidence": evidence,
            "record": MappingProxyType(dict(record)),  # key order decides the gold letter
            "texts": texts,
        },
        reference=correct,
        source_line=record_number,
        source=str(path),
        location=where,
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


def gold_letter(record: Mapping[str, Any], rule: str) -> str | None:
    """The gold letter by the protocol's rule: over the question's keys in order, those starting
    with "answer" and not ending with "location" whose text contains ``correct``; the first or the
    last of them; its key's last character, upper-cased. None when no option contains it."""
    correct = record.get("correct")
    if not isinstance(correct, str):
        return None
    hits = [
        key for key, value in record.items()
        if key.startswith("answer") and not key.endswith("location") and isinstance(value, str) and correct in value
    ]
    if not hits:
        return None
    return (hits[-1] if rule == "last_containing" else hits[0])[-1].upper()


def gold(truth: Any, letters: str = LETTERS_WITH_F, not_answerable: str = "") -> str:
    """A recorded ground truth -> its letter: "C", "C: text", "The correct answer is C: ..." (any case);
    with a sixth option the text of option F alone also means "F"."""
    if not isinstance(truth, str):
        raise ValueError(f"expected text, got {type(truth).__name__}")
    text = truth.strip()
    if not_answerable and "F" in letters and text.rstrip(".").strip().lower() == not_answerable.lower():
        return "F"
    letter = parse_answer_letter(text.upper() if len(text) == 1 else text, letters).letter
    if letter is None:
        raise ValueError(
            f"no answer letter ({', '.join(letters)}) found; expected 'C', 'C: <option text>' or "
            f"'The correct answer is C: ...', got {truth!r}"
        )
    return letter


def _not_answerable() -> str:
    """Option F's text in the default protocol (both shipped protocols agree)."""
    return load_protocol().longhealth.not_answerable


# -- prompts ---------------------------------------------------------------------------------------
class _Counts:
    """n(s) of the reference (token count with special tokens) and its document cut, memoised per call.

    The cut is the reference's ``decode(encode(doc)[:k])``; a document's ids are kept once it has been
    cut, so its next cuts (a foreign document is cut in many prompts) decode without encoding it
    again. Counters without special tokens (the estimate) count and cut by their plain methods."""

    def __init__(self, tokens: TokenCounter, keep_special: bool) -> None:
        self._tokens = tokens
        self._keep_special = keep_special
        self._n: dict[str, int] = {}
        self._ids: dict[str, list[int]] = {}

    def n(self, text: str) -> int:
        if text not in self._n:
            count = getattr(self._tokens, "count_encoded", None)
            self._n[text] = count(text) if count is not None else self._tokens.count(text)
        return self._n[text]

    def cut(self, text: str, max_tokens: int) -> str:
        encoded_ids = getattr(self._tokens, "encoded_ids", None)
        decode_ids = getattr(self._tokens, "decode_ids", None)
        if encoded_ids is not None and decode_ids is not None:
            if text not in self._ids:
                self._ids[text] = encoded_ids(text)
            return decode_ids(self._ids[text][: max(max_tokens, 0)], self._keep_special)
        head = getattr(self._tokens, "encoded_head", None)
        if head is not None:
            return head(text, max_tokens, keep_special=self._keep_special)
        return self._tokens.truncate(text, max_tokens) if max_tokens > 0 else ""


def select_documents(
    answer_docs: Sequence[str], other_docs: Sequence[str], limit: int, counts: _Counts, used: int, sep: int
) -> tuple[list[str], bool]:
    """Documents for one prompt by the reference's accounting; (documents, whether one was cut)."""
    docs: list[str] = []
    cut = False
    for group in (answer_docs, other_docs):
        for doc in group:
            if used + counts.n(doc) <= limit:
                docs.append(doc)
                used += counts.n(doc) + sep
                continue
            docs.append(counts.cut(doc, max(limit - used, 0)))  # possibly "", added all the same
            used, cut = limit, True
            break
    return docs, cut


def prompt_limit(rules: LongHealthRules, max_context: int, max_new_tokens: int) -> int:
    """Tokens for system prompt + user turn: the protocol's budget, less where the model's context is
    smaller (room kept for the new tokens and the chat template)."""
    if max_context <= 0:
        return rules.budget_tokens
    return min(rules.budget_tokens, max_context - max_new_tokens - template_margin(2))


@dataclass(frozen=True)
class Variant:
    """What distinguishes the three tasks (also ``Task.extra`` of each)."""

    task: str
    number: int
    letters: str


@dataclass(frozen=True)
class _Draw:
    task: str
    example: Example
    docs: tuple[str, ...]
    options: str
    letter: str | None
    truncated: bool
    tokens: int = 0  # the prompt's size as the budget counted it: system, question, options, template, documents


class _Builder:
    """One ``requests`` call's prompt assembly: the protocol, the counts, the budget."""

    def __init__(self, tp: TaskProtocol, rules: LongHealthRules, ctx: PromptContext) -> None:
        self.tp, self.rules = tp, rules
        self.stop = tp.stop_strings(ctx.model_id)
        self.counts = _Counts(ctx.tokens, rules.cut_keeps_special_tokens)
        self.limit = prompt_limit(rules, ctx.max_context, tp.max_new_tokens) - self.counts.n(tp.system)
        self.sep = self.counts.n(rules.counted_separator)

    def options(self, record: Mapping[str, Any], letters: str) -> str:
        return self.rules.option_separator.join(
            self.rules.option_line.format(letter=x, text=record[f"answer_{x.lower()}"]) for x in letters
        )

    def draw(self, task: str, ex: Example, record: Mapping[str, Any], letters: str, answer: Sequence[str],
             others: Sequence[str], rng: random.Random, letter: str | None) -> _Draw:
        options = self.options(record, letters)
        used = self.counts.n(record["question"]) + self.counts.n(options) + self.counts.n(self.tp.user)
        docs, truncated = select_documents(answer, others, self.limit, self.counts, used, self.sep)
        rng.shuffle(docs)
        # the prompt's size by the reference's accounting: the budget is full when a document was cut
        full = self.limit if truncated else used + sum(self.counts.n(d) + self.sep for d in docs)
        tokens = self.counts.n(self.tp.system) + full
        return _Draw(task, ex, tuple(docs), options, letter, truncated, tokens)

    def request(self, draw: _Draw, k: int) -> Request:
        ex, rules = draw.example, self.rules
        user = self.tp.user.format(
            documents=rules.document_separator.join(draw.docs), question_text=ex.fields["question"], options=draw.options
        )
        record = ex.fields["record"]
        option = rules.not_answerable if draw.letter == "F" else record.get(f"answer_{(draw.letter or 'a').lower()}", "")
        return Request(
            id=f"{ex.id}/p{k + 1}",
            task=draw.task,
            messages=(Message("system", self.tp.system), Message("user", user)),
            max_new_tokens=self.tp.max_new_tokens,
            reference=rules.answer_format.format(letter=draw.letter or "?", text=option),
            gold=draw.letter,
            cluster=ex.id,
            truncated=draw.truncated,
            example_id=ex.id,
            rendering=self.tp.rendering,
            stop=self.stop,
            prompt_tokens=draw.tokens,
        )


def _texts_by_patient(examples: Sequence[Example]) -> dict[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {}
    for ex in examples:
        out.setdefault(ex.fields["patient"], ex.fields["texts"])
    return out


def _task1_draws(b: _Builder, examples: Sequence[Example], rng: random.Random) -> Iterator[_Draw]:
    for ex in examples:
        record, texts = ex.fields["record"], ex.fields["texts"]
        answer = [texts[t] for t in ex.fields["evidence"]]
        others = [text for t, text in texts.items() if t not in ex.fields["evidence"]]
        letter = gold_letter(record, b.rules.gold_rule)
        for _ in range(b.rules.prompts_per_question):
            yield b.draw(TASKS[0].name, ex, record, LETTERS, answer, others, rng, letter)


def _task23_draws(b: _Builder, examples: Sequence[Example], rng: random.Random) -> Iterator[_Draw]:
    by_patient = _texts_by_patient(examples)
    for ex in examples:
        record = {**ex.fields["record"], "answer_f": b.rules.not_answerable}
        texts = ex.fields["texts"]
        answer = [texts[t] for t in ex.fields["evidence"]]
        pool = [text for p, ts in by_patient.items() if p != ex.fields["patient"] for text in ts.values()]
        letter = gold_letter(record, b.rules.gold_rule)
        for j in range(2 * b.rules.prompts_per_question):
            foreign = rng.sample(pool, min(b.rules.foreign_documents, len(pool)))
            if j % 2 == 0:
                yield b.draw(TASKS[2].name, ex, record, LETTERS_WITH_F, [], foreign, rng, "F")
            else:
                yield b.draw(TASKS[1].name, ex, record, LETTERS_WITH_F, answer, foreign, rng, letter)


def _requests(variant: Variant, examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    tp = ctx.rules.task(variant.task)
    builder = _Builder(tp, ctx.rules.longhealth, ctx)
    rng = random.Random(ctx.seed)
    draws = _task1_draws(builder, examples, rng) if variant.number == 1 else _task23_draws(builder, examples, rng)
    out: list[Request] = []
    seen: dict[str, int] = {}
    n_no_gold = 0
    for draw in draws:
        if draw.task != variant.task:
            continue
        k = seen.get(draw.example.id, 0)
        seen[draw.example.id] = k + 1
        n_no_gold += draw.letter is None and k == 0
        out.append(builder.request(draw, k))
    if builder.limit <= 0:
        log.warning("%s: no room for documents in a context of %d tokens", variant.task, ctx.max_context)
    if n_no_gold:
        log.warning("%s: %d question(s) have no option containing their correct answer; they score wrong", variant.task, n_no_gold)
    return out


# -- scoring ---------------------------------------------------------------------------------------
def reference_letter(text: str, pattern: str) -> str | None:
    """The reference's reading: the group of the first match of ``pattern`` (None when none)."""
    match = re.search(pattern, text)
    return match.group(1) if match else None


def _scorer(letters: str) -> ScoreFn:
    def score(requests: Sequence[Request], completions: Sequence[Completion], scoring: ScoringContext) -> list[ItemScore]:
        """accuracy: the reference's strict rule; accuracy_lenient: the lenient parse."""
        pattern = scoring.rules.longhealth.answer_pattern
        items: list[ItemScore] = []
        for request, completion in paired(requests, completions):
            if completion.finish_reason == PARSED_ANSWER:
                strict = lenient = completion.text.strip() or None
            else:
                strict = reference_letter(completion.text, pattern)
                lenient = parse_answer_letter(completion.text, letters).letter
            right = request.gold is not None
            items.append(
                ItemScore(
                    id=request.id,
                    cluster=request.cluster or request.example_id or request.id,
                    scores={
                        "accuracy": float(right and strict == request.gold),
                        "accuracy_lenient": float(right and lenient == request.gold),
                    },
                    output=completion.text,
                    extra={"parsed": strict, "parsed_lenient": lenient},
                )
            )
        return items

    return score


def _task(variant: Variant) -> Task:
    def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
        return _requests(variant, examples, ctx)

    return Task(
        name=variant.task,
        display_name=f"LongHealth Task {variant.number}",
        level=2,
        group=GROUP,
        data_file=DATA_FILE,
        how_to_obtain=HOW_TO_OBTAIN,
        credentialed=False,
        metrics=("accuracy", "accuracy_lenient"),
        level_metrics=("accuracy",),
        load=load,
        requests=requests,
        score=_scorer(variant.letters),
        gold=lambda truth: gold(truth, variant.letters, _not_answerable()),
        extra=variant,
    )


TASKS: tuple[Task, Task, Task] = (
    _task(Variant("longhealth_task1", 1, LETTERS)),
    _task(Variant("longhealth_task2", 2, LETTERS_WITH_F)),
    _task(Variant("longhealth_task3", 3, LETTERS_WITH_F)),
)
TASK1, TASK2, TASK3 = TASKS
