"""UMLS entity P/R/F1: the set arithmetic with an offline spaCy entity ruler, properties, and the
unavailable path when scispaCy (or its model) is missing."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_inputs import HOSTILE_OUTPUTS

from clue.metrics import umls
from clue.metrics.umls import SpacyRulerExtractor, load_scispacy_extractor, missing_linker_files, umls_scores

PATTERNS = {
    "C0008031": ["chest pain"],
    "C0015967": ["fever", "pyrexia"],
    "C0020538": ["hypertension", "high blood pressure"],
    "C0011849": ["diabetes", "diabetes mellitus"],
    "C0032285": ["pneumonia"],
}
concepts = st.frozensets(st.sampled_from(sorted(PATTERNS) + ["C1", "C2", "C3"]), max_size=6)
nonempty_concepts = st.frozensets(st.sampled_from(sorted(PATTERNS)), min_size=1, max_size=5)


@pytest.fixture(scope="module")
def ruler() -> SpacyRulerExtractor:
    return SpacyRulerExtractor(PATTERNS)


def test_ruler_extracts_concept_ids(ruler: SpacyRulerExtractor) -> None:
    assert ruler(
        [
            "Chest pain and PYREXIA, no diabetes.",
            "High blood pressure; fever; fever again.",
            "diabetes mellitus type 2",  # the longest match wins: one concept either way
            "",
            "nothing known here",
        ]
    ) == [
        frozenset({"C0008031", "C0015967", "C0011849"}),
        frozenset({"C0020538", "C0015967"}),
        frozenset({"C0011849"}),
        frozenset(),
        frozenset(),
    ]


def test_worked_example(ruler: SpacyRulerExtractor) -> None:
    # pred concepts {chest pain, fever (as pyrexia), diabetes}; ref {fever, chest pain, hypertension}
    # 2 shared: P = 2/3, R = 2/3, F1 = 2/3
    pred, ref = ruler(["Chest pain and pyrexia, no diabetes.", "Fever with chest pain; hypertension."])
    assert umls_scores(pred, ref) == pytest.approx({"umls_precision": 2 / 3, "umls_recall": 2 / 3, "umls_f1": 2 / 3})


def test_worked_example_unequal_sizes(ruler: SpacyRulerExtractor) -> None:
    # pred {pneumonia} vs ref {pneumonia, fever, hypertension}: P = 1/1, R = 1/3, F1 = (2/3) / (4/3) = 1/2
    pred, ref = ruler(["Pneumonia.", "Pneumonia with fever in a patient with hypertension"])
    assert umls_scores(pred, ref) == pytest.approx({"umls_precision": 1.0, "umls_recall": 1 / 3, "umls_f1": 0.5})


def test_no_entity_on_either_side_scores_zero() -> None:
    zero = {"umls_precision": 0.0, "umls_recall": 0.0, "umls_f1": 0.0}
    assert umls_scores(frozenset(), frozenset({"C1"})) == zero
    assert umls_scores(frozenset({"C1"}), frozenset()) == zero
    assert umls_scores(frozenset(), frozenset()) == zero  # the reference's rule: unlike set_prf, not 1


@settings(deadline=None)
@given(concepts, concepts)
def test_scores_in_unit_interval(p: frozenset[str], r: frozenset[str]) -> None:
    assert all(0.0 <= v <= 1.0 for v in umls_scores(p, r).values())


@settings(deadline=None)
@given(nonempty_concepts)
def test_identical_nonempty_sets_score_one(s: frozenset[str]) -> None:
    assert umls_scores(s, frozenset(s)) == {"umls_precision": 1.0, "umls_recall": 1.0, "umls_f1": 1.0}


@settings(deadline=None)
@given(concepts, concepts)
def test_swapping_sides_swaps_precision_and_recall(p: frozenset[str], r: frozenset[str]) -> None:
    a, b = umls_scores(p, r), umls_scores(r, p)
    assert (b["umls_precision"], b["umls_recall"], b["umls_f1"]) == pytest.approx(
        (a["umls_recall"], a["umls_precision"], a["umls_f1"])
    )


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs(name: str, ruler: SpacyRulerExtractor) -> None:
    [pred, ref] = ruler([HOSTILE_OUTPUTS[name], "Chest pain and fever, rule out pneumonia."])
    scores = umls_scores(pred, ref)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    if name == "enormous":  # "chest pain and fever" repeated: {chest pain, fever} of 3 -> P 1, R 2/3
        assert scores == pytest.approx({"umls_precision": 1.0, "umls_recall": 2 / 3, "umls_f1": 0.8})
    else:
        assert scores["umls_f1"] == 0.0


def _find_spec_without(*missing: str):  # noqa: ANN202
    real = umls.util.find_spec

    def find_spec(name: str, *args: object):  # noqa: ANN202
        if name in missing:
            return None
        if name in ("scispacy", umls.SCISPACY_MODEL):
            return types.SimpleNamespace(name=name)  # pretend it is installed
        return real(name, *args)

    return find_spec


def test_unavailable_without_scispacy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(umls.util, "find_spec", _find_spec_without("scispacy"))
    extractor, reason = load_scispacy_extractor()
    assert extractor is None
    assert "scispaCy is not installed" in reason
    assert "pip install" in reason and umls.SCISPACY_MODEL in reason  # the steps to get it


def test_unavailable_without_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(umls.util, "find_spec", _find_spec_without(umls.SCISPACY_MODEL))
    extractor, reason = load_scispacy_extractor()
    assert extractor is None
    assert f"model {umls.SCISPACY_MODEL} is not installed" in reason and "pip install" in reason


@pytest.mark.skipif(umls.util.find_spec("scispacy") is not None, reason="scispaCy is installed here")
def test_unavailable_in_this_environment() -> None:
    extractor, reason = load_scispacy_extractor()
    assert extractor is None and "scispaCy" in reason


def _fake_candidate_generation() -> tuple[types.ModuleType, list[str]]:
    """A stand-in for scispacy.candidate_generation with the two tables missing_linker_files reads."""
    urls = ["https://example.org/umls/tfidf_vectors.npz", "https://example.org/umls/ann_index.bin"]
    kb_url = "https://example.org/umls/umls_2022_ab_cat0129.jsonl"

    class KnowledgeBase:
        def __init__(self, file_path: str = kb_url) -> None:
            self.file_path = file_path

    paths = types.SimpleNamespace(vectors=urls[0], index=urls[1], name="umls-linker")
    module = types.ModuleType("scispacy.candidate_generation")
    module.DEFAULT_PATHS = {"umls": paths}  # type: ignore[attr-defined]
    module.DEFAULT_KNOWLEDGE_BASES = {"umls": KnowledgeBase}  # type: ignore[attr-defined]
    return module, [*urls, kb_url]


def test_missing_linker_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module, urls = _fake_candidate_generation()
    package = types.ModuleType("scispacy")
    package.candidate_generation = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scispacy", package)
    monkeypatch.setitem(sys.modules, "scispacy.candidate_generation", module)
    assert sorted(missing_linker_files(tmp_path)) == sorted(urls)
    # scispaCy's cache names a file sha256(url).sha256(etag).<file name>
    for url in urls[:2]:
        (tmp_path / f"{hashlib.sha256(url.encode()).hexdigest()}.0123abcd.{url.rsplit('/', 1)[-1]}").write_bytes(b"")
    assert missing_linker_files(tmp_path) == [urls[2]]
