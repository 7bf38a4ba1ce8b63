"""Token-budget batches, the tokenising thread, out-of-memory halving and the default budget."""

from __future__ import annotations

import threading
from collections import deque
from types import SimpleNamespace

import pytest
import torch

from clue.engines.batching import (
    CPU_TOKEN_BUDGET,
    MAX_TOKEN_BUDGET,
    MIN_TOKEN_BUDGET,
    BatchTooLarge,
    Prefetch,
    Prompt,
    batch_tokens,
    default_token_budget,
    is_out_of_memory,
    kv_bytes_per_token,
    length_order,
    plan_batches,
    run_halving,
    take_batch,
)


def prompts(lengths: list[int], max_new: int = 10) -> list[Prompt]:
    return [Prompt(i, [7] * n, max_new) for i, n in enumerate(lengths)]


def test_batches_stay_within_the_budget_and_the_rows() -> None:
    ps = prompts([900, 850, 400, 390, 380, 120, 110, 100, 90, 80, 70, 60])
    batches = plan_batches(ps, budget=2_000, max_rows=4)
    assert [p.index for b in batches for p in b] == list(range(len(ps)))  # order kept, nothing lost
    assert all(batch_tokens(b) <= 2_000 for b in batches)
    assert all(len(b) <= 4 for b in batches)
    # short prompts share a batch, long ones do not: that is the point against a fixed count
    assert [len(b) for b in batches] == [2, 4, 4, 2]


def test_a_prompt_over_the_budget_runs_alone() -> None:
    batches = plan_batches(prompts([5_000, 100, 100]), budget=1_000, max_rows=8)
    assert [[p.index for p in b] for b in batches] == [[0], [1, 2]]


def test_a_zero_budget_is_count_batching() -> None:
    batches = plan_batches(prompts([5_000, 4_000, 100, 100, 90]), budget=0, max_rows=2)
    assert [len(b) for b in batches] == [2, 2, 1]


def test_the_budget_counts_the_largest_new_token_limit() -> None:
    ps = [Prompt(0, [1] * 100, 10), Prompt(1, [1] * 100, 400)]
    assert batch_tokens(ps) == 2 * (100 + 400)
    assert [len(b) for b in plan_batches(ps, budget=999, max_rows=8)] == [1, 1]
    assert [len(b) for b in plan_batches(ps, budget=1_000, max_rows=8)] == [2]


def test_take_batch_pulls_prompts_as_it_needs_them() -> None:
    source = iter(prompts([300, 200, 100, 90, 80]))
    pending: deque[Prompt] = deque()
    pulled = []

    def more() -> bool:
        p = next(source, None)
        if p is None:
            return False
        pulled.append(p.index)
        pending.append(p)
        return True

    first = take_batch(pending, more, budget=650, max_rows=8)
    assert [p.index for p in first] == [0, 1]  # 3 x (300 + 10) > 650
    assert pulled == [0, 1, 2]  # looked one ahead to know the batch was full
    rest = take_batch(pending, more, budget=650, max_rows=8)
    assert [p.index for p in rest] == [2, 3, 4]
    assert take_batch(pending, more, budget=650, max_rows=8) == []


def test_length_order_is_longest_first_and_stable() -> None:
    assert length_order([5, 9, 5, 1], [1, 1, 1, 1]) == [1, 0, 2, 3]
    assert length_order([5, 5], [1, 3]) == [1, 0]


def oom(rows_that_fit: int, calls: list[int]):
    def run(batch: list[Prompt]) -> list[str]:
        calls.append(len(batch))
        if len(batch) > rows_that_fit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"out{p.index}" for p in batch]

    return run


def test_out_of_memory_halves_the_batch_until_it_fits() -> None:
    calls: list[int] = []
    seen: list[int] = []
    batch = prompts([100] * 8)
    done = run_halving(batch, oom(2, calls), lambda b, exc: seen.append(len(b)))
    assert [(p.index, out) for p, out in done] == [(i, f"out{i}") for i in range(8)]
    assert calls == [8, 4, 2, 2, 4, 2, 2]
    assert seen == [8, 4, 4]


def test_one_prompt_that_does_not_fit_alone_is_reported() -> None:
    with pytest.raises(BatchTooLarge) as err:
        run_halving(prompts([100, 100]), oom(0, []), lambda b, exc: None)
    assert err.value.prompt.index == 0


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def run(batch: list[Prompt]) -> list[str]:
        calls.append(len(batch))
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError, match="a bug"):
        run_halving(prompts([1, 1, 1, 1]), run, lambda b, exc: None)
    assert calls == [4]


def test_out_of_memory_errors_are_recognised() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_prefetch_yields_every_prompt_in_order_from_its_thread() -> None:
    threads: set[str] = set()

    def encode(indices):
        threads.add(threading.current_thread().name)
        return [[i] * (i + 1) for i in indices]

    order = [4, 2, 0, 1, 3]
    with Prefetch(order, encode, [5] * 5, ahead=2, group=2) as stream:
        got = list(stream)
    assert [p.index for p in got] == order
    assert [p.ids for p in got] == [[i] * (i + 1) for i in order]
    assert threads == {"clue-tokenise"}


def test_prefetch_raises_the_threads_error_and_stops_early() -> None:
    def failing(indices):
        if 3 in indices:
            raise RuntimeError("tokenizer broke")
        return [[1] for _ in indices]

    with pytest.raises(RuntimeError, match="tokenizer broke"):
        with Prefetch(range(6), failing, [1] * 6, ahead=1, group=1) as stream:
            list(stream)
    # leaving early stops a thread that is still ahead
    encoded: list[int] = []
    with Prefetch(range(1000), lambda ix: [encoded.extend(ix) or [0] for _ in ix], [1] * 1000, ahead=4, group=4) as s:
        next(iter(s))
    assert len(encoded) < 1000


LLAMA_8B = SimpleNamespace(num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, hidden_size=4096)


def test_default_budget_fits_the_device() -> None:
    assert kv_bytes_per_token(LLAMA_8B, 2) == 131_072  # 2 x 32 layers x 8 KV heads x 128 x 2 bytes
    assert default_token_budget(LLAMA_8B, "cpu", None, 2) == CPU_TOKEN_BUDGET
    free = 120 * 2**30  # an H200 after loading 16 GB of bf16 weights
    budget = default_token_budget(LLAMA_8B, "cuda", free, 2)
    assert budget == int(free * 0.6) // (2 * 131_072)
    assert 200_000 < budget < 400_000  # e.g. 32 LongHealth prompts of 8k tokens at once
    assert default_token_budget(LLAMA_8B, "cuda", 10**6, 2) == MIN_TOKEN_BUDGET
    assert default_token_budget(SimpleNamespace(num_hidden_layers=1, hidden_size=64, num_attention_heads=1), "cuda",
                                10**15, 2) == MAX_TOKEN_BUDGET
