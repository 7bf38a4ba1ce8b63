"""benchmarks/gpu: the GPU check's plan and arithmetic, its refusal on a CPU machine (one line, exit 2,
no traceback), and its whole logic at tiny scale on the CPU (``--tiny --allow-cpu``)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "benchmarks" / "gpu"


def load_workload():
    spec = importlib.util.spec_from_file_location("clue_gpu_workload", GPU / "workload.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


workload = load_workload()


def test_sample_is_a_tenth_of_every_task() -> None:
    tasks = {t.name: t for t in workload.plan()}
    assert {n: t.items for n, t in tasks.items()} == {
        "mednli": 143, "meqsum": 100, "problemsummary": 24, "medisumcode": 50, "medisumqa": 42,
        "longhealth_task1": 40, "longhealth_task2": 40, "longhealth_task3": 40,
    }
    assert all(tasks[f"longhealth_task{i}"].prompts == 200 for i in (1, 2, 3))  # five prompts per question
    assert all(8000 <= n <= 8140 for n in tasks["longhealth_task1"].prompt_lengths)  # ~8k tokens
    for t in tasks.values():
        assert max(t.prompt_lengths) + t.max_new_tokens <= workload.CONTEXT
    assert workload.plan() == workload.plan()  # fixed
    assert {t.name: t.max_new_tokens for t in workload.plan(max_new_cap=4)}["meqsum"] == 4


def test_shape_counts_llama3_8b_parameters() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = workload.LLAMA3_8B
    config = LlamaConfig(vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         num_key_value_heads=shape.kv_heads, tie_word_embeddings=False)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    assert shape.params == sum(p.numel() for p in model.parameters()) == 8_030_261_248
    embeddings = 2 * shape.vocab * shape.hidden + shape.hidden
    assert shape.matmul_params == shape.params - embeddings - 2 * shape.hidden * shape.layers


def test_flop_model() -> None:
    s = workload.LLAMA3_8B
    assert s.prefill_flops(1) == s.decode_flops(0)  # one prompt token is one step at position 0
    # prefill of n: 2 x matmul weights per token, plus causal attention growing with n^2
    n = 8000
    linear = 2 * s.matmul_params * n
    assert linear < s.prefill_flops(n) < 1.2 * linear
    assert math.isclose(s.decode_step_bytes([0]), s.params * 2)
    assert s.kv_bytes_per_token() == 2 * 32 * 8 * 128 * 2  # 128 KiB per token in bf16


def test_device_peaks() -> None:
    assert workload.device_peaks("NVIDIA H200")[0] == pytest.approx(989.4e12)
    assert workload.device_peaks("NVIDIA H100 80GB HBM3") == (pytest.approx(989.4e12), pytest.approx(3.35e12))
    assert workload.device_peaks("NVIDIA H100 PCIe")[0] == pytest.approx(756e12)
    assert workload.device_peaks("Some Accelerator") == (None, None)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHON"] = sys.executable
    env.pop("OUT", None)
    return env


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible: the check would run")
def test_refuses_clearly_on_a_cpu_machine() -> None:
    done = subprocess.run(["bash", str(GPU / "run.sh")], capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU visible" in lines[0] and "H100 or H200" in lines[0]


def test_refuses_clearly_without_torch(tmp_path: Path) -> None:
    env = _env()
    env["PYTHON"] = "/bin/false"  # a Python that imports nothing
    done = subprocess.run(["bash", str(GPU / "run.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "cannot import torch and transformers" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_whole_check_at_tiny_scale_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check.json"
    done = subprocess.run(
        ["bash", str(GPU / "run.sh"), "--tiny", "--allow-cpu", "--fraction", "0.01", "--out", str(out)],
        capture_output=True, text=True, env=_env(), timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    for needle in ("prompt tok/s", "gen tok/s", "FLOP%", "harness%", "peak GiB", "xdist worker 1 of 2",
                   "pool freed the model", "pool closed", "total wall time"):
        assert needle in text, needle
    results = json.loads(out.read_text())
    assert [t["name"] for t in results["tasks"]] == [t.name for t in workload.plan()]
    assert all(t.get("generated_tokens", 0) > 0 for t in results["tasks"])
    total = results["total"]
    assert total["prompts"] == sum(t["prompts"] for t in results["tasks"])
    # every prompt was timed; at this scale two tiny prompts may be equal, and the cache generates those once
    assert 0.9 * total["prompt_tokens"] <= total["counters"]["prefill_tokens"] <= total["prompt_tokens"]
    assert 0 <= total["figures"]["harness_share"] < 1
    assert results["freed"]["ok"] and results["closed"]["ok"]
    if importlib.util.find_spec("peft") is not None:
        adapter = results["adapter"]
        # one engine for the base and the random LoRA: built once, outputs differ, base unchanged
        assert adapter["ok"] and adapter["builds"]["lora-host"] == 1 and adapter["differ"] > 0
    assert results["ok"]
