"""Shared fixtures of the engine tests: the demo models, built once per session into a temporary cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clue.models.demo import ensure_demo_model


@pytest.fixture(scope="session")
def demo_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models cache private to this test session (never the user's ~/.cache)."""
    return tmp_path_factory.mktemp("clue-models")


@pytest.fixture(scope="session")
def demo_model_dir(demo_cache_dir: Path) -> Path:
    return ensure_demo_model("demo", demo_cache_dir)


@pytest.fixture(scope="session")
def demo_base_model_dir(demo_cache_dir: Path) -> Path:
    return ensure_demo_model("demo-base", demo_cache_dir)


@pytest.fixture(scope="session")
def demo_adapter_dir(demo_base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A peft LoRA adapter of demo-base (random A and B): its outputs differ from the base's."""
    pytest.importorskip("peft", reason="LoRA adapters need peft (pip install 'clue[lora]')")
    from clue.models.demo_adapter import build_demo_adapter

    return build_demo_adapter(tmp_path_factory.mktemp("adapters") / "demo-lora", demo_base_model_dir, seed=7)


@pytest.fixture(scope="session")
def untrained_model_dir(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model's architecture (sliding-window attention included) and tokenizer with seeded
    random weights: the trained demo model answers most prompts alike, which would make agreement
    between the engines a weak check."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("untrained-demo")
    config = AutoConfig.from_pretrained(demo_model_dir)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    for tokenizer_file in demo_model_dir.glob("*token*"):
        shutil.copy(tokenizer_file, folder / tokenizer_file.name)
    return folder
