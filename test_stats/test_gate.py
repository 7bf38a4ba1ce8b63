"""The gate's rules: thresholds, significant and non-inferior regression modes, messages."""

from __future__ import annotations

import dataclasses
import json

import pytest

from clue.errors import ConfigError
from clue.gate.rules import (
    GateConfig,
    GatedComparison,
    Verdict,
    gate_comparisons,
    regression_verdicts,
    threshold_verdicts,
)
from clue.stats.bootstrap import mean_ci
from clue.stats.paired import Comparison


def comp(diff: float, p: float, ci: tuple[float, float], model: float = 0.3120, n: int = 200) -> Comparison:
    return Comparison(
        n=n, n_clusters=n, n_model_only=0, n_base_only=0, model_mean=model, base_mean=model - diff, diff=diff,
        ci_low=ci[0], ci_high=ci[1], p_value=p, test="test", confidence=0.95,
        n_model_better=0, n_base_better=0, n_discordant=0,
    )


def test_default_config_and_validation() -> None:
    cfg = GateConfig()
    assert (cfg.mode, cfg.alpha, cfg.margin) == ("significant", 0.05, 0.0)
    with pytest.raises(ConfigError, match="mode"):
        GateConfig(mode="strict")
    with pytest.raises(ConfigError, match="alpha"):
        GateConfig(alpha=0.0)
    with pytest.raises(ConfigError, match="margin"):
        GateConfig(margin=-0.01)


def test_significant_drop_fails_with_full_message() -> None:
    c = comp(-0.0382, 0.0001, (-0.0510, -0.0251))
    [v] = regression_verdicts("ft", "base", [("meqsum", "rougeL", c)], GateConfig())
    assert isinstance(v, Verdict)
    assert not v.passed and v.kind == "regression"
    assert (v.task, v.metric, v.model, v.base) == ("meqsum", "rougeL", "ft", "base")
    assert v.message == (
        "meqsum rougeL: model 31.20 vs base 35.02, diff -3.82 [95% CI -5.10, -2.51], "
        "Holm-adjusted p=0.0001 < alpha 0.05; rule: no significant regression against base (margin 0.00)"
    )
    assert v.p_adjusted == pytest.approx(0.0001)
    assert v.model_score == pytest.approx(0.312) and v.base_score == pytest.approx(0.3502)


def test_significant_improvement_or_insignificant_drop_passes() -> None:
    up = comp(+0.05, 0.001, (0.02, 0.08))
    small = comp(-0.01, 0.30, (-0.03, 0.01))
    verdicts = regression_verdicts("ft", "base", [("t", "accuracy", up), ("t", "rougeL", small)], GateConfig())
    assert [v.passed for v in verdicts] == [True, True]
    assert ">= alpha 0.05" in verdicts[1].message


def test_holm_across_all_comparisons_of_the_run() -> None:
    # p=0.02 alone fails at alpha 0.05; with three comparisons Holm makes it 0.06 and it passes
    drop = comp(-0.05, 0.02, (-0.09, -0.01))
    alone = regression_verdicts("ft", "base", [("a", "accuracy", drop)], GateConfig())
    family = regression_verdicts(
        "ft", "base",
        [("a", "accuracy", drop), ("b", "rougeL", comp(0.0, 0.5, (-0.01, 0.01))),
         ("c", "rougeL", comp(0.01, 0.9, (-0.01, 0.02)))],
        GateConfig(),
    )
    assert not alone[0].passed
    assert family[0].passed
    assert family[0].p_adjusted == pytest.approx(0.06)
    assert family[0].p_value == pytest.approx(0.02)
    assert [v.task for v in family] == ["a", "b", "c"]


def test_margin_in_significant_mode() -> None:
    c = comp(-0.015, 0.001, (-0.02, -0.01))
    assert not regression_verdicts("m", "b", [("t", "rougeL", c)], GateConfig(margin=0.0))[0].passed
    v = regression_verdicts("m", "b", [("t", "rougeL", c)], GateConfig(margin=0.02))[0]
    assert v.passed
    assert "margin 2.00" in v.rule


def test_noninferior_mode() -> None:
    cfg = GateConfig(mode="noninferior", margin=0.02)
    inside = comp(-0.005, 0.4, (-0.015, 0.005))
    outside = comp(-0.005, 0.4, (-0.025, 0.015))  # not significant, but not shown non-inferior either
    better = comp(0.03, 0.001, (0.01, 0.05))
    v_in, v_out, v_better = regression_verdicts(
        "m", "b", [("t", "x", inside), ("t", "y", outside), ("t", "z", better)], cfg
    )
    assert v_in.passed and not v_out.passed and v_better.passed
    assert "CI lower bound -2.50 <= -2.00" in v_out.message
    assert "non-inferior" in v_out.rule and "margin 2.00" in v_out.rule
    # margin 0: the lower bound must be above 0
    assert not regression_verdicts("m", "b", [("t", "x", inside)], GateConfig(mode="noninferior"))[0].passed


