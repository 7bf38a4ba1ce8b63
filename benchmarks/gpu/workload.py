"""The GPU check's workload and arithmetic: which prompts, how long, and what the hardware could do.

No torch here, so the plan and the FLOP model are tested on any machine.

The sample: 10% of every CLUE task's real item count (LongHealth: of its 400 questions per task, five
prompts each, as the protocol builds them), rounded up, with prompt lengths drawn (seeded) from each
task's range and the protocol's max new tokens (2024-06). The ranges are estimates of CLUE's prompts
under Llama-3's tokenizer with the protocol's shots, not measurements on the credentialed data:
MedNLI and MeQSum are a few hundred tokens (three short shots), ProblemSummary a few thousand
(three progress notes), MeDiSumCode and MeDiSumQA one shot of a discharge summary plus the query,
cut to the 8k context less the reserve, LongHealth filled to its 8,140-token budget.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

CONTEXT = 8192  # Llama-3-8B


@dataclass(frozen=True)
class TaskShape:
    name: str
    real_items: int  # items in the real data set (LongHealth: questions per task)
    prompts_per_item: int
    prompt_tokens: tuple[int, int]  # inclusive range, drawn uniformly
    max_new_tokens: int


TASKS: tuple[TaskShape, ...] = (
    TaskShape("mednli", 1422, 1, (250, 450), 20),
    TaskShape("meqsum", 1000, 1, (350, 700), 200),
    TaskShape("problemsummary", 237, 1, (1500, 3000), 100),
    TaskShape("medisumcode", 500, 1, (4000, 7900), 200),
    TaskShape("medisumqa", 416, 1, (3500, 7900), 200),
    TaskShape("longhealth_task1", 400, 5, (8000, 8140), 50),
    TaskShape("longhealth_task2", 400, 5, (8000, 8140), 50),
    TaskShape("longhealth_task3", 400, 5, (8000, 8140), 50),
)


@dataclass(frozen=True)
class PlannedTask:
    name: str
    items: int
    prompt_lengths: tuple[int, ...]  # one per prompt, in tokens of the prompt text
    max_new_tokens: int

    @property
    def prompts(self) -> int:
        return len(self.prompt_lengths)

    @property
    def prompt_tokens(self) -> int:
        return sum(self.prompt_lengths)


def plan(fraction: float = 0.10, seed: int = 0, length_scale: float = 1.0, max_new_cap: int | None = None,
         tasks: tuple[TaskShape, ...] = TASKS) -> list[PlannedTask]:
    """The fixed sample: ``ceil(fraction * items)`` items per task (at least one), seeded lengths.
    ``length_scale`` and ``max_new_cap`` shrink it for a run of the logic at tiny scale."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = random.Random(seed)
    out = []
    for t in tasks:
        items = max(1, math.ceil(fraction * t.real_items - 1e-9))
        lo, hi = t.prompt_tokens
        lengths = tuple(
            max(8, round(rng.randint(lo, hi) * length_scale)) for _ in range(items * t.prompts_per_item)
        )
        new = t.max_new_tokens if max_new_cap is None else min(t.max_new_tokens, max_new_cap)
        out.append(PlannedTask(t.name, items, lengths, new))
    return out


# -- the model's arithmetic -------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A Llama-style decoder's shape."""

    hidden: int = 4096
    intermediate: int = 14336
    layers: int = 32
    heads: int = 32
    kv_heads: int = 8
    vocab: int = 128256
    bytes_per_param: int = 2  # bf16

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def layer_params(self) -> int:
        kv = self.kv_heads * self.head_dim
        attention = self.hidden * self.hidden * 2 + self.hidden * kv * 2  # q, o; k, v
        mlp = 3 * self.hidden * self.intermediate
        return attention + mlp + 2 * self.hidden  # two RMSNorm weights

    @property
    def params(self) -> int:
        """All parameters, untied input and output embeddings (Llama-3-8B: 8.03e9)."""
        return self.layers * self.layer_params + 2 * self.vocab * self.hidden + self.hidden

    @property
    def matmul_params(self) -> int:
        """Weights multiplied per token inside the layers (no embedding lookup, no LM head)."""
        return self.layers * (self.layer_params - 2 * self.hidden)

    def prefill_flops(self, n: int) -> float:
        """One sequence of ``n`` prompt tokens: the layers' matmuls, causal attention (QK and AV:
        4 * hidden * t per layer at position t), and the LM head for the last position only (as
        transformers' generate computes it)."""
        return 2.0 * self.matmul_params * n + 2.0 * self.layers * self.hidden * n * (n + 1) + 2.0 * self.hidden * self.vocab

    def decode_flops(self, context: int) -> float:
        """One new token at position ``context``: matmuls, attention over the context, LM head."""
        return 2.0 * self.matmul_params + 4.0 * self.layers * self.hidden * (context + 1) + 2.0 * self.hidden * self.vocab

    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param

    def decode_step_bytes(self, contexts: list[int]) -> float:
        """Bytes read from memory by one decode step of a batch: every weight once, each row's KV cache."""
        return float(self.params * self.bytes_per_param + self.kv_bytes_per_token() * sum(contexts))


LLAMA3_8B = Shape()


# -- what the hardware offers -----------------------------------------------------------------------

# Dense bf16 tensor-core peaks (no sparsity) and HBM bandwidth, from the vendors' data sheets.
DEVICES: tuple[tuple[str, float, float], ...] = (  # (name contains, TFLOP/s, TB/s), most specific first
    ("H200", 989.4, 4.8),
    ("GH200", 989.4, 4.0),
    ("H100 NVL", 835.0, 3.9),
    ("H100 PCIE", 756.0, 2.0),
    ("H100", 989.4, 3.35),  # SXM5 (device name "NVIDIA H100 80GB HBM3")
    ("H800", 989.4, 3.35),
    ("A100", 312.0, 2.0),
    ("L40S", 362.0, 0.864),
    ("B200", 2250.0, 8.0),
)


def device_peaks(name: str) -> tuple[float | None, float | None]:
    """(bf16 FLOP/s, bytes/s) of a device by its CUDA name; (None, None) when unknown."""
    upper = name.upper()
    for key, tflops, tbs in DEVICES:
        if key in upper:
            return tflops * 1e12, tbs * 1e12
    return None, None
