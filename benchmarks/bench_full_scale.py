"""The harness at full CLUE scale: the oracle end to end, per stage, and prompt building with a real
32k-vocabulary tokenizer.

Run: ``python -m pytest benchmarks/bench_full_scale.py --benchmark-only -p no:xdist`` (or ``make bench``);
``CLUE_BENCH_SCALE=S`` runs S times the real item counts (default 1). The data is written at bench
time by ``scripts/make_scale_data.py`` (fictional text in the original formats: MedNLI 1,422 pairs,
MeQSum 1,000, ProblemSummary 237, MeDiSumQA 416 and MeDiSumCode 500 on 3-5k-token letters,
LongHealth 20 patients x 20 questions, 6,000 prompts), so a fresh clone needs nothing else.

- ``full-scale-oracle``: a ``ClueSession`` over every task with the oracle engine, as ``pytest -m clue
  --model oracle --clue-data DIR`` runs it, in one process. *Cold*: empty generation and score
  caches, so every stage works (BERTScore with the MiniLM fallback on the CPU); *warm*: both caches
  filled by the cold run, so no scorer is built. Stages: data (loading the files), prompts,
  engine (cache look-up, the oracle, cache writes), score, statistics (bootstrap CIs), report
  (report.json, summary.md, plot.png).
- ``full-scale-prompts``: every task's prompts built with a byte-level BPE tokenizer of 32,000
  tokens trained here on the data (a Llama-3-style pre-tokenizer), an 8,192-token context as
  Llama-3-8B has: MeDiSumQA and MeDiSumCode prompts are truncated, LongHealth prompts fill the
  reference's 8,140-token budget. Its extra_info has the prompt tokens and the FLOP-bound time an 8B
  model needs for them on one H100 (bf16 dense, 989 TFLOP/s): the harness's cold time is put next to it.

The per-stage tables are printed at the end of the session (``bench_tables``, benchmarks/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clue.config import RunConfig
from clue.contracts import PromptContext
from clue.engines.tokens import HFTokenCounter
from clue.pipeline import load_task_data
from clue.prompts.protocol import load_protocol
from clue.report.summary import write_human_outputs
from clue.report.assemble import assemble_report
from clue.session import ClueSession
from clue.tasks.registry import ALL_TASKS

REPO = Path(__file__).resolve().parents[1]
SCALE = int(os.environ.get("CLUE_BENCH_SCALE", "1"))
VOCAB = 32_000
MAX_CONTEXT = 8192
PARAMS_8B = 8.0e9
H100_BF16_FLOPS = 989e12
GPU_ESTIMATE_S = 19 * 60  # issue 14's FLOP-bound estimate for an 8B model on one GPU, whole benchmark
STAGES = ("data", "prompts", "engine", "score", "statistics", "report")


def _scale_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_scale_data", REPO / "scripts" / "make_scale_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_scale_data", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scale_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"clue-scale-{SCALE}")
    _scale_module().build(folder, SCALE)
    return folder


def run_oracle(data_dir: Path, cache_dir: Path, report_dir: Path) -> dict[str, float]:
    """One oracle run over every task; seconds per stage, plus "total"."""
    t0 = time.perf_counter()
    config = RunConfig(models=("oracle",), data_dir=data_dir, cache_dir=cache_dir, report_dir=report_dir)
    session = ClueSession(config)
    stages = dict.fromkeys(STAGES, 0.0)
    for case in session.cases():
        t = time.perf_counter()
        session.task_data(case.task)
        stages["data"] += time.perf_counter() - t
        result = session.evaluate(case)
        session.thresholds(case)
        stages["prompts"] += result.durations["prompts_s"]
        stages["engine"] += result.durations["generate_s"]
        stages["score"] += result.durations["score_s"]
        stages["statistics"] += result.durations["statistics_s"]
    session.close()
    t = time.perf_counter()
    report = assemble_report(
        session.run_dir, run_id=session.run_id, started=session.started, duration_s=time.perf_counter() - t0,
        seed=config.seed, settings=session.settings_row(), models=session.model_rows(), tasks=session.tasks,
    )
    write_human_outputs(session.run_dir, report)
    stages["report"] = time.perf_counter() - t
    stages["total"] = time.perf_counter() - t0
    return stages


def _table(title: str, stages: dict[str, float]) -> str:
    total = stages["total"]
    rows = [f"{title} (scale {SCALE})", f"  {'stage':<12}{'seconds':>9}{'share':>8}"]
    for name in (*STAGES, "other"):
        value = stages[name] if name != "other" else total - sum(stages[s] for s in STAGES)
        rows.append(f"  {name:<12}{value:>9.2f}{value / total:>8.0%}")
    rows.append(f"  {'total':<12}{total:>9.2f}")
    return "\n".join(rows)


@pytest.mark.benchmark(group="full-scale-oracle")
def test_oracle_cold(benchmark: BenchmarkFixture, scale_data: Path, tmp_path: Path, bench_tables: list[str]) -> None:
    stages = benchmark.pedantic(
        run_oracle, args=(scale_data, tmp_path / "cache", tmp_path / "reports"), rounds=1, iterations=1
    )
    benchmark.extra_info.update({f"{k}_s": round(v, 3) for k, v in stages.items()}, scale=SCALE)
    benchmark.extra_info["share_of_gpu_estimate"] = round(stages["total"] / (GPU_ESTIMATE_S * SCALE), 4)
    bench_tables.append(_table("full-scale oracle, cold caches", stages)
                  + f"\n  = {stages['total'] / (GPU_ESTIMATE_S * SCALE):.1%} of ~19 min x scale (8B model, FLOP bound)")


@pytest.mark.benchmark(group="full-scale-oracle")
def test_oracle_warm(benchmark: BenchmarkFixture, scale_data: Path, tmp_path: Path, bench_tables: list[str]) -> None:
    run_oracle(scale_data, tmp_path / "cache", tmp_path / "reports")  # fills both caches
    stages = benchmark.pedantic(
        run_oracle, args=(scale_data, tmp_path / "cache", tmp_path / "reports"), rounds=1, iterations=1
    )
    benchmark.extra_info.update({f"{k}_s": round(v, 3) for k, v in stages.items()}, scale=SCALE)
    bench_tables.append(_table("full-scale oracle, warm caches", stages))


def train_tokenizer(texts: list[str], vocab: int = VOCAB) -> Any:
    """Byte-level BPE with a Llama-3-style split (letters, 1-3 digits, punctuation, spaces) and a BOS."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    split = Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(split, behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


