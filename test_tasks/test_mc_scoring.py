"""Scoring of the multiple-choice families: strict and lenient rates by clue's letter parser, gold
rules for recorded answers, the suites as task groups, and the demo files under the oracle."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue.contracts import ScoringContext
from clue.engines.oracle import OracleEngine
from clue.pipeline import demo_data_dir, evaluate, is_synthetic, load_task_data
from clue.records import Completion, Request, Sampling
from clue.report.levels import compute_levels
from clue.tasks import jama, medmcqa, medqa, nejm, pubmedqa
from clue.tasks.registry import ALL_TASKS, select_tasks

MC_MODULES = (medqa, medmcqa, pubmedqa, jama, nejm)


def req(gold: str, i: int = 0) -> Request:
    return Request(id=f"r{i}", task="medqa", messages=(), max_new_tokens=8, reference="", gold=gold, cluster=f"r{i}")


@pytest.mark.parametrize(
    "output, strict, lenient",
    [
        ("The correct answer is B: Pneumonia", 1.0, 1.0),
        ("The correct answer is B: whatever text", 1.0, 1.0),
        ("the correct answer is B.", 0.0, 1.0),
        ("Answer: B", 0.0, 1.0),
        ("B", 0.0, 1.0),
        ("(B) Pneumonia", 0.0, 1.0),
        ("The correct answer is C: Gout", 0.0, 0.0),
        ("I think it is pneumonia.", 0.0, 0.0),
        ("", 0.0, 0.0),
        ("The correct answer is E: not an option", 0.0, 0.0),
    ],
)
def test_strict_and_lenient_rates(output: str, strict: float, lenient: float) -> None:
    (item,) = medqa.TASK.score([req("B")], [Completion("r0", output)], ScoringContext())
    assert item.scores == {"accuracy": strict, "accuracy_lenient": lenient}


def test_letters_outside_the_task_are_never_read() -> None:
    """PubMedQA has three options: a D is no answer, even in the strict form."""
    (item,) = pubmedqa.TASK.score([req("C")], [Completion("r0", "The correct answer is D: maybe")], ScoringContext())
    assert item.scores["accuracy_lenient"] == 0.0 and item.extra["parsed"] is None


@pytest.mark.parametrize(
    "module, truth, letter",
    [
        (medqa, "B", "B"), (medqa, "b", "B"), (medqa, "The correct answer is D: Migraine", "D"),
        (medmcqa, 3, "C"), (medmcqa, "1", "A"),
        (pubmedqa, "maybe", "C"), (pubmedqa, "Yes", "A"), (pubmedqa, "B", "B"),
        (jama, "C: Lupus", "C"), (nejm, "E", "E"),
    ],
)
def test_gold_of_recorded_answers(module, truth, letter: str) -> None:
    assert module.TASK.gold(truth) == letter


@pytest.mark.parametrize("module, truth", [(medqa, "E"), (medmcqa, 5), (pubmedqa, "perhaps"), (nejm, None)])
def test_gold_rejects_what_is_no_answer(module, truth) -> None:
    with pytest.raises(ValueError):
        module.TASK.gold(truth)


def test_suites_are_task_groups_and_the_default_stays_clue() -> None:
    clue = [t.name for t in select_tasks()]
    assert clue == [t.name for t in ALL_TASKS if t.suite == "clue"]
    assert clue == ["mednli", "meqsum", "problemsummary", "medisumcode", "medisumqa",
                    "longhealth_task1", "longhealth_task2", "longhealth_task3"]
    assert select_tasks(["clue"]) == select_tasks()
    assert [t.name for t in select_tasks(["mcqa"])] == ["medqa", "medmcqa", "pubmedqa"]
    assert [t.name for t in select_tasks(["cases"])] == ["jama", "nejm"]
    assert [t.name for t in select_tasks(["all"])] == [t.name for t in ALL_TASKS]
    assert [t.name for t in select_tasks(["nejm", "mednli"])] == ["mednli", "nejm"]  # registry order


def test_levels_stay_clue_only() -> None:
    scores = {t.name: {m: 50.0 for m in t.level_metrics} for t in ALL_TASKS}
    scores.update({t.name: {"accuracy": 100.0} for t in ALL_TASKS if t.suite != "clue"})
    levels = compute_levels(scores, ALL_TASKS)
    assert set(levels) == {1, 2}
    assert levels[1].score == levels[2].score == 50.0
    assert all(t.level == 0 and not t.credentialed for t in ALL_TASKS if t.suite != "clue")


@pytest.mark.parametrize("module", MC_MODULES, ids=lambda m: m.NAME)
def test_demo_files_are_synthetic_and_the_oracle_scores_100(module) -> None:
    data = load_task_data(module.TASK, demo_data_dir())
    assert data.synthetic and is_synthetic(module.TASK, data.path, data.sha256)
    assert (data.path.parent / "SYNTHETIC.md").is_file()
    letters = {ex.fields["answer_letter"] for ex in data.examples}
    assert letters == set(module.LETTERS)  # the gold letter is not always the same one
    result = evaluate(data, OracleEngine(), model="oracle", sampling=Sampling(), scoring=ScoringContext())
    assert result.estimates["accuracy"].mean == 1.0 and result.estimates["accuracy_lenient"].mean == 1.0
    assert result.n == len(data.examples) >= 80


def test_demo_sizes_and_the_image_count() -> None:
    sizes = {m.NAME: len(load_task_data(m.TASK, demo_data_dir()).examples) for m in MC_MODULES}
    assert sizes == {"medqa": 120, "medmcqa": 120, "pubmedqa": 100, "jama": 80, "nejm": 80}
    nejm_data = load_task_data(nejm.TASK, demo_data_dir())
    assert nejm_data.notes == {"needs_image": 20}


def test_a_copy_of_a_demo_file_elsewhere_is_not_synthetic(tmp_path: Path) -> None:
    source = medqa.TASK.data_path(demo_data_dir())
    copy = tmp_path / medqa.TASK.data_file
    copy.parent.mkdir(parents=True)
    copy.write_text(source.read_text(encoding="utf-8").replace("step1", "step2&3", 1), encoding="utf-8")
    assert not load_task_data(medqa.TASK, tmp_path).synthetic
