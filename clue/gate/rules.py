"""The release gate: threshold and regression verdicts.

Threshold: each metric with an absolute minimum (from the registry) must have its mean >= minimum.

Regression, against the base on the same items, for the gated metrics of every task of the run
(``gate_comparisons`` takes all of a run's comparisons at once, each tagged with task, metric,
model and base):

- ``significant`` (default): fails when the Holm-adjusted p-value (Holm across all comparisons
  given at once) is below alpha AND the difference is a drop larger than the margin
  (diff < -margin). Controls the family-wise rate of false failures at alpha.
- ``noninferior``: fails unless the lower bound of the CI of the difference is above -margin.
  The gate passes only if every comparison passes, so by the intersection-union principle
  (Berger 1982) the unadjusted CIs keep the rate of a false overall pass at (1 - confidence)/2.

Numbers in a Verdict are in 0-1 units; messages show them in percent with 2 decimals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from clue.errors import ConfigError
from clue.stats.bootstrap import Estimate
from clue.stats.multiple import holm
from clue.stats.paired import Comparison

GateMode = Literal["significant", "noninferior"]
MODES: tuple[str, ...] = ("significant", "noninferior")


@dataclass(frozen=True)
class GateConfig:
    mode: str = "significant"
    alpha: float = 0.05
    margin: float = 0.0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"gate mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"gate alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 <= self.margin <= 1.0:
            raise ConfigError(f"gate margin must be in [0, 1] (metric units, 0.01 = 1 point), got {self.margin}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"gate confidence must be in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class Verdict:
    """One gate check. Numbers in 0-1 units, None where not applicable or undefined."""

    kind: str  # "threshold" | "regression"
    task: str
    model: str
    base: str | None
    metric: str
    passed: bool
    rule: str
    message: str
    model_score: float | None = None
    base_score: float | None = None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    minimum: float | None = None
    n: int = 0


_TOLERANCE = 1e-12  # float noise of a mean (e.g. 0.45 computed as 0.44999...) does not fail a minimum


def _num(x: float | None) -> float | None:
    """A JSON-safe number: None for missing or non-finite."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _pct(x: float | None) -> str:
    return "n/a" if _num(x) is None else f"{100.0 * x:.2f}"  # type: ignore[operator]


def _p(x: float) -> str:
    return f"{x:.1e}" if 0.0 < x < 1e-4 else f"{x:.4f}"


def threshold_verdicts(
    task_name: str, model_alias: str, estimates: Mapping[str, Estimate], minimums: Mapping[str, float]
) -> list[Verdict]:
    """One verdict per metric with a minimum: passes when the metric's mean >= the minimum.

    A metric without an estimate (not computed) or without items fails: the check cannot be made.
    """
    verdicts = []
    for metric, minimum in minimums.items():
        rule = f"mean {metric} >= registry minimum {_pct(minimum)}"
        est = estimates.get(metric)
        head = f"{task_name} {metric}: model {model_alias}"
        if est is None or _num(est.mean) is None:
            why = "not available" if est is None else "has no items"
            verdicts.append(Verdict("threshold", task_name, model_alias, None, metric, False, rule,
                                    f"{head}: metric {why}, cannot check minimum {_pct(minimum)}; rule: {rule}",
                                    minimum=float(minimum), n=0 if est is None else est.n))
            continue
        passed = est.mean >= minimum - _TOLERANCE
        ci = f"[{round(est.confidence * 100):d}% CI {_pct(est.ci_low)}, {_pct(est.ci_high)}], n={est.n}"
        relation = ">=" if passed else "<"
        message = f"{head} {_pct(est.mean)} {ci} {relation} minimum {_pct(minimum)}; rule: {rule}"
        verdicts.append(Verdict("threshold", task_name, model_alias, None, metric, bool(passed), rule, message,
                                model_score=_num(est.mean), ci_low=_num(est.ci_low), ci_high=_num(est.ci_high),
                                minimum=float(minimum), n=est.n))
    return verdicts


@dataclass(frozen=True)
class GatedComparison:
    """One gated comparison of a run: ``model`` against ``base`` on ``task``'s ``metric``."""

    task: str
    metric: str
    model: str
    base: str
    comparison: Comparison


def _rule(cfg: GateConfig) -> str:
    margin = f"margin {_pct(cfg.margin)}"
    if cfg.mode == "significant":
        return f"no significant regression against base ({margin})"
    return f"non-inferior to base: CI lower bound of diff > -margin ({margin})"


def _regression_verdict(g: GatedComparison, p_adj: float, cfg: GateConfig) -> Verdict:
    comp, task, metric, rule = g.comparison, g.task, g.metric, _rule(cfg)
    if comp.n == 0 or comp.diff is None:
        # nothing paired: no evidence of a regression, and none of non-inferiority either
        passed = cfg.mode == "significant"
        message = (f"{task} {metric}: no items paired between model {g.model} and base {g.base} "
                   f"({comp.n_model_only} model-only, {comp.n_base_only} base-only); rule: {rule}")
    else:
        head = f"{task} {metric}: model {_pct(comp.model_mean)} vs base {_pct(comp.base_mean)}"
        ci = f"[{round(comp.confidence * 100):d}% CI {_pct(comp.ci_low)}, {_pct(comp.ci_high)}]"
        diff = f"diff {_pct(comp.diff)} {ci}"
        if cfg.mode == "significant":
            significant = p_adj < cfg.alpha
            passed = not (significant and comp.diff < -cfg.margin)
            relation = "<" if significant else ">="
            detail = f"Holm-adjusted p={_p(p_adj)} {relation} alpha {cfg.alpha:g}"
        else:
            low = comp.ci_low if comp.ci_low is not None else comp.diff
            passed = low > -cfg.margin
            relation = ">" if passed else "<="
            detail = f"CI lower bound {_pct(low)} {relation} -{_pct(cfg.margin)}, Holm-adjusted p={_p(p_adj)}"
        message = f"{head}, {diff}, {detail}; rule: {rule}"
    return Verdict(
        "regression", task, g.model, g.base, metric, bool(passed), rule, message,
        model_score=_num(comp.model_mean), base_score=_num(comp.base_mean), diff=_num(comp.diff),
        ci_low=_num(comp.ci_low), ci_high=_num(comp.ci_high), p_value=_num(comp.p_value),
        p_adjusted=_num(p_adj), n=comp.n,
    )


def gate_comparisons(comparisons: Sequence[GatedComparison], gate_config: GateConfig | None = None) -> list[Verdict]:
    """Regression verdicts for ALL gated comparisons of a run (every model, base, task and metric).

    Holm's adjustment runs across the whole list, so the family-wise rate of false failures of the
    run stays at alpha in ``significant`` mode. Verdicts come back in the input order.
    """
    cfg = gate_config or GateConfig()
    adjusted = holm([g.comparison.p_value for g in comparisons])
    return [_regression_verdict(g, p_adj, cfg) for g, p_adj in zip(comparisons, adjusted, strict=True)]


def regression_verdicts(
    model_alias: str,
    base_alias: str,
    comparisons: Sequence[tuple[str, str, Comparison]],
    gate_config: GateConfig | None = None,
) -> list[Verdict]:
    """``gate_comparisons`` for one model and base: (task, metric, comparison) triples, Holm across them."""
    tagged = [GatedComparison(task, metric, model_alias, base_alias, comp) for task, metric, comp in comparisons]
    return gate_comparisons(tagged, gate_config)
