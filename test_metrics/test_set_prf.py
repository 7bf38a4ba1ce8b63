"""Set precision / recall / F1: worked examples, the empty-set rules, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue.metrics.set_prf import prf

items = st.frozensets(st.sampled_from("abcdefghij"), max_size=10)
nonempty = st.frozensets(st.sampled_from("abcdefghij"), min_size=1, max_size=10)


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        # hits {a, b} = 2; P = 2/3, R = 2/4 = 1/2; F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
        ({"a", "b", "c"}, {"a", "b", "d", "e"}, (2 / 3, 1 / 2, 4 / 7)),
        # hits {a} = 1; P = 1/1, R = 1/3; F1 = 2 * 1 * (1/3) / (4/3) = 1/2
        ({"a"}, {"a", "b", "c"}, (1.0, 1 / 3, 0.5)),
        # hits {a} = 1; P = 1/1, R = 1/4; F1 = (1/2) / (5/4) = 2/5
        ({"a"}, {"a", "b", "c", "d"}, (1.0, 0.25, 0.4)),
        # no hits: P = R = 0, F1 = 0 (not 0/0)
        ({"x", "y"}, {"a"}, (0.0, 0.0, 0.0)),
        # identical: 3/3 and 3/3
        ({"a", "b", "c"}, {"c", "b", "a"}, (1.0, 1.0, 1.0)),
        # an empty prediction never scores; with empty gold, a prediction is all wrong
        (set(), {"a"}, (0.0, 0.0, 0.0)),
        ({"a"}, set(), (0.0, 0.0, 0.0)),
        # both empty: nothing to find and nothing wrongly claimed
        (set(), set(), (1.0, 1.0, 1.0)),
    ],
)
def test_worked_examples(predicted: set[str], gold: set[str], expected: tuple[float, float, float]) -> None:
    assert prf(predicted, gold) == pytest.approx(expected)


def test_duplicates_in_lists_count_once() -> None:
    # ["a", "a", "a", "z"] is the set {a, z}: P = 1/2 (not 3/4), R = 1/1, F1 = 2 * 0.5 / 1.5 = 2/3
    assert prf(["a", "a", "a", "z"], ["a"]) == pytest.approx((0.5, 1.0, 2 / 3))


@settings(deadline=None)
@given(items, items)
def test_scores_in_unit_interval(p: frozenset[str], g: frozenset[str]) -> None:
    assert all(0.0 <= x <= 1.0 for x in prf(p, g))


@settings(deadline=None)
@given(items, items)
def test_swapping_sides_swaps_precision_and_recall(p: frozenset[str], g: frozenset[str]) -> None:
    precision, recall, f1 = prf(p, g)
    p2, r2, f2 = prf(g, p)
    assert (p2, r2) == (recall, precision)
    assert f2 == pytest.approx(f1)


@settings(deadline=None)
@given(nonempty)
def test_identical_sets_score_one(s: frozenset[str]) -> None:
    assert prf(s, set(s)) == (1.0, 1.0, 1.0)


@settings(deadline=None)
@given(items, items)
def test_f1_is_harmonic_mean_and_between_p_and_r(p: frozenset[str], g: frozenset[str]) -> None:
    precision, recall, f1 = prf(p, g)
    if precision + recall:
        assert f1 == pytest.approx(2 * precision * recall / (precision + recall))
        assert min(precision, recall) - 1e-12 <= f1 <= max(precision, recall) + 1e-12
    else:
        assert f1 == 0.0


@settings(deadline=None)
@given(st.lists(st.sampled_from("abcdef"), max_size=12), st.lists(st.sampled_from("abcdef"), max_size=12))
def test_order_and_duplicates_do_not_matter(p: list[str], g: list[str]) -> None:
    assert prf(p, g) == prf(sorted(set(p), reverse=True), list(set(g)) * 2)
