"""Power in every comparison: the MDE of paired_power, the needed n, and the inconclusive verdict.

The statistical claims are checked by simulation with fixed seeds: a true drop of the reported MDE
is found about 80% of the time, and with equal models a small run reads inconclusive, not pass.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from clue.errors import ConfigError
from clue.gate.rules import GateConfig, GatedComparison, gate_comparisons
from clue.stats.paired import compare_paired, mcnemar_exact_p
from clue.stats.power import RULE_OF_THREE, cluster_design_effect, minimum_detectable_effect, paired_power

Z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)


def test_binary_uses_the_discordant_fraction() -> None:
    d = [1.0] * 10 + [-1.0] * 20 + [0.0] * 70
    p = paired_power(d, binary=True)
    assert p.basis == "discordant pairs" and p.design_effect == 1.0
    assert p.mde == pytest.approx(minimum_detectable_effect(100, discordance=0.3))
    assert p.mde == pytest.approx(Z * math.sqrt(0.3) / 10)


def test_continuous_uses_the_sample_sd_and_needed_n_reaches_the_target() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(0.0, 0.2, size=400)
    p = paired_power(d, target=0.01)
    assert p.sd == pytest.approx(float(np.std(d, ddof=1)))
    assert p.mde == pytest.approx(Z * p.sd / 20)
    # the needed n is the smallest n whose MDE is at most the target
    assert minimum_detectable_effect(p.n_needed, sd=p.sd) <= 0.01 < minimum_detectable_effect(p.n_needed - 1, sd=p.sd)


def test_clusters_inflate_by_the_design_effect() -> None:
    rng = np.random.default_rng(5)
    unit = rng.normal(0.0, 0.3, size=60)
    d = np.repeat(unit, 5)  # five identical items per cluster: 60 units of information, not 300
    clusters = np.repeat(np.arange(60), 5)
    p = paired_power(d, list(clusters))
    assert p.n_units == 60
    assert 4.5 < p.design_effect <= 5.2
    independent = paired_power(d)
    assert p.mde == pytest.approx(independent.mde * math.sqrt(p.design_effect))
    # uncorrelated items within clusters: no inflation
    noise = rng.normal(0.0, 0.3, size=300)
    assert cluster_design_effect(noise, clusters) < 1.5


def test_no_difference_at_all_plans_with_the_rule_of_three() -> None:
    p = paired_power([0.0] * 30)
    assert p.basis == "rule of three"
    assert p.mde == pytest.approx(Z * math.sqrt(RULE_OF_THREE) / 30)
    assert p.mde > 0.1  # 30 identical outputs cannot vouch for a small difference
    assert paired_power([0.0] * 3000).mde < 0.01
    empty = paired_power([])
    assert math.isnan(empty.mde) and empty.n_needed is None
    with pytest.raises(ValueError):
        paired_power([0.1], target=0.0)


def _power_of_mcnemar(n: int, discordance: float, drop: float, alpha: float, sims: int, seed: int) -> float:
    """How often the gate's exact McNemar test finds a true drop (P(base better) - P(model better))."""
    rng = np.random.default_rng(seed)
    p_base_better, p_model_better = (discordance + drop) / 2, (discordance - drop) / 2
    counts = rng.multinomial(n, [p_base_better, p_model_better, 1 - discordance], size=sims)
    return float(np.mean([mcnemar_exact_p(int(m), int(b)) < alpha and m < b for b, m, _ in counts]))


def test_a_drop_of_the_mde_is_found_about_80_percent_of_the_time() -> None:
    n, discordance = 300, 0.3
    mde = minimum_detectable_effect(n, discordance=discordance)
    power = _power_of_mcnemar(n, discordance, mde, 0.05, sims=2000, seed=11)
    assert 0.70 <= power <= 0.90, power
    # half the MDE is found far less often: the MDE is the size the comparison can vouch for
    assert _power_of_mcnemar(n, discordance, mde / 2, 0.05, sims=2000, seed=12) < 0.45


