"""The replay engine: clue per-item files (by task + id) and reference predictions.json (by ground truth)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clue.cache.store import GenerationCache, generate_with_cache
from clue.engines.replay import (
    ReplayEngine,
    detect_format,
    infer_task,
    load_reference_predictions,
    read_item_outputs,
)
from clue.errors import DataFormatError, EngineError
from clue.records import Message, Request, Sampling

TASKS = ("mednli", "meqsum", "problem_summary", "longhealth_task1")


def req(rid: str, task: str = "meqsum", reference: str = "", gold=None, text: str | None = None) -> Request:
    return Request(
        id=rid,
        task=task,
        messages=(Message("system", "Answer."), Message("user", text if text is not None else f"item {rid}")),
        max_new_tokens=16,
        reference=reference,
        gold=gold,
    )


def write_lines(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def item_row(r: Request, output: str, **extra) -> dict:
    return {"task": r.task, "id": r.id, "example_id": r.id, "cluster": r.id, "prompt_sha256": r.prompt_key(),
            "output": output, "gold": r.gold, "scores": {}, "truncated": False, "cached": False, **extra}


def reference_row(answer: str, truth) -> dict:
    return {"ROUGE_L": 0.5, "Model Answer": answer, "Ground Truth Answer": truth}


def replay(paths, **kwargs) -> ReplayEngine:
    return ReplayEngine(paths, task_names=TASKS, **kwargs)


# -- clue per-item files ---------------------------------------------------------------------------
def test_items_are_matched_on_task_and_id_in_any_order(tmp_path: Path) -> None:
    requests = [req(f"m{i}") for i in range(4)]
    other = req("m1", task="mednli")
    path = write_lines(tmp_path / "items.jsonl",
                       [item_row(r, f"out {r.id}") for r in reversed(requests)] + [item_row(other, "WRONG TASK")])
    engine = replay([path])
    completions = engine.generate(requests, Sampling())
    assert [(c.request_id, c.text) for c in completions] == [(r.id, f"out {r.id}") for r in requests]
    assert all(c.finish_reason == "replay" and not c.cached for c in completions)
    assert all(c.prompt_sha256 == r.prompt_key() for c, r in zip(completions, requests))
    assert completions[0].completion_tokens == engine.tokens.count("out m0") > 0
    assert engine.generate([other], Sampling())[0].text == "WRONG TASK"
    assert engine.prompt_mismatches == {}


def test_a_changed_prompt_is_replayed_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = [req("a"), req("b")]
    path = write_lines(tmp_path / "items.jsonl", [item_row(r, "x") for r in old])
    now = [old[0], req("b", text="a different prompt")]
    engine = replay([path])
    with caplog.at_level(logging.WARNING, logger="clue.engines.replay"):
        completions = engine.generate(now, Sampling())
    assert [c.text for c in completions] == ["x", "x"]
    assert engine.prompt_mismatches == {"meqsum": ["b"]}
    assert any("1 of 2 meqsum outputs" in r.getMessage() and "prompt" in r.getMessage() for r in caplog.records)


def test_a_line_without_prompt_hash_is_not_checked(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "items.jsonl", [{"task": "meqsum", "id": "a", "output": "y"}])
    engine = replay([path])
    [completion] = engine.generate([req("a", text="changed")], Sampling())
    assert (completion.text, completion.prompt_sha256) == ("y", "")
    assert engine.prompt_mismatches == {}


def test_a_changed_gold_answer_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = req("a", gold=("I10", "E119"))
    path = write_lines(tmp_path / "items.jsonl", [item_row(r, "I10", gold=["I10"])])
    engine = replay([path])
    with caplog.at_level(logging.WARNING, logger="clue.engines.replay"):
        engine.generate([r], Sampling())
    assert engine.gold_mismatches == {"meqsum": ["a"]}
    same = replay([write_lines(tmp_path / "same.jsonl", [item_row(r, "I10", gold=["I10", "E119"])])])
    same.generate([r], Sampling())
    assert same.gold_mismatches == {}


def test_missing_outputs_name_task_count_and_ids(tmp_path: Path) -> None:
    requests = [req(f"m{i}") for i in range(14)]
    path = write_lines(tmp_path / "items.jsonl", [item_row(requests[0], "only one")])
    with pytest.raises(EngineError) as info:
        replay([path]).generate(requests, Sampling())
    message = str(info.value)
    assert "13 of 14 meqsum requests" in message
    assert "m1, m2" in message and "m13" not in message and "..." in message  # the first ten ids
    assert str(path) in message and "missing='empty'" in message


def test_missing_outputs_can_be_scored_as_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    requests = [req("a"), req("b")]
    path = write_lines(tmp_path / "items.jsonl", [item_row(requests[1], "B")])
    with caplog.at_level(logging.WARNING, logger="clue.engines.replay"):
        completions = replay([path], missing="empty").generate(requests, Sampling())
    assert [(c.text, c.finish_reason) for c in completions] == [("", "missing"), ("B", "replay")]
    assert any("scoring them as empty" in r.getMessage() for r in caplog.records)


def test_conflicting_outputs_for_one_item_are_refused(tmp_path: Path) -> None:
    r = req("a")
    one = write_lines(tmp_path / "m1" / "meqsum.jsonl", [item_row(r, "first")])
    two = write_lines(tmp_path / "m2" / "meqsum.jsonl", [item_row(r, "second")])
    with pytest.raises(EngineError, match="different outputs"):
        replay([one, two])
    assert replay([one, one]).generate([r], Sampling())[0].text == "first"  # the same file twice is fine


def test_a_folder_is_searched_for_item_files(tmp_path: Path) -> None:
    a, b = req("a"), req("b", task="mednli")
    write_lines(tmp_path / "items" / "model" / "meqsum.jsonl", [item_row(a, "A")])
    write_lines(tmp_path / "items" / "model" / "mednli.jsonl", [item_row(b, "B")])
    (tmp_path / "items" / "model" / "notes.txt").write_text("ignored")
    engine = replay([tmp_path / "items"])
    assert [c.text for c in engine.generate([a, b], Sampling())] == ["A", "B"]


@pytest.mark.parametrize(
    ("content", "location", "field"),
    [
        ('{"task": "meqsum", "id": "a", "output": "x"}\n{"task": "meqsum", "id": \n', "line 2", "<json>"),
        ('{"task": "meqsum", "id": "a", "output": "x"}\n\n{"task": "meqsum", "id": "b"}\n', "line 3", "output"),
        ('{"task": "meqsum", "id": 7, "output": "x"}\n', "line 1", "id"),
        ('{"task": "meqsum", "id": "a", "output": "x", "prompt_sha256": 5}\n', "line 1", "prompt_sha256"),
        ('{"Model Answer": "x", "Ground Truth Answer": "y"}\n{"Model Answer": "z"}\n', "line 2", "Ground Truth Answer"),
        ('{"Model Answer": null, "Ground Truth Answer": "y"}\n', "line 1", "Model Answer"),
        ('{"Model Answer": "x", "Ground Truth Answer": [["nested"]]}\n', "line 1", "Ground Truth Answer"),
        ('{"answer": "x"}\n', "line 1", "<record>"),
        ('"a string"\n', "line 1", "<record>"),
        ('["not", "an", "object"]\n', "record 1", "<record>"),  # a JSON array: records are counted
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, content: str, location: str, field: str) -> None:
    path = tmp_path / "outputs.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        replay([path])
    assert info.value.path == path and info.value.location == location and info.value.field == field
    assert str(path) in str(info.value) and location in str(info.value)


def test_an_absent_file_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not found: .*nowhere.jsonl"):
        replay([tmp_path / "nowhere.jsonl"])
    with pytest.raises(EngineError, match="no .*files under"):
        replay([tmp_path])


# -- reference predictions.json ----------------------------------------------------------------------
def test_reference_lines_are_matched_by_normalised_ground_truth(tmp_path: Path) -> None:
    requests = [
        req("p1", task="problem_summary", reference="Lower GI bleed, Hypotension"),
        req("p2", task="problem_summary", reference="CAD"),
        req("p3", task="problem_summary", reference="Sepsis, AKI"),
    ]
    path = write_lines(tmp_path / "ProblemSummary" / "predictions.json", [
        reference_row("sepsis", "Sepsis; AKI;"),
        reference_row("bleed", "Lower GI bleed; Hypotension"),
        reference_row("cad", "cad"),
    ])
    completions = replay([path]).generate(requests, Sampling())
    assert [c.text for c in completions] == ["bleed", "cad", "sepsis"]
    assert all(c.prompt_sha256 == "" for c in completions)


def test_repeated_ground_truths_pair_up_in_file_order(tmp_path: Path) -> None:
    requests = [req(f"n{i}", task="mednli", reference=label) for i, label in
                enumerate(["ENTAILMENT", "NEUTRAL", "ENTAILMENT", "ENTAILMENT"])]
    path = write_lines(tmp_path / "mednli" / "predictions.json", [
        reference_row("e-first", "entailment"),
        reference_row("e-second", "entailment"),
        reference_row("neutral", "neutral"),
        reference_row("e-third", "entailment"),
    ])
    completions = replay([path]).generate(requests, Sampling())
    assert [c.text for c in completions] == ["e-first", "neutral", "e-second", "e-third"]


def test_a_list_gold_can_match_when_the_reference_text_does_not(tmp_path: Path) -> None:
    r = req("c1", task="medisumcode", reference="ICD-10 Codes: I10, E11.9", gold=("I10", "E119"))
    path = write_lines(tmp_path / "predictions.json", [reference_row("I10 E11.9", ["I10", "E119"])])
    assert replay([path]).generate([r], Sampling())[0].text == "I10 E11.9"


labels = st.sampled_from(["entailment", "neutral", "contradiction"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(labels, st.text(max_size=6)), min_size=1, max_size=25), st.randoms())
def test_ground_truth_matching_keeps_each_labels_answers_in_file_order(tmp_path_factory, lines, rng) -> None:
    """Whatever order this run scores items in, each gold label receives that label's lines in file
    order: per-item correctness (and so accuracy) is the reference's."""
    folder = tmp_path_factory.mktemp("mednli")
    path = write_lines(folder / "predictions.json", [reference_row(a, gt) for gt, a in lines])
    order = [gt for gt, _ in lines]
    rng.shuffle(order)
    requests = [req(f"i{k}", task="mednli", reference=gt.upper()) for k, gt in enumerate(order)]
    texts = [c.text for c in replay([path]).generate(requests, Sampling())]
    got: dict[str, list[str]] = defaultdict(list)
    for r, t in zip(requests, texts):
        got[r.reference.lower()].append(t)
    expected: dict[str, list[str]] = defaultdict(list)
    for gt, a in lines:
        expected[gt].append(a)
    assert got == expected


