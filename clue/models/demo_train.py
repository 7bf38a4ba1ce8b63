"""Training the demo models: a few hundred optimizer steps on CPU, on the demo training split.

The samples are the training split's prompts, built by the tasks and rendered with the demo chat
template exactly as a run builds them (protocol 2024-06, the demo's 2048-token context), each
followed by its reference answer and the end-of-turn token. The demo models attend through a
sliding window (Mistral-style) of ``window`` tokens, so with two layers the answer's first token
sees at most the last 2 * window - 1 tokens of the prompt: a sample keeps only those, and training
sees every token as a full-length run will. The loss is on the answer tokens only.

Deterministic for a given plan: the samples, the batches and the initial weights come from seeded
generators (the weights from ``clue.models.demo``), and training runs on one CPU thread (the same
reduction order on every machine; on a busy CPU, two spinning threads ran ten times slower than one).
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Sample = tuple[tuple[int, ...], tuple[int, ...]]  # (context ids, answer ids incl. the end token)
TRAINING_CONTEXT = 2048  # the demo registry entries' max_context: prompts are cut as in a run


@dataclass(frozen=True)
class TrainingPlan:
    """How one demo model is trained: steps, batch, learning rate (linear warm-up and decay) and the
    sampling weight of each task's samples."""

    steps: int
    mix: Mapping[str, float]
    seed: int
    batch_size: int = 8
    learning_rate: float = 6e-3
    warmup_steps: int = 15
    max_answer_tokens: int = 40


@dataclass(frozen=True)
class TrainingLog:
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    samples: Mapping[str, int]


def training_samples(tokenizer: Any, window: int, max_answer_tokens: int, *, end_token: str) -> dict[str, list[Sample]]:
    """Per CLUE task: the (context, answer) token ids of every training prompt of the demo training split."""
    from clue.contracts import PromptContext
    from clue.engines.tokens import HFTokenCounter
    from clue.models.demo_training import write_training_split
    from clue.prompts.chat import render
    from clue.prompts.protocol import load_protocol
    from clue.tasks.registry import select_tasks

    end_id = tokenizer.convert_tokens_to_ids(end_token)
    keep = 2 * window - 1
    ctx = PromptContext(tokens=HFTokenCounter(tokenizer), max_context=TRAINING_CONTEXT, seed=1, model_id="demo",
                        protocol=load_protocol("2024-06"))
    samples: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="clue-demo-train-") as folder:
        root = write_training_split(Path(folder))
        for task in select_tasks():  # the CLUE suite: the split holds its six data sets
            requests = task.requests(task.load(task.data_path(root)), ctx)
            prompts = tokenizer([render(r, "system", tokenizer) for r in requests], add_special_tokens=False)["input_ids"]
            answers = tokenizer([r.reference for r in requests], add_special_tokens=False)["input_ids"]
            samples[task.name] = [
                (tuple(p[-keep:]), tuple(a[:max_answer_tokens]) + ((end_id,) if len(a) <= max_answer_tokens else ()))
                for p, a in zip(prompts, answers, strict=True)
            ]
    return samples


def _batch(samples: Sequence[Sample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    length = max(len(c) + len(a) for c, a in samples)
    ids = torch.full((len(samples), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(samples), length), dtype=torch.long)
    labels = torch.full((len(samples), length), -100, dtype=torch.long)
    for row, (context, answer) in enumerate(samples):
        seq = list(context) + list(answer)
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(context) : len(seq)] = torch.tensor(answer)
    return ids, mask, labels


def _draw(samples: Mapping[str, Sequence[Sample]], mix: Mapping[str, float], rng: random.Random, n: int) -> list[Sample]:
    tasks = [t for t in mix if samples.get(t)]
    weights = [mix[t] for t in tasks]
    return [rng.choice(samples[t]) for t in rng.choices(tasks, weights=weights, k=n)]


def train(model: Any, samples: Mapping[str, Sequence[Sample]], plan: TrainingPlan, pad_id: int) -> TrainingLog:
    """Train ``model`` (a causal LM with ``.model`` and ``.lm_head``) in place by ``plan``."""
    import torch

    unknown = set(plan.mix) - set(samples)
    if unknown:
        raise ValueError(f"training mix names unknown tasks: {', '.join(sorted(unknown))}")
    rng = random.Random(plan.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same reduction order on every machine; and no spinning threads on a busy CPU
    try:
        return _train(model, samples, plan, pad_id, rng)
    finally:
        torch.set_num_threads(threads)


def _train(model: Any, samples: Mapping[str, Sequence[Sample]], plan: TrainingPlan, pad_id: int,
           rng: random.Random) -> TrainingLog:
    import torch

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate, weight_decay=0.0)

    def rate(step: int) -> float:
        warm = min(1.0, (step + 1) / max(plan.warmup_steps, 1))
        return warm * max(0.05, 1.0 - step / max(plan.steps, 1))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    t0 = time.perf_counter()
    losses: list[float] = []
    for step in range(plan.steps):
        ids, mask, labels = _batch(_draw(samples, plan.mix, rng, plan.batch_size), pad_id)
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        targets = labels[:, 1:]
        chosen = targets != -100
        logits = model.lm_head(hidden[:, :-1][chosen])  # the answer positions only: the head is most of the cost
        loss = torch.nn.functional.cross_entropy(logits, targets[chosen])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % 50 == 0:
            log.info("demo training step %d/%d: loss %.3f", step, plan.steps, losses[-1])
    model.eval()
    tail = losses[-10:] or [math.nan]
    return TrainingLog(plan.steps, time.perf_counter() - t0, losses[0] if losses else math.nan,
                       sum(tail) / len(tail), {t: len(s) for t, s in samples.items()})
