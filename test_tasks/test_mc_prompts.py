"""The zero-shot prompts of the families beside CLUE: clue's own text, kept in both protocol files (the
same in each, marked as clue's), assembled by hand here and compared with every rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue.contracts import PromptContext
from clue.engines.tokens import ApproxTokenCounter
from clue.errors import ConfigError
from clue.prompts.chat import render
from clue.prompts.protocol import builtin_path, load_protocol
from clue.tasks import jama, medmcqa, medqa, nejm, pubmedqa
from clue_task_sources import json_array, json_lines, write
from mc_task_sources import jama_row, medmcqa_record, medqa_record, nejm_record, pandas_csv, pubmedqa_record, write_pubmedqa

MC_TASKS = ("medqa", "medmcqa", "pubmedqa", "jama", "nejm")
PIDS = ("2024-06", "2025-01")
REPLY = 'Reply with the letter of the correct option in this form: "The correct answer is X: <text of option X>".'

MEDQA_SYSTEM = ("You are a medical expert answering multiple-choice questions from a medical licensing examination. "
                "Each question has exactly one correct option.")
MEDQA_USER = (
    "A 30-year-old man has fever number 0. Which is the most likely diagnosis?\n\n"
    "A: Asthma 0\nB: Pneumonia 0\nC: Gout 0\nD: Migraine 0\n\n" + REPLY
)
PUBMEDQA_USER = (
    "Abstract:\nBackground 0.\nResults 0.\n\nQuestion: Does treatment 0 help?\n\n"
    "A: yes\nB: no\nC: maybe\n\n" + REPLY
)
NEJM_USER = (
    "Case: A 20-year-old man with a lesion 0.\n\nQuestion: What is the diagnosis?\n\n"
    "A: Diagnosis A0\nB: Diagnosis B0\nC: Diagnosis C0\nD: Diagnosis D0\nE: Diagnosis E0\n\n" + REPLY
)


def ctx(pid: str, max_context: int = 0) -> PromptContext:
    return PromptContext(ApproxTokenCounter(), max_context=max_context, protocol=load_protocol(pid))


def first_request(task: str, tmp_path: Path, pid: str, max_context: int = 0):
    if task == "medqa":
        examples = medqa.load(write(tmp_path / "q.jsonl", json_lines([medqa_record(0), medqa_record(1)])))
    elif task == "medmcqa":
        examples = medmcqa.load(write(tmp_path / "dev.json", json_lines([medmcqa_record(0)])))
    elif task == "pubmedqa":
        examples = pubmedqa.load(write_pubmedqa(tmp_path, {"1": pubmedqa_record(0, "no")}, {"1": "no"}))
    elif task == "jama":
        examples = jama.load(write(tmp_path / "jama_raw.csv", pandas_csv([jama_row(0)])))
    else:
        examples = nejm.load(write(tmp_path / "n.json", json_array([nejm_record(0)])))
    module = {"medqa": medqa, "medmcqa": medmcqa, "pubmedqa": pubmedqa, "jama": jama, "nejm": nejm}[task]
    return module.TASK.requests(examples, ctx(pid, max_context))


@pytest.mark.parametrize("task", MC_TASKS)
def test_the_sections_are_clues_own_and_the_same_in_both_protocols(task: str) -> None:
    a, b = (load_protocol(pid).task(task) for pid in PIDS)
    assert a == b
    assert (a.shots, a.prefix, a.options.line, a.options.separator) == (0, "", "{letter}: {text}", "\n")
    assert a.assistant == "The correct answer is {answer_letter}: {answer_text}"
    for pid in PIDS:
        text = builtin_path(pid).read_text(encoding="utf-8")
        section = text.index(f"[tasks.{task}]")
        assert "clue's own prompt" in text[text.rindex("\n#", 0, section - 1): section], (pid, task)


@pytest.mark.parametrize("style", ["system", "nosystem", "plain"])
@pytest.mark.parametrize("pid", PIDS)
def test_medqa_prompt_by_hand(pid: str, style: str, tmp_path: Path, chat_tokenizer, nosystem_tokenizer) -> None:
    first, second = first_request("medqa", tmp_path, pid)
    assert (first.id, second.id) == ("medqa-00001", "medqa-00002")  # zero-shot: every question is scored
    assert first.gold == "B" and first.reference == "The correct answer is B: Pneumonia 0"
    if style == "plain":
        expected = MEDQA_SYSTEM + "\n\n" + MEDQA_USER + "\n\n"
        assert render(first, "plain") == expected
        return
    tokenizer = chat_tokenizer if style == "system" else nosystem_tokenizer
    msgs = ([{"role": "system", "content": MEDQA_SYSTEM}, {"role": "user", "content": MEDQA_USER}] if style == "system"
            else [{"role": "user", "content": MEDQA_SYSTEM + "\n\n" + MEDQA_USER}])
    assert render(first, style, tokenizer) == tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("pid", PIDS)
def test_pubmedqa_and_nejm_user_turns_by_hand(pid: str, tmp_path: Path) -> None:
    (pub,) = first_request("pubmedqa", tmp_path / "p", pid)
    assert [m.role for m in pub.messages] == ["system", "user"]
    assert pub.messages[1].content == PUBMEDQA_USER
    assert (pub.gold, pub.reference) == ("B", "The correct answer is B: no")
    (case,) = first_request("nejm", tmp_path / "n", pid)
    assert case.messages[1].content == NEJM_USER
    assert "image is not available" in case.messages[0].content
    assert (case.gold, case.reference) == ("D", "The correct answer is D: Diagnosis D0")


def test_medmcqa_and_jama_show_their_options_in_order(tmp_path: Path) -> None:
    (mcq,) = first_request("medmcqa", tmp_path / "m", "2024-06")
    assert "\n\nA: Drug A0\nB: Drug B0\nC: Drug C0\nD: Drug D0\n\n" in mcq.messages[1].content
    assert mcq.messages[1].content.startswith("Drug of choice for condition 0 is:")
    (case,) = first_request("jama", tmp_path / "j", "2024-06")
    assert case.messages[1].content.startswith("A 40-year-old woman had a rash 0.\nWhat Is Your Diagnosis?\n\nA: Psoriasis 0\n")
    assert case.gold == "C" and case.id == "https://synthetic.invalid/jama/0"


def test_a_long_case_is_cut_and_the_instructions_stay(tmp_path: Path) -> None:
    examples = jama.load(write(tmp_path / "jama_raw.csv", pandas_csv([jama_row(0, question="word " * 5000)])))
    (request,) = jama.TASK.requests(examples, ctx("2024-06", max_context=1024))
    user = request.messages[1].content
    assert request.truncated and len(user) < 6000
    assert user.endswith(REPLY) and "A: Psoriasis 0" in user


def test_a_protocol_section_without_option_layout_is_an_error(tmp_path: Path) -> None:
    text = builtin_path("2024-06").read_text(encoding="utf-8")
    start = text.index("[tasks.medqa]")
    section = text[start: text.index("\n[", start + 1)]
    stripped = section.replace('option_line = "{letter}: {text}"\n', "").replace('option_separator = "\\n"\n', "")
    mine = tmp_path / "no-options.toml"
    mine.write_text(text.replace(section, stripped), encoding="utf-8")
    examples = medqa.load(write(tmp_path / "q.jsonl", json_lines([medqa_record(0)])))
    protocol = load_protocol(mine)
    with pytest.raises(ConfigError, match="option_line"):
        medqa.TASK.requests(examples, PromptContext(ApproxTokenCounter(), max_context=0, protocol=protocol))


@pytest.mark.parametrize(
    "replace, match",
    [
        (('option_line = "{letter}: {text}"', 'option_line = "{letter}"'), "option_line"),
        (('option_line = "{letter}: {text}"', 'option_line = "{letter}: {text} {extra}"'), "option_line"),
        (('option_line = "{letter}: {text}"', 'option_line = "{letter: {text}"'), "option_line"),
        (('option_line = "{letter}: {text}"\n', ""), "option_separator"),
        (("{options}", "{choices_list}"), "user"),
        (('option_separator = "\\n"', "option_separator = 3"), "option_separator"),
    ],
)
def test_option_layout_is_checked_when_the_protocol_loads(replace: tuple[str, str], match: str, tmp_path: Path) -> None:
    text = builtin_path("2025-01").read_text(encoding="utf-8")
    start = text.index("[tasks.medqa]")
    end = text.index("\n[", start + 1)
    section = text[start:end]
    mine = tmp_path / "bad.toml"
    mine.write_text(text[:start] + section.replace(*replace) + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_protocol(mine)
    assert str(mine) in str(info.value) and "tasks.medqa" in str(info.value) and match in str(info.value)
