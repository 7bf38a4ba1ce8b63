"""The per-task numbers published on the CLUE website (June 2024), in clue's task and metric names.

Source and licence: clue/data/published/SOURCE.txt. Values are percentages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

RESULTS_FILE = "clue_website_results_2024-06.json"

# website task -> (clue task name or None to skip, clue metric names in the website's order)
_TASK_METRICS: Mapping[str, tuple[tuple[str | None, str], ...]] = {
    "MedNLI": (("mednli", "accuracy"),),
    "MeQSum": (("meqsum", "rougeL"), ("meqsum", "rouge1"), ("meqsum", "rouge2"), ("meqsum", "bertscore_f1")),
    "Problem Summary": tuple(
        ("problemsummary", m) for m in ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1")
    ),
    "MeDiSumQA": tuple(("medisumqa", m) for m in ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1")),
    "MeDiSumCode": tuple(("medisumcode", m) for m in ("icd_exact_f1", "icd_approx_f1", "icd_valid_ratio")),
    # the website's LongHealth array starts with the Level-2 average (a display bug), then tasks 1-3
    "LongHealth": ((None, ""), ("longhealth_task1", "accuracy"), ("longhealth_task2", "accuracy"), ("longhealth_task3", "accuracy")),
}


@dataclass(frozen=True)
class PublishedModel:
    name: str
    scores: Mapping[str, Mapping[str, float]]  # task -> metric -> percent
    level1: float | None
    level2: float | None


@cache
def _raw() -> dict:
    text = resources.files("clue.data.published").joinpath(RESULTS_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def published_models() -> dict[str, PublishedModel]:
    """Every model on the website, by its website name."""
    raw = _raw()
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for site_task, per_model in raw["tasks"].items():
        layout = _TASK_METRICS[site_task]
        for model, values in per_model.items():
            for (task, metric), value in zip(layout, values, strict=False):
                if task is not None:
                    scores.setdefault(model, {}).setdefault(task, {})[metric] = float(value)
    out: dict[str, PublishedModel] = {}
    for model, levels in raw["level_scores"].items():
        out[model] = PublishedModel(
            name=model,
            scores=scores.get(model, {}),
            level1=float(levels[0]) if len(levels) > 0 else None,
            level2=float(levels[1]) if len(levels) > 1 else None,
        )
    return out


def published(name: str | None) -> PublishedModel | None:
    return published_models().get(name) if name else None
