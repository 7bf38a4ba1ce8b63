"""LongHealth loader: the shipped synthetic file and a corpus of malformed variants."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clue.errors import DataFormatError
from clue.prompts.protocol import load_protocol
from clue.tasks import longhealth
from clue.tasks.longhealth import TASKS, gold_letter, load

DEMO = Path(longhealth.__file__).resolve().parent.parent / "data" / "demo" / "LongHealth" / "benchmark_v5.json"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return json.loads(DEMO.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: Any, name: str = "benchmark_v5.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_task_declarations() -> None:
    assert [t.name for t in TASKS] == ["longhealth_task1", "longhealth_task2", "longhealth_task3"]
    assert [t.display_name for t in TASKS] == ["LongHealth Task 1", "LongHealth Task 2", "LongHealth Task 3"]
    for task in TASKS:
        assert (task.level, task.group) == (2, "longhealth")
        for pid in ("2024-06", "2025-01"):  # zero-shot, 50 new tokens: the protocol's
            tp = load_protocol(pid).task(task.name)
            assert (tp.shots, tp.max_new_tokens) == (0, 50)
        assert task.data_file == "LongHealth/benchmark_v5.json"
        assert task.metrics == ("accuracy", "accuracy_lenient")
        assert task.level_metrics == ("accuracy",)
        assert task.credentialed is False
        assert "github.com/kbressem/LongHealth" in task.how_to_obtain
        assert "benchmark_v5.json" in task.how_to_obtain
        assert task.load is load


def test_demo_file(raw: dict[str, Any]) -> None:
    examples = load(DEMO)
    patients = [k for k in raw if k.startswith("patient_")]
    assert len(patients) == 13 and "canary" in raw
    assert len(examples) == sum(len(raw[p]["questions"]) for p in patients) == 55
    assert len({e.id for e in examples}) == 55
    assert sum(len(raw[p]["questions"]) >= 5 for p in patients) >= 8
    first = examples[0]
    assert first.id == "patient_01/q01"
    assert first.fields["patient"] == "patient_01"
    assert first.fields["question"] == raw["patient_01"]["questions"][0]["question"]
    assert first.fields["record"] == raw["patient_01"]["questions"][0]  # the whole question, keys in order
    assert list(first.fields["record"]) == list(raw["patient_01"]["questions"][0])
    assert dict(first.fields["texts"]) == raw["patient_01"]["texts"]
    assert first.fields["evidence"] == tuple(raw["patient_01"]["questions"][0]["answer_location"])
    for example in examples:
        record = next(
            q for q in raw[example.fields["patient"]]["questions"] if q["No"] == example.fields["number"]
        )
        assert example.fields["correct"] == example.reference == record["correct"]
        # in the demo file the correct text is one option's text exactly: both rules agree
        letters = {gold_letter(example.fields["record"], rule) for rule in ("first_containing", "last_containing")}
        (letter,) = letters
        assert record[f"answer_{letter.lower()}"] == record["correct"]


def test_demo_documents_are_long_enough(raw: dict[str, Any]) -> None:
    for key, patient in raw.items():
        if key.startswith("patient_"):
            assert len(patient["texts"]) == 3
            for text in patient["texts"].values():
                assert 300 <= len(text.split()) <= 700


def test_bom_and_crlf_load_the_same(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace("\n", "\r\n")
    path = tmp_path / "benchmark_v5.json"
    path.write_bytes(("\ufeff" + text).encode("utf-8"))
    assert [e.id for e in load(path)] == [e.id for e in load(DEMO)]


def test_non_patient_keys_are_skipped(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = {"version": 5, **raw, "zz_canary": {"not": "a patient"}}
    assert [e.id for e in load(write(tmp_path, data))] == [e.id for e in load(DEMO)]


def test_string_question_numbers_are_accepted(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["patient_02"]["questions"][0]["No"] = "1"
    assert load(write(tmp_path, data))[3].id == "patient_02/q01"


def test_gold_by_containment(tmp_path: Path, raw: dict[str, Any]) -> None:
    """The gold letter: the options whose text contains ``correct`` (one way only), the first or the
    last of them by the protocol's rule, as the reference's loop over the question's keys."""
    data = copy.deepcopy(raw)
    question = data["patient_01"]["questions"][0]
    question["correct"] = " stage III B"  # part of option C only
    record = load(write(tmp_path, data))[0].fields["record"]
    assert gold_letter(record, "first_containing") == gold_letter(record, "last_containing") == "C"
    question["correct"] = "Ann Arbor stage"  # in every option: the first A, the last E
    record = load(write(tmp_path, data))[0].fields["record"]
    assert (gold_letter(record, "first_containing"), gold_letter(record, "last_containing")) == ("A", "E")
    # an option's text inside the correct text is no match (the reference tests `correct in option`)
    question["correct"] = "Ann Arbor stage IV B, confirmed by PET-CT"
    record = load(write(tmp_path, data))[0].fields["record"]
    assert gold_letter(record, "first_containing") is gold_letter(record, "last_containing") is None