def test_no_paired_items() -> None:
    empty = Comparison(0, 0, 3, 4, None, None, None, None, None, 1.0, "no paired items", 0.95, 0, 0, 0)
    sig = regression_verdicts("m", "b", [("t", "accuracy", empty)], GateConfig())[0]
    ni = regression_verdicts("m", "b", [("t", "accuracy", empty)], GateConfig(mode="noninferior"))[0]
    assert sig.passed and not ni.passed
    assert "no items paired" in sig.message and "3 model-only" in sig.message


def test_threshold_verdicts() -> None:
    estimates = {"accuracy": mean_ci([1.0, 1.0, 0.0, 1.0]), "rougeL": mean_ci([0.4, 0.5])}
    verdicts = threshold_verdicts("mednli", "ft", estimates, {"accuracy": 0.8, "rougeL": 0.45, "umls_f1": 0.1})
    by_metric = {v.metric: v for v in verdicts}
    assert not by_metric["accuracy"].passed
    assert by_metric["rougeL"].passed  # 0.45 >= 0.45
    assert not by_metric["umls_f1"].passed and "not available" in by_metric["umls_f1"].message
    acc = by_metric["accuracy"]
    assert acc.kind == "threshold" and acc.base is None and acc.minimum == 0.8
    assert "mednli accuracy" in acc.message and "75.00" in acc.message and "minimum 80.00" in acc.message
    assert threshold_verdicts("mednli", "ft", estimates, {}) == []


def test_threshold_on_empty_estimate_fails() -> None:
    [v] = threshold_verdicts("meqsum", "m", {"rougeL": mean_ci([])}, {"rougeL": 0.1})
    assert not v.passed and "no items" in v.message and v.model_score is None


def test_verdicts_are_json_serialisable() -> None:
    verdicts = regression_verdicts("m", "b", [("t", "x", comp(-0.1, 1e-6, (-0.2, -0.05)))], GateConfig())
    verdicts += threshold_verdicts("t", "m", {"x": mean_ci([])}, {"x": 0.5})
    text = json.dumps([dataclasses.asdict(v) for v in verdicts], allow_nan=False)
    assert json.loads(text)[0]["p_adjusted"] == pytest.approx(1e-6)
    assert "p=1.0e-06" in verdicts[0].message


def test_holm_runs_across_every_model_of_the_run() -> None:
    # two fine-tunes with their own bases: one family of four comparisons, tagged with model and base
    drop = comp(-0.05, 0.015, (-0.09, -0.01))
    run = [
        GatedComparison("mednli", "accuracy", "biomistral", "mistral-7b-instruct-v0.1", drop),
        GatedComparison("meqsum", "rougeL", "biomistral", "mistral-7b-instruct-v0.1", comp(0.0, 0.5, (-0.01, 0.01))),
        GatedComparison("mednli", "accuracy", "openbiollm-8b", "llama-3-8b-instruct", comp(0.01, 0.7, (-0.02, 0.03))),
        GatedComparison("meqsum", "rougeL", "openbiollm-8b", "llama-3-8b-instruct", comp(0.02, 0.9, (-0.01, 0.04))),
    ]
    verdicts = gate_comparisons(run, GateConfig())
    assert [(v.model, v.base, v.task, v.metric) for v in verdicts] == [(g.model, g.base, g.task, g.metric) for g in run]
    assert verdicts[0].p_adjusted == pytest.approx(0.06)  # 4 x 0.015: passes within the run's family
    assert all(v.passed for v in verdicts)
    # the same drop gated with its own model's comparisons only (family of two) fails
    own = gate_comparisons(run[:2], GateConfig())
    assert own[0].p_adjusted == pytest.approx(0.03) and not own[0].passed
    assert "alpha 0.05" in own[0].message and own[0].model == "biomistral"


def test_regression_verdicts_is_gate_comparisons_for_one_pair() -> None:
    triples = [("meqsum", "rougeL", comp(-0.04, 0.001, (-0.06, -0.02))), ("mednli", "accuracy", comp(0.0, 1.0, (0, 0)))]
    tagged = [GatedComparison(t, m, "ft", "base", c) for t, m, c in triples]
    assert regression_verdicts("ft", "base", triples) == gate_comparisons(tagged)
    assert gate_comparisons([]) == []


def test_threshold_ignores_float_noise_of_the_mean() -> None:
    est = mean_ci([0.7, 0.7, 0.7])  # the mean is 0.6999999999999998 in floating point
    [v] = threshold_verdicts("mednli", "m", {"accuracy": est}, {"accuracy": 0.7})
    assert v.passed and "70.00 [" in v.message and ">= minimum 70.00" in v.message
    [v] = threshold_verdicts("mednli", "m", {"accuracy": mean_ci([0.6999, 0.6999])}, {"accuracy": 0.7})
    assert not v.passed and "< minimum 70.00" in v.message
