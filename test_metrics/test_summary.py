"""score_summaries: which metric keys appear (unavailable scorers are left out, never 0), agreement with
the single metrics, two processes, and hostile model outputs end to end."""

from __future__ import annotations

import math
import random

import pytest
from metric_inputs import HOSTILE_OUTPUTS

from clue.metrics.bertscore import BertScore
from clue.metrics.rouge import rouge_scores
from clue.metrics.summary import score_summaries
from clue.metrics.umls import SpacyRulerExtractor
from clue.contracts import ScoringContext

ROUGE = {"rouge1", "rouge2", "rougeL"}
BERT = {"bertscore_precision", "bertscore_recall", "bertscore_f1"}
UMLS = {"umls_precision", "umls_recall", "umls_f1"}

PREDICTIONS = ["Chest pain and fever.", "Is metformin safe in pregnancy?", ""]
REFERENCES = ["Fever with chest pain; pneumonia.", "Can I take metformin while pregnant?", "Hypertension"]


@pytest.fixture(scope="module")
def ruler() -> SpacyRulerExtractor:
    return SpacyRulerExtractor(
        {"C0008031": ["chest pain"], "C0015967": ["fever"], "C0032285": ["pneumonia"], "C0025598": ["metformin"]}
    )


@pytest.fixture
def full(tiny_bertscore: BertScore, ruler: SpacyRulerExtractor) -> ScoringContext:
    return ScoringContext(bertscore=tiny_bertscore, umls=ruler)


def test_all_metrics_when_every_scorer_is_available(full: ScoringContext, tiny_bertscore: BertScore) -> None:
    rows = score_summaries(PREDICTIONS, REFERENCES, full, with_umls=True)
    assert [set(row) for row in rows] == [ROUGE | BERT | UMLS] * 3
    # each group equals its metric computed alone
    for row, rouge, (p, r, f) in zip(
        rows, rouge_scores(PREDICTIONS, REFERENCES), tiny_bertscore(PREDICTIONS, REFERENCES), strict=True
    ):
        assert {k: row[k] for k in ROUGE} == rouge
        assert (row["bertscore_precision"], row["bertscore_recall"], row["bertscore_f1"]) == pytest.approx(
            (p, r, f), abs=1e-6
        )
    # item 1: {chest pain, fever} vs {fever, chest pain, pneumonia}: P = 1, R = 2/3, F1 = 4/5
    assert {k: rows[0][k] for k in UMLS} == pytest.approx({"umls_precision": 1.0, "umls_recall": 2 / 3, "umls_f1": 0.8})
    # item 2: {metformin} on both sides -> 1; item 3: empty prediction -> 0 everywhere
    assert rows[1]["umls_f1"] == 1.0
    assert all(v == 0.0 for v in rows[2].values())


def test_umls_left_out_when_not_asked(full: ScoringContext) -> None:
    rows = score_summaries(PREDICTIONS, REFERENCES, full, with_umls=False)
    assert [set(row) for row in rows] == [ROUGE | BERT] * 3


def test_umls_left_out_when_unavailable(tiny_bertscore: BertScore) -> None:
    sctx = ScoringContext(bertscore=tiny_bertscore, umls=None, umls_unavailable_reason="scispaCy is not installed")
    rows = score_summaries(PREDICTIONS, REFERENCES, sctx, with_umls=True)
    assert [set(row) for row in rows] == [ROUGE | BERT] * 3


def test_bertscore_left_out_when_unavailable(ruler: SpacyRulerExtractor) -> None:
    sctx = ScoringContext(bertscore=None, umls=ruler, bertscore_unavailable_reason="no model")
    rows = score_summaries(PREDICTIONS, REFERENCES, sctx, with_umls=True)
    assert [set(row) for row in rows] == [ROUGE | UMLS] * 3
    rows = score_summaries(PREDICTIONS, REFERENCES, ScoringContext(), with_umls=True)
    assert [set(row) for row in rows] == [ROUGE] * 3


def test_empty_input() -> None:
    assert score_summaries([], [], ScoringContext(), with_umls=True) == []


def test_two_processes_equal_one(ruler: SpacyRulerExtractor) -> None:
    rng = random.Random(11)
    vocab = ["chest", "pain", "fever", "pneumonia", "metformin", "dose", "the", "of", "患者", "2"]
    preds = [" ".join(rng.choices(vocab, k=rng.randint(0, 15))) for _ in range(450)]
    refs = [" ".join(rng.choices(vocab, k=rng.randint(1, 15))) for _ in range(450)]
    one = score_summaries(preds, refs, ScoringContext(umls=ruler, processes=1), with_umls=True)
    two = score_summaries(preds, refs, ScoringContext(umls=ruler, processes=2), with_umls=True)
    assert one == two


def test_hostile_outputs_end_to_end(full: ScoringContext) -> None:
    names = sorted(HOSTILE_OUTPUTS)
    reference = "Chest pain and fever, rule out pneumonia."
    rows = score_summaries([HOSTILE_OUTPUTS[n] for n in names], [reference] * len(names), full, with_umls=True)
    for name, row in zip(names, rows, strict=True):
        assert set(row) == ROUGE | BERT | UMLS, name
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in row.values()), (name, row)
        if name not in ("enormous", "enormous_one_token", "binary", "chinese", "arabic", "emoji", "mixed_scripts"):
            assert all(v == 0.0 for v in row.values()), (name, row)  # nothing to compare: 0 everywhere
        if name != "enormous":
            assert {k: row[k] for k in ROUGE | UMLS} == dict.fromkeys(ROUGE | UMLS, 0.0), name


def test_mismatched_lengths_raise(full: ScoringContext) -> None:
    with pytest.raises(ValueError):
        score_summaries(["a", "b"], ["a"], full, with_umls=True)
