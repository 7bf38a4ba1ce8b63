"""Forward batches by a token budget, prompts tokenised ahead of the model, and out-of-memory retries.

A fixed count of rows per batch is wasteful for 200-token MedNLI prompts and dangerous for 8k-token
LongHealth ones. A batch here is bounded by tokens: rows x (its longest prompt + its largest number
of new tokens), the padded size of its KV cache at the end of generation, must stay within the
budget (and the rows within ``max_rows``). Prompts come longest first, so padding stays small and a
memory problem shows in the first batch.

``Prefetch`` renders and tokenises prompts on a background thread, a few batches ahead of the
model, so the accelerator does not wait for the CPU between batches (the Rust tokenizer releases
the GIL). Batches are formed from the prefetched prompts in a fixed order, the same however fast
the thread is: their composition depends only on the prompts, the budget and the row limit.

``run_halving`` runs a batch and, when memory runs out, halves it and retries each half; only a
single prompt that does not fit alone is an error.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_ROWS = 256  # rows per forward batch when --clue-batch-size is not given
CPU_TOKEN_BUDGET = 4_096  # tokens per forward batch on a CPU: speed, not memory, sets it (bench_hf_batching.py)
MIN_TOKEN_BUDGET = 2_048
MAX_TOKEN_BUDGET = 4_000_000
GPU_MEMORY_SHARE = 0.6  # of the memory free after loading the model, for a batch's KV cache and activations
PREFETCH_GROUP = 32  # prompts rendered and tokenised per step of the prefetch thread


@dataclass(frozen=True)
class Prompt:
    """One request, tokenised: its index in the engine call, prompt ids and new-token limit."""

    index: int
    ids: list[int]
    max_new: int

    @property
    def length(self) -> int:
        return len(self.ids)


def batch_tokens(prompts: Sequence[Prompt]) -> int:
    """The padded size of a batch: rows x (longest prompt + largest number of new tokens)."""
    if not prompts:
        return 0
    return len(prompts) * (max(p.length for p in prompts) + max(p.max_new for p in prompts))


def take_batch(pending: deque[Prompt], more: Callable[[], bool], budget: int, max_rows: int) -> list[Prompt]:
    """The next batch from the front of ``pending``: prompts in order while the batch stays within
    ``budget`` tokens (0: no token limit) and ``max_rows`` rows. ``more()`` appends the next prompt
    to ``pending`` and says whether there was one. The first prompt is always taken, even alone
    over the budget. Empty when nothing is left."""
    if not pending and not more():
        return []
    batch = [pending.popleft()]
    width, new = batch[0].length, batch[0].max_new
    while len(batch) < max_rows:
        if not pending and not more():
            break
        nxt = pending[0]
        w, n = max(width, nxt.length), max(new, nxt.max_new)
        if budget and (len(batch) + 1) * (w + n) > budget:
            break
        batch.append(pending.popleft())
        width, new = w, n
    return batch


def plan_batches(prompts: Sequence[Prompt], budget: int, max_rows: int) -> list[list[Prompt]]:
    """All batches of ``prompts`` (already in order) as ``take_batch`` forms them."""
    pending = deque(prompts)
    out = []
    while batch := take_batch(pending, lambda: False, budget, max_rows):
        out.append(batch)
    return out


def length_order(sizes: Sequence[int], max_new: Sequence[int]) -> list[int]:
    """Indices longest first by ``sizes[i] + max_new[i]`` (more new tokens first on ties, then index)."""
    return sorted(range(len(sizes)), key=lambda i: (-(sizes[i] + max_new[i]), -max_new[i], i))


class Prefetch:
    """Tokenised prompts, in ``order``, produced by a daemon thread a bounded number ahead.

    ``encode(indices)`` returns the prompt ids of those requests (rendering included); it runs on the
    thread. Iterate for ``Prompt``s; an error on the thread is raised by the iteration. Use as a
    context manager: leaving it stops the thread.
    """

    def __init__(
        self,
        order: Sequence[int],
        encode: Callable[[Sequence[int]], list[list[int]]],
        max_new: Sequence[int],
        ahead: int,
        group: int = PREFETCH_GROUP,
    ) -> None:
        self._order = list(order)
        self._encode = encode
        self._max_new = max_new
        self._group = max(1, group)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(2, -(-ahead // self._group)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="clue-tokenise", daemon=True)

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a thread waiting to put
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for start in range(0, len(self._order), self._group):
                if self._stop.is_set():
                    return
                indices = self._order[start : start + self._group]
                ids = self._encode(indices)
                prompts = [Prompt(i, list(p), self._max_new[i]) for i, p in zip(indices, ids, strict=True)]
                if not self._put(("prompts", prompts)):
                    return
            self._put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(("error", exc))

    def __iter__(self) -> Iterator[Prompt]:
        while True:
            kind, value = self._queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield from value


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an accelerator's (or the CPU allocator's) out-of-memory error."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    message = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in message or "can't allocate memory" in message or isinstance(exc, MemoryError)
    )


class BatchTooLarge(Exception):
    """A single prompt ran out of memory on its own."""

    def __init__(self, prompt: Prompt, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.prompt = prompt


def run_halving(
    batch: list[Prompt],
    run: Callable[[list[Prompt]], list[T]],
    on_oom: Callable[[list[Prompt], BaseException], None],
) -> list[tuple[Prompt, T]]:
    """``run(batch)``; when it runs out of memory, ``on_oom(batch, exc)`` (free memory, lower the
    budget) and the two halves are run the same way. Raises BatchTooLarge for one prompt alone."""
    try:
        return list(zip(batch, run(batch), strict=True))
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        on_oom(batch, exc)
        if len(batch) == 1:
            raise BatchTooLarge(batch[0], exc) from exc
    half = (len(batch) + 1) // 2
    return run_halving(batch[:half], run, on_oom) + run_halving(batch[half:], run, on_oom)


def kv_bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Bytes of KV cache one token takes in a decoder of this config (keys and values, every layer)."""
    cfg = getattr(config, "text_config", None) or config
    layers = int(getattr(cfg, "num_hidden_layers", 0) or getattr(cfg, "n_layer", 0) or 32)
    heads = int(getattr(cfg, "num_attention_heads", 0) or getattr(cfg, "n_head", 0) or 32)
    kv_heads = int(getattr(cfg, "num_key_value_heads", 0) or heads)
    hidden = int(getattr(cfg, "hidden_size", 0) or getattr(cfg, "n_embd", 0) or 4096)
    head_dim = int(getattr(cfg, "head_dim", 0) or hidden // max(heads, 1))
    return 2 * layers * kv_heads * head_dim * dtype_bytes


def default_token_budget(config: Any, device_type: str, free_bytes: int | None, dtype_bytes: int) -> int:
    """Tokens per forward batch that fit the model and device.

    CUDA: ``GPU_MEMORY_SHARE`` of the memory free after the model loaded, over twice the KV cache of
    a token (the other half for activations and fragmentation). CPU and others: ``CPU_TOKEN_BUDGET``,
    where batches are bounded by speed rather than memory. Clamped to [MIN, MAX]_TOKEN_BUDGET.
    """
    if device_type != "cuda" or not free_bytes:
        return CPU_TOKEN_BUDGET
    per_token = 2 * kv_bytes_per_token(config, dtype_bytes)
    budget = int(free_bytes * GPU_MEMORY_SHARE) // max(per_token, 1)
    return max(MIN_TOKEN_BUDGET, min(MAX_TOKEN_BUDGET, budget))
