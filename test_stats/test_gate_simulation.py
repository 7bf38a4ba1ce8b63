"""Simulated runs: the default gate's false-failure rate with equal models, and its power.

Each simulated run gates a model against a base drawn from the same distribution on three
comparisons (Holm across them), exactly as a run does. Seeded, so deterministic. Fewer resamples
than the default keep it fast; the Monte Carlo p-value stays valid for any number of draws.
"""

from __future__ import annotations

import math

import numpy as np

from clue.gate.rules import GateConfig, regression_verdicts
from clue.stats.paired import compare_paired
from clue.stats.power import minimum_detectable_effect

RUNS = 400
ALPHA = 0.05
DRAWS = 400


def _binary_pair(rng: np.random.Generator, n: int, drop: float = 0.0) -> tuple[dict, dict, None]:
    p = rng.uniform(0.3, 0.8, size=n)  # item difficulty, shared: the scores are correlated
    ids = [f"i{k}" for k in range(n)]
    model = (rng.random(n) < np.clip(p - drop, 0, 1)).astype(float)
    base = (rng.random(n) < p).astype(float)
    return dict(zip(ids, model, strict=True)), dict(zip(ids, base, strict=True)), None


def _continuous_pair(rng: np.random.Generator, n: int, drop: float = 0.0, sd: float = 0.1) -> tuple[dict, dict, None]:
    mu = rng.uniform(0.15, 0.6, size=n)
    ids = [f"i{k}" for k in range(n)]
    model = np.clip(mu - drop + rng.normal(0, sd, n), 0, 1)
    base = np.clip(mu + rng.normal(0, sd, n), 0, 1)
    return dict(zip(ids, model, strict=True)), dict(zip(ids, base, strict=True)), None


def _clustered_pair(rng: np.random.Generator, questions: int) -> tuple[dict, dict, dict]:
    # LongHealth-like: 5 prompts per question, answers mostly decided by the question
    p = rng.uniform(0.3, 0.8, size=questions)
    ids, clusters, model, base = [], {}, {}, {}
    m_q = rng.random(questions) < p
    b_q = rng.random(questions) < p
    for q in range(questions):
        for k in range(5):
            i = f"q{q}_{k}"
            ids.append(i)
            clusters[i] = f"q{q}"
            model[i] = float(m_q[q] != (rng.random() < 0.1))
            base[i] = float(b_q[q] != (rng.random() < 0.1))
    return model, base, clusters


def _gate_fails(rng: np.random.Generator, make, seed: int, **kw) -> tuple[bool, list[float]]:
    comparisons = []
    for task in ("t1", "t2", "t3"):
        model, base, clusters = make(rng, **kw)
        comparisons.append((task, "m", compare_paired(model, base, clusters=clusters, n_resamples=DRAWS, seed=seed)))
    verdicts = regression_verdicts("model", "base", comparisons, GateConfig())
    return any(not v.passed for v in verdicts), [c.p_value for _, _, c in comparisons]


def _bound(rate: float = ALPHA, runs: int = RUNS) -> float:
    return rate + 2 * math.sqrt(rate * (1 - rate) / runs)


def test_equal_binary_models_false_failure_rate() -> None:
    rng = np.random.default_rng(101)
    fails = [_gate_fails(rng, _binary_pair, s, n=150)[0] for s in range(RUNS)]
    assert np.mean(fails) <= _bound()


def test_equal_continuous_models_false_failure_rate_and_calibration() -> None:
    rng = np.random.default_rng(202)
    results = [_gate_fails(rng, _continuous_pair, s, n=100) for s in range(RUNS)]
    assert np.mean([f for f, _ in results]) <= _bound()
    # the sign-flip test is calibrated, not merely conservative: p < 0.05 about 5% of the time
    p = np.array([q for _, ps in results for q in ps])
    se = math.sqrt(ALPHA * (1 - ALPHA) / p.size)
    assert abs(np.mean(p < ALPHA) - ALPHA) < 3 * se + 0.005


def test_equal_clustered_models_false_failure_rate() -> None:
    rng = np.random.default_rng(303)
    fails = [_gate_fails(rng, _clustered_pair, s, questions=30)[0] for s in range(RUNS)]
    assert np.mean(fails) <= _bound()


def test_ignoring_clusters_would_inflate_false_failures() -> None:
    # the same clustered data treated as independent items rejects far more often than alpha
    rng = np.random.default_rng(404)
    rejections = []
    for _ in range(200):
        model, base, _ = _clustered_pair(rng, questions=30)
        rejections.append(compare_paired(model, base).p_value < ALPHA)  # exact McNemar, items
    assert np.mean(rejections) > 2 * ALPHA


def test_large_real_drops_are_detected() -> None:
    rng = np.random.default_rng(505)
    assert all(_gate_fails(rng, _binary_pair, s, n=300, drop=0.2)[0] for s in range(20))
    assert all(_gate_fails(rng, _continuous_pair, s, n=200, drop=0.05)[0] for s in range(20))


def test_power_at_the_minimum_detectable_effect() -> None:
    # a drop equal to the MDE (alpha 0.05, power 0.8) is found by one two-sided test about 80% of the time
    n, sd_item = 200, 0.1  # per-item noise of each model; the paired difference has sd sqrt(2) * sd_item
    mde = minimum_detectable_effect(n, sd=sd_item * math.sqrt(2))
    rng = np.random.default_rng(606)
    runs = 200
    hits = 0
    for s in range(runs):
        ids = [str(k) for k in range(n)]
        base = rng.uniform(0.3, 0.6, n)
        model = base - mde + rng.normal(0, sd_item * math.sqrt(2), n)
        comp = compare_paired(dict(zip(ids, model, strict=True)), dict(zip(ids, base, strict=True)),
                              n_resamples=DRAWS, seed=s)
        hits += comp.p_value < ALPHA
    assert abs(hits / runs - 0.8) < 3 * math.sqrt(0.8 * 0.2 / runs) + 0.03