def test_position_matching_pairs_the_ith_request_with_the_ith_line(tmp_path: Path) -> None:
    requests = [req(f"q{i}", reference=f"gold {i}") for i in range(3)]
    path = write_lines(tmp_path / "meqsum" / "predictions.json",
                       [reference_row(f"answer {i}", "unrelated") for i in range(3)])
    assert [c.text for c in replay([path], match="position").generate(requests, Sampling())] == [
        "answer 0", "answer 1", "answer 2"]
    with pytest.raises(EngineError, match="4 requests .* 3 lines"):
        replay([path], match="position").generate(requests + [req("q3")], Sampling())


def test_a_reference_file_serves_only_its_task(tmp_path: Path) -> None:
    meqsum = write_lines(tmp_path / "results" / "MeQSum" / "predictions.json", [reference_row("Q?", "same")])
    mednli = req("n", task="mednli", reference="same")
    with pytest.raises(EngineError, match="1 of 1 mednli"):
        replay([meqsum]).generate([mednli], Sampling())
    assert replay([meqsum]).generate([req("q", reference="same")], Sampling())[0].text == "Q?"


def test_a_task_prefix_names_the_task_of_a_reference_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "out" / "predictions.json", [reference_row("yes", "entailment")])
    engine = replay([f"mednli={path}"])
    assert engine.generate([req("n", task="mednli", reference="ENTAILMENT")], Sampling())[0].text == "yes"
    with pytest.raises(EngineError):
        engine.generate([req("q", task="meqsum", reference="entailment")], Sampling())


