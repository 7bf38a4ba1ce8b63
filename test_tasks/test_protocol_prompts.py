"""The shipped protocols are CLUE-PROTOCOLS.md byte for byte: string hashes, and prompts built for a
fixed record equal to the strings assembled by hand from the document's rules (§1.1, §2)."""

from __future__ import annotations

import hashlib
import random

import pytest

from clue.contracts import PromptContext
from clue.engines.tokens import ApproxTokenCounter
from clue.prompts.chat import render
from clue.prompts.protocol import builtin_path, load_protocol
from clue.records import Example
from clue.tasks import longhealth, medisumcode, medisumqa, mednli, meqsum, problem_summary

# CLUE-PROTOCOLS.md §2: first 16 hex of SHA-256, per (protocol, task, string)
EXPECTED = {
    ("mednli", "system"): "e9d3a9c81c3a3e39",
    ("mednli", "user"): "2da9b88e7ba47122",
    ("meqsum", "system"): "42c0eb2cbc0e01e2",
    ("meqsum", "user"): "25336a27a965d26b",
    ("problemsummary", "system"): "9e6ec00ec38e21e9",
    ("problemsummary", "user"): "f9f934483bd85d35",
    ("medisumqa", "system"): "a55bbe3f1a0f3c8f",
    ("medisumcode", "system"): "99f420484f792010",
    ("medisumcode", "user"): "e667f41d12820283",
    ("longhealth_task1", "system"): "57ece39392d156fb",
    ("longhealth_task1", "user"): "28e53e9c1eb9f3ec",
}
QA_USER = {"2024-06": "de476bcbec855fe0", "2025-01": "212c4584232e3b65"}


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@pytest.mark.parametrize("pid", ["2024-06", "2025-01"])
def test_shipped_strings_match_the_reference_hashes(pid: str) -> None:
    p = load_protocol(pid)
    for (task, key), digest in EXPECTED.items():
        assert sha16(getattr(p.task(task), key)) == digest, (pid, task, key)
    assert sha16(p.task("medisumqa").user) == QA_USER[pid]
    for name in ("longhealth_task2", "longhealth_task3"):
        assert p.task(name).system == p.task("longhealth_task1").system


def test_licence_notice_ships_beside_the_protocols() -> None:
    p = load_protocol("2024-06")
    assert p.builtin and p.licence == "LICENSE-CLUE.txt"
    notice = builtin_path("2024-06").with_name(p.licence).read_text(encoding="utf-8")
    assert "MIT License" in notice and "Amin Dada" in notice


# -- hand-assembled prompts --------------------------------------------------------------------------
def ex(task: str, i: int, **fields: str) -> Example:
    return Example(id=f"{task}-{i}", task=task, fields=fields, reference="", source_line=i + 1)


def records(task: str) -> list[Example]:
    if task == "mednli":
        return [ex(task, i, sentence1=f"Premise {i}.", sentence2=f"Hypothesis {i}.", gold_label=["entailment", "neutral", "contradiction", "neutral"][i]) for i in range(4)]
    if task == "meqsum":
        return [ex(task, i, File=f"{i}.txt", CHQ=f"My question number {i} is long.", Summary=f"What is {i}?") for i in range(4)]
    if task == "problemsummary":
        return [ex(task, i, **{"File ID": str(i), "Subjectives": f"S{i}", "Objectives": "", "Assessment": f"A{i}", "Summary": f"P{i}, Q{i}"}) for i in range(4)]
    if task == "medisumqa":
        return [ex(task, i, discharge_summary=f"Letter {i} full", without_discharge_summary=f"Letter {i}", Question=f"Q{i}?", Answer=f"A{i}.", document_id=str(i)) for i in range(3)]
    return [ex(task, i, text=f"Letter {i}", codes=f"I10, E11{i}", hadm_id=str(i)) for i in range(3)]


MODULES = {"mednli": mednli, "meqsum": meqsum, "problemsummary": problem_summary, "medisumqa": medisumqa, "medisumcode": medisumcode}


def by_hand(pid: str, task: str, style: str, tokenizer) -> str:
    """CLUE-PROTOCOLS §1.1 / §1.2 and §2, written out for this test's records."""
    p = load_protocol(pid)
    tp = p.task(task)
    recs = records(task)
    k = tp.shots
    if pid == "2024-06" and task != "medisumqa":
        shots, item = recs[:k], recs[k]
    else:
        order = list(recs)
        random.seed(1)
        random.shuffle(order)
        shots, item = order[:k], order[k]
    S = tp.system
    U = [tp.user.format(**dict(r.fields)) for r in shots]
    A = [tp.assistant.format(**dict(r.fields)) for r in shots]
    prefix = {("2024-06", "meqsum"): "Question: ", ("2024-06", "problemsummary"): "Diagnoses/Patient problems: ",
              ("2024-06", "medisumcode"): "ICD-10 Codes: ", ("2024-06", "medisumqa"): "Answer: "}.get((pid, task), "")
    u = tp.user.format(**dict(item.fields))
    if style == "plain":
        text = S + "\n\n" + U[0] + "\n\n" + A[0]
        for i in range(1, k):
            text += "\n\n" + U[i] + "\n\n" + A[i]
        return text + "\n\n" + u + "\n\n" + prefix
    msgs = [{"role": "system", "content": S}] if style == "system" else []
    for i in range(k):
        content = (S + "\n\n" + U[i]) if (style == "nosystem" and i == 0) else U[i]
        msgs += [{"role": "user", "content": content}, {"role": "assistant", "content": A[i]}]
    msgs.append({"role": "user", "content": u})
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefix


