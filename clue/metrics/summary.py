"""The summary tasks' metrics together (CLUE: MeQSum, ProblemSummary, MeDiSumQA): ROUGE (Lin 2004),
BERTScore (Zhang et al. 2020) and, where asked, UMLS entity P/R/F1.

A metric whose scorer is unavailable is left out of the item's scores (reported unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence

from clue.contracts import ScoringContext
from clue.metrics.rouge import rouge_scores
from clue.metrics.umls import umls_scores
from clue.prompts.protocol import BertScoreSpec


def score_summaries(
    predictions: Sequence[str],
    references: Sequence[str],
    sctx: ScoringContext,
    with_umls: bool,
    bertscore: BertScoreSpec | None = None,
    lowercase: bool = False,
) -> list[dict[str, float]]:
    """Per pair: rouge1/rouge2/rougeL always; bertscore_precision/recall/f1 when the encoder ``bertscore``
    names (or the context's own scorer) is available; umls_precision/recall/f1 when ``with_umls`` and
    the context's UMLS extractor is (built here on first use). ``lowercase``: ROUGE and BERTScore see lower-cased texts (UMLS the originals)."""
    preds = [p.lower() for p in predictions] if lowercase else list(predictions)
    refs = [r.lower() for r in references] if lowercase else list(references)
    rows = rouge_scores(preds, refs, processes=sctx.processes)
    scorer = sctx.resolve_bertscore(bertscore).scorer
    if scorer is not None:
        for row, (p, r, f) in zip(rows, scorer(preds, refs), strict=True):
            row.update(bertscore_precision=p, bertscore_recall=r, bertscore_f1=f)
    extractor = sctx.resolve_umls()[0] if with_umls else None
    if extractor is not None:
        pred_sets = extractor(predictions)
        ref_sets = extractor(references)
        for row, ps, rs in zip(rows, pred_sets, ref_sets, strict=True):
            row.update(umls_scores(ps, rs))
    return rows
