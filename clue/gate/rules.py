"""The release gate: threshold and regression verdicts.

Threshold: each metric with an absolute minimum (from the registry) must have its mean >= minimum.

Regression, against the base on the same items, for the gated metrics of the comparisons given
together (``gate_comparisons``; the session gives one model's family at a time: the gated metrics
of every task of that model against its base, the comparisons of one release decision):

- ``significant`` (default): fails when the Holm-adjusted p-value (Holm across the comparisons
  given together) is below alpha AND the difference is a drop larger than the margin
  (diff < -margin). Controls the family-wise rate of false failures at alpha. A comparison that is
  not significant while its minimum detectable effect (``clue.stats.power.paired_power``) is
  larger than margin + power tolerance is **inconclusive**: a drop beyond the margin could have
  gone unseen. It passes unless ``require_power`` is set, and says so.
- ``noninferior``: fails unless the lower bound of the CI of the difference is above -margin.
  The gate passes only if every comparison passes, so by the intersection-union principle
  (Berger 1982) the unadjusted CIs keep the rate of a false overall pass at (1 - confidence)/2.
  An underpowered comparison fails here by itself (its CI reaches below -margin), so this mode
  knows no inconclusive verdict; the MDE is reported all the same.

A comparison whose two sides are not comparable (other items, data, protocol or scorers) fails
with the reason, whatever the mode.

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
from clue.stats.power import PairedPower

GateMode = Literal["significant", "noninferior"]
MODES: tuple[str, ...] = ("significant", "noninferior")
STATUSES: tuple[str, ...] = ("pass", "fail", "inconclusive")


class InconclusiveWarning(UserWarning):
    """A regression comparison that could not have seen a drop beyond the margin (underpowered)."""


@dataclass(frozen=True)
class GateConfig:
    mode: str = "significant"
    alpha: float = 0.05
    margin: float = 0.0
    confidence: float = 0.95
    require_power: bool = False  # an inconclusive (underpowered) comparison fails
    power_tolerance: float = 0.05  # inconclusive: not significant and MDE > margin + this
    power: float = 0.8  # the power the minimum detectable effect is for

    @property
    def power_target(self) -> float:
        """The difference the needed n is computed for: the margin, or 1 point when it is 0."""
        return self.margin if self.margin > 0 else 0.01

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"gate mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"gate alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 <= self.margin <= 1.0:
            raise ConfigError(f"gate margin must be in [0, 1] (metric units, 0.01 = 1 point), got {self.margin}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"gate confidence must be in (0, 1), got {self.confidence}")
        if not 0.0 <= self.power_tolerance <= 1.0:
            raise ConfigError(
                f"power tolerance must be in [0, 1] (metric units, 0.01 = 1 point), got {self.power_tolerance}"
            )
        if not 0.0 < self.power < 1.0:
            raise ConfigError(f"gate power must be in (0, 1), got {self.power}")


@dataclass(frozen=True)
class Verdict:
    """One gate check. Numbers in 0-1 units, None where not applicable or undefined.

    ``status``: "pass", "fail" or "inconclusive" (a regression comparison too weak to see a drop
    beyond the margin; ``passed`` unless the gate requires power). ``mde``: the comparison's
    minimum detectable effect, ``n_needed`` the items that would detect ``power_target``.
    """

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
    status: str = ""
    mde: float | None = None
    n_needed: int | None = None
    power_target: float | None = None
    n_truncated_model: int | None = None
    n_truncated_base: int | None = None

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "pass" if self.passed else "fail")
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {', '.join(STATUSES)}, got {self.status!r}")


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
    """One gated comparison: ``model`` against ``base`` on ``task``'s ``metric``.

    ``power``: what the comparison could see (None: not computed); ``problem``: why the two sides
    are not comparable (the verdict then fails with it); ``truncated``: the prompts each side had
    cut to its context (model, base), None when unknown.
    """

    task: str
    metric: str
    model: str
    base: str
    comparison: Comparison
    power: PairedPower | None = None
    problem: str = ""
    truncated: tuple[int, int] | None = None


def _rule(cfg: GateConfig) -> str:
    margin = f"margin {_pct(cfg.margin)}"
    if cfg.mode == "significant":
        return f"no significant regression against base ({margin})"
    return f"non-inferior to base: CI lower bound of diff > -margin ({margin})"


def power_text(power: PairedPower) -> str:
    """"MDE 24.10 points at n=30 (80% power, two-sided alpha 0.0167, design effect 1.40); about 5,810
    items would detect 1.00 point"."""
    if power.n == 0 or _num(power.mde) is None:
        return "MDE n/a (no paired items)"
    extra = f", design effect {power.design_effect:.2f}" if power.design_effect > 1.0 + 1e-9 else ""
    basis = ", no item differs: spread by the rule of three" if power.basis == "rule of three" else ""
    needed = f"; about {power.n_needed:,} items would detect {_pct(power.target)} points" if power.n_needed else ""
    return (f"MDE {_pct(power.mde)} points at n={power.n} ({round(power.power * 100):d}% power, two-sided alpha "
            f"{power.alpha:.3g}{extra}{basis}){needed}")