def test_an_untagged_reference_file_serves_any_task(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "out" / "predictions.json", [reference_row("yes", "entailment")])
    engine = replay([path])
    assert engine.generate([req("n", task="mednli", reference="entailment")], Sampling())[0].text == "yes"


def test_item_files_take_precedence_over_reference_files(tmp_path: Path) -> None:
    a, b = req("a", reference="ga"), req("b", reference="gb")
    items = write_lines(tmp_path / "items.jsonl", [item_row(a, "from items")])
    reference = write_lines(tmp_path / "meqsum" / "predictions.json",
                            [reference_row("ref a", "ga"), reference_row("ref b", "gb")])
    assert [c.text for c in replay([reference, items]).generate([a, b], Sampling())] == ["from items", "ref b"]


def test_infer_task_looks_at_the_nearest_name(tmp_path: Path) -> None:
    assert infer_task(Path("runs/mednli-old/LongHealth_Task_1/predictions.json"), TASKS) == "longhealthtask1"
    assert infer_task(Path("runs/x/meqsum.json"), TASKS) == "meqsum"
    assert infer_task(Path("runs/x/predictions.json"), TASKS) is None


def test_load_reference_predictions_reads_lines_and_arrays(tmp_path: Path) -> None:
    lines = write_lines(tmp_path / "a" / "predictions.json",
                        [reference_row("A1", "G1"), reference_row("A2", ["I10", "E119"]), reference_row("A3", 3)])
    assert load_reference_predictions(lines) == [("A1", "G1"), ("A2", "I10, E119"), ("A3", "3")]
    array = tmp_path / "b" / "predictions.json"
    array.parent.mkdir()
    array.write_text(json.dumps([reference_row("A1", "G1")], indent=2))
    assert load_reference_predictions(array) == [("A1", "G1")]
    assert detect_format(array) == "reference"


