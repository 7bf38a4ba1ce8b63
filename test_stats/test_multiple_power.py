"""Holm adjustment (hand-checked examples) and the minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from clue.stats.multiple import holm
from clue.stats.power import mde_from_differences, minimum_detectable_effect


def test_holm_hand_checked() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06; back in input order
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_order() -> None:
    assert holm([0.5, 0.2, 0.9]) == pytest.approx([1.0, 0.6, 1.0])
    assert holm([]) == []
    assert holm([0.03]) == [0.03]


def test_holm_ties_and_nan() -> None:
    assert holm([0.01, 0.01]) == pytest.approx([0.02, 0.02])
    assert holm([float("nan"), 0.01]) == pytest.approx([1.0, 0.02])


def test_holm_properties_random() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = list(rng.random(rng.integers(1, 12)) ** 3)
        adj = holm(p)
        m = len(p)
        assert all(a >= q for a, q in zip(adj, p, strict=True))
        assert all(a <= min(1.0, m * q) + 1e-15 for a, q in zip(adj, p, strict=True))
        order = np.argsort(p)
        assert all(np.diff(np.array(adj)[order]) >= -1e-15)  # monotone in p
        assert max(adj) <= 1.0


def test_holm_rejects_invalid() -> None:
    with pytest.raises(ValueError):
        holm([1.2])


def test_mde_formula() -> None:
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert minimum_detectable_effect(400, sd=0.2) == pytest.approx(z * 0.2 / 20)
    assert minimum_detectable_effect(400, discordance=0.16) == pytest.approx(z * 0.4 / 20)
    assert minimum_detectable_effect(400, sd=0.2, design_effect=4.0) == pytest.approx(z * 0.2 / 10)
    assert minimum_detectable_effect(1600, sd=0.2) == pytest.approx(minimum_detectable_effect(400, sd=0.2) / 2)
    assert minimum_detectable_effect(400, sd=0.2, power=0.9) > minimum_detectable_effect(400, sd=0.2)
    assert math.isnan(minimum_detectable_effect(0, sd=0.2))


def test_mde_from_differences_uses_sample_sd() -> None:
    diffs = [0.1, -0.1, 0.3, -0.2, 0.0, 0.05]
    sd = float(np.std(diffs, ddof=1))
    assert mde_from_differences(diffs) == pytest.approx(minimum_detectable_effect(6, sd=sd))
    assert math.isnan(mde_from_differences([0.1]))


def test_mde_argument_errors() -> None:
    with pytest.raises(ValueError):
        minimum_detectable_effect(10)
    with pytest.raises(ValueError):
        minimum_detectable_effect(10, sd=0.1, discordance=0.2)
    with pytest.raises(ValueError):
        minimum_detectable_effect(10, discordance=1.5)
