"""The generation cache and the pipeline end to end on the demo model.

Run: ``python -m pytest benchmarks/bench_pipeline.py --benchmark-only -p no:xdist``

- ``cache-10k``: ``GenerationCache.get_many`` of 10,000 keys on a cache file holding 20,000
  generations (all hits), and 10,000 puts into a fresh file: as one ``put_many`` transaction; in
  chunks of 16, each on a connection of its own (what ``generate_with_cache`` did before it held
  one connection per call: closing a connection checkpoints the WAL); and in chunks of 16 on one
  ``GenerationCache.writer`` connection (what it does now for an engine reporting batches).
  Entries are generated with a fixed seed: sha256 keys and outputs of 40 to 120 words.
- ``pipeline-meqsum``: ``clue.pipeline.evaluate`` for MeQSum on the shipped demo data, first 8
  items (3 shots each), new tokens capped at 64, on the ``hf`` engine with the tiny ``demo`` model
  (built in a temporary folder before timing), ROUGE scoring only (no BERTScore encoder). *Cold*:
  empty generation and score caches and an engine whose model is not loaded yet, so a round
  includes loading the model and generating; *warm*: both caches filled by an earlier run, a
  fresh engine per round, which must stay unloaded (a fully cached re-run loads no model).
  Generation on a CPU shared with other work slows down sharply with several torch threads
  (``OMP_NUM_THREADS=1`` helps there); ``extra_info`` records the thread count.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from clue.cache.scores import ScoreCache
from clue.cache.store import CacheEntry, GenerationCache
from clue.engines.hf import HFEngine
from clue.models.demo import ensure_demo_model
from clue.pipeline import TaskData, demo_data_dir, evaluate, load_task_data
from clue.records import Sampling
from clue.contracts import ScoringContext
from clue.tasks.registry import get_task

N_STORED = 20_000
N_LOOKUP = 10_000
PUT_CHUNK = 16  # the old default engine call: --clue-batch-size 16
LIMIT = 8
NEW_TOKENS_CAP = 64
SCORERS_ID = "rouge-only"

_WORDS = (
    "what is the how can i should take side effects treatment for my mother father child pain fever "
    "cough diabetes insulin blood pressure medicine dose daily doctor hospital test result infection"
).split()


def _entries(n: int, seed: int = 2024) -> list[CacheEntry]:
    rng = random.Random(seed)
    return [
        CacheEntry(
            key=hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(),
            text=" ".join(rng.choices(_WORDS, k=rng.randint(40, 120))),
            prompt_tokens=rng.randint(200, 4000),
            completion_tokens=rng.randint(20, 200),
            finish_reason="stop",
            model_id="bench-model",
            created=1_700_000_000.0 + i,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationCache, list[str]]:
    cache = GenerationCache(tmp_path_factory.mktemp("cache-bench") / "generations.sqlite")
    entries = _entries(N_STORED)
    cache.put_many(entries)
    keys = [e.key for e in random.Random(7).sample(entries, N_LOOKUP)]
    return cache, keys


@pytest.mark.benchmark(group="cache-10k")
def test_cache_get_many(benchmark: BenchmarkFixture, filled_cache: tuple[GenerationCache, list[str]]) -> None:
    cache, keys = filled_cache
    found = benchmark.pedantic(cache.get_many, args=(keys,), rounds=5, iterations=1, warmup_rounds=1)
    assert len(found) == N_LOOKUP
    benchmark.extra_info.update(keys=N_LOOKUP, stored=N_STORED, hits=len(found))


def _fresh_cache(folder: Path, counter: Iterator[int]) -> GenerationCache:
    return GenerationCache(folder / f"put-{next(counter)}.sqlite")


@pytest.mark.benchmark(group="cache-10k")
def test_cache_put_many_one_transaction(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    entries = _entries(N_LOOKUP, seed=11)
    counter = itertools.count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_fresh_cache(tmp_path, counter), entries), {}

    def put(cache: GenerationCache, rows: list[CacheEntry]) -> GenerationCache:
        cache.put_many(rows)
        return cache

    cache = benchmark.pedantic(put, setup=setup, rounds=3, iterations=1)
    assert len(cache) == N_LOOKUP
    benchmark.extra_info.update(entries=N_LOOKUP, transactions=1)


@pytest.mark.benchmark(group="cache-10k")
def test_cache_put_many_in_batches_one_connection_each(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    entries = _entries(N_LOOKUP, seed=13)
    counter = itertools.count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_fresh_cache(tmp_path, counter), entries), {}

    def put(cache: GenerationCache, rows: list[CacheEntry]) -> GenerationCache:
        for start in range(0, len(rows), PUT_CHUNK):
            cache.put_many(rows[start : start + PUT_CHUNK])
        return cache

    cache = benchmark.pedantic(put, setup=setup, rounds=3, iterations=1)
    assert len(cache) == N_LOOKUP
    benchmark.extra_info.update(entries=N_LOOKUP, transactions=-(-N_LOOKUP // PUT_CHUNK), chunk=PUT_CHUNK)


@pytest.mark.benchmark(group="cache-10k")
def test_cache_put_many_in_batches_on_one_connection(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    entries = _entries(N_LOOKUP, seed=17)
    counter = itertools.count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_fresh_cache(tmp_path, counter), entries), {}

    def put(cache: GenerationCache, rows: list[CacheEntry]) -> GenerationCache:
        with cache.writer() as writer:
            for start in range(0, len(rows), PUT_CHUNK):
                writer.put_many(rows[start : start + PUT_CHUNK])
        return cache

    cache = benchmark.pedantic(put, setup=setup, rounds=3, iterations=1)
    assert len(cache) == N_LOOKUP
    benchmark.extra_info.update(entries=N_LOOKUP, transactions=-(-N_LOOKUP // PUT_CHUNK), connections=1)


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo_model("demo", tmp_path_factory.mktemp("clue-models"))


@pytest.fixture(scope="module")
def meqsum_data() -> TaskData:
    return load_task_data(get_task("meqsum"), demo_data_dir())


def _run(data: TaskData, engine: HFEngine, folder: Path) -> Any:
    return evaluate(
        data,
        engine,
        model="demo",
        sampling=Sampling(),
        scoring=ScoringContext(),
        cache=GenerationCache(folder / "generations.sqlite"),
        score_cache=ScoreCache(folder / "scores.sqlite"),
        scorers_id=SCORERS_ID,
        limit=LIMIT,
        max_new_tokens_cap=NEW_TOKENS_CAP,
        chunk_size=LIMIT,
    )


@pytest.mark.benchmark(group="pipeline-meqsum")
def test_pipeline_cold_cache(
    benchmark: BenchmarkFixture, demo_model: Path, meqsum_data: TaskData, tmp_path: Path
) -> None:
    counter = itertools.count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        folder = tmp_path / f"cold-{next(counter)}"
        return (meqsum_data, HFEngine(str(demo_model), device="cpu"), folder), {}

    result = benchmark.pedantic(_run, setup=setup, rounds=3, iterations=1)
    assert result.n == LIMIT and result.engine_loaded
    assert result.cache == {"hits": 0, "misses": LIMIT, "engine_calls": 1, "chunk_size": LIMIT}
    benchmark.extra_info.update(
        items=LIMIT,
        max_new_tokens=NEW_TOKENS_CAP,
        completion_tokens=result.tokens["completion"],
        device="cpu",
        torch_threads=torch.get_num_threads(),
    )


@pytest.mark.benchmark(group="pipeline-meqsum")
def test_pipeline_warm_cache(
    benchmark: BenchmarkFixture, demo_model: Path, meqsum_data: TaskData, tmp_path: Path
) -> None:
    folder = tmp_path / "warm"
    first = _run(meqsum_data, HFEngine(str(demo_model), device="cpu"), folder)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (meqsum_data, HFEngine(str(demo_model), device="cpu"), folder), {}

    result = benchmark.pedantic(_run, setup=setup, rounds=5, iterations=1)
    assert result.n == LIMIT and not result.engine_loaded
    assert result.cache["hits"] == LIMIT and result.cache["engine_calls"] == 0
    assert result.means() == first.means()
    benchmark.extra_info.update(items=LIMIT, max_new_tokens=NEW_TOKENS_CAP, device="cpu")