def test_read_item_outputs_and_detect_format(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [item_row(req("a"), "out")])
    [rec] = read_item_outputs(path)
    assert (rec.task, rec.id, rec.output, rec.line) == ("meqsum", "a", "out", "line 1")
    assert detect_format(path) == "items"


# -- the engine contract ------------------------------------------------------------------------------
def test_the_engine_contract_and_no_caching(tmp_path: Path) -> None:
    r = req("a")
    path = write_lines(tmp_path / "items.jsonl", [item_row(r, "A")])
    engine = replay([path])
    assert engine.name == "replay" and engine.loaded and engine.chat_style == "plain"
    assert engine.render(r) == "Answer.\n\nitem a\n\n"  # the plain rendering: turns, separator, prefix (none)
    assert engine.identity()["engine"] == "replay" and engine.model_id.startswith("replay:")
    assert engine.tokens.truncate("one two three", 2) == "one two "
    cache = GenerationCache(tmp_path / "cache.sqlite")
    completions, stats = generate_with_cache(engine, [r], Sampling(), cache, chunk_size=1)
    assert completions[0].text == "A" and stats.engine_calls == 1 and len(cache) == 0
    engine.close()
    engine.close()


def test_the_engine_satisfies_the_engine_protocol(tmp_path: Path) -> None:
    from clue.engines.base import Engine  # imports the task registry

    engine = replay([write_lines(tmp_path / "items.jsonl", [item_row(req("a"), "A")])])
    assert isinstance(engine, Engine)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "items.jsonl", [item_row(req("a"), "A")])
    with pytest.raises(ValueError, match="match"):
        replay([path], match="id")
    with pytest.raises(ValueError, match="missing"):
        replay([path], missing="skip")
    with pytest.raises(EngineError, match="at least one file"):
        replay([])