def _truncation_text(g: GatedComparison) -> str:
    if g.truncated is None or g.truncated[0] == g.truncated[1]:
        return ""
    return (f"; the model had {g.truncated[0]} prompts cut to its context, the base {g.truncated[1]}: "
            "the difference is partly the context window, not the weights")


def _regression_verdict(g: GatedComparison, p_adj: float | None, cfg: GateConfig) -> Verdict:
    comp, task, metric, rule = g.comparison, g.task, g.metric, _rule(cfg)
    power = g.power
    mde = power.mde if power is not None else None
    status: str
    if g.problem:
        status = "fail"
        message = f"{task} {metric}: model {g.model} and base {g.base} are not comparable: {g.problem}; rule: {rule}"
    elif comp.n == 0 or comp.diff is None:
        # nothing paired: no evidence of a regression, and none of non-inferiority either
        status = "inconclusive" if cfg.mode == "significant" else "fail"
        message = (f"{task} {metric}: no items paired between model {g.model} and base {g.base} "
                   f"({comp.n_model_only} model-only, {comp.n_base_only} base-only); rule: {rule}")
    else:
        p = 1.0 if p_adj is None else p_adj
        head = f"{task} {metric}: model {_pct(comp.model_mean)} vs base {_pct(comp.base_mean)}"
        ci = f"[{round(comp.confidence * 100):d}% CI {_pct(comp.ci_low)}, {_pct(comp.ci_high)}]"
        diff = f"diff {_pct(comp.diff)} {ci}"
        if cfg.mode == "significant":
            significant = p < cfg.alpha
            relation = "<" if significant else ">="
            detail = f"Holm-adjusted p={_p(p)} {relation} alpha {cfg.alpha:g}"
            if significant and comp.diff < -cfg.margin:
                status = "fail"
            elif not significant and mde is not None and _num(mde) is not None and mde > cfg.margin + cfg.power_tolerance + _TOLERANCE:
                status = "inconclusive"
            else:
                status = "pass"
        else:
            low = comp.ci_low if comp.ci_low is not None else comp.diff
            status = "pass" if low > -cfg.margin else "fail"
            relation = ">" if status == "pass" else "<="
            detail = f"CI lower bound {_pct(low)} {relation} -{_pct(cfg.margin)}, Holm-adjusted p={_p(p)}"
        power_part = f"; {power_text(power)}" if power is not None else ""
        if status == "inconclusive":
            power_part += (f"; inconclusive: the MDE is above margin {_pct(cfg.margin)} + tolerance "
                           f"{_pct(cfg.power_tolerance)}, a drop beyond the margin could go unseen")
        message = f"{head}, {diff}, {detail}{power_part}{_truncation_text(g)}; rule: {rule}"
    passed = status == "pass" or (status == "inconclusive" and not cfg.require_power)
    if status == "inconclusive" and cfg.require_power:
        message += " (--clue-require-power: an inconclusive comparison fails)"
    return Verdict(
        "regression", task, g.model, g.base, metric, passed, rule, message,
        model_score=_num(comp.model_mean), base_score=_num(comp.base_mean), diff=_num(comp.diff),
        ci_low=_num(comp.ci_low), ci_high=_num(comp.ci_high), p_value=None if g.problem else _num(comp.p_value),
        p_adjusted=None if p_adj is None else _num(p_adj), n=comp.n, status=status,
        mde=None if power is None else _num(power.mde), n_needed=None if power is None else power.n_needed,
        power_target=None if power is None else power.target,
        n_truncated_model=None if g.truncated is None else g.truncated[0],
        n_truncated_base=None if g.truncated is None else g.truncated[1],
    )


def gate_comparisons(comparisons: Sequence[GatedComparison], gate_config: GateConfig | None = None) -> list[Verdict]:
    """Regression verdicts for the gated comparisons given together (one family; see the module doc).

    Holm's adjustment runs across the comparable ones of the list, so the family-wise rate of false
    failures of the family stays at alpha in ``significant`` mode; a comparison with a ``problem``
    takes no part in it (p None). Verdicts come back in the input order.
    """
    cfg = gate_config or GateConfig()
    comparable = [i for i, g in enumerate(comparisons) if not g.problem]
    adjusted: list[float | None] = [None] * len(comparisons)
    for i, p in zip(comparable, holm([comparisons[i].comparison.p_value for i in comparable]), strict=True):
        adjusted[i] = p
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
