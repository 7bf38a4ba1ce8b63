"""Scoring steps the tasks share: pairing completions with requests, the summary metrics."""

from __future__ import annotations

from collections.abc import Sequence

from clue.contracts import ScoringContext
from clue.metrics.summary import score_summaries
from clue.records import Completion, ItemScore, Request


def paired(requests: Sequence[Request], completions: Sequence[Completion]) -> list[tuple[Request, Completion]]:
    """Requests with their completions, matched by request id (order may differ)."""
    if len(requests) != len(completions):
        raise ValueError(f"{len(requests)} requests but {len(completions)} completions")
    if all(r.id == c.request_id for r, c in zip(requests, completions, strict=True)):
        return list(zip(requests, completions, strict=True))
    by_id = {c.request_id: c for c in completions}
    missing = [r.id for r in requests if r.id not in by_id]
    if missing:
        raise ValueError(f"no completion for request(s) {', '.join(missing[:5])}")
    return [(r, by_id[r.id]) for r in requests]


def summary_item_scores(
    task: str, requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext, *, with_umls: bool
) -> list[ItemScore]:
    """Item scores of a summary task: ROUGE, BERTScore (the protocol's encoder, when available) and
    UMLS (where asked) against the gold text, lower-cased where the protocol says so."""
    tp = sctx.rules.task(task)
    pairs = paired(requests, completions)
    scores = score_summaries(
        [c.text for _, c in pairs], [str(r.gold) for r, _ in pairs], sctx,
        with_umls=with_umls, bertscore=tp.bertscore, lowercase=tp.lowercase,
    )
    return [
        ItemScore(id=r.id, cluster=r.cluster, scores=s, output=c.text) for (r, c), s in zip(pairs, scores, strict=True)
    ]
