"""Shared fixtures of the engine tests: the demo models, built once per session into a temporary cache."""

from __future__ import annotations

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
