"""The oracle engine: gold answers, and a seeded, order-independent share of wrong ones."""

from __future__ import annotations

import random

import pytest

from clue.engines.base import Engine
from clue.engines.oracle import OracleEngine
from clue.engines.tokens import ApproxTokenCounter
from clue.records import Message, Request, Sampling


def make_requests(n: int, task: str = "meqsum", n_refs: int = 7) -> list[Request]:
    return [
        Request(
            id=f"{task}-{i}",
            task=task,
            messages=(Message("system", "Summarize."), Message("user", f"Question {i}?")),
            max_new_tokens=32,
            reference=f"answer {i % n_refs}",
        )
        for i in range(n)
    ]


def corrupted_ids(engine: OracleEngine, requests: list[Request]) -> set[str]:
    refs = {r.id: r.reference for r in requests}
    return {c.request_id for c in engine.generate(requests, Sampling()) if c.text != refs[c.request_id]}


def test_returns_the_references_in_order() -> None:
    engine = OracleEngine()
    assert isinstance(engine, Engine)
    reqs = make_requests(20) + make_requests(5, task="mednli")
    out = engine.generate(reqs, Sampling())
    assert [c.request_id for c in out] == [r.id for r in reqs]
    assert [c.text for c in out] == [r.reference for r in reqs]
    assert all(c.finish_reason == "stop" for c in out)
    assert out[0].completion_tokens == ApproxTokenCounter().count(reqs[0].reference)
    assert out[0].prompt_tokens == ApproxTokenCounter().count("Summarize.") + ApproxTokenCounter().count("Question 0?")


def test_engine_attributes() -> None:
    engine = OracleEngine()
    assert (engine.name, engine.model_id, engine.chat_style) == ("oracle", "oracle", "system")
    assert engine.loaded and engine.max_context >= 131072
    assert isinstance(engine.tokens, ApproxTokenCounter)
    assert OracleEngine(corrupt_fraction=0.2).model_id == "oracle-degraded"
    assert OracleEngine(corrupt_fraction=0.2, name="my-oracle").model_id == "my-oracle"
    assert OracleEngine(0.2, seed=1).identity() != OracleEngine(0.2, seed=2).identity()
    assert OracleEngine(0.2).identity() != OracleEngine(0.3).identity()
    req = make_requests(1)[0]
    assert "Summarize." in engine.render(req) and "Question 0?" in engine.render(req)
    engine.close()
    engine.close()


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5])
def test_corrupted_share_is_close_to_the_fraction(fraction: float) -> None:
    reqs = make_requests(4000)
    share = len(corrupted_ids(OracleEngine(fraction, seed=3), reqs)) / len(reqs)
    assert abs(share - fraction) < 0.03  # binomial sd <= 0.008 at n = 4000


def test_wrong_answers_come_from_other_requests_of_the_same_task() -> None:
    reqs = make_requests(300) + make_requests(300, task="mednli", n_refs=3)
    by_id = {r.id: r for r in reqs}
    engine = OracleEngine(0.5, seed=11)
    out = engine.generate(reqs, Sampling())
    wrong = [c for c in out if c.text != by_id[c.request_id].reference]
    assert wrong
    for c in wrong:
        task = by_id[c.request_id].task
        same_task_refs = {r.reference for r in reqs if r.task == task}
        assert c.text in same_task_refs and c.text != by_id[c.request_id].reference
    # Which wrong answer is picked is spread over the candidates, not always the same one.
    assert len({c.text for c in wrong if by_id[c.request_id].task == "meqsum"}) > 3


def test_deterministic_and_independent_of_order_and_batch() -> None:
    reqs = make_requests(500)
    engine = OracleEngine(0.25, seed=5)
    first = {c.request_id: c.text for c in engine.generate(reqs, Sampling())}
    again = {c.request_id: c.text for c in OracleEngine(0.25, seed=5).generate(reqs, Sampling())}
    assert first == again
    shuffled = reqs[:]
    random.Random(0).shuffle(shuffled)
    assert {c.request_id: c.text for c in engine.generate(shuffled, Sampling())} == first
    # The decision is per request id: a sub-batch corrupts exactly the same requests.
    subset = reqs[::3]
    assert corrupted_ids(engine, subset) == corrupted_ids(engine, reqs) & {r.id for r in subset}
    # Another seed corrupts another set.
    assert corrupted_ids(OracleEngine(0.25, seed=6), reqs) != corrupted_ids(engine, reqs)


def test_empty_answer_when_no_other_reference_differs() -> None:
    reqs = [
        Request(id=f"x{i}", task="t", messages=(Message("user", "q"),), max_new_tokens=5, reference="same")
        for i in range(50)
    ]
    out = OracleEngine(1.0).generate(reqs, Sampling())
    assert [c.text for c in out] == [""] * 50
    assert OracleEngine(1.0).generate(reqs[:1], Sampling())[0].text == ""


def test_full_and_zero_fractions() -> None:
    reqs = make_requests(100)
    assert len(corrupted_ids(OracleEngine(1.0), reqs)) == 100
    assert corrupted_ids(OracleEngine(0.0), reqs) == set()
    assert OracleEngine(0.5).generate([], Sampling()) == []


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_invalid_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="corrupt_fraction"):
        OracleEngine(fraction)
