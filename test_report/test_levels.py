"""Level 1 / Level 2 from the published per-task numbers reproduce the published levels (CLUE-SPEC)."""

import pytest

from clue.report.levels import compute_levels
from clue.report.published import published_models
from clue.tasks.registry import ALL_TASKS

MODELS = published_models()


def test_published_file_has_the_25_models():
    assert len(MODELS) == 25
    assert MODELS["Meta-Llama-3-8B-Instruct"].scores["mednli"]["accuracy"] == pytest.approx(74.08)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_levels_from_published_task_numbers_match_published_levels(name):
    model = MODELS[name]
    levels = compute_levels(model.scores, ALL_TASKS)
    if model.level1 is not None and levels[1].complete:
        assert levels[1].score == pytest.approx(model.level1, abs=0.01)
    if model.level2 is not None and levels[2].complete:
        assert levels[2].score == pytest.approx(model.level2, abs=0.01)


def test_every_published_level_is_checked():
    """Each published level has all its per-task numbers, so the test above checks it (none skipped)."""
    checked = 0
    for model in MODELS.values():
        levels = compute_levels(model.scores, ALL_TASKS)
        for level, published in ((1, model.level1), (2, model.level2)):
            if published is not None:
                assert levels[level].complete, (model.name, level, levels[level].missing)
                checked += 1
    assert checked == 43  # 25 models publish Level 1, 18 of them Level 2


def test_level_of_partial_scores_is_flagged_incomplete():
    scores = {"mednli": {"accuracy": 50.0}}
    levels = compute_levels(scores, ALL_TASKS)
    assert levels[1].score == pytest.approx(50.0)
    assert not levels[1].complete
    assert "meqsum:rougeL" in levels[1].missing
    assert levels[2].score is None
