"""The demo models' training split: loadable by the tasks, deterministic, disjoint from the test items."""

from __future__ import annotations

from pathlib import Path

import pytest
import simple_icd_10_cm as icd

from clue.models.demo_training import FILES, write_training_split
from clue.pipeline import demo_data_dir
from clue.tasks.registry import get_task, select_tasks

# the fields that make a record the same record, per task
IDENTITY = {
    "mednli": ("sentence1", "sentence2"),
    "meqsum": ("CHQ",),
    "problemsummary": ("Subjectives", "Assessment"),
    "medisumcode": ("text",),
    "medisumqa": ("discharge_summary", "Question"),
    "longhealth_task1": ("question",),
}


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_training_split(tmp_path_factory.mktemp("train"))


def _examples(folder: Path) -> dict[str, list]:
    return {t.name: t.load(t.data_path(folder)) for t in select_tasks()}  # the split holds the CLUE suite's data sets


def test_every_task_loads_the_split_with_its_own_loader(split: Path) -> None:
    loaded = _examples(split)
    assert all(len(examples) >= 40 for examples in loaded.values())
    assert {e.fields["gold_label"] for e in loaded["mednli"]} == {"entailment", "neutral", "contradiction"}


def test_the_split_shares_no_record_with_the_shipped_test_items(split: Path) -> None:
    train, test = _examples(split), _examples(demo_data_dir())
    for task, fields in IDENTITY.items():
        ours = {tuple(str(e.fields.get(f, "")) for f in fields) for e in train[task]}
        theirs = {tuple(str(e.fields.get(f, "")) for f in fields) for e in test[task]}
        assert not ours & theirs, task
    premises = {e.fields["sentence1"] for e in train["mednli"]}
    assert not premises & {e.fields["sentence1"] for e in test["mednli"]}
    train_docs = {d for e in train["longhealth_task1"] for d in e.fields["texts"].values()}
    assert not train_docs & {d for e in test["longhealth_task1"] for d in e.fields["texts"].values()}


def test_the_split_is_deterministic_and_its_codes_are_billable(split: Path, tmp_path: Path) -> None:
    again = write_training_split(tmp_path)
    for name, relative in FILES.items():
        if relative.endswith(".xlsx"):
            continue  # a workbook carries its creation time; its rows are compared below
        assert (again / relative).read_bytes() == (split / relative).read_bytes(), name
    task = get_task("meqsum")
    assert [e.fields for e in task.load(task.data_path(again))] == [e.fields for e in task.load(task.data_path(split))]
    codes = {c.strip() for e in _examples(split)["medisumcode"] for c in e.fields["codes"].split(",")}
    assert codes and all(icd.is_valid_item(c) and icd.is_leaf(c) for c in codes), sorted(codes)
