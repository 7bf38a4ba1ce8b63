"""The transformers engine on the demo model: lazy loading, batching, styles, identity, errors."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clue.engines.base import Engine
from clue.engines.hf import HFEngine, batch_order, finish
from clue.errors import EngineError
from clue.records import Message, Rendering, Request, Sampling

QUESTIONS = [
    "Which medication was changed at discharge?",
    "Summarize: my father has chest pain when he walks uphill and gets short of breath, what tests does he need?",
    "List the problems.",
    "SENTENCE_1: The patient had a myocardial infarction last year. SENTENCE_2: The patient has heart disease.",
    "Why?",
    "What are the side effects of metformin, and is it safe with kidney disease stage 3 and high potassium?",
    "ICD-10 codes please.",
]


# generation prefixes of the tasks: the trained demo model answers each in its own format
PREFIXES = ("", "Question: ", "Diagnoses/Patient problems: ", "ICD-10 Codes: ", "Answer: ", "The correct answer is", "Summary: ")


def request(
    i: int, text: str, max_new_tokens: int = 12, system: str = "You are a careful clinician.", prefix: str = ""
) -> Request:
    messages = (Message("system", system), Message("user", text)) if system else (Message("user", text),)
    return Request(id=f"q{i}", task="demo", messages=messages, max_new_tokens=max_new_tokens, reference="gold",
                   rendering=Rendering(prefix=prefix))


@pytest.fixture(scope="module")
def engine(demo_model_dir: Path) -> Iterator[HFEngine]:
    eng = HFEngine(str(demo_model_dir), batch_size=3)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def requests_() -> list[Request]:
    return [request(i, q, prefix=PREFIXES[i % len(PREFIXES)]) for i, q in enumerate(QUESTIONS)]


def test_construction_loads_tokenizer_and_config_only(demo_model_dir: Path) -> None:
    eng = HFEngine(str(demo_model_dir))
    assert isinstance(eng, Engine)
    assert not eng.loaded
    assert eng.name == "hf"
    assert eng.max_context == 8192  # from config.max_position_embeddings
    assert eng.chat_style == "system"  # detected: the demo template accepts a system turn
    assert eng.tokens.count("The patient") > 0
    assert "<|system|>" in eng.render(request(0, "Hi"))
    assert not eng.loaded  # rendering and counting need no model


def test_generate_loads_once_and_close_frees(demo_model_dir: Path) -> None:
    eng = HFEngine(str(demo_model_dir))
    eng.generate([request(0, "Hi", max_new_tokens=2)], Sampling())
    assert eng.loaded
    model = eng._model
    eng.generate([request(1, "Hello", max_new_tokens=2)], Sampling())
    assert eng._model is model  # not reloaded
    eng.close()
    assert not eng.loaded
    eng.close()  # idempotent
    assert eng.generate([], Sampling()) == []
    assert not eng.loaded  # nothing to generate: nothing loaded


def test_batched_equals_one_at_a_time(engine: HFEngine, requests_: list[Request], demo_model_dir: Path) -> None:
    # Prompts of different lengths in batches of 3 are left-padded; greedy tokens must not change.
    batched = engine.generate(requests_, Sampling())
    single = HFEngine(str(demo_model_dir), batch_size=1)
    one_by_one = [single.generate([r], Sampling())[0] for r in requests_]
    single.close()
    assert [c.text for c in batched] == [c.text for c in one_by_one]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in one_by_one]
    assert len({c.text for c in batched}) == len(requests_)  # the prompts really differ in output


def test_results_come_back_in_request_order(engine: HFEngine, requests_: list[Request]) -> None:
    forward = engine.generate(requests_, Sampling())
    reverse = engine.generate(list(reversed(requests_)), Sampling())
    assert [c.request_id for c in forward] == [r.id for r in requests_]
    assert [c.request_id for c in reverse] == [r.id for r in reversed(requests_)]
    assert {c.request_id: c.text for c in forward} == {c.request_id: c.text for c in reverse}
    for r, c in zip(requests_, forward):
        assert c.prompt_tokens == len(engine.tokenizer(engine.render(r), add_special_tokens=False)["input_ids"])


def test_per_request_max_new_tokens(engine: HFEngine) -> None:
    limits = [3, 9, 1, 6]
    reqs = [request(i, "Tell me about the discharge plan.", max_new_tokens=n) for i, n in enumerate(limits)]
    out = engine.generate(reqs, Sampling(max_new_tokens=50))
    for n, c in zip(limits, out):
        assert c.completion_tokens <= n
        if c.finish_reason == "length":
            assert c.completion_tokens == n
    # Same prompt, greedy: the shorter generations are prefixes of the longest one.
    longest = max(out, key=lambda c: c.completion_tokens)
    assert all(longest.text.startswith(c.text.rstrip("\ufffd")) for c in out)


def test_greedy_is_deterministic_and_sampling_is_seeded(engine: HFEngine, requests_: list[Request]) -> None:
    reqs = requests_[:3]
    assert engine.generate(reqs, Sampling()) == engine.generate(reqs, Sampling())
    a = engine.generate(reqs, Sampling(temperature=1.0, seed=7))
    assert a == engine.generate(reqs, Sampling(temperature=1.0, seed=7))
    assert a != engine.generate(reqs, Sampling(temperature=1.0, seed=8))


def test_three_chat_styles_render_differently(demo_model_dir: Path) -> None:
    r = request(0, "Is the patient stable?", max_new_tokens=4, system="SYSTEM TEXT")
    engines = {style: HFEngine(str(demo_model_dir), chat_style=style) for style in ("system", "nosystem", "plain")}
    rendered = {style: eng.render(r) for style, eng in engines.items()}
    assert len(set(rendered.values())) == 3
    assert rendered["system"].startswith("<s><|system|>\nSYSTEM TEXT<|end|>")
    assert "<|system|>" not in rendered["nosystem"]
    assert "<|user|>\nSYSTEM TEXT\n\nIs the patient stable?<|end|>" in rendered["nosystem"]
    # plain: the turns joined by a blank line, no role labels, then the separator (and the prefix, here none)
    assert rendered["plain"] == "SYSTEM TEXT\n\nIs the patient stable?\n\n"
    assert "### User:" not in rendered["plain"]
    # a protocol's generation prefix follows the generation prompt (chat) or the last separator (plain)
    prefixed = dataclasses.replace(r, rendering=Rendering(prefix="Answer: "))
    for style, eng in engines.items():
        assert eng.render(prefixed) == rendered[style] + "Answer: ", style
    for style, eng in engines.items():
        [c] = eng.generate([r], Sampling())
        assert c.completion_tokens > 0, style
        # Every rendering starts with one BOS: the template's, or the tokenizer's for plain text.
        expected = eng.tokens.count(rendered[style]) + (1 if style == "plain" else 0)
        assert c.prompt_tokens == expected
        eng.close()


def test_folder_without_chat_template(demo_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "base"
    shutil.copytree(demo_model_dir, folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    del config["chat_template"]
    config_path.write_text(json.dumps(config))
    assert HFEngine(str(folder)).chat_style == "plain"
    with pytest.raises(EngineError, match="chat template"):
        HFEngine(str(folder), chat_style="system")


def test_identity_changes_with_the_weights(demo_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(demo_model_dir, folder)
    first = HFEngine(str(folder)).identity()
    assert first == HFEngine(str(folder)).identity()  # stable
    assert first["engine"] == "hf" and first["dtype"] == "float32" and first["chat_style"] == "system"
    assert first["revision"].startswith("local-") and first["transformers"]
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, different content and mtime
    weights.write_bytes(bytes(data))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert HFEngine(str(folder)).identity()["revision"] != first["revision"]
    assert HFEngine(str(folder), chat_style="plain").identity()["chat_style"] == "plain"
    assert HFEngine(str(folder), dtype="bfloat16").identity()["dtype"] == "bfloat16"


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EngineError, match="model folder not found") as info:
        HFEngine(str(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(EngineError, match="config.json"):
        HFEngine(str(tmp_path))


def test_hub_id_not_available_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="must be present locally"):
        HFEngine("clue-tests/no-such-model-anywhere")


def test_invalid_settings_are_engine_errors(demo_model_dir: Path) -> None:
    with pytest.raises(EngineError, match="dtype"):
        HFEngine(str(demo_model_dir), dtype="int3")
    with pytest.raises(EngineError, match="chat_style"):
        HFEngine(str(demo_model_dir), chat_style="fancy")
    with pytest.raises(EngineError, match="batch_size"):
        HFEngine(str(demo_model_dir), batch_size=0)


def test_finish_cuts_at_eos_or_limit() -> None:
    assert finish([5, 6, 2, 7], limit=10, eos_ids={2}) == ([5, 6, 2], "stop")
    assert finish([5, 6, 7, 8], limit=3, eos_ids={2}) == ([5, 6, 7], "length")
    assert finish([5, 6, 7, 2], limit=3, eos_ids={2}) == ([5, 6, 7], "length")  # eos past the limit
    assert finish([3, 0, 0], limit=5, eos_ids={2, 3}) == ([3], "stop")  # padding after eos dropped


def test_batch_order_is_longest_first_and_stable() -> None:
    assert batch_order([5, 50, 20, 50], [10, 10, 10, 10]) == [1, 3, 2, 0]
    assert batch_order([10, 10], [5, 100]) == [1, 0]  # total length counts the new tokens


# -- forward batches by tokens ----------------------------------------------------------------------
def mixed_requests() -> list[Request]:
    """Prompts from a few words to a few hundred tokens, as MedNLI and LongHealth mix them."""
    body = " ".join(QUESTIONS)
    return [request(i, (body * (1 + (i * 7) % 9))[: 40 + (i * 131) % 1400], max_new_tokens=6) for i in range(14)]


def spy_batches(eng: HFEngine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """(rows, longest prompt, largest new-token limit) of every forward batch ``eng`` runs."""
    seen: list[tuple[int, int, int]] = []
    real = eng._generate_batch

    def spying(prompts, limits, *args):
        seen.append((len(prompts), max(len(p) for p in prompts), max(limits)))
        return real(prompts, limits, *args)

    monkeypatch.setattr(eng, "_generate_batch", spying)
    return seen


def test_token_budget_batches_keep_the_outputs_of_count_batches(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reqs = mixed_requests()
    by_count = HFEngine(str(demo_model_dir), batch_size=4, token_budget=0)
    counted = spy_batches(by_count, monkeypatch)
    expected = by_count.generate(reqs, Sampling())
    by_tokens = HFEngine(str(demo_model_dir), token_budget=1200)
    budgeted = spy_batches(by_tokens, monkeypatch)
    got = by_tokens.generate(reqs, Sampling())
    assert [c.text for c in got] == [c.text for c in expected]
    assert [c.request_id for c in got] == [r.id for r in reqs]
    assert all(rows == 4 for rows, _, _ in counted[:-1])
    assert all(rows * (width + new) <= 1200 or rows == 1 for rows, width, new in budgeted)
    assert max(rows for rows, _, _ in budgeted) > 4  # short prompts go many to a batch
    assert budgeted[0][1] == max(width for _, width, _ in budgeted)  # the longest first


def test_running_out_of_memory_halves_the_batch_and_never_fails_the_task(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    reqs = mixed_requests()
    expected = HFEngine(str(demo_model_dir), batch_size=1).generate(reqs, Sampling())
    eng = HFEngine(str(demo_model_dir), token_budget=100_000)
    real = eng._generate_batch
    rows_tried: list[int] = []

    def scarce(prompts, limits, *args):  # a device that holds at most 3 rows of these prompts
        rows_tried.append(len(prompts))
        if len(prompts) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB")
        return real(prompts, limits, *args)

    monkeypatch.setattr(eng, "_generate_batch", scarce)
    with caplog.at_level("WARNING", logger="clue.engines.hf"):
        got = eng.generate(reqs, Sampling())
    assert [c.text for c in got] == [c.text for c in expected]
    assert rows_tried[0] == len(reqs) and max(rows_tried[1:]) < len(reqs)
    assert any("ran out of memory; halving it" in r.getMessage() for r in caplog.records)
    # the budget stays lowered: after the first failure no batch is as large as the one that failed
    assert rows_tried.count(len(reqs)) == 1


def test_a_prompt_that_does_not_fit_even_alone_is_a_clear_error(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    eng = HFEngine(str(demo_model_dir))

    def none_fit(prompts, limits, *args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(eng, "_generate_batch", none_fit)
    with pytest.raises(EngineError, match=r"prompt q1 \(\d+ tokens \+ 6 new\) does not fit .* even alone"):
        eng.generate(mixed_requests()[:2], Sampling())


def test_each_forward_batch_is_reported_before_the_next_runs(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reqs = mixed_requests()
    eng = HFEngine(str(demo_model_dir), batch_size=3)
    reported: list[int] = []
    reported_before_batch: list[int] = []
    real = eng._generate_batch

    def watching(prompts, limits, *args):
        reported_before_batch.append(len(reported))
        return real(prompts, limits, *args)

    monkeypatch.setattr(eng, "_generate_batch", watching)
    out = eng.generate(reqs, Sampling(), on_complete=lambda i, c: reported.append(i) or None)
    assert sorted(reported) == list(range(len(reqs)))
    assert reported_before_batch == [0, 3, 6, 9, 12]
    assert all(out[i].request_id == reqs[i].id for i in reported)


def test_a_whole_task_in_one_call_is_cached_batch_by_batch(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from clue.cache.store import GenerationCache, generate_with_cache

    reqs = mixed_requests()
    cache = GenerationCache(tmp_path / "generations.sqlite")
    eng = HFEngine(str(demo_model_dir), batch_size=4)
    real = eng._generate_batch
    batches: list[int] = []

    def dies_in_the_third(prompts, limits, *args):
        batches.append(len(prompts))
        if len(batches) == 3:
            raise RuntimeError("killed")
        return real(prompts, limits, *args)

    monkeypatch.setattr(eng, "_generate_batch", dies_in_the_third)
    with pytest.raises(RuntimeError, match="killed"):
        generate_with_cache(eng, reqs, Sampling(), cache)
    assert len(cache) == 8  # two finished forward batches of 4 are stored
    monkeypatch.setattr(eng, "_generate_batch", real)
    completions, stats = generate_with_cache(eng, reqs, Sampling(), cache)
    assert (stats.hits, stats.misses, stats.engine_calls) == (8, 6, 1)
    assert sum(c.cached for c in completions) == 8
