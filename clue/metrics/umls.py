"""UMLS entity P/R/F1 (CLUE): entities of each text -> set of linked UMLS concepts; P/R/F1 of the sets.

Reference pipeline: scispaCy ``en_core_sci_sm`` with its UMLS linker, top concept per entity. That
needs scispaCy (which pins numpy < 2), the model tarball and a ~1 GB knowledge base, so it is an
optional extra; without it the metric is reported unavailable, never 0. Extraction is pluggable: any
callable texts -> sets of concept ids works (tests use a spaCy entity ruler with concept ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import util

from clue.metrics.set_prf import prf
from clue.tasks.base import EntityExtractor

SCISPACY_MODEL = "en_core_sci_sm"
INSTALL_HINT = (
    "UMLS F1 needs scispaCy: pip install 'clue[umls]' in an environment with numpy < 2, then "
    "pip install https://s3-us-west-2.amazonaws.com/ai2-s2-scispacy/releases/v0.5.4/en_core_sci_sm-0.5.4.tar.gz; "
    "the UMLS linker downloads its ~1 GB knowledge base on first use"
)


def umls_scores(predicted: frozenset[str], reference: frozenset[str]) -> dict[str, float]:
    """P/R/F1 of concept sets; 0 when either side has no entity (the reference's rule)."""
    if not predicted or not reference:
        return {"umls_precision": 0.0, "umls_recall": 0.0, "umls_f1": 0.0}
    p, r, f = prf(predicted, reference)
    return {"umls_precision": p, "umls_recall": r, "umls_f1": f}


class ScispacyExtractor:
    """scispaCy + UMLS linker: the canonical name of the top linked concept of each entity."""

    def __init__(self, model: str = SCISPACY_MODEL) -> None:
        import spacy
        from scispacy.linking import EntityLinker  # noqa: F401  (registers the "scispacy_linker" factory)

        self._nlp = spacy.load(model)
        self._nlp.add_pipe("scispacy_linker", config={"resolve_abbreviations": True, "linker_name": "umls"})
        self._linker = self._nlp.get_pipe("scispacy_linker")

    def __call__(self, texts: Sequence[str]) -> list[frozenset[str]]:
        out = []
        for doc in self._nlp.pipe(texts):
            names = set()
            for ent in doc.ents:
                if ent._.kb_ents:
                    cui = ent._.kb_ents[0][0]
                    names.add(self._linker.kb.cui_to_entity[cui].canonical_name)
            out.append(frozenset(names))
        return out


def load_scispacy_extractor() -> tuple[EntityExtractor | None, str]:
    """(extractor, "") or (None, reason with the install steps). Never downloads anything."""
    if util.find_spec("scispacy") is None:
        return None, f"scispaCy is not installed. {INSTALL_HINT}"
    if util.find_spec(SCISPACY_MODEL) is None:
        return None, f"the scispaCy model {SCISPACY_MODEL} is not installed. {INSTALL_HINT}"
    try:
        return ScispacyExtractor(), ""
    except Exception as exc:  # the linker's knowledge base may be missing offline
        return None, f"scispaCy could not start ({type(exc).__name__}: {exc}). {INSTALL_HINT}"


class SpacyRulerExtractor:
    """Offline extractor from phrase patterns carrying concept ids: a blank spaCy pipeline with an
    entity ruler. ``patterns``: concept id -> phrases."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]) -> None:
        import spacy

        self._nlp = spacy.blank("en")
        ruler = self._nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
        ruler.add_patterns(
            [{"label": "CONCEPT", "pattern": phrase, "id": cui} for cui, phrases in patterns.items() for phrase in phrases]
        )

    def __call__(self, texts: Sequence[str]) -> list[frozenset[str]]:
        return [frozenset(ent.ent_id_ for ent in doc.ents) for doc in self._nlp.pipe(texts)]
