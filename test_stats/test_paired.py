"""compare_paired: pairing, exact McNemar, sign-flip tests, bootstrap CI of the difference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from clue.stats.paired import Comparison, compare_paired, mcnemar_exact_p, sign_flip_p


def _scipy_sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided paired permutation p-value from scipy (swaps model/base within a pair)."""
    res = stats.permutation_test(
        (d, np.zeros_like(d)),
        lambda x, y, axis: np.sum(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(res.pvalue)


@pytest.mark.parametrize("b,c", [(0, 0), (0, 1), (1, 0), (3, 3), (10, 2), (2, 10), (25, 40), (7, 0), (100, 130)])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, abs=1e-9)


def test_binary_uses_exact_mcnemar_on_discordant_pairs() -> None:
    rng = np.random.default_rng(1)
    ids = [f"id{i}" for i in range(300)]
    model = {i: float(rng.random() < 0.55) for i in ids}
    base = {i: float(rng.random() < 0.65) for i in ids}
    comp = compare_paired(model, base, seed=3)
    b = sum(model[i] == 1 and base[i] == 0 for i in ids)
    c = sum(model[i] == 0 and base[i] == 1 for i in ids)
    assert isinstance(comp, Comparison)
    assert comp.test == "exact McNemar"
    assert (comp.n_model_better, comp.n_base_better, comp.n_discordant) == (b, c, b + c)
    assert comp.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, abs=1e-9)
    assert comp.model_mean == pytest.approx(np.mean(list(model.values())))
    assert comp.diff == pytest.approx((b - c) / 300)
    assert comp.ci_low <= comp.diff <= comp.ci_high


def test_pairs_on_common_ids_only_and_counts_the_rest() -> None:
    model = {"a": 1.0, "b": 0.0, "c": 1.0, "only_model": 0.0}
    base = {"a": 0.0, "b": 0.0, "c": 1.0, "x": 1.0, "y": 1.0}
    comp = compare_paired(model, base)
    assert (comp.n, comp.n_model_only, comp.n_base_only) == (3, 1, 2)
    assert comp.model_mean == pytest.approx(2 / 3)
    assert comp.base_mean == pytest.approx(1 / 3)
    assert comp.diff == pytest.approx(1 / 3)  # model - base


def test_direction_of_the_difference() -> None:
    ids = [str(i) for i in range(50)]
    worse = compare_paired({i: 0.2 for i in ids}, {i: 0.5 for i in ids})
    assert worse.diff == pytest.approx(-0.3)
    assert worse.ci_low == worse.ci_high == pytest.approx(-0.3)


def test_continuous_small_n_is_exact_and_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(12), rng.random(12) * 0.8
    ids = [f"i{k}" for k in range(12)]
    comp = compare_paired(dict(zip(ids, a, strict=True)), dict(zip(ids, b, strict=True)))
    assert comp.test == "sign-flip permutation over items (exact)"
    assert comp.p_value == pytest.approx(_scipy_sign_flip_p(a - b), abs=1e-9)


def test_sign_flip_exact_ignores_zero_differences() -> None:
    d = np.array([0.3, -0.1, 0.0, 0.2, 0.0, 0.25, 0.4])
    p, exact = sign_flip_p(d, 100, np.random.default_rng(0))
    assert exact
    assert p == pytest.approx(_scipy_sign_flip_p(d[d != 0]), abs=1e-9)
    assert sign_flip_p(np.zeros(5), 100, np.random.default_rng(0)) == (1.0, True)


def test_sign_flip_monte_carlo_close_to_exact() -> None:
    rng = np.random.default_rng(4)
    d = rng.normal(0.05, 0.3, size=18)  # 2^18 sign vectors: exact is feasible for scipy
    exact = _scipy_sign_flip_p(d)
    p, is_exact = sign_flip_p(d, 20000, np.random.default_rng(1))
    assert not is_exact
    assert p == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20000) + 1e-4)


