"""Prompts: golden renderings (system / nosystem / plain) under both protocols, few-shot selection,
per-task wording (the reference's, from the protocol files)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from clue.contracts import PromptContext
from clue.prompts.chat import detect_style, render
from clue.prompts.protocol import load_protocol
from clue.records import Request
from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary
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
    zero_shot_protocol,
)

MODULES = (mednli, meqsum, problem_summary, medisumqa, medisumcode)
PROTOCOLS = ("2024-06", "2025-01")
GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("CLUE_UPDATE_GOLDEN") == "1"  # regenerate, then review the diff
PREFIX_2024 = {
    "mednli": "", "meqsum": "Question: ", "problemsummary": "Diagnoses/Patient problems: ",
    "medisumcode": "ICD-10 Codes: ", "medisumqa": "Answer: ",
}


def tiny_source(module, folder: Path, pid: str = "2024-06") -> Path:
    """shots + 1 records in the task's original format: one scored item."""
    path = folder / module.TASK.data_file
    k = load_protocol(pid).task(module.NAME).shots + 1
    if module is mednli:
        return write(path, json_lines([mednli_record(i) for i in range(k)]))
    if module is meqsum:
        return write_xlsx(path, [("File", "CHQ", "Summary"), *map(meqsum_row, range(k))])
    if module is problem_summary:
        return write(path, csv_text(PROBLEM_HEADER, [problem_row(i) for i in range(k)]))
    if module is medisumqa:
        return write(path, json_array([medisumqa_record(i) for i in range(k)]))
    return write(path, json_lines([medisumcode_record(i, codes=("J189", "I10", "E1165")) for i in range(k)]))


def ctx(words, pid: str = "2024-06", protocol=None, max_context: int = 100_000) -> PromptContext:
    return PromptContext(tokens=words, max_context=max_context, protocol=protocol or load_protocol(pid))


def one_request(module, folder: Path, words, pid: str = "2024-06") -> Request:
    examples = module.load(tiny_source(module, folder, pid))
    (request,) = module.requests(examples, ctx(words, pid))
    return request


def golden_path(name: str, style: str, pid: str) -> Path:
    return GOLDEN_DIR / (f"{name}.{style}.txt" if pid == "2024-06" else f"{name}.{style}.{pid}.txt")


@pytest.mark.parametrize("pid", PROTOCOLS)
@pytest.mark.parametrize("style", ["system", "nosystem", "plain"])
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_golden_prompt(module, style: str, pid: str, tmp_path: Path, words, chat_tokenizer, nosystem_tokenizer) -> None:
    request = one_request(module, tmp_path, words, pid)
    tokenizer = {"system": chat_tokenizer, "nosystem": nosystem_tokenizer, "plain": None}[style]
    text = render(request, style, tokenizer)
    golden = golden_path(module.NAME, style, pid)
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden.name}; run with CLUE_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text(encoding="utf-8")
    # the reference's wording, as the protocol holds it, and the generation prefix of 2024-06
    tp = load_protocol(pid).task(module.NAME)
    assert tp.system in text
    prefix = PREFIX_2024[module.NAME] if pid == "2024-06" else ""
    assert text.endswith(("\n\n" if style == "plain" else "<|assistant|>\n" if style == "system" else "[assistant]\n") + prefix)


def test_fixture_templates_differ_in_system_support(chat_tokenizer, nosystem_tokenizer) -> None:
    assert detect_style(chat_tokenizer) == "system"
    assert detect_style(nosystem_tokenizer) == "nosystem"
    assert detect_style(None) == "plain"


@pytest.mark.parametrize("pid", PROTOCOLS)
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_turn_structure(module, pid: str, tmp_path: Path, words) -> None:
    request = one_request(module, tmp_path, words, pid)
    tp = load_protocol(pid).task(module.NAME)
    k = tp.shots
    assert [m.role for m in request.messages] == ["system"] + ["user", "assistant"] * k + ["user"]
    assert request.messages[0].content == tp.system
    assert request.max_new_tokens == tp.max_new_tokens
    assert request.rendering == tp.rendering and request.rendering.prefix == (PREFIX_2024[module.NAME] if pid == "2024-06" else "")
    assert request.example_id == request.id and not request.truncated
    shot_turns = [m.content for m in request.messages[1:-1] if m.role == "user"]
    assert request.messages[-1].content not in shot_turns  # the scored item is not among its own shots


@pytest.mark.parametrize("pid", PROTOCOLS)
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_few_shot_split_matches_the_reference(module, pid: str, demo_dir: Path, words) -> None:
    """Shots and scored items: 2024-06 takes the first k records in file order (MeDiSumQA: after the
    shuffle); 2025-01 those of the reference's random.seed(1); random.shuffle(records)."""
    tp = load_protocol(pid).task(module.NAME)
    examples = module.load(module.TASK.data_path(demo_dir))
    ordered = list(examples)
    if pid == "2025-01" or module is medisumqa:
        state = random.getstate()
        try:
            random.seed(1)
            random.shuffle(ordered)
        finally:
            random.setstate(state)
    k = tp.shots
    requests = module.requests(examples, ctx(words, pid))
    assert [r.id for r in requests] == [e.id for e in ordered[k:]]
    for request in requests[:3]:
        answers = [m.content for m in request.messages if m.role == "assistant"]
        assert answers == [tp.assistant.format(**e.fields) for e in ordered[:k]]
    assert not {e.id for e in ordered[:k]} & {r.id for r in requests}


