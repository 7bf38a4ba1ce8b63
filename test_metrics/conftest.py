"""Fixtures shared by the metric tests: a tiny random BERT built locally (no download), loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest
from metric_inputs import build_tiny_bert

from clue.metrics.bertscore import BertScore


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_bertscore(tiny_bert_dir: Path) -> BertScore:
    return BertScore(str(tiny_bert_dir), device="cpu")
