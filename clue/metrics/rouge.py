"""ROUGE-1/2/L F-measure per item (Lin 2004), via Google's rouge-score package.

As in the CLUE reference: rouge-score defaults (no stemmer, its own tokenizer, which lower-cases and
keeps only ASCII letters and digits), F-measure per item, averaged by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from clue.metrics.parallel import map_chunks

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@cache
def _scorer() -> Any:
    from rouge_score import rouge_scorer  # imports nltk (~2 s): only when something is scored

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)


def _score_chunk(pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
    scorer = _scorer()
    out = []
    for prediction, reference in pairs:
        scores = scorer.score(reference, prediction)  # rouge-score takes (target, prediction)
        out.append({name: float(scores[name].fmeasure) for name in ROUGE_TYPES})
    return out


def rouge_scores(predictions: Sequence[str], references: Sequence[str], processes: int = 1) -> list[dict[str, float]]:
    """Per pair: ``{"rouge1", "rouge2", "rougeL"}`` F-measures in [0, 1]."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    return map_chunks(_score_chunk, list(zip(predictions, references, strict=True)), processes)
