"""Prompts: golden renderings (system / nosystem / plain), few-shot selection, per-task wording."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from clue.prompts.chat import detect_style, render
from clue.records import Request
from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue.contracts import PromptContext
from clue_task_sources import (
    PROBLEM_HEADER,
    csv_text,
    json_array,
    json_lines,
    medisumcode_record,
    medisumqa_record,
    mednli_record,
    meqsum_row,
    problem_row,
    write,
    write_xlsx,
)

MODULES = (mednli, meqsum, problem_summary, medisumqa, medisumcode)
GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("CLUE_UPDATE_GOLDEN") == "1"  # regenerate, then review the diff


def tiny_source(module, folder: Path) -> Path:
    """n_shots + 1 records in the task's original format: one scored item."""
    path = folder / module.TASK.data_file
    k = module.N_SHOTS + 1
    if module is mednli:
        return write(path, json_lines([mednli_record(i) for i in range(k)]))
    if module is meqsum:
        return write_xlsx(path, [("File", "CHQ", "Summary"), *map(meqsum_row, range(k))])
    if module is problem_summary:
        return write(path, csv_text(PROBLEM_HEADER, [problem_row(i) for i in range(k)]))
    if module is medisumqa:
        return write(path, json_array([medisumqa_record(i) for i in range(k)]))
    return write(path, json_lines([medisumcode_record(i, codes=("J189", "I10", "E1165")) for i in range(k)]))


def one_request(module, folder: Path, words) -> Request:
    examples = module.load(tiny_source(module, folder))
    (request,) = module.requests(examples, PromptContext(tokens=words, max_context=100_000))
    return request


@pytest.mark.parametrize("style", ["system", "nosystem", "plain"])
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_golden_prompt(module, style: str, tmp_path: Path, words, chat_tokenizer, nosystem_tokenizer) -> None:
    request = one_request(module, tmp_path, words)
    tokenizer = {"system": chat_tokenizer, "nosystem": nosystem_tokenizer, "plain": None}[style]
    text = render(request, style, tokenizer)
    golden = GOLDEN_DIR / f"{module.NAME}.{style}.txt"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden.name}; run with CLUE_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text(encoding="utf-8")


def test_fixture_templates_differ_in_system_support(chat_tokenizer, nosystem_tokenizer) -> None:
    assert detect_style(chat_tokenizer) == "system"
    assert detect_style(nosystem_tokenizer) == "nosystem"
    assert detect_style(None) == "plain"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_turn_structure(module, tmp_path: Path, words) -> None:
    request = one_request(module, tmp_path, words)
    k = module.N_SHOTS
    assert [m.role for m in request.messages] == ["system"] + ["user", "assistant"] * k + ["user"]
    assert request.max_new_tokens == module.TASK.max_new_tokens
    assert request.example_id == request.id and not request.truncated
    shot_turns = [m.content for m in request.messages[1:-1] if m.role == "user"]
    assert request.messages[-1].content not in shot_turns  # the scored item is not among its own shots


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_few_shot_split_matches_reference_shuffle(module, demo_dir: Path, words) -> None:
    """Shots and scored items are those of the reference's random.seed(1); random.shuffle(records)."""
    examples = module.load(module.TASK.data_path(demo_dir))
    state = random.getstate()
    try:
        random.seed(1)
        shuffled = list(examples)
        random.shuffle(shuffled)
    finally:
        random.setstate(state)
    k = module.TASK.n_shots
    requests = module.requests(examples, PromptContext(tokens=words, max_context=100_000))
    assert [r.id for r in requests] == [e.id for e in shuffled[k:]]
    for request in requests[:3]:
        assert [m.content for m in request.messages if m.role == "assistant"] == [e.reference for e in shuffled[:k]]
    assert not {e.id for e in shuffled[:k]} & {r.id for r in requests}


def test_mednli_wording(tmp_path: Path, words) -> None:
    request = one_request(mednli, tmp_path, words)
    system = request.messages[0].content
    assert all(label in system for label in ("ENTAILMENT", "NEUTRAL", "CONTRADICTION"))
    item = request.messages[-1].content
    assert item.startswith("SENTENCE_1: ") and "\nSENTENCE_2: " in item
    assert request.gold == request.reference and request.gold in ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")
    assert all(m.content in ("ENTAILMENT", "NEUTRAL", "CONTRADICTION") for m in request.messages if m.role == "assistant")


def test_mednli_zero_shot(demo_dir: Path, words) -> None:
    """CLUE-SPEC defect 8: zero-shot MedNLI crashed in the reference."""
    examples = mednli.load(demo_dir / mednli.TASK.data_file)
    requests = mednli.requests(examples, PromptContext(tokens=words, max_context=4096), n_shots=0)
    assert len(requests) == len(examples)
    assert all([m.role for m in r.messages] == ["system", "user"] for r in requests)


def test_problem_summary_shows_subjective_and_assessment_only(tmp_path: Path, words) -> None:
    request = one_request(problem_summary, tmp_path, words)
    item = request.messages[-1].content
    subjective, assessment = item.index("SUBJECTIVE"), item.index("ASSESSMENT")
    assert subjective < assessment
    assert "feels tired today" in item[subjective:assessment] and "likely chronic disease" in item[assessment:]
    assert "BP 120/80" not in item  # objectives are not part of the prompt
    assert problem_summary.SEPARATOR in item
    assert request.reference == request.gold and ";" not in request.reference


def test_medisumcode_shot_answer_starts_with_prefix(tmp_path: Path, words) -> None:
    request = one_request(medisumcode, tmp_path, words)
    (shot_answer,) = [m.content for m in request.messages if m.role == "assistant"]
    assert shot_answer.startswith("ICD-10 Codes: ")
    assert request.gold == ("J189", "I10", "E1165")
    assert request.reference == "ICD-10 Codes: J189, I10, E1165"
    assert "BEGIN DISCHARGE LETTER" in request.messages[-1].content


def test_medisumqa_clusters_by_letter(tmp_path: Path, words) -> None:
    records = [medisumqa_record(0), medisumqa_record(1, doc=0), medisumqa_record(2, doc=0), medisumqa_record(3)]
    examples = medisumqa.load(write(tmp_path / "MeDiSumQA.json", json_array(records)))
    requests = medisumqa.requests(examples, PromptContext(tokens=words, max_context=100_000), n_shots=0)
    by_question = {r.messages[-1].content.rsplit("\n", 1)[-1]: r for r in requests}
    shared = {by_question[records[i]["Question"]].cluster for i in (0, 1, 2)}
    assert len(shared) == 1
    assert by_question[records[3]["Question"]].cluster not in shared
    assert all(r.cluster != r.id for r in requests)


def test_meqsum_gold_is_the_summary(tmp_path: Path, words) -> None:
    request = one_request(meqsum, tmp_path, words)
    assert request.gold == request.reference and request.reference.endswith("?")
    assert request.messages[-1].content.startswith("Patient inquiry:\n")