@pytest.mark.parametrize("style", ["system", "nosystem", "plain"])
@pytest.mark.parametrize("task", list(MODULES))
@pytest.mark.parametrize("pid", ["2024-06", "2025-01"])
def test_fewshot_prompt_equals_hand_assembly(pid, task, style, chat_tokenizer, nosystem_tokenizer) -> None:
    tokenizer = {"system": chat_tokenizer, "nosystem": nosystem_tokenizer, "plain": None}[style]
    ctx = PromptContext(ApproxTokenCounter(), max_context=0, protocol=load_protocol(pid))
    (request, *_) = MODULES[task].requests(records(task), ctx)
    assert render(request, style, tokenizer) == by_hand(pid, task, style, tokenizer)


def test_the_two_protocols_render_different_prompts() -> None:
    for task, module in MODULES.items():
        prompts = {}
        for pid in ("2024-06", "2025-01"):
            ctx = PromptContext(ApproxTokenCounter(), max_context=0, protocol=load_protocol(pid))
            prompts[pid] = render(module.requests(records(task), ctx)[0], "plain")
        assert prompts["2024-06"] != prompts["2025-01"], task


def lh_record() -> dict:
    return {
        "No": 1, "question": "Which drug?", "answer_a": "Aspirin", "answer_b": "Heparin", "answer_c": "None",
        "answer_d": "Heparin sodium", "answer_e": "Warfarin", "correct": "Heparin",
        "answer_location": {"text_1": {"start": [0.1], "end": [0.2]}},
    }


def lh_examples() -> list[Example]:
    texts = {"text_0": "Doc zero.", "text_1": "Doc one with heparin.", "text_2": "Doc two."}
    other = {"text_0": "Other zero.", "text_1": "Other one."}
    mk = lambda patient, texts, record: Example(  # noqa: E731
        id=f"{patient}/q01", task="longhealth", reference=record["correct"],
        fields={"patient": patient, "number": 1, "question": record["question"], "correct": record["correct"],
                "evidence": tuple(record["answer_location"]), "record": record, "texts": texts},
    )
    return [mk("patient_01", texts, lh_record()), mk("patient_02", other, {**lh_record(), "answer_location": {"text_0": {"start": [0.0], "end": [0.1]}}})]


@pytest.mark.parametrize("pid", ["2024-06", "2025-01"])
def test_longhealth_task1_prompt_by_hand(pid: str, chat_tokenizer) -> None:
    p = load_protocol(pid)
    tp = p.task("longhealth_task1")
    ctx = PromptContext(ApproxTokenCounter(), max_context=0, seed=7, protocol=p)
    requests = longhealth.TASK1.requests(lh_examples(), ctx)
    assert len(requests) == 10
    # by hand: everything fits, answer doc first then the others in file order, one shuffle per prompt
    rng = random.Random(7)
    docs = ["Doc one with heparin.", "Doc zero.", "Doc two."]
    order = list(docs)
    rng.shuffle(order)
    options = "A: Aspirin\nB: Heparin\nC: None\nD: Heparin sodium\nE: Warfarin"
    user = tp.user.format(documents="\n\n--------------\n\n".join(order), question_text="Which drug?", options=options)
    first = requests[0]
    assert [m.content for m in first.messages] == [tp.system, user]
    assert render(first, "plain") == tp.system + "\n\n\n" + user
    assert render(first, "nosystem", chat_tokenizer).count(tp.system + user) == 1
    # gold: options containing "Heparin" are B and D: 2024-06 takes the last, 2025-01 the first
    assert first.gold == ("D" if pid == "2024-06" else "B")


def test_longhealth_tasks_2_and_3_options_and_gold() -> None:
    p = load_protocol("2025-01")
    ctx = PromptContext(ApproxTokenCounter(), max_context=0, seed=3, protocol=p)
    t2 = longhealth.TASK2.requests(lh_examples(), ctx)
    t3 = longhealth.TASK3.requests(lh_examples(), ctx)
    assert len(t2) == len(t3) == 10
    assert "F: Question cannot be answered with provided documents" in t2[0].messages[1].content
    assert {r.gold for r in t3} == {"F"} and t2[0].gold == "B"
    assert "Doc one with heparin." not in t3[0].messages[1].content  # task 3: foreign documents only
    assert "Doc one with heparin." in t2[0].messages[1].content


def test_longhealth_cut_follows_the_reference_accounting(bos_counter) -> None:
    """A document that does not fit is decode(encode(doc)[:L - used]) with special tokens kept."""
    p = load_protocol("2024-06")
    counter = bos_counter
    rules = p.longhealth
    n = counter.count_encoded
    tp = p.task("longhealth_task1")
    record = lh_record()
    options = "\n".join(f"{x}: {record['answer_' + x.lower()]}" for x in "ABCDE")
    used = n(record["question"]) + n(options) + n(tp.user)
    long_doc = "heparin " * 400
    examples = lh_examples()
    texts = {"text_0": "Doc zero.", "text_1": long_doc, "text_2": "Doc two."}
    examples[0] = Example(id="patient_01/q01", task="longhealth", reference="Heparin",
                          fields={**examples[0].fields, "texts": texts})
    max_context = 600
    limit = min(rules.budget_tokens, max_context - 50 - (32 + 8 * 2)) - n(tp.system)
    ctx = PromptContext(counter, max_context=max_context, seed=1, protocol=p)
    first = longhealth.TASK1.requests(examples[:1], ctx)[0]
    expected_cut = counter.encoded_head(long_doc, max(limit - used, 0), keep_special=True)
    assert first.truncated
    body = first.messages[1].content
    assert expected_cut in body and long_doc not in body
    assert "Doc zero." not in body  # the misfit ends the selection: the next document is cut to ""
