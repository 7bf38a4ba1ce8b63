"""mean_ci: percentile bootstrap, clustered bootstrap, degenerate inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from clue.stats.bootstrap import Estimate, bootstrap_means, mean_ci


def test_mean_is_the_sample_mean_and_ci_brackets_it() -> None:
    values = list(np.random.default_rng(3).random(150))
    est = mean_ci(values, seed=1)
    assert isinstance(est, Estimate)
    assert est.mean == pytest.approx(float(np.mean(values)), abs=1e-12)
    assert est.ci_low < est.mean < est.ci_high
    assert (est.n, est.n_clusters, est.method) == (150, 150, "percentile bootstrap")


def test_same_seed_same_interval_and_seed_matters() -> None:
    values = list(np.random.default_rng(4).random(80))
    assert mean_ci(values, seed=7) == mean_ci(values, seed=7)
    assert mean_ci(values, seed=7).ci_low != mean_ci(values, seed=8).ci_low


def test_interval_close_to_scipy_percentile_bootstrap() -> None:
    # scipy's bootstrap is stochastic with its own generator: compare within Monte Carlo noise only
    values = np.random.default_rng(5).normal(0.5, 0.2, size=400)
    ours = mean_ci(list(values), n_resamples=4000, seed=2)
    ref = stats.bootstrap((values,), np.mean, method="percentile", n_resamples=4000, random_state=2)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)


def test_interval_width_matches_normal_theory() -> None:
    values = np.random.default_rng(6).normal(0.0, 1.0, size=2000)
    est = mean_ci(list(values), seed=0)
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert est.ci_high - est.ci_low == pytest.approx(2 * 1.959964 * se, rel=0.08)


def test_higher_confidence_gives_wider_interval() -> None:
    values = list(np.random.default_rng(8).random(100))
    narrow, wide = mean_ci(values, confidence=0.8), mean_ci(values, confidence=0.99)
    assert wide.ci_low < narrow.ci_low and wide.ci_high > narrow.ci_high


def test_clustered_interval_is_wider_for_correlated_clusters() -> None:
    # five identical copies per question (LongHealth-like): the effective n is the number of questions
    rng = np.random.default_rng(9)
    per_question = (rng.random(60) < 0.6).astype(float)
    values = list(np.repeat(per_question, 5))
    clusters = [f"q{i // 5}" for i in range(len(values))]
    naive = mean_ci(values, seed=1)
    clustered = mean_ci(values, clusters=clusters, seed=1)
    assert clustered.method == "cluster percentile bootstrap"
    assert (clustered.n, clustered.n_clusters) == (300, 60)
    assert clustered.mean == naive.mean
    ratio = (clustered.ci_high - clustered.ci_low) / (naive.ci_high - naive.ci_low)
    assert ratio == pytest.approx(math.sqrt(5), rel=0.2)
    # and matches the interval from one value per question
    per_q = mean_ci(list(per_question), seed=1)
    assert clustered.ci_high - clustered.ci_low == pytest.approx(per_q.ci_high - per_q.ci_low, rel=0.15)


def test_unequal_cluster_sizes_use_the_item_mean() -> None:
    values = [1.0, 1.0, 1.0, 0.0, 0.5]
    est = mean_ci(values, clusters=["a", "a", "a", "b", "c"], seed=0)
    assert est.mean == pytest.approx(0.7)
    assert est.n_clusters == 3
    assert 0.0 <= est.ci_low <= est.mean <= est.ci_high <= 1.0


def test_unique_clusters_behave_like_no_clusters() -> None:
    values = list(np.random.default_rng(10).random(50))
    est = mean_ci(values, clusters=[str(i) for i in range(50)], seed=3)
    assert est == mean_ci(values, seed=3)


def test_degenerate_inputs_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = mean_ci([])
        one = mean_ci([0.4])
        equal = mean_ci([0.25] * 30)
        one_cluster = mean_ci([0.0, 1.0, 1.0], clusters=["x", "x", "x"])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.ci_low) and math.isnan(empty.ci_high)
    assert empty.method == "empty"
    assert (one.mean, one.ci_low, one.ci_high, one.method) == (0.4, 0.4, 0.4, "degenerate")
    assert (equal.ci_low, equal.ci_high) == (0.25, 0.25)
    assert one_cluster.n_clusters == 1 and one_cluster.ci_low == one_cluster.ci_high == pytest.approx(2 / 3)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="clusters"):
        mean_ci([0.1, 0.2], clusters=["a"])
    with pytest.raises(ValueError, match="finite"):
        mean_ci([0.1, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([0.1, 0.2], confidence=1.5)


def test_coverage_of_the_true_mean() -> None:
    # a 90% interval covers the true mean of Bernoulli(0.3) samples about 90% of the time
    rng = np.random.default_rng(11)
    runs = 300
    covered = sum(
        (lambda e: e.ci_low <= 0.3 <= e.ci_high)(
            mean_ci(list((rng.random(200) < 0.3).astype(float)), confidence=0.9, n_resamples=500, seed=s)
        )
        for s in range(runs)
    )
    se = math.sqrt(0.9 * 0.1 / runs)
    assert abs(covered / runs - 0.9) < 3 * se + 0.02


def _count_matrix_means(sums: np.ndarray, counts: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The resampled means as first written: 64-bit indices, the count matrix always gathered."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sums), size=(n_resamples, len(sums)))
    return sums[idx].sum(axis=1) / counts[idx].sum(axis=1)


@pytest.mark.parametrize("clustered", [False, True])
def test_resampled_means_are_the_same_as_with_the_count_matrix(clustered: bool) -> None:
    rng = np.random.default_rng(11)
    g = 700
    counts = rng.integers(1, 6, size=g).astype(float) if clustered else np.ones(g)
    sums = rng.random(g) * counts
    fast = bootstrap_means(sums, counts, 300, np.random.default_rng(5))
    assert np.array_equal(fast, _count_matrix_means(sums, counts, 300, 5))  # bit for bit, for the same seed