@pytest.mark.parametrize("pid", PROTOCOLS)
def test_mednli_wording(pid: str, tmp_path: Path, words) -> None:
    request = one_request(mednli, tmp_path, words, pid)
    system = request.messages[0].content
    assert system.startswith("You are a highly skilled assistant, specifically trained to assist medical professionals.")
    assert "You will recieve two sentences" in system  # the reference's typo, kept
    assert system.endswith("Valid answers are: ENTAILMENT, NEUTRAL or CONTRADICTION.")
    item = request.messages[-1].content
    assert item.startswith("\nSENTENCE_1: ") and "\nSENTENCE_2: " in item and item.endswith("\n")
    # the shots answer with the file's lower-case label; the gold is the label upper-cased
    assert request.gold == request.reference.upper() and request.gold in ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")
    answers = [m.content for m in request.messages if m.role == "assistant"]
    assert len(answers) == 3 and all(a in ("entailment", "neutral", "contradiction") for a in answers)


def test_mednli_zero_shot(demo_dir: Path, words, tmp_path: Path) -> None:
    """CLUE-SPEC defect 8: zero-shot MedNLI crashed in the reference; here it is a protocol with shots = 0."""
    examples = mednli.load(demo_dir / mednli.TASK.data_file)
    requests = mednli.requests(examples, ctx(words, protocol=zero_shot_protocol(tmp_path, "mednli"), max_context=4096))
    assert [r.id for r in requests] == [e.id for e in examples]
    assert all([m.role for m in r.messages] == ["system", "user"] for r in requests)


def test_problem_summary_shows_subjective_and_assessment_only(tmp_path: Path, words) -> None:
    request = one_request(problem_summary, tmp_path, words)
    item = request.messages[-1].content
    row = problem_row(3)
    assert f"--------------BEGIN DISCHARGE LETTER--------------\n{row[1]}\n\n{row[3]}\n--------------END DISCHARGE LETTER--------------" in item
    assert item.endswith("Now respond with the list of diagnoses and patient problems. Do not generate anything else.")
    assert "BP 120/80" not in item  # objectives are not part of the prompt
    # the gold and the shots' answers are the cleaned problem lists
    assert request.reference == request.gold == "Anemia 3, Fatigue"
    answers = [m.content for m in request.messages if m.role == "assistant"]
    assert answers == [f"Diagnoses/Patient problems: Anemia {i}, Fatigue" for i in range(3)]


@pytest.mark.parametrize("pid", PROTOCOLS)
def test_medisumcode_shot_answer_starts_with_the_label(pid: str, tmp_path: Path, words) -> None:
    request = one_request(medisumcode, tmp_path, words, pid)
    (shot_answer,) = [m.content for m in request.messages if m.role == "assistant"]
    assert shot_answer == "ICD-10 Codes: J189, I10, E1165"  # both protocols' shots carry the label
    assert request.gold == "J189, I10, E1165"  # the code string, as the reference compared it
    # what the model should write after the prompt: 2024-06 has the label as generation prefix
    assert request.reference == ("J189, I10, E1165" if pid == "2024-06" else "ICD-10 Codes: J189, I10, E1165")
    assert "--------------BEGIN DISCHARGE LETTER--------------" in request.messages[-1].content


@pytest.mark.parametrize("pid, field", [("2024-06", "without_discharge_summary"), ("2025-01", "discharge_summary")])
def test_medisumqa_letter_field_by_protocol(pid: str, field: str, tmp_path: Path, words) -> None:
    records = [medisumqa_record(i, without_discharge_summary=f"Short letter {i}.") for i in range(2)]
    examples = medisumqa.load(write(tmp_path / "MeDiSumQA.json", json_array(records)))
    (request,) = medisumqa.requests(examples, ctx(words, pid))
    item = request.messages[-1].content
    letter = next(e for e in examples if e.id == request.id).fields[field]
    assert f"--------------BEGIN DISCHARGE LETTER--------------\n{letter}\n--------------END DISCHARGE LETTER--------------" in item
    question = next(e for e in examples if e.id == request.id).fields["Question"]
    assert item.endswith(("\nQuestion: " if pid == "2024-06" else "\n") + question)


def test_medisumqa_clusters_by_letter(tmp_path: Path, words) -> None:
    records = [medisumqa_record(0), medisumqa_record(1, doc=0), medisumqa_record(2, doc=0), medisumqa_record(3)]
    examples = medisumqa.load(write(tmp_path / "MeDiSumQA.json", json_array(records)))
    requests = medisumqa.requests(examples, ctx(words, protocol=zero_shot_protocol(tmp_path, "medisumqa")))
    assert len(requests) == 4
    by_question = {r.messages[-1].content.rsplit("\nQuestion: ", 1)[-1]: r for r in requests}
    shared = {by_question[records[i]["Question"]].cluster for i in (0, 1, 2)}
    assert len(shared) == 1
    assert by_question[records[3]["Question"]].cluster not in shared
    assert all(r.cluster != r.id for r in requests)


def test_meqsum_gold_is_the_summary(tmp_path: Path, words) -> None:
    request = one_request(meqsum, tmp_path, words)
    assert request.gold == request.reference == meqsum_row(3)[2]
    item = request.messages[-1].content
    assert item == f"--------------PATIENT INQUIRY--------------\n{meqsum_row(3)[1]}\n--------------END PATIENT INQUIRY--------------"
    answers = [m.content for m in request.messages if m.role == "assistant"]
    assert answers == [f"Question: {meqsum_row(i)[2]}" for i in range(3)]
