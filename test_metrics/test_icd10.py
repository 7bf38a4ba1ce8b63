"""ICD-10-CM parsing and MeDiSumCode scores: worked examples, properties, hostile outputs."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_inputs import HOSTILE_OUTPUTS

from clue.metrics.icd10 import METRICS, icd_scores, icd_scores_many, is_valid_code, normalise_code, parse_icd_codes

# The documented shape of a parsed code: letter, digit, digit or letter, then up to four letters/digits.
SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")

code_text = st.from_regex(r"[A-Za-z][0-9][0-9A-Za-z](\.[0-9A-Za-z]{1,4}|[0-9A-Za-z]{1,4})?", fullmatch=True)
# Real ICD-10-CM codes and categories (dotted), plus a few that are shaped right but do not exist.
REAL = ["I10", "E11.65", "E11.9", "N18.3", "U07.1", "C7A.00", "S72.001A", "Z00.00", "A00.9", "J18.9", "R69"]
code_lists = st.lists(st.one_of(st.sampled_from(REAL + ["E11.99", "Q99.99"]), code_text), max_size=8)
nonempty_code_lists = st.lists(st.one_of(st.sampled_from(REAL), code_text), min_size=1, max_size=8)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("ICD-10 Codes: I10, E11.65, N18.3", ("I10", "E1165", "N183")),
        # codes the CLUE reference regex missed: U codes and a letter in third place
        ("U07.1; C7A.00", ("U071", "C7A00")),
        # lower case and no dot are normalised; duplicates kept once, in first-appearance order
        ("e11.9 then I10 then E119 and i10.", ("E119", "I10")),
        ("S72.001A (7 characters)", ("S72001A",)),
        # inside a word is not a code (HbA1c, ICD-10's D-10), nor is a too-short token
        ("HbA1c 7.2%, ICD-10, E1", ()),
        ("", ()),
        ("no codes here", ()),
    ],
)
def test_parse_worked_examples(text: str, codes: tuple[str, ...]) -> None:
    assert parse_icd_codes(text) == codes


def test_parse_none_is_empty() -> None:
    assert parse_icd_codes(None) == ()  # type: ignore[arg-type]


def test_normalise_code() -> None:
    assert normalise_code(" e11.65 ") == "E1165"
    assert normalise_code("C7A.00") == "C7A00"


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("I10", True),
        ("i10", True),  # normalised first
        ("E11.65", True),
        ("E1165", True),
        ("E11", True),  # a category is a code of ICD-10-CM too
        ("U07.1", True),
        ("C7A.00", True),
        ("S72.001A", True),
        ("E11.99", False),  # shaped right, not in ICD-10-CM
        ("Q99.99", False),
        ("I1O", False),  # letter O, not zero
        ("", False),
        (".", False),
    ],
)
def test_is_valid_code(code: str, valid: bool) -> None:
    assert is_valid_code(code) is valid


def test_scores_worked_example() -> None:
    # pred {I10, E1165, E119, E1199} / gold {I10, E1122, N183}
    # exact: 1 hit (I10); P = 1/4, R = 1/3; F1 = 2 * (1/12) / (7/12) = 2/7
    # approx: categories {I10, E11} vs {I10, E11, N18}: 2 hits; P = 2/2, R = 2/3; F1 = (4/3) / (5/3) = 4/5
    # valid: I10, E11.65, E11.9 exist, E11.99 does not -> 3/4
    scores = icd_scores(["I10", "E11.65", "E11.9", "E11.99"], ["I10", "E11.22", "N18.3"])
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


def test_duplicate_predictions_do_not_inflate_precision() -> None:
    # CLUE-SPEC defect 6: ["I10"] * 9 + ["Z99.99"] is the set {I10, Z9999}: P = 1/2, not 9/10
    scores = icd_scores(["I10"] * 9 + ["Z99.99"], ["I10"])
    assert scores["icd_exact_precision"] == 0.5
    assert scores["icd_valid_ratio"] == 0.5  # I10 valid, Z99.99 not: 1 of 2 distinct codes


def test_nothing_predicted() -> None:
    # empty prediction: P = R = F1 = 0; valid ratio 0 (not 0/0)
    assert icd_scores([], ["I10"]) == dict.fromkeys(METRICS, 0.0)
    # blank strings are no codes either
    assert icd_scores(["", " . "], ["I10"]) == dict.fromkeys(METRICS, 0.0)


def test_dotted_and_undotted_gold_match() -> None:
    assert icd_scores(["e11.65"], ["E1165"])["icd_exact_f1"] == 1.0


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
def test_order_duplicates_and_spelling_do_not_matter(pred: list[str], gold: list[str], rng: random.Random) -> None:
    shuffled = pred * 2 + [c.lower() for c in pred] + [c.replace(".", "") for c in pred]
    rng.shuffle(shuffled)
    assert icd_scores(shuffled, gold[::-1] + gold) == icd_scores(pred, gold)


@settings(deadline=None)
@given(st.lists(code_text, max_size=10), st.sampled_from([", ", "; ", "\n", " ", " and ", "|"]))
def test_parse_round_trip(codes: list[str], separator: str) -> None:
    expected = tuple(dict.fromkeys(normalise_code(c) for c in codes))
    assert parse_icd_codes("ICD-10 Codes: " + separator.join(codes)) == expected


def _check_parse(text: str) -> None:
    codes = parse_icd_codes(text)
    assert isinstance(codes, tuple)
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert SHAPE.fullmatch(code), code
        assert code[:3] in text.upper()


@settings(deadline=None, max_examples=300)
@given(st.text())
def test_parse_never_raises_on_any_text(text: str) -> None:
    _check_parse(text)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs"])))
def test_parse_never_raises_on_control_and_format_characters(text: str) -> None:
    assert parse_icd_codes(text) == ()


@settings(deadline=None)
@given(st.text(alphabet=st.characters(categories=["Lo", "So", "Nd", "Mn"]), max_size=200))
def test_parse_other_scripts_and_non_ascii_digits(text: str) -> None:
    # letters of other scripts and non-ASCII digits (Arabic-Indic, Devanagari) are never code characters
    codes = parse_icd_codes(text)
    assert all(SHAPE.fullmatch(c) for c in codes)
    assert all(c.isascii() for c in codes)


def test_parse_enormous_text() -> None:
    text = ("Diagnoses: I10, E11.65, chest pain 胸痛 " * 3000)[:100_000]
    assert parse_icd_codes(text) == ("I10", "E1165")
    assert parse_icd_codes("x" * 100_000) == ()
    assert parse_icd_codes("A1" * 50_000) == ()  # one long word, no code boundary


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs(name: str) -> None:
    gold = ["I10", "E11.9", "N18.3"]
    text = HOSTILE_OUTPUTS[name]
    _check_parse(text)
    scores = icd_scores(parse_icd_codes(text), gold)
    assert tuple(scores) == METRICS
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    if name == "mixed_scripts":
        # parsed {I10, E119} vs gold {I10, E119, N183}: P = 1, R = 2/3, F1 = 4/5
        assert scores["icd_exact_f1"] == pytest.approx(4 / 5)
    else:
        assert scores["icd_exact_f1"] == 0.0


def test_many_matches_single_and_two_processes_equal_one() -> None:
    rng = random.Random(3)
    pool = REAL + ["E11.99", "Q99.99", "X12", "i10"]
    pred = [rng.sample(pool, rng.randint(0, 5)) for _ in range(500)]
    gold = [rng.sample(pool, rng.randint(1, 4)) for _ in range(500)]
    one = icd_scores_many(pred, gold, processes=1)
    assert one == [icd_scores(p, g) for p, g in zip(pred, gold, strict=True)]
    assert icd_scores_many(pred, gold, processes=2) == one


def test_many_length_mismatch() -> None:
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        icd_scores_many([["I10"]], [["I10"], ["E11"]])
