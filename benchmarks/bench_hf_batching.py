"""hf engine forward batches: a fixed count of rows against a token budget, on prompts of mixed lengths.

Run: ``python -m pytest benchmarks/bench_hf_batching.py --benchmark-only -p no:xdist``

128 prompts as a CLUE run mixes them: 96 short (60-200 words, MedNLI- and MeQSum-like), 24 medium
(500-900) and 8 long (1,800-3,000 words, LongHealth-like), 16 new tokens each, greedy, on the tiny
``demo`` model (built in a temporary folder) on the CPU with one torch thread. Both engines sort
the prompts longest first, as before:

- ``count``: 16 rows per forward batch (the old ``--clue-batch-size`` default) and no token limit:
  the long prompts pad the medium ones of their batch to 3,000 words;
- ``tokens``: batches of at most ``CPU_TOKEN_BUDGET`` (4,096) tokens, rows x (longest prompt + new
  tokens), up to 256 rows: the long prompts run alone, the short ones many to a batch.

The outputs are identical (checked); the gain is the ratio of the two means. ``extra_info`` has
the forward batches each ran.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from clue.engines.batching import CPU_TOKEN_BUDGET
from clue.engines.hf import HFEngine
from clue.models.demo import ensure_demo_model
from clue.records import Message, Request, Sampling

WORDS = (
    "the patient was admitted with chest pain and shortness of breath treated with aspirin heparin "
    "metoprolol furosemide and discharged home on day three after an uneventful course"
).split()
MIX = ((96, (60, 200)), (24, (500, 900)), (8, (1800, 3000)))
NEW_TOKENS = 16


def mixed_requests(seed: int = 3) -> list[Request]:
    rng = random.Random(seed)
    lengths = [rng.randint(*span) for count, span in MIX for _ in range(count)]
    rng.shuffle(lengths)
    return [
        Request(f"r{i}", "bench", (Message("user", " ".join(rng.choice(WORDS) for _ in range(n))),), NEW_TOKENS, "")
        for i, n in enumerate(lengths)
    ]


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo_model("demo", tmp_path_factory.mktemp("clue-models"))


@pytest.fixture(scope="module")
def one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_TEXTS: dict[str, list[str]] = {}


def _run(benchmark: BenchmarkFixture, engine: HFEngine, name: str) -> None:
    requests = mixed_requests()
    engine.generate(requests[:1], Sampling())  # load the model outside the timing
    batches: list[tuple[int, int]] = []
    real = engine._generate_batch

    def counting(prompts, limits, *args):  # type: ignore[no-untyped-def]
        batches.append((len(prompts), max(len(p) for p in prompts)))
        return real(prompts, limits, *args)

    engine._generate_batch = counting  # type: ignore[method-assign]
    out = benchmark.pedantic(engine.generate, args=(requests, Sampling()), rounds=3, iterations=1, warmup_rounds=0)
    _TEXTS[name] = [c.text for c in out]
    if len(_TEXTS) == 2:
        assert _TEXTS["count"] == _TEXTS["tokens"]  # the same greedy outputs, batched differently
    per_round = len(batches) // 3
    benchmark.extra_info.update(
        prompts=len(requests), new_tokens=NEW_TOKENS, forward_batches=per_round,
        rows=[rows for rows, _ in batches[:per_round]], torch_threads=torch.get_num_threads(),
    )


@pytest.mark.benchmark(group="hf-batching-mixed")
def test_count_batches(benchmark: BenchmarkFixture, demo_model: Path, one_thread: object) -> None:
    _run(benchmark, HFEngine(str(demo_model), device="cpu", batch_size=16, token_budget=0), "count")


@pytest.mark.benchmark(group="hf-batching-mixed")
def test_token_budget_batches(benchmark: BenchmarkFixture, demo_model: Path, one_thread: object) -> None:
    engine = HFEngine(str(demo_model), device="cpu")
    assert engine.token_budget is None  # the default: CPU_TOKEN_BUDGET on a CPU
    _run(benchmark, engine, "tokens")
    benchmark.extra_info["token_budget"] = CPU_TOKEN_BUDGET