def _equal_models_statuses(n: int, seed: int, sims: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    gate = GateConfig()
    counts = {"pass": 0, "fail": 0, "inconclusive": 0}
    ids = [str(i) for i in range(n)]
    for _ in range(sims):
        p = rng.uniform(0.3, 0.7, size=n)  # item difficulty, shared: the two models are equal
        a = (rng.random(n) < p).astype(float)
        b = (rng.random(n) < p).astype(float)
        comp = compare_paired(dict(zip(ids, a)), dict(zip(ids, b)), n_resamples=200)
        power = paired_power(a - b, binary=True, alpha=gate.alpha, target=gate.power_target)
        [v] = gate_comparisons([GatedComparison("t", "accuracy", "m", "b", comp, power=power)], gate)
        counts[v.status] += 1
    return counts


def test_equal_models_on_few_items_read_inconclusive_not_pass() -> None:
    small = _equal_models_statuses(30, seed=21, sims=200)
    # only a chance significant result (about alpha of the runs) is decided at n=30; the rest cannot tell
    assert small["inconclusive"] >= 180 and small["pass"] + small["fail"] <= 12
    large = _equal_models_statuses(4000, seed=22, sims=40)
    assert large["pass"] >= 36 and large["inconclusive"] == 0


def _gated(diff: float, p: float, mde: float, n: int = 30) -> GatedComparison:
    ids = [str(i) for i in range(n)]
    comp = compare_paired(dict.fromkeys(ids, 0.5 + diff), dict.fromkeys(ids, 0.5))
    comp = type(comp)(**{**comp.__dict__, "p_value": p})
    power = paired_power([0.2, -0.2] * (n // 2), target=0.01)
    power = type(power)(**{**power.__dict__, "mde": mde, "n_needed": 1234})
    return GatedComparison("mednli", "accuracy", "ft", "base", comp, power=power)


def test_inconclusive_passes_with_its_numbers_unless_power_is_required() -> None:
    [v] = gate_comparisons([_gated(-0.05, 0.3, mde=0.24)], GateConfig())
    assert v.status == "inconclusive" and v.passed
    assert "MDE 24.00 points at n=30" in v.message and "about 1,234 items would detect 1.00 points" in v.message
    assert "inconclusive" in v.message and v.mde == pytest.approx(0.24) and v.n_needed == 1234
    [strict] = gate_comparisons([_gated(-0.05, 0.3, mde=0.24)], GateConfig(require_power=True))
    assert strict.status == "inconclusive" and not strict.passed and "--clue-require-power" in strict.message


def test_pass_fail_and_the_tolerance() -> None:
    cfg = GateConfig(margin=0.02, power_tolerance=0.05)
    fail, small_mde, within, improved = gate_comparisons(
        [_gated(-0.2, 0.001, mde=0.3), _gated(-0.01, 0.4, mde=0.069), _gated(-0.01, 0.4, mde=0.071),
         _gated(0.3, 0.0001, mde=0.3)], cfg)
    assert fail.status == "fail" and not fail.passed and "MDE 30.00 points" in fail.message
    assert small_mde.status == "pass"  # MDE 6.9 <= margin 2 + tolerance 5
    assert within.status == "inconclusive"  # 7.1 > 7
    assert improved.status == "pass"  # significant: the comparison saw it
    # non-inferiority knows no inconclusive verdict: an underpowered comparison fails by its CI
    [ni] = gate_comparisons([_gated(-0.01, 0.4, mde=0.3)], GateConfig(mode="noninferior", margin=0.02))
    assert ni.status in ("pass", "fail") and "MDE 30.00 points" in ni.message


def test_power_settings_are_checked() -> None:
    assert GateConfig().power_target == 0.01 and GateConfig(margin=0.03).power_target == 0.03
    with pytest.raises(ConfigError, match="tolerance"):
        GateConfig(power_tolerance=-0.1)
    with pytest.raises(ConfigError, match="power"):
        GateConfig(power=1.0)
