"""UMLS entity P/R/F1 (CLUE, Dada et al. 2024): the entities of each text -> the set of their linked
UMLS concepts; precision, recall and F1 of the prediction's set against the reference's.

Reference pipeline: scispaCy ``en_core_sci_sm`` (Neumann et al. 2019) with its UMLS linker, canonical
name of the top concept per entity; 0 when either text has no entity. That needs scispaCy (which pins
numpy < 2), the model tarball and a ~1 GB knowledge base, so it is an optional extra; without it the
metric is reported unavailable, never 0, and nothing is downloaded. Extraction is pluggable: any
callable texts -> sets of concept ids works (tests use a spaCy entity ruler with concept ids).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from importlib import util
from pathlib import Path

from clue.metrics.set_prf import prf
from clue.contracts import EntityExtractor

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


def _linker_urls() -> list[str]:
    """The files scispaCy's UMLS linker fetches (index, vectors, aliases, knowledge base)."""
    import inspect

    from scispacy import candidate_generation as cg

    paths = cg.DEFAULT_PATHS["umls"]
    urls = [v for v in (paths._asdict() if hasattr(paths, "_asdict") else vars(paths)).values() if isinstance(v, str)]
    kb_params = inspect.signature(cg.DEFAULT_KNOWLEDGE_BASES["umls"]).parameters.values()
    urls += [p.default for p in kb_params if isinstance(p.default, str)]  # the KB and its type tree
    return [u for u in urls if u.startswith(("http://", "https://"))]


def missing_linker_files(cache_dir: Path | None = None) -> list[str]:
    """URLs of the UMLS linker's files absent from scispaCy's cache (``SCISPACY_CACHE`` or
    ``~/.scispacy``), which it names ``sha256(url)[.sha256(etag)].<file name>``."""
    if cache_dir is None:
        cache_dir = Path(os.environ.get("SCISPACY_CACHE", Path.home() / ".scispacy")) / "datasets"
    missing = []
    for url in _linker_urls():
        prefix = hashlib.sha256(url.encode("utf-8")).hexdigest()
        suffix = url.rsplit("/", 1)[-1]
        if not any(p.name.endswith(suffix) for p in Path(cache_dir).glob(f"{prefix}*")):
            missing.append(url)
    return missing


def load_scispacy_extractor() -> tuple[EntityExtractor | None, str]:
    """(extractor, "") or (None, reason with the install steps). Never downloads anything."""
    if util.find_spec("scispacy") is None:
        return None, f"scispaCy is not installed. {INSTALL_HINT}"
    if util.find_spec(SCISPACY_MODEL) is None:
        return None, f"the scispaCy model {SCISPACY_MODEL} is not installed. {INSTALL_HINT}"
    try:
        missing = missing_linker_files()
    except Exception:  # a scispaCy version whose layout we do not know: let the linker decide
        missing = []
    if missing:
        return None, (
            f"the UMLS linker's knowledge base is not in scispaCy's cache ({len(missing)} files missing, "
            f"e.g. {missing[0]}); load it once online with spacy + scispacy_linker. {INSTALL_HINT}"
        )
    try:
        return ScispacyExtractor(), ""
    except Exception as exc:  # the linker's knowledge base may be missing offline
        return None, f"scispaCy could not start ({type(exc).__name__}: {exc}). {INSTALL_HINT}"


class SpacyRulerExtractor:
    """Offline extractor from phrase patterns carrying concept ids: a blank English spaCy pipeline
    with an entity ruler (case-insensitive phrase matching; overlapping matches keep the longest).
    ``patterns``: concept id -> phrases. Returns the set of concept ids found in each text."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]) -> None:
        import spacy

        self._nlp = spacy.blank("en")
        ruler = self._nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
        ruler.add_patterns(
            [{"label": "CONCEPT", "pattern": phrase, "id": cui} for cui, phrases in patterns.items() for phrase in phrases]
        )

    def __call__(self, texts: Sequence[str]) -> list[frozenset[str]]:
        return [frozenset(ent.ent_id_ for ent in doc.ents) for doc in self._nlp.pipe(texts)]