def test_clustered_binary_uses_cluster_sign_flip() -> None:
    # 8 questions x 5 prompts: exact over the clusters, equal to scipy on the per-cluster sums
    rng = np.random.default_rng(5)
    ids = [f"q{q}_{k}" for q in range(8) for k in range(5)]
    clusters = {i: i.split("_")[0] for i in ids}
    model = {i: float(rng.random() < 0.4) for i in ids}
    base = {i: float(rng.random() < 0.7) for i in ids}
    comp = compare_paired(model, base, clusters=clusters)
    assert comp.test == "sign-flip permutation over clusters (exact)"
    assert (comp.n, comp.n_clusters) == (40, 8)
    sums = np.array([sum(model[i] - base[i] for i in ids if clusters[i] == f"q{q}") for q in range(8)])
    assert comp.p_value == pytest.approx(_scipy_sign_flip_p(sums[sums != 0]), abs=1e-9)


def test_clusters_that_never_repeat_keep_mcnemar() -> None:
    ids = [str(i) for i in range(40)]
    model = {i: float(int(i) % 2) for i in ids}
    base = {i: float(int(i) % 3 == 0) for i in ids}
    assert compare_paired(model, base, clusters={i: i for i in ids}).test == "exact McNemar"


def test_clustered_ci_wider_than_item_ci_for_correlated_items() -> None:
    rng = np.random.default_rng(6)
    q = rng.normal(0.0, 0.3, size=40)
    ids = [f"q{k}_{r}" for k in range(40) for r in range(5)]
    model = {i: float(q[int(i[1:].split("_")[0])]) + 0.01 * rng.normal() for i in ids}
    base = {i: 0.0 for i in ids}
    flat = compare_paired(model, base, seed=1)
    clustered = compare_paired(model, base, clusters={i: i.split("_")[0] for i in ids}, seed=1)
    assert clustered.n_clusters == 40
    assert (clustered.ci_high - clustered.ci_low) > 1.8 * (flat.ci_high - flat.ci_low)


def test_identical_models_and_degenerate_cases() -> None:
    ids = [str(i) for i in range(30)]
    scores = {i: float(int(i) % 2) for i in ids}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = compare_paired(scores, dict(scores))
        empty = compare_paired({"a": 1.0}, {"b": 1.0})
    assert same.p_value == 1.0 and same.diff == 0.0 and same.ci_low == same.ci_high == 0.0
    assert empty.n == 0 and empty.p_value == 1.0 and empty.diff is None and empty.model_mean is None
    assert (empty.n_model_only, empty.n_base_only) == (1, 1)


def test_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(7)
    ids = [str(i) for i in range(200)]
    model = {i: float(rng.random()) for i in ids}
    base = {i: float(rng.random()) for i in ids}
    assert compare_paired(model, base, seed=11) == compare_paired(model, base, seed=11)


def test_binary_flag_checked() -> None:
    with pytest.raises(ValueError, match="binary"):
        compare_paired({"a": 0.5, "b": 1.0}, {"a": 1.0, "b": 0.0}, binary=True)
    # binary=False forces the permutation test on 0/1 data
    comp = compare_paired({"a": 1.0, "b": 1.0}, {"a": 0.0, "b": 1.0}, binary=False)
    assert comp.test.startswith("sign-flip")


def test_ids_missing_from_clusters_are_their_own_cluster() -> None:
    # "q1" is an item id without a cluster and also the label of another cluster: they must not merge
    model = {"q1": 1.0, "a": 1.0, "b": 0.0, "c": 1.0}
    base = {"q1": 0.0, "a": 0.0, "b": 1.0, "c": 0.0}
    comp = compare_paired(model, base, clusters={"a": "q1", "b": "q1", "c": "q2"})
    assert comp.n_clusters == 3
    assert comp.test == "sign-flip permutation over clusters (exact)"


def test_sign_flips_are_the_draws_of_numpys_default_integers() -> None:
    """32-bit sign draws come from the same stream as the 64-bit ones: p-values stay those of a seed."""
    d = np.random.default_rng(2).normal(size=300)
    p, exact = sign_flip_p(d, 2000, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    signs = rng.integers(0, 2, size=(2000, 300)) * 2.0 - 1.0  # as first written: int64
    observed = abs(float(d.sum()))
    hits = int(np.count_nonzero(np.abs(signs @ d) >= observed - 1e-9 * max(1.0, float(np.abs(d).sum()))))
    assert not exact and p == (1.0 + hits) / 2001.0
