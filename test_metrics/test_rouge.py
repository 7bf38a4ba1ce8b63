"""ROUGE-1/2/L F-measure: worked examples, parity with rouge-score, properties, hostile outputs."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_inputs import HOSTILE_OUTPUTS
from rouge_score.rouge_scorer import RougeScorer

from clue.metrics.rouge import ROUGE_TYPES, rouge_scores

# rouge-score's tokenizer: lower-case, then runs of ASCII letters and digits are the tokens.
_TOKEN = re.compile(r"[a-z0-9]+")

words = st.sampled_from(
    ["chest", "pain", "fever", "the", "of", "dose", "metformin", "Kidney", "AKI", "2", "mg", "café", "Ödem"]
)
sentences = st.lists(words, min_size=0, max_size=15).map(" ".join)
any_text = st.one_of(sentences, st.text(max_size=80))

PAIRS = [
    ("the cat sat on the mat", "the cat lay on the mat"),
    ("What is the dose of metformin?", "What dose of metformin should I take?"),
    ("Hypertension, CKD stage 3, atrial fibrillation", "Atrial fibrillation; hypertension; CKD 3"),
    ("Ist das Ödem gefährlich?", "Is the oedema dangerous?"),
    ("café au lait spots", "cafe au lait spots"),
    ("患者 chest pain 胸痛", "chest pain"),
    ("مريض fever", "fever and chills"),
    ("😀 headache 😀 headache", "headache"),
    ("", "a reference"),
    ("a prediction", ""),
    ("", ""),
    ("\x00\x01 nul bytes \x7f", "nul bytes"),
]


def _scores(prediction: str, reference: str) -> dict[str, float]:
    return rouge_scores([prediction], [reference])[0]


def test_worked_example_one_word_changed() -> None:
    # pred: the cat sat on the mat / ref: the cat lay on the mat (6 tokens each)
    # rouge1: clipped unigram overlap the x2, cat, on, mat = 5 -> P = R = F = 5/6
    # rouge2: bigrams the-cat, on-the, the-mat shared of 5 each -> F = 3/5
    # rougeL: LCS "the cat on the mat" = 5 -> F = 5/6
    assert _scores("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(
        {"rouge1": 5 / 6, "rouge2": 3 / 5, "rougeL": 5 / 6}
    )


def test_worked_example_short_prediction() -> None:
    # pred: chest pain (2 tokens) / ref: patient has chest pain and fever (6 tokens)
    # rouge1: 2 shared; P = 2/2, R = 2/6; F = 2 * 1 * 1/3 / (4/3) = 1/2
    # rouge2: chest-pain shared; P = 1/1, R = 1/5; F = 2 * 1/5 / (6/5) = 1/3
    # rougeL: LCS 2 -> same as rouge1, 1/2
    assert _scores("chest pain", "patient has chest pain and fever") == pytest.approx(
        {"rouge1": 1 / 2, "rouge2": 1 / 3, "rougeL": 1 / 2}
    )


def test_worked_example_case_and_punctuation_ignored() -> None:
    # "Chest-Pain!!" tokenizes to chest, pain: identical to the reference -> 1 everywhere
    assert _scores("Chest-Pain!!", "chest pain") == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}


def test_worked_example_non_ascii_letters_split_words() -> None:
    # "café fever" -> tokens caf, fever (é dropped); "cafe fever" -> cafe, fever
    # rouge1: fever shared, 1 of 2 each -> 1/2; rouge2: caf-fever vs cafe-fever -> 0; rougeL: 1/2
    assert _scores("café fever", "cafe fever") == pytest.approx({"rouge1": 0.5, "rouge2": 0.0, "rougeL": 0.5})


def test_worked_example_word_order() -> None:
    # pred: pain chest / ref: chest pain: unigrams all shared -> rouge1 1; no shared bigram -> rouge2 0;
    # LCS 1 of 2 -> rougeL 1/2
    assert _scores("pain chest", "chest pain") == pytest.approx({"rouge1": 1.0, "rouge2": 0.0, "rougeL": 0.5})


def test_text_without_ascii_tokens_scores_zero_even_when_identical() -> None:
    # rouge-score's tokenizer drops every non-ASCII character: nothing is left to compare
    assert _scores("患者胸痛", "患者胸痛") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_keys_and_length_mismatch() -> None:
    assert ROUGE_TYPES == ("rouge1", "rouge2", "rougeL")
    assert rouge_scores([], []) == []
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        rouge_scores(["a", "b"], ["a"])


@pytest.fixture(scope="module")
def direct() -> RougeScorer:
    return RougeScorer(list(ROUGE_TYPES), use_stemmer=False)


def _direct(scorer: RougeScorer, prediction: str, reference: str) -> dict[str, float]:
    result = scorer.score(reference, prediction)
    return {name: result[name].fmeasure for name in ROUGE_TYPES}


def test_parity_with_rouge_score_on_fixed_pairs(direct: RougeScorer) -> None:
    ours = rouge_scores([p for p, _ in PAIRS], [r for _, r in PAIRS])
    assert ours == [_direct(direct, p, r) for p, r in PAIRS]


@settings(deadline=None, max_examples=150)
@given(any_text, any_text)
def test_parity_with_rouge_score_on_generated_pairs(prediction: str, reference: str) -> None:
    direct = RougeScorer(list(ROUGE_TYPES), use_stemmer=False)
    assert _scores(prediction, reference) == _direct(direct, prediction, reference)


@settings(deadline=None, max_examples=150)
@given(any_text, any_text)
def test_scores_in_unit_interval(prediction: str, reference: str) -> None:
    assert all(0.0 <= v <= 1.0 for v in _scores(prediction, reference).values())


@settings(deadline=None, max_examples=150)
@given(any_text, any_text)
def test_f_measure_symmetric(prediction: str, reference: str) -> None:
    assert _scores(prediction, reference) == pytest.approx(_scores(reference, prediction))


@settings(deadline=None, max_examples=150)
@given(any_text)
def test_identical_text_scores_one_when_it_has_tokens(text: str) -> None:
    n_tokens = len(_TOKEN.findall(text.lower()))
    scores = _scores(text, text)
    assert scores["rouge1"] == scores["rougeL"] == (1.0 if n_tokens >= 1 else 0.0)
    assert scores["rouge2"] == (1.0 if n_tokens >= 2 else 0.0)  # one token has no bigram


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs(name: str) -> None:
    reference = "Chest pain and fever, rule out pneumonia."
    scores = _scores(HOSTILE_OUTPUTS[name], reference)
    assert set(scores) == set(ROUGE_TYPES)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    if name not in ("enormous", "mixed_scripts"):
        assert scores == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    if name == "enormous":  # 20,000 tokens against 7: precision near 0, so F near 0 too
        assert 0.0 < scores["rouge1"] < 0.01


def _corpus(n: int, seed: int = 7) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    vocab = ["chest", "pain", "fever", "dose", "of", "the", "kidney", "injury", "患者", "café", "2", "mg"]

    def sentence() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 20)))

    return [sentence() for _ in range(n)], [sentence() for _ in range(n)]


def test_two_processes_equal_one_exactly() -> None:
    predictions, references = _corpus(500)  # >= 2 x 200 items, so two workers really start
    assert rouge_scores(predictions, references, processes=2) == rouge_scores(predictions, references, processes=1)
