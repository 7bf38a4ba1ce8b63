"""The family comparison as a pure function: comparability checks, truncation, Holm, disagreements."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from clue.errors import ConfigError
from clue.gate.baseline import baseline_problems, baseline_side, load_baseline
from clue.gate.family import SideResult, TaskSides, compare_family, comparability_problems, disagreements, one_line
from clue.gate.rules import GateConfig

SHA_DATA, SHA_PROTOCOL = "a" * 64, "b" * 64


def side(model: str, scores: dict[str, float], *, task: str = "mednli", metric: str = "accuracy", **kw: object) -> SideResult:
    base = dict(model=model, task=task, scores={metric: scores}, clusters={i: i for i in scores},
                data_sha256=SHA_DATA, protocol_sha256=SHA_PROTOCOL, scorers="", n_truncated=0,
                outputs={i: f"output of {model} for {i}\nsecond line" for i in scores})
    base.update(kw)
    return SideResult(**base)  # type: ignore[arg-type]


def ids(n: int) -> list[str]:
    return [f"item{i:03d}" for i in range(n)]


def test_comparable_sides_and_every_reason_they_are_not() -> None:
    model = side("ft", dict.fromkeys(ids(10), 1.0))
    assert comparability_problems(model, side("base", dict.fromkeys(ids(10), 0.0))) == []
    other = side("base", dict.fromkeys(ids(9), 0.0), data_sha256="c" * 64, protocol_sha256="d" * 64,
                 scorers="bertscore=x", origin="baseline run r1")
    problems = comparability_problems(model, other)
    assert len(problems) == 4
    assert "other items" in problems[0] and "1 only in the model's" in problems[0] and "item009" in problems[0]
    assert "other data" in problems[1] and "aaaaaaaaaaaa" in problems[1] and "(baseline run r1)" in problems[1]
    assert "other protocol" in problems[2]
    assert "other scorers" in problems[3] and "bertscore=x" in problems[3]


def test_incomparable_task_fails_with_the_reason_and_stays_out_of_holm() -> None:
    good = [TaskSides("mednli", ("accuracy",), side("ft", dict.fromkeys(ids(40), 1.0)), side("base", dict.fromkeys(ids(40), 1.0)))]
    bad = TaskSides("meqsum", ("accuracy",), side("ft", dict.fromkeys(ids(40), 1.0), task="meqsum"),
                    side("base", dict.fromkeys(ids(40), 1.0), task="meqsum", data_sha256="e" * 64))
    family = compare_family("ft", "base", [*good, bad], GateConfig())
    v_good, v_bad = family.verdicts
    assert v_bad.status == "fail" and not v_bad.passed and "not comparable: other data" in v_bad.message
    assert v_bad.p_adjusted is None and family.gated[1].power is None
    # the comparable one is a family of one: its MDE is at alpha 0.05, not 0.025
    assert family.gated[0].power is not None and family.gated[0].power.alpha == pytest.approx(0.05)
    assert v_good.status in ("pass", "inconclusive")


def test_truncation_counts_are_named_in_the_verdict() -> None:
    model = side("ft", dict.fromkeys(ids(50), 1.0), n_truncated=12)
    base = side("base", dict.fromkeys(ids(50), 1.0), n_truncated=0)
    [v] = compare_family("ft", "base", [TaskSides("mednli", ("accuracy",), model, base)], GateConfig()).verdicts
    assert "the model had 12 prompts cut to its context, the base 0" in v.message
    assert "partly the context window, not the weights" in v.message
    assert (v.n_truncated_model, v.n_truncated_base) == (12, 0)
    same = replace(base, n_truncated=12)
    [v] = compare_family("ft", "base", [TaskSides("mednli", ("accuracy",), model, same)], GateConfig()).verdicts
    assert "context window" not in v.message


def test_family_power_uses_holm_first_step_and_missing_sides_are_left_out() -> None:
    a = {i: float(k % 2) for k, i in enumerate(ids(60))}
    b = {i: float(k % 3 == 0) for k, i in enumerate(ids(60))}
    tasks = [TaskSides(t, ("accuracy",), side("ft", a, task=t), side("base", b, task=t)) for t in ("x", "y", "z")]
    tasks.append(TaskSides("w", ("accuracy",), side("ft", a, task="w"), None))
    family = compare_family("ft", "base", tasks, GateConfig(alpha=0.06))
    assert [g.task for g in family.gated] == ["x", "y", "z"]
    assert all(g.power is not None and g.power.alpha == pytest.approx(0.02) for g in family.gated)
    ni = compare_family("ft", "base", tasks, GateConfig(mode="noninferior"))
    assert all(g.power is not None and g.power.alpha == pytest.approx(0.05) for g in ni.gated)


def test_disagreements_are_the_largest_gaps_with_outputs_on_one_line() -> None:
    model = side("ft", {"a": 0.1, "b": 0.5, "c": 0.0, "d": 0.9, "e": 0.2, "f": 0.3, "g": 0.0}, metric="rougeL")
    base = side("base", {"a": 0.9, "b": 0.6, "c": 0.0, "d": 0.1, "e": 0.8, "f": 0.9, "g": 0.7}, metric="rougeL")
    found = disagreements(model, base, "rougeL")
    assert [d.item for d in found] == ["a", "g", "e", "f", "b"]  # gaps .8, .7, .6, .6 (ties by id), .1
    assert found[0].model_output == "output of ft for a second line"
    assert found[0].reference is None  # no gold text unless the run includes text
    with_text = replace(model, references={"a": "the gold\nanswer"})
    assert disagreements(with_text, base, "rougeL", top=1)[0].reference == "the gold answer"
    assert one_line("x" * 300) == "x" * 117 + "..."


def _stored_run(tmp_path: Path, *, sha: str = SHA_DATA, scorers: str = "", model: str = "base") -> Path:
    run = tmp_path / "run1"
    (run / "items" / model).mkdir(parents=True)
    rows = [{"task": "mednli", "id": i, "cluster": i, "output": "entailment", "scores": {"accuracy": 1.0}} for i in ids(5)]
    (run / "items" / model / "mednli.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = {
        "run": {"id": "run1"},
        "settings": {"protocol": {"id": "2024-06", "sha256": SHA_PROTOCOL}},
        "models": {model: {"alias": model, "levels": {}}},
        "tasks": [{"status": "ok", "model": model, "task": "mednli", "data": {"file": "f", "sha256": sha},
                   "scorers": scorers, "n_truncated": 2, "items_file": f"items/{model}/mednli.jsonl"}],
    }
    (run / "report.json").write_text(json.dumps(report))
    return run


def test_stored_baseline_is_read_and_checked(tmp_path: Path) -> None:
    run = _stored_run(tmp_path)
    baseline = load_baseline(run)
    assert load_baseline(run / "report.json").report_sha256 == baseline.report_sha256
    stored = baseline_side(baseline, "base", "mednli", ("accuracy",))
    assert stored is not None and stored.scores["accuracy"] == dict.fromkeys(ids(5), 1.0)
    assert stored.n_truncated == 2 and stored.origin == "baseline run run1"
    assert baseline_side(baseline, "base", "meqsum") is None
    fine = baseline_problems(baseline, "base", protocol_sha256=SHA_PROTOCOL, data_sha256={"mednli": SHA_DATA},
                             scorers={"mednli": ""})
    assert fine == []
    problems = baseline_problems(baseline, "base", protocol_sha256="f" * 64,
                                 data_sha256={"mednli": "9" * 64, "meqsum": SHA_DATA}, scorers={"mednli": "bertscore=y"})
    text = "\n".join(problems)
    assert "under protocol 2024-06" in text and "other data" in text and "other scorers" in text
    assert "no meqsum results of base" in text
    assert "has no results of 'nobody'" in baseline_problems(
        baseline, "nobody", protocol_sha256=SHA_PROTOCOL, data_sha256={}, scorers={})[0]


def test_a_folder_without_a_report_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no report.json"):
        load_baseline(tmp_path)
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a clue report"):
        load_baseline(tmp_path)


def test_other_scorers_fail_even_where_one_side_lacks_the_metric() -> None:
    model = side("ft", dict.fromkeys(ids(10), 0.5), metric="bertscore_f1", scorers="bertscore=a")
    base = replace(side("base", {}, metric="bertscore_f1", scorers="bertscore=b"), clusters={i: i for i in ids(10)})
    [v] = compare_family("ft", "base", [TaskSides("meqsum", ("bertscore_f1",), model, base)], GateConfig()).verdicts
    assert v.status == "fail" and "other scorers" in v.message
    # comparable sides without the metric on one side: left out, as before
    base_ok = replace(base, scorers="bertscore=a")
    assert compare_family("ft", "base", [TaskSides("meqsum", ("bertscore_f1",), model, base_ok)], GateConfig()).verdicts == ()


def test_disagreements_show_one_item_per_cluster() -> None:
    scores = {f"q{q}/p{p}": 0.0 for q in range(3) for p in range(5)}
    clusters = {i: i.split("/")[0] for i in scores}
    model = side("ft", scores, clusters=clusters)
    base = side("base", dict.fromkeys(scores, 1.0), clusters=clusters)
    assert [d.item for d in disagreements(model, base, "accuracy")] == ["q0/p0", "q1/p0", "q2/p0"]