@pytest.fixture(scope="module")
def tokenizer(scale_data: Path) -> tuple[Any, float]:
    t = time.perf_counter()
    tok = train_tokenizer(_scale_module().corpus(scale_data))
    return tok, time.perf_counter() - t


def build_prompts(data_dir: Path, counter: HFTokenCounter) -> tuple[dict[str, float], int, int]:
    """Seconds per task to build its prompts; total prompt tokens; total new tokens allowed."""
    protocol = load_protocol()
    ctx = PromptContext(tokens=counter, max_context=MAX_CONTEXT, protocol=protocol)
    seconds: dict[str, float] = {}
    prompt_tokens = new_tokens = 0
    loaded: dict[str, Any] = {}
    for task in ALL_TASKS:
        if task.data_file not in loaded:
            loaded[task.data_file] = load_task_data(task, data_dir).examples
        t = time.perf_counter()
        requests = task.requests(loaded[task.data_file], ctx)
        seconds[task.name] = time.perf_counter() - t
        prompt_tokens += sum(r.prompt_tokens for r in requests)
        new_tokens += sum(r.max_new_tokens for r in requests)
    return seconds, prompt_tokens, new_tokens


@pytest.mark.benchmark(group="full-scale-prompts")
def test_prompts_with_a_32k_tokenizer(
    benchmark: BenchmarkFixture, scale_data: Path, tokenizer: tuple[Any, float], bench_tables: list[str]
) -> None:
    tok, train_s = tokenizer
    seconds, prompt_tokens, new_tokens = benchmark.pedantic(
        build_prompts, args=(scale_data, HFTokenCounter(tok)), rounds=1, iterations=1
    )
    flop_bound_s = 2 * PARAMS_8B * (prompt_tokens + new_tokens) / H100_BF16_FLOPS
    benchmark.extra_info.update(
        {f"{k}_s": round(v, 3) for k, v in seconds.items()}, vocab=tok.get_vocab_size(), train_s=round(train_s, 1),
        prompt_tokens=prompt_tokens, max_new_tokens=new_tokens, flop_bound_8b_h100_s=round(flop_bound_s, 1), scale=SCALE,
    )
    rows = [f"prompt building, {tok.get_vocab_size():,}-token BPE (trained in {train_s:.0f} s), context {MAX_CONTEXT}"]
    rows += [f"  {name:<18}{s:>8.2f} s" for name, s in seconds.items()]
    rows.append(f"  {'total':<18}{sum(seconds.values()):>8.2f} s")
    rows.append(f"  {prompt_tokens:,} prompt tokens + {new_tokens:,} new at most: an 8B model's FLOP bound on one "
                f"H100 is {flop_bound_s / 60:.1f} min")
    bench_tables.append("\n".join(rows))