def test_gold_follows_the_key_order() -> None:
    record = {"answer_location": "x", "answer_b": "x y", "question": "x", "answer_a": "x", "correct": "x"}
    # answer_location and non-answer keys are skipped; the keys are read in the record's order
    assert gold_letter(record, "first_containing") == "B"
    assert gold_letter(record, "last_containing") == "A"
    assert gold_letter({**record, "answer_f": "x z"}, "last_containing") == "F"
    assert gold_letter({"answer_a": "x"}, "last_containing") is None  # no correct field


@pytest.mark.parametrize(
    ("correct", "first", "last"),
    [("Ann Arbor stage V", None, None), ("Ann Arbor stage", "A", "E"), ("Ann Arbor stage I", "A", "E")],
)
def test_correct_matching_none_or_several_options_loads(
    tmp_path: Path, raw: dict[str, Any], correct: str, first: str | None, last: str | None
) -> None:
    """The loader no longer rejects these: the protocol's gold rule decides (None scores wrong)."""
    data = copy.deepcopy(raw)
    data["patient_01"]["questions"][0]["correct"] = correct
    example = load(write(tmp_path, data))[0]
    assert example.fields["correct"] == correct
    assert gold_letter(example.fields["record"], "first_containing") == first
    assert gold_letter(example.fields["record"], "last_containing") == last


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "benchmark_v5.json"
    path.write_text("  \n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load(path)
    assert info.value.path == path and info.value.field == "<file>"


def test_truncated_file(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8")
    path = tmp_path / "benchmark_v5.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load(path)
    assert info.value.field == "<json>"
    assert info.value.location.startswith("line ")
    assert str(path) in str(info.value)


def test_duplicate_patient_key(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8")
    second = text.index('"patient_02"')
    path = tmp_path / "benchmark_v5.json"
    path.write_text(text[:second] + '"patient_01"' + text[second + len('"patient_02"') :], encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load(path)
    assert info.value.field == "patient_01"
    assert "duplicate" in info.value.problem


def _delete(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def _set(value: Any, *keys: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


def _duplicate_number(data: dict[str, Any]) -> None:
    questions = data["patient_04"]["questions"]
    questions[2]["No"] = questions[0]["No"]


MALFORMED = {
    "missing option": (_delete("patient_03", "questions", 1, "answer_c"), "patient_03.questions[1]", "answer_c"),
    "missing correct": (_delete("patient_01", "questions", 2, "correct"), "patient_01.questions[2]", "correct"),
    "missing texts": (_delete("patient_05", "texts"), "patient_05", "texts"),
    "missing name": (_delete("patient_02", "name"), "patient_02", "name"),
    "missing location": (_delete("patient_02", "questions", 0, "answer_location"), "patient_02.questions[0]", "answer_location"),
    "text not a string": (_set(5, "patient_02", "texts", "text_1"), "patient_02.texts", "text_1"),
    "question not a string": (_set(["q"], "patient_01", "questions", 0, "question"), "patient_01.questions[0]", "question"),
    "number not a number": (_set("first", "patient_01", "questions", 0, "No"), "patient_01.questions[0]", "No"),
    "number wrong type": (_set(1.5, "patient_01", "questions", 0, "No"), "patient_01.questions[0]", "No"),
    "questions not a list": (_set({"q": 1}, "patient_03", "questions"), "patient_03", "questions"),
    "question not an object": (_set("q", "patient_03", "questions", 2), "patient_03.questions[2]", "<record>"),
    "patient not an object": (_set([], "patient_04"), "patient_04", "<record>"),
    "correct not a string": (_set(3, "patient_01", "questions", 0, "correct"), "patient_01.questions[0]", "correct"),
    "location names unknown text": (
        _set({"text_9": {"start": [0.1], "end": [0.2]}}, "patient_02", "questions", 1, "answer_location"),
        "patient_02.questions[1].answer_location",
        "text_9",
    ),
    "location span not numbers": (
        _set({"text_0": {"start": ["x"], "end": [0.2]}}, "patient_02", "questions", 1, "answer_location"),
        "patient_02.questions[1].answer_location.text_0",
        "start",
    ),
    "duplicate question number": (_duplicate_number, "patient_04.questions[2]", "No"),
    "no documents": (_set({}, "patient_01", "texts"), "patient_01", "texts"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed(case: str, tmp_path: Path, raw: dict[str, Any]) -> None:
    mutate, location, field = MALFORMED[case]
    data = copy.deepcopy(raw)
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(DataFormatError) as info:
        load(path)
    err = info.value
    assert (err.path, err.location, err.field) == (path, location, field)
    assert str(path) in str(err) and location in str(err)


@pytest.mark.parametrize("data", [[], {"canary": "x"}, {"patient_01": {"name": "n", "birthday": "b", "diagnosis": "d", "texts": {"text_0": "t"}, "questions": []}}])
def test_no_patient_questions(data: Any, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError) as info:
        load(write(tmp_path, data))
    assert info.value.location == "top level"
