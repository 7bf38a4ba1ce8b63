"""The contracts the pipeline's stages share: token counting, the prompt context, the scorers.

Tasks build prompts against a ``PromptContext`` and score against a ``ScoringContext``; engines
supply the ``TokenCounter``; ``clue.scoring`` builds the scorers that load a model (BERTScore's
encoders, UMLS entity linking) lazily, so a task that never asks for one never loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from clue.prompts.protocol import BertScoreSpec, Protocol as EvalProtocol, load_protocol


class TokenCounter(Protocol):
    """Counts and truncates text in a model's tokens (engines supply one; it is cheap to build)."""

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` of at most ``max_tokens`` tokens."""
        ...


class BertScorer(Protocol):
    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> list[tuple[float, float, float]]:
        """(precision, recall, f1) per pair."""
        ...


class EntityExtractor(Protocol):
    def __call__(self, texts: Sequence[str]) -> list[frozenset[str]]:
        """Set of concept ids/names per text."""
        ...


@dataclass(frozen=True)
class ResolvedBertScore:
    """The encoder a task's BERTScore uses here: the scorer (None when unavailable), what it is, and
    why it is not the one the protocol asked for (empty when it is)."""

    scorer: BertScorer | None
    description: str
    fallback_reason: str = ""
    unavailable_reason: str = ""


class BertScoreSource(Protocol):
    """BERTScore encoders by protocol spec, built on first use and kept for the session."""

    def identity(self, spec: BertScoreSpec | None) -> str:
        """What ``get(spec)`` resolves to (encoder, layer, fallback), without loading it: a cache key part."""
        ...

    def get(self, spec: BertScoreSpec | None) -> ResolvedBertScore: ...


class UmlsSource(Protocol):
    """The UMLS entity extractor, built on first use and kept for the session."""

    def get(self) -> tuple[EntityExtractor | None, str]:
        """(extractor, "") or (None, why it is unavailable)."""
        ...


@dataclass(frozen=True)
class PromptContext:
    """What prompt building needs: the model's token counting and context size, the model id (some
    protocol rules depend on it), the run seed and the protocol."""

    tokens: TokenCounter
    max_context: int
    seed: int = 1
    model_id: str = ""
    protocol: EvalProtocol | None = None

    @property
    def rules(self) -> EvalProtocol:
        return self.protocol if self.protocol is not None else load_protocol()


@dataclass(frozen=True)
class ScoringContext:
    """Session-scoped scorers that load a model; None where unavailable (reported, never scored 0).

    ``bertscore``: one scorer for every task (tests, a user's ``--clue-bertscore-model``);
    ``bertscore_source``: the encoder each task's protocol names, resolved per task. ``umls``: the
    entity extractor (tests), or ``umls_source``, which builds it the first time a task scores UMLS.
    """

    bertscore: BertScorer | None = None
    bertscore_source: BertScoreSource | None = None
    umls: EntityExtractor | None = None
    umls_unavailable_reason: str = ""
    umls_source: UmlsSource | None = None
    bertscore_description: str = ""
    bertscore_unavailable_reason: str = ""
    processes: int = 1
    protocol: EvalProtocol | None = None

    @property
    def rules(self) -> EvalProtocol:
        return self.protocol if self.protocol is not None else load_protocol()

    def resolve_bertscore(self, spec: BertScoreSpec | None) -> ResolvedBertScore:
        if self.bertscore is not None:
            return ResolvedBertScore(self.bertscore, self.bertscore_description or "given scorer")
        if self.bertscore_source is not None:
            return self.bertscore_source.get(spec)
        return ResolvedBertScore(None, "", unavailable_reason=self.bertscore_unavailable_reason or "BERTScore not configured")

    def resolve_umls(self) -> tuple[EntityExtractor | None, str]:
        """The entity extractor (built now if it comes from ``umls_source``), or None and the reason."""
        if self.umls is not None:
            return self.umls, ""
        if self.umls_source is not None:
            return self.umls_source.get()
        return None, self.umls_unavailable_reason or "UMLS entity extraction is not available"

    def bertscore_identity(self, spec: BertScoreSpec | None) -> str:
        if self.bertscore is not None:
            return self.bertscore_description or "given scorer"
        if self.bertscore_source is not None:
            return self.bertscore_source.identity(spec)
        return "unavailable"


ScorerFactory = Callable[[], ScoringContext]
