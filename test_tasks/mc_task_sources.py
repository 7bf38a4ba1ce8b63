"""Tiny source files of the multiple-choice and case-challenge families, in their original formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JAMA_HEADER = ["link", "question", "opa", "opb", "opc", "opd", "diagnosis", "answer_idx", "answer", "explanation", "field"]


def medqa_record(i: int, **extra: Any) -> dict[str, Any]:
    record = {
        "question": f"A {30 + i}-year-old man has fever number {i}. Which is the most likely diagnosis?",
        "answer": f"Pneumonia {i}",
        "options": {"A": f"Asthma {i}", "B": f"Pneumonia {i}", "C": f"Gout {i}", "D": f"Migraine {i}"},
        "meta_info": "step1",
        "answer_idx": "B",
        "metamap_phrases": ["fever", "man"],
    }
    record.update(extra)
    return record


def medmcqa_record(i: int, **extra: Any) -> dict[str, Any]:
    record = {
        "question": f"Drug of choice for condition {i} is:",
        "exp": "Because.",
        "cop": 1 + i % 4,
        "opa": f"Drug A{i}", "opb": f"Drug B{i}", "opc": f"Drug C{i}", "opd": f"Drug D{i}",
        "subject_name": "Pharmacology",
        "topic_name": "Topic",
        "id": f"mcqa-{i}",
        "choice_type": "single",
    }
    record.update(extra)
    return record


def pubmedqa_record(i: int, decision: str = "yes", **extra: Any) -> dict[str, Any]:
    record = {
        "QUESTION": f"Does treatment {i} help?",
        "CONTEXTS": [f"Background {i}.", f"Results {i}."],
        "LABELS": ["BACKGROUND", "RESULTS"],
        "MESHES": ["Humans"],
        "YEAR": "2010",
        "reasoning_required_pred": decision,
        "reasoning_free_pred": decision,
        "final_decision": decision,
        "LONG_ANSWER": f"Treatment {i} helps.",
    }
    record.update(extra)
    return record


def write_pubmedqa(folder: Path, records: dict[str, Any], truth: dict[str, Any] | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ori_pqal.json").write_text(json.dumps(records, indent=4), encoding="utf-8")
    if truth is not None:
        (folder / "test_ground_truth.json").write_text(json.dumps(truth, indent=4), encoding="utf-8")
    return folder / "ori_pqal.json"


def jama_row(i: int, **extra: str) -> list[str]:
    row = {
        "link": f"https://synthetic.invalid/jama/{i}",
        "question": f"A {40 + i}-year-old woman had a rash {i}.\nWhat Is Your Diagnosis?",
        "opa": f"Psoriasis {i}", "opb": f"Eczema {i}", "opc": f"Lupus {i}", "opd": f"Scabies {i}",
        "diagnosis": f"Lupus {i}", "answer_idx": "C", "answer": f"Lupus {i}", "explanation": "Discussion.",
        "field": "Clinical Challenge",
    }
    row.update(extra)
    return [row[c] for c in JAMA_HEADER]


def pandas_csv(rows: Sequence[Sequence[str]], header: Sequence[str] = JAMA_HEADER) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([list(header), *rows])
    return buffer.getvalue()


def nejm_record(i: int, **extra: Any) -> dict[str, Any]:
    record = {
        "id": f"nejm-{i}",
        "question": "What is the diagnosis?",
        "relevant_context": f"A {20 + i}-year-old man with a lesion {i}.",
        **{f"option_{x}": f"Diagnosis {x}{i}" for x in "ABCDE"},
        "correct_answer": "D",
    }
    record.update(extra)
    return record
