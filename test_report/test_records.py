"""Report records: 0-1 inside, percent in the JSON, scaled once and only where declared."""

from __future__ import annotations

import math

from clue.gate.family import Disagreement
from clue.gate.rules import GatedComparison, Verdict
from clue.report.records import ComparisonRecord, MetricRecord, percent
from clue.stats.paired import Comparison
from clue.stats.power import PairedPower


def _verdict(status: str = "pass") -> Verdict:
    return Verdict("regression", "mednli", "a", "b", "accuracy", True, "rule", "message", 0.5, 0.6, -0.1,
                   -0.2, 0.0, 0.04, 0.08, None, 30, status, 0.2, 400, 0.1, 1, 2)


def test_percent_rounds_and_keeps_missing_values_null() -> None:
    assert percent(0.123456789) == 12.3457
    assert percent(None) is None and percent(math.nan) is None


def test_a_metric_scales_its_scores_not_its_counts() -> None:
    assert MetricRecord(0.5, 0.25, 0.75, 30, 6, True).to_json() == {
        "mean": 50.0, "ci_low": 25.0, "ci_high": 75.0, "n": 30, "n_clusters": 6, "level_metric": True,
    }


def test_a_comparison_scales_scores_effects_and_disagreements_only() -> None:
    comparison = Comparison(30, 30, 0, 0, 0.5, 0.6, -0.1, -0.2, 0.0, 0.04, "mcnemar_exact", 0.95, 3, 6, 9)
    power = PairedPower(0.2, 30, 30, 1.5, 0.3, "binary", 0.1, 400, 0.0125, 0.8)
    gated = GatedComparison("mednli", "accuracy", "a", "b", comparison, power, "", (1, 2))
    items = [Disagreement("x1", 0.0, 1.0, "no", "yes"), Disagreement("x2", 0.0, 1.0, "n", "y", reference="gold")]
    row = ComparisonRecord.of(gated, _verdict("inconclusive"), items).to_json()
    assert (row["model_mean"], row["diff"], row["ci_low"], row["mde"], row["power_target"]) == (50.0, -10.0, -20.0, 20.0, 10.0)
    assert (row["p_value"], row["p_adjusted"], row["confidence"], row["power"], row["power_alpha"]) == (0.04, 0.08, 0.95, 0.8, 0.0125)
    assert (row["n"], row["n_needed"], row["n_discordant"], row["design_effect"]) == (30, 400, 9, 1.5)
    assert (row["status"], row["n_truncated_model"], row["n_truncated_base"], row["problem"]) == ("inconclusive", 1, 2, None)
    assert row["disagreements"][0] == {"id": "x1", "model_score": 0.0, "base_score": 100.0, "model_output": "no", "base_output": "yes"}
    assert row["disagreements"][1]["reference"] == "gold" and "references" not in row


def test_an_incomparable_comparison_has_no_p_value_and_says_why() -> None:
    comparison = Comparison(3, 3, 2, 0, 0.5, 0.5, 0.0, 0.0, 0.0, 1.0, "sign_flip", 0.95, 0, 0, 0)
    gated = GatedComparison("meqsum", "rougeL", "a", "b", comparison, None, "other item ids", None)
    row = ComparisonRecord.of(gated, _verdict("fail")).to_json()
    assert row["p_value"] is None and row["problem"] == "other item ids" and row["mde"] is None
    assert row["disagreements"] == [] and row["n_truncated_model"] is None
