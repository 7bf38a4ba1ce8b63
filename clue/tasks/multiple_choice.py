"""What the multiple-choice families beside CLUE share (MedQA, MedMCQA, PubMedQA, the JAMA and NEJM
clinical challenges): options and gold letter read from the record, zero-shot prompts by the
protocol's option layout, and scoring by clue's answer-letter parser.

A loader keeps the record's own fields (the protocol's templates read them) and adds three derived
ones: ``choices`` (the (letter, text) pairs in order), ``answer_letter`` and ``answer_text``. At
prompt time ``options`` is the protocol's rendering of ``choices`` (``option_line`` per option,
joined by ``option_separator``); MedQA's own ``options`` object is replaced by it in the prompt.

Scoring (``clue.metrics.answer_letter.parse_answer_letter``): ``accuracy`` counts an output right
when it names the gold letter in the exact form the prompts ask for (``The correct answer is X:``);
``accuracy_lenient`` when the lenient parse reads the gold letter. The gate compares ``accuracy``
(0/1 per item: exact McNemar).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.data.readers import require
from clue.errors import ConfigError, DataFormatError
from clue.metrics.answer_letter import parse_answer_letter
from clue.prompts.fewshot import fewshot_requests
from clue.records import Completion, Example, ItemScore, Request
from clue.tasks.base import LoadFn, Task
from clue.tasks.scoring_common import paired

METRICS = ("accuracy", "accuracy_lenient")
HEADLINE = ("accuracy",)
NEEDS_IMAGE = "needs_image"  # Example note: the item's answer depends on an image the text-only run lacks

Choices = tuple[tuple[str, str], ...]


def read_choices(
    record: Mapping[str, Any], fields: Sequence[tuple[str, str]], path: Path, location: str
) -> Choices:
    """(letter, text) for each (letter, field name) of ``fields``; every field must hold text."""
    return tuple((letter, require(record, name, str, path, location)) for letter, name in fields)


def check_letter(value: Any, letters: str, path: Path, location: str, field: str) -> str:
    """A gold letter as the file writes it ("B", " b "), checked to be one of ``letters``."""
    if not isinstance(value, str):
        raise DataFormatError(path, location, field, f"expected a letter ({', '.join(letters)}), got {type(value).__name__}")
    letter = value.strip().upper()
    if len(letter) != 1 or letter not in letters:
        raise DataFormatError(path, location, field, f"expected one of {', '.join(letters)}, got {value!r}")
    return letter


def derived_fields(choices: Choices, letter: str) -> dict[str, Any]:
    """The fields clue adds to a multiple-choice record (see the module docstring)."""
    return {"choices": choices, "answer_letter": letter, "answer_text": dict(choices)[letter]}


def mc_requests(task: str, examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    """Prompts by the protocol's ``[tasks.<task>]`` section, its option layout filling ``{options}``;
    the gold is the answer letter."""
    tp = ctx.rules.task(task)
    if tp.options is None:
        raise ConfigError(
            f"protocol {ctx.rules.id} ({ctx.rules.source}): [tasks.{task}] lists no option layout; "
            "add option_line (and option_separator) to the section"
        )
    layout = tp.options
    rendered = [replace(ex, fields={**ex.fields, "options": layout.render(ex.fields["choices"])}) for ex in examples]
    return fewshot_requests(tp, rendered, ctx, gold=lambda ex: ex.fields["answer_letter"])


def letter_scorer(letters: str) -> Callable[[Sequence[Request], Sequence[Completion], ScoringContext], list[ItemScore]]:
    """Per item ``accuracy`` (strict form) and ``accuracy_lenient``, each 0 or 1."""

    def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
        items: list[ItemScore] = []
        for request, completion in paired(requests, completions):
            parsed = parse_answer_letter(completion.text, letters)
            right = parsed.letter is not None and parsed.letter == request.gold
            items.append(
                ItemScore(
                    id=request.id,
                    cluster=request.cluster or request.id,
                    scores={"accuracy": float(right and parsed.strict), "accuracy_lenient": float(right)},
                    output=completion.text,
                    extra={"parsed": parsed.letter, "strict": parsed.strict},
                )
            )
        return items

    return score


def letter_gold(letters: str, words: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    """A recorded ground truth -> its letter: "C", "c", "C: text", "The correct answer is C: ...";
    with ``words`` (PubMedQA: yes/no/maybe -> A/B/C) the word itself too; an int n (MedMCQA's ``cop``)
    is the n-th letter."""

    def gold(truth: Any) -> str:
        if isinstance(truth, int) and not isinstance(truth, bool):
            if 1 <= truth <= len(letters):
                return letters[truth - 1]
            raise ValueError(f"expected an option number 1..{len(letters)}, got {truth}")
        if not isinstance(truth, str):
            raise ValueError(f"expected text, got {type(truth).__name__}")
        text = truth.strip()
        if words and text.lower().rstrip(".") in words:
            return words[text.lower().rstrip(".")]
        if text.isdigit():
            return gold(int(text))
        letter = parse_answer_letter(text.upper() if len(text) == 1 else text, letters).letter
        if letter is None:
            raise ValueError(f"no answer letter ({', '.join(letters)}) in {truth!r}")
        return letter

    return gold


def mc_task(
    *,
    name: str,
    display_name: str,
    suite: str,
    data_file: str,
    how_to_obtain: str,
    load: LoadFn,
    letters: str,
    gold: Callable[[Any], str] | None = None,
) -> Task:
    """A multiple-choice task of a family beside CLUE: no CLUE level, gated on ``accuracy``."""

    def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
        return mc_requests(name, examples, ctx)

    return Task(
        name=name,
        display_name=display_name,
        level=0,
        group=name,
        data_file=data_file,
        how_to_obtain=how_to_obtain,
        credentialed=False,
        metrics=METRICS,
        level_metrics=HEADLINE,
        load=load,
        requests=requests,
        score=letter_scorer(letters),
        gold=gold or letter_gold(letters),
        extra=letters,
        suite=suite,
    )
