"""The LongHealth answer-letter parser: worked examples, the reference's defect 5, and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clue.metrics import answer_letter
from clue.metrics.answer_letter import ParsedAnswer, parse_answer_letter

ABCDE = "ABCDE"
ABCDEF = "ABCDEF"

# The reference implementation's rule (CLUE-SPEC defect 5): case-sensitive and the colon required.
REFERENCE_RULE = re.compile(r"The correct answer is ([A-F]):")


@pytest.mark.parametrize(
    ("text", "letter", "strict"),
    [
        ("The correct answer is C: Ann Arbor stage III B", "C", True),
        ("The correct answer is A:", "A", True),
        ("Let me think. The correct answer is E: 60 Gy in 30 fractions.", "E", True),
        ("the correct answer is c: day 12", "C", False),
        ("THE CORRECT ANSWER IS B: LENALIDOMIDE", "B", False),
        ("The correct answer is D.", "D", False),
        ("The correct answer is: B", "B", False),
        ("The correct answer is B", "B", False),
        ("Answer: D", "D", False),
        ("answer: d", "D", False),
        ("**Answer:** B", "B", False),
        ("The answer is (C).", "C", False),
        ("The answer is option b.", "B", False),
        ("The answer would be E", "E", False),
        ("C", "C", False),
        ("  (E)  ", "E", False),
        ("A: Daratumumab monotherapy", "A", False),
        ("B. Febrile neutropenia", "B", False),
    ],
)
def test_worked_examples(text: str, letter: str, strict: bool) -> None:
    assert parse_answer_letter(text, ABCDE) == ParsedAnswer(letter, strict)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I do not know.",
        "A patient with lymphoma was treated.",  # "A" starts a sentence, not an answer
        "The answer is a fever of 39 degrees.",  # lower-case "a" followed by a word
        "I cannot answer this question.",
        "The correct answer is G: something",  # not an option
        "answer",
    ],
)
def test_no_letter(text: str) -> None:
    assert parse_answer_letter(text, ABCDE) == ParsedAnswer(None, False)


def test_letter_f_only_when_allowed() -> None:
    text = "The correct answer is F: Question cannot be answered with provided documents"
    assert parse_answer_letter(text, ABCDE).letter is None
    assert parse_answer_letter(text, ABCDEF) == ParsedAnswer("F", True)


def test_strict_form_wins_over_an_earlier_lenient_one() -> None:
    text = "Answer: B? No. The correct answer is D: 25 percent"
    assert parse_answer_letter(text, ABCDE) == ParsedAnswer("D", True)


def test_first_lenient_occurrence_wins() -> None:
    assert parse_answer_letter("The answer is B. Earlier I said answer: C", ABCDE).letter == "B"


@pytest.mark.parametrize(
    "text",
    ["the correct answer is c: day 12", "The correct answer is C.", "The correct answer is: C", "The Correct Answer Is C"],
)
def test_defect_5_reference_rule_misses_variants_we_accept(text: str) -> None:
    """The reference scores these wrong (no match); the lenient parse reads C, the strict one does not."""
    assert REFERENCE_RULE.search(text) is None
    parsed = parse_answer_letter(text, ABCDE)
    assert parsed.letter == "C"
    assert parsed.strict is False


def test_strict_agrees_with_reference_rule_on_exact_form() -> None:
    for letter in ABCDEF:
        text = f"The correct answer is {letter}: option text"
        assert REFERENCE_RULE.search(text).group(1) == letter
        assert parse_answer_letter(text, ABCDEF) == ParsedAnswer(letter, True)


@pytest.mark.parametrize("letters", ["", "AB1", "ab", ["A", "BC"]])
def test_invalid_letter_set_is_a_programming_error(letters: object) -> None:
    with pytest.raises(ValueError):
        parse_answer_letter("The correct answer is A:", letters)  # type: ignore[arg-type]


def test_non_string_input_is_no_answer() -> None:
    assert parse_answer_letter(None, ABCDE) == ParsedAnswer(None, False)  # type: ignore[arg-type]


def _repeat_bounds(parsed: object) -> list[int]:
    """Upper bounds of every repetition in a parsed regular expression (recursively)."""
    import re._parser as sre_parse  # the standard library's own pattern parser

    bounds: list[int] = []
    for op, arg in parsed:  # type: ignore[attr-defined]
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            bounds.append(arg[1])
            bounds.extend(_repeat_bounds(arg[2]))
        elif op is sre_parse.SUBPATTERN:
            bounds.extend(_repeat_bounds(arg[-1]))
        elif op is sre_parse.BRANCH:
            for branch in arg[1]:
                bounds.extend(_repeat_bounds(branch))
    return bounds


def test_patterns_have_only_bounded_repetition() -> None:
    """No unbounded quantifier anywhere: backtracking per start position is bounded, so the parse
    is linear in the text length (no catastrophic regex)."""
    import re._parser as sre_parse

    patterns = [v for v in vars(answer_letter).values() if isinstance(v, re.Pattern)]
    assert len(patterns) >= 3
    for pattern in patterns:
        bounds = _repeat_bounds(sre_parse.parse(pattern.pattern, pattern.flags))
        assert all(b != sre_parse.MAXREPEAT for b in bounds), pattern.pattern
        assert all(b <= 20 for b in bounds), pattern.pattern


@pytest.mark.parametrize(
    "text",
    [
        "answer " * 20_000,
        "answer:" + " " * 100_000,
        "The correct answer is " * 5_000,
        "(" * 100_000 + "C",
        " " * 100_000,
        "\x00\x07\x1b\r\n\t" * 20_000,
        "answer is " + "*" * 100_000 + "C",
    ],
)
def test_long_pathological_inputs(text: str) -> None:
    parsed = parse_answer_letter(text, ABCDE)
    assert parsed.letter in (None, *ABCDE)


def test_long_text_with_answer_at_the_end() -> None:
    text = "x " * 50_000 + "The correct answer is B: it"
    assert parse_answer_letter(text, ABCDE) == ParsedAnswer("B", True)


letter_sets = st.sets(st.sampled_from(ABCDEF), min_size=1).map(lambda s: "".join(sorted(s)))
control = st.characters(min_codepoint=0, max_codepoint=31)


@settings(max_examples=300, deadline=None)
@given(text=st.text(), letters=letter_sets)
def test_never_raises_and_stays_in_the_letter_set(text: str, letters: str) -> None:
    parsed = parse_answer_letter(text, letters)
    assert parsed.letter is None or parsed.letter in letters
    assert not parsed.strict or parsed.letter is not None


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.one_of(control, st.sampled_from("answerIS:. ()*ABCDEFabcdef")), max_size=400))
def test_adversarial_alphabet(text: str) -> None:
    parsed = parse_answer_letter(text, ABCDE)
    assert parsed.letter is None or parsed.letter in ABCDE


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chunk=st.text(min_size=1, max_size=20), letter=st.sampled_from(ABCDE))
def test_100k_character_texts(chunk: str, letter: str) -> None:
    text = (chunk * (100_000 // len(chunk) + 1))[:100_000]
    parsed = parse_answer_letter(text, ABCDE)
    assert parsed.letter is None or parsed.letter in ABCDE
    # a periodic text with a period under 20 characters cannot hold the 24-character exact form,
    # so the exact form appended after it is the first strict match
    assert parse_answer_letter(text + f"\nThe correct answer is {letter}: x", ABCDE) == ParsedAnswer(letter, True)


@settings(max_examples=200, deadline=None)
@given(letter=st.sampled_from(ABCDEF), tail=st.text())
def test_exact_form_at_the_start_is_strict(letter: str, tail: str) -> None:
    assert parse_answer_letter(f"The correct answer is {letter}:{tail}", ABCDEF) == ParsedAnswer(letter, True)


@settings(max_examples=200, deadline=None)
@given(letter=st.sampled_from(ABCDE), ending=st.sampled_from([".", "", ":", ")", " because"]))
def test_any_case_of_the_phrase_is_read(letter: str, ending: str) -> None:
    for phrase in ("the correct answer is", "THE CORRECT ANSWER IS", "The Correct Answer is"):
        assert parse_answer_letter(f"{phrase} {letter}{ending}", ABCDE).letter == letter
