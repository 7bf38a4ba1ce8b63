"""MedNLI accuracy: the CLUE reference rule (gold label exactly once in the upper-cased output) and
the strict variant (the reference rule holds, and exactly one label, once, as a whole word, and it is
the gold one)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_inputs import HOSTILE_OUTPUTS

from clue.metrics.label_accuracy import MEDNLI_LABELS, label_accuracy

gold_labels = st.sampled_from(["entailment", "neutral", "contradiction", "ENTAILMENT", " Neutral "])


@pytest.mark.parametrize(
    ("output", "gold", "expected"),
    [
        # the plain answer: once, alone -> both rules count it right
        ("ENTAILMENT", "entailment", (1.0, 1.0)),
        ("entailment", "entailment", (1.0, 1.0)),  # the output is upper-cased
        ("The answer is contradiction.", "contradiction", (1.0, 1.0)),
        ("  Neutral.\n", " NEUTRAL ", (1.0, 1.0)),  # gold is stripped and upper-cased too
        # the reference rule's loophole: gold once, but another label too -> reference 1, strict 0
        ("ENTAILMENT or NEUTRAL", "neutral", (1.0, 0.0)),
        ("ENTAILMENT or NEUTRAL", "entailment", (1.0, 0.0)),
        # gold twice -> wrong under both rules (count == 2, not 1)
        ("NEUTRAL. Final answer: NEUTRAL", "neutral", (0.0, 0.0)),
        # a wrong label
        ("CONTRADICTION", "entailment", (0.0, 0.0)),
        # gold inside a longer word: the reference counts the substring, strict needs a whole word
        ("NONENTAILMENTS", "entailment", (1.0, 0.0)),
        # gold as a word once and inside a word once: substring count 2 -> reference 0, and strict
        # implies the reference rule, so strict 0 too
        ("NEUTRAL (NEUTRALITY)", "neutral", (0.0, 0.0)),
        ("CONTRADICTION. These are contradictions.", "contradiction", (0.0, 0.0)),
        # the same word once as a substring only once: both right
        ("CONTRADICTION. These sentences disagree.", "contradiction", (1.0, 1.0)),
        # nothing
        ("", "neutral", (0.0, 0.0)),
        ("I cannot tell.", "neutral", (0.0, 0.0)),
    ],
)
def test_worked_examples(output: str, gold: str, expected: tuple[float, float]) -> None:
    assert label_accuracy(output, gold) == expected


def test_labels_are_the_three_mednli_classes() -> None:
    assert MEDNLI_LABELS == ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")


def test_custom_labels_in_any_case() -> None:
    # with labels yes/no: "yes" once and "no" absent -> (1, 1); "yes or no" -> reference 1, strict 0
    assert label_accuracy("yes", "YES", labels=("yes", "no")) == (1.0, 1.0)
    assert label_accuracy("yes or no", "yes", labels=("YES", "NO")) == (1.0, 0.0)


def test_empty_gold_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty gold"):
        label_accuracy("ENTAILMENT", " ")


@settings(deadline=None)
@given(st.text(max_size=300), gold_labels)
def test_never_raises_and_scores_are_zero_or_one(output: str, gold: str) -> None:
    reference, strict = label_accuracy(output, gold)
    assert reference in (0.0, 1.0)
    assert strict in (0.0, 1.0)


@settings(deadline=None)
@given(st.text(max_size=300), gold_labels)
def test_strict_never_exceeds_the_reference_rule(output: str, gold: str) -> None:
    reference, strict = label_accuracy(output, gold)
    assert strict <= reference


@settings(deadline=None)
@given(st.text(max_size=200), gold_labels)
def test_gold_inside_a_longer_word_beside_the_answer_fails_both(output: str, gold: str) -> None:
    # the label as a word plus the label inside a word: the substring occurs twice
    word = gold.strip().upper()
    assert label_accuracy(f"{output} {word}. ({word}S)", gold) == (0.0, 0.0)


@settings(deadline=None)
@given(st.sampled_from(MEDNLI_LABELS), st.sampled_from(MEDNLI_LABELS), st.sampled_from(["", " ", ".", "\n"]))
def test_a_bare_label_is_right_exactly_when_it_is_gold(said: str, gold: str, tail: str) -> None:
    expected = 1.0 if said == gold else 0.0
    assert label_accuracy(said.lower() + tail, gold.lower()) == (expected, expected)


@settings(deadline=None)
@given(st.text(max_size=200), gold_labels, st.sampled_from(MEDNLI_LABELS))
def test_naming_a_second_label_fails_strict(output: str, gold: str, other: str) -> None:
    if other != gold.strip().upper():
        assert label_accuracy(f"{output} {other}", gold)[1] == 0.0


@settings(deadline=None)
@given(st.text(max_size=200), gold_labels)
def test_gold_twice_fails_both_rules(output: str, gold: str) -> None:
    word = gold.strip().lower()
    assert label_accuracy(f"{output} {word} {word}", gold) == (0.0, 0.0)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Lu", "Ll", "Lt", "Lm", "Lo"]), max_size=100), gold_labels)
def test_gold_once_in_letter_free_text_is_right(filler: str, gold: str) -> None:
    # no letters around it, so no other label and no second gold can appear: right under both rules
    assert label_accuracy(f"{filler} {gold.strip().lower()} {filler}", gold) == (1.0, 1.0)


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs_score_zero(name: str) -> None:
    assert label_accuracy(HOSTILE_OUTPUTS[name], "entailment") == (0.0, 0.0)
