"""The summary tasks' metrics together (CLUE: MeQSum, ProblemSummary, MeDiSumQA): ROUGE (Lin 2004),
BERTScore (Zhang et al. 2020) and, where asked, UMLS entity P/R/F1.

A metric whose scorer is unavailable is left out of the item's scores (reported unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence

from clue.metrics.rouge import rouge_scores
from clue.metrics.umls import umls_scores
from clue.tasks.base import ScoringContext


def score_summaries(
    predictions: Sequence[str], references: Sequence[str], sctx: ScoringContext, with_umls: bool
) -> list[dict[str, float]]:
    """Per pair: rouge1/rouge2/rougeL always; bertscore_precision/recall/f1 when ``sctx.bertscore``
    is set; umls_precision/recall/f1 when ``with_umls`` and ``sctx.umls`` is set."""
    rows = rouge_scores(predictions, references, processes=sctx.processes)
    if sctx.bertscore is not None:
        for row, (p, r, f) in zip(rows, sctx.bertscore(predictions, references), strict=True):
            row.update(bertscore_precision=p, bertscore_recall=r, bertscore_f1=f)
    if with_umls and sctx.umls is not None:
        pred_sets = sctx.umls(predictions)
        ref_sets = sctx.umls(references)
        for row, ps, rs in zip(rows, pred_sets, ref_sets, strict=True):
            row.update(umls_scores(ps, rs))
    return rows
