"""The transfer table: composite differences with paired bootstrap CIs, the published GEM 2025 and
JAMIA 2025 numbers beside them, the "MCQA went up, CLUE went down" reading and its plot."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from clue.models.registry import load_registry
from clue.report.levels import compute_levels, level_weights
from clue.report.published_transfer import pair_cases, pair_deltas, published_cases, published_pairs, published_summary
from clue.report.summary import render_markdown
from clue.report.transfer import transfer_row
from clue.report.transfer_summary import contrast, render_transfer, render_transfer_plot, shown_rows
from clue.stats.composite import Component, composite_difference
from clue.tasks.registry import ALL_TASKS

# Dada et al., GEM 2025, Table 3, as the issue gives them: (MCQA, Level 1, Level 2), None = "-"
GEM = {
    "MEDITRON-7B": (6.07, -7.08, None), "MEDITRON-70B": (3.63, -4.59, None),
    "BioMistral-7B": (4.13, 0.26, 0.71), "BioMistral-7B-DARE": (4.57, 2.93, 2.7),
    "Internist.ai 7b": (None, -2.07, 5.52),
    "OpenBioLLM-8B": (-0.63, -15.17, -13.54), "OpenBioLLM-70B": (1.46, -4.78, -10.45),
    "Med42-8B": (0.47, 2.51, -1.4), "Med42-70B": (2.8, -7.57, -15.14),
    "Aloe-8B-Alpha": (2.21, -5.87, -8.67),
    "Meditron3-8B": (None, -2.76, -15.04), "Meditron3-70B": (None, -2.18, -8.51),
}
# the base each pair has in GEM 2025 (as the issue lists them), by registry alias
GEM_BASES = {
    "meditron-7b": "llama-2-7b", "meditron-70b": "llama-2-70b",
    "biomistral": "mistral-7b-v0.1", "biomistral-dare": "mistral-7b-v0.1", "internist-7b": "mistral-7b-v0.1",
    "openbiollm-8b": "llama-3-8b", "openbiollm-70b": "llama-3-70b", "med42-8b": "llama-3-8b", "med42-70b": "llama-3-70b",
    "aloe-8b-alpha": "llama-3-8b", "meditron3-8b": "llama-3.1-8b", "meditron3-70b": "llama-3.1-70b",
}


def test_gem_table_3_as_published() -> None:
    rows = {p.model: (p.mcqa, p.level1, p.level2) for p in published_pairs()}
    assert rows == GEM
    assert {p.source for p in published_pairs()} == {"Dada et al., GEM 2025, Table 3"}


def test_jamia_case_challenges_as_published() -> None:
    cases = {(c.challenge, c.model, c.base): (c.accuracy, c.base_accuracy) for c in published_cases()}
    assert cases == {("JAMA", "OpenBioLLM-70B", "Llama-3-70B-Instruct"): (66.4, 65.0),
                     ("NEJM", "OpenBioLLM-8B", "Llama-3-8B-Instruct"): (30.0, 64.3)}
    assert {c.diff for c in published_cases()} == {1.4, -34.3}


def test_every_published_pair_is_registered_with_the_papers_base() -> None:
    registry = load_registry()
    for alias, base in GEM_BASES.items():
        spec = registry.get(alias)
        assert spec.base == base, alias
        assert pair_deltas(spec.weights, registry.get(base).weights) is not None, alias
    assert len(GEM_BASES) == len(published_pairs())
    for case in published_cases():
        matches = [s for s in registry.models.values() if s.weights == case.model_weights and s.base
                   and registry.get(s.base).weights == case.base_weights]
        assert [s.alias for s in matches] and all(s.alias.endswith("-vs-instruct") for s in matches), case


def test_published_summary_matches_by_weights() -> None:
    gem = published_summary("aaditya/Llama3-OpenBioLLM-8B", "meta-llama/Meta-Llama-3-8B")
    assert gem is not None and "cases" not in gem
    assert (gem["gem2025"]["mcqa"], gem["gem2025"]["level1"], gem["gem2025"]["level2"]) == (-0.63, -15.17, -13.54)
    jamia = published_summary("aaditya/Llama3-OpenBioLLM-8B", "meta-llama/Meta-Llama-3-8B-Instruct")
    assert jamia is not None and "gem2025" not in jamia and jamia["cases"][0]["diff"] == -34.3
    assert pair_cases("aaditya/Llama3-OpenBioLLM-8B", "meta-llama/Meta-Llama-3-8B") == ()
    assert published_summary("demo", "demo-base") is None


# -- composites ---------------------------------------------------------------------------------------
def _scores(seed: int, ids: list[str], p: float) -> dict[str, float]:
    rng = random.Random(seed)
    return {i: float(rng.random() < p) for i in ids}


def test_level_weights_reproduce_the_level_score() -> None:
    rng = random.Random(3)
    scores = {t.name: {m: rng.uniform(10, 90) for m in t.level_metrics} for t in ALL_TASKS if t.level}
    levels = compute_levels(scores, ALL_TASKS)
    for level in (1, 2):
        available = {(t, m) for t, ms in scores.items() for m in ms}
        weights = level_weights(ALL_TASKS, level, available)
        assert sum(weights.values()) == pytest.approx(1.0)
        assert sum(w * scores[t][m] for (t, m), w in weights.items()) == pytest.approx(levels[level].score)
    # a missing metric: the remaining ones are reweighted the way compute_levels averages them
    scores["meqsum"].pop("rouge2")
    weights = level_weights(ALL_TASKS, 1, {(t, m) for t, ms in scores.items() for m in ms})
    assert sum(w * scores[t][m] for (t, m), w in weights.items()) == pytest.approx(compute_levels(scores, ALL_TASKS)[1].score)


def test_composite_difference_is_the_weighted_mean_difference_with_a_ci() -> None:
    ids_a, ids_b = [f"a{i}" for i in range(120)], [f"b{i}" for i in range(80)]
    comps = [
        Component("a", 0.5, _scores(1, ids_a, 0.8), _scores(2, ids_a, 0.6)),
        Component("b", 0.5, _scores(3, ids_b, 0.4), _scores(4, ids_b, 0.5)),
    ]
    result = composite_difference(comps, seed=7)
    mean = lambda d: sum(d.values()) / len(d)  # noqa: E731
    expected = 0.5 * (mean(comps[0].model) - mean(comps[0].base)) + 0.5 * (mean(comps[1].model) - mean(comps[1].base))
    assert result.diff == pytest.approx(expected)
    assert result.ci_low < result.diff < result.ci_high
    assert result.n_items == 200 and result.n_components == 2
    assert composite_difference(comps, seed=7) == result  # seeded


def test_composite_of_identical_models_is_zero_and_empty_is_none() -> None:
    ids = [f"x{i}" for i in range(30)]
    same = _scores(5, ids, 0.5)
    result = composite_difference([Component("x", 1.0, same, same)])
    assert (result.diff, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert composite_difference([Component("x", 1.0, same, {})]).diff is None


def test_clusters_are_resampled_whole_and_groups_together() -> None:
    """Two tasks sharing clusters (LongHealth) vary together: their composite CI is wider than if they
    were independent, when their differences are correlated within a cluster."""
    ids = [f"q{c}/p{k}" for c in range(20) for k in range(5)]
    clusters = {i: i.split("/")[0] for i in ids}
    rng = random.Random(11)
    per_cluster = {f"q{c}": rng.random() < 0.5 for c in range(20)}
    model = {i: float(per_cluster[clusters[i]]) for i in ids}
    base = {i: 0.5 for i in ids}
    joint = composite_difference([Component("lh", 0.5, model, base, clusters), Component("lh", 0.5, model, base, clusters)], seed=1)
    apart = composite_difference([Component("t1", 0.5, model, base, clusters), Component("t2", 0.5, model, base, clusters)], seed=1)
    assert joint.diff == pytest.approx(apart.diff)
    assert (joint.ci_high - joint.ci_low) > (apart.ci_high - apart.ci_low)
    unclustered = composite_difference([Component("lh", 1.0, model, base)], seed=1)
    assert (unclustered.ci_high - unclustered.ci_low) < (joint.ci_high - joint.ci_low)


def _values(table: dict[tuple[str, str, str], dict[str, float]]):
    return lambda model, task, metric: table.get((model, task, metric))


def test_transfer_row_composites_verdicts_and_completeness() -> None:
    ids = [f"i{k}" for k in range(40)]
    table = {}
    for task in ("medqa", "medmcqa", "pubmedqa"):
        table[("m", task, "accuracy")] = {i: 1.0 for i in ids}
        table[("b", task, "accuracy")] = {i: float(k % 2) for k, i in enumerate(ids)}
    table[("m", "mednli", "accuracy")] = {i: 0.0 for i in ids}
    table[("b", "mednli", "accuracy")] = {i: 1.0 for i in ids}
    verdicts = [
        {"kind": "regression", "model": "m", "task": "mednli", "passed": False},
        {"kind": "regression", "model": "m", "task": "medqa", "passed": True},
        {"kind": "regression", "model": "other", "task": "medmcqa", "passed": False},
    ]
    row = transfer_row(ALL_TASKS, _values(table), lambda task: {}, "m", "b", verdicts, None, seed=1)
    assert set(row["composites"]) == {"mcqa", "level1"}
    mcqa, level1 = row["composites"]["mcqa"], row["composites"]["level1"]
    assert mcqa["diff"] == pytest.approx(50.0) and mcqa["complete"] and mcqa["verdict"] == "pass"
    assert mcqa["tasks"] == ["medqa", "medmcqa", "pubmedqa"]
    # Level 1 from MedNLI alone: partial, and its gate failed
    assert level1["diff"] == pytest.approx(-100.0) and not level1["complete"] and level1["verdict"] == "FAIL"
    assert level1["failed_tasks"] == ["mednli"]
    assert row["published"] is None


# -- the section -------------------------------------------------------------------------------------
def _composite(diff: float, low: float, high: float, verdict: str = "pass", complete: bool = True) -> dict:
    return {"diff": diff, "ci_low": low, "ci_high": high, "tasks": [], "complete": complete, "verdict": verdict}


def _report(rows: list[dict]) -> dict:
    return {
        "run": {"id": "t", "suite_version": "0", "duration_s": 1.0},
        "settings": {"protocol": {}, "gate": {"mode": "significant", "alpha": 0.05, "margin": 0.0}},
        "models": {}, "tasks": [], "comparisons": [], "verdicts": [], "transfer": rows,
        "outcome": {"status": "PASS", "exit_status": 0, "pytest_exit_status": 0, "reasons": [], "counts": {}},
    }


def openbio_row() -> dict:
    return {
        "model": "openbiollm-8b", "base": "llama-3-8b",
        "composites": {"mcqa": _composite(2.5, 0.5, 4.5), "level1": _composite(-4.0, -6.0, -2.0, "FAIL"),
                       "level2": _composite(-1.0, -3.0, 1.0), "cases": _composite(-3.0, -9.0, 2.0)},
        "published": published_summary("aaditya/Llama3-OpenBioLLM-8B", "meta-llama/Meta-Llama-3-8B"),
    }


def test_the_summary_opens_with_the_transfer_table_and_the_published_numbers() -> None:
    text = render_markdown(_report([openbio_row()]))
    assert text.index("## Transfer") < text.index("Checks: 0 of 0 passed")
    row = next(line for line in text.splitlines() if line.startswith("| openbiollm-8b vs llama-3-8b"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:] == ["+2.50 [+0.50, +4.50] pass", "-0.63", "-4.00 [-6.00, -2.00] FAIL", "-15.17",
                         "-1.00 [-3.00, +1.00] pass", "-13.54", "-3.00 [-9.00, +2.00] pass", "-"]
    assert "**MCQA went up, CLUE went down**" in text
    assert "Published (Dada et al., GEM 2025, Table 3: OpenBioLLM-8B vs Meta-Llama-3-8B): MCQA -0.63" in text
    assert "![MCQA difference against CLUE difference per pair](transfer.png)" in text


def test_jamia_numbers_sit_in_the_case_column() -> None:
    row = {"model": "openbiollm-8b-vs-instruct", "base": "llama-3-8b-instruct",
           "composites": {"cases": _composite(-20.0, -30.0, -10.0, "FAIL")},
           "published": published_summary("aaditya/Llama3-OpenBioLLM-8B", "meta-llama/Meta-Llama-3-8B-Instruct")}
    line = next(x for x in render_transfer(_report([row])) if x.startswith("| openbiollm-8b-vs-instruct"))
    assert "| -20.00 [-30.00, -10.00] FAIL | NEJM -34.3 |" in line


def test_a_clue_only_unpublished_pair_keeps_the_summary_as_it_was() -> None:
    row = {"model": "demo", "base": "demo-base", "composites": {"level1": _composite(1.0, -1.0, 3.0)}, "published": None}
    assert shown_rows(_report([row])) == []
    assert "Transfer" not in render_markdown(_report([row]))


@pytest.mark.parametrize(
    "mcqa, clue, reading",
    [
        ("up", ["down", "unchanged"], "**MCQA went up, CLUE went down**: the multiple-choice gain did not carry over"),
        ("up", ["down", "down"], "**MCQA went up, CLUE went down**: the"),
        ("up", ["up", "down"], "**MCQA went up, CLUE went down** (CLUE mixed (Level 1 up, Level 2 down))"),
        ("up", ["up", "up"], "MCQA and CLUE both went up: the gain carried over"),
        ("up", ["unchanged", None], "MCQA went up; CLUE did not move clearly"),
        ("unchanged", ["down", "down"], "MCQA did not move clearly; CLUE went down"),
        ("down", ["unchanged", "up"], "MCQA went down; CLUE went up"),
        ("unchanged", ["up", "down"], "MCQA did not move clearly; CLUE mixed (Level 1 up, Level 2 down)"),
        (None, ["down"], "not enough measured"),
        ("up", [None, None], "not enough measured"),
    ],
)
def test_contrast_reading(mcqa, clue, reading: str) -> None:
    assert reading in contrast(mcqa, clue)


def test_the_plot_is_drawn_from_measured_and_published_points(tmp_path: Path) -> None:
    path = tmp_path / "transfer.png"
    assert render_transfer_plot(_report([openbio_row()]), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    row = {"model": "x", "base": "y", "composites": {"cases": _composite(1.0, 0.0, 2.0)}, "published": None}
    assert not render_transfer_plot(_report([row]), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
