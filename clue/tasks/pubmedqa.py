"""PubMedQA (Jin et al., EMNLP 2019), PQA-L: yes/no/maybe questions on PubMed abstracts.

Original files of github.com/pubmedqa/pubmedqa, ``data/``: ``ori_pqal.json`` (the 1,000 expert-
labelled questions, an object keyed by PMID; each with ``QUESTION``, ``CONTEXTS`` (the abstract's
paragraphs less its conclusion), ``LABELS`` (their section names), ``MESHES``, ``YEAR``,
``reasoning_required_pred``, ``reasoning_free_pred``, ``final_decision`` (yes/no/maybe) and
``LONG_ANSWER`` (the conclusion)) and, beside it, ``test_ground_truth.json`` (the 500 test PMIDs
and their labels, the split of the repository's ``preprocess/split_dataset.py``). The test
questions are scored, in ``ori_pqal.json``'s order, in the reasoning-required setting: question
and contexts, never the long answer. The two files must agree on every test label.

The answers become options: A yes, B no, C maybe, parsed by the same letter parser as the other
families. ``CONTEXTS`` reaches the prompt as its paragraphs joined by a newline. Prompts: the
protocol's ``[tasks.pubmedqa]`` (clue's own zero-shot prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clue.data.readers import read_json_unique, require
from clue.errors import DataFormatError, DataMissingError
from clue.records import Example
from clue.tasks.multiple_choice import derived_fields, letter_gold, mc_task

NAME = "pubmedqa"
DISPLAY_NAME = "PubMedQA"
LETTERS = "ABC"
ANSWERS = ("yes", "no", "maybe")
WORD_LETTER = dict(zip(ANSWERS, LETTERS, strict=True))
CHOICES = tuple(zip(LETTERS, ANSWERS, strict=True))
DATA_FILE = "PubMedQA/ori_pqal.json"
TEST_IDS_FILE = "test_ground_truth.json"  # beside ori_pqal.json
HOW_TO_OBTAIN = (
    "PubMedQA is public: download data/ori_pqal.json and data/test_ground_truth.json from "
    "https://github.com/pubmedqa/pubmedqa and put both in <data dir>/PubMedQA/."
)


def _label(value: Any, path: Path, location: str, field: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in ANSWERS:
        raise DataFormatError(path, location, field, f"expected one of {', '.join(ANSWERS)}, got {value!r}")
    return value.strip().lower()


def read_test_labels(path: Path) -> dict[str, str]:
    """PMID -> label of ``test_ground_truth.json`` (an object of PMID -> yes/no/maybe)."""
    if not path.is_file():
        raise DataMissingError(DISPLAY_NAME, path, HOW_TO_OBTAIN)
    data = read_json_unique(path)
    if not isinstance(data, Mapping) or not data:
        raise DataFormatError(path, "top level", "<json>", "expected a non-empty JSON object of PMID -> yes/no/maybe")
    return {str(pmid): _label(label, path, f"PMID {pmid}", str(pmid)) for pmid, label in data.items()}


def _contexts(record: Mapping[str, Any], path: Path, location: str) -> str:
    contexts = require(record, "CONTEXTS", list, path, location)
    if not contexts or not all(isinstance(c, str) for c in contexts):
        raise DataFormatError(path, location, "CONTEXTS", "expected a non-empty list of paragraphs (strings)")
    return "\n".join(contexts)


def load(path: Path) -> list[Example]:
    """The test questions of ``ori_pqal.json`` (the PMIDs of ``test_ground_truth.json`` beside it)."""
    path = Path(path)
    truth_path = path.with_name(TEST_IDS_FILE)
    test = read_test_labels(truth_path)
    data = read_json_unique(path)
    if not isinstance(data, Mapping):
        raise DataFormatError(path, "top level", "<json>", f"expected a JSON object keyed by PMID, got {type(data).__name__}")
    examples: list[Example] = []
    for number, (pmid, record) in enumerate(data.items(), start=1):
        location = f"PMID {pmid}"
        question = require(record, "QUESTION", str, path, location)
        contexts = _contexts(record, path, location)
        label = _label(require(record, "final_decision", str, path, location), path, location, "final_decision")
        if pmid not in test:
            continue
        if test[pmid] != label:
            raise DataFormatError(
                truth_path, f"PMID {pmid}", pmid, f"label {test[pmid]!r}, but {path.name} has final_decision {label!r}"
            )
        letter = WORD_LETTER[label]
        fields = {"PMID": pmid, "QUESTION": question, "CONTEXTS": contexts, "final_decision": label,
                  **derived_fields(CHOICES, letter)}
        examples.append(
            Example(id=pmid, task=NAME, fields=fields, reference=label, source_line=number, source=str(path),
                    location=location)
        )
    missing = [pmid for pmid in test if pmid not in data]
    if missing:
        raise DataFormatError(truth_path, f"PMID {missing[0]}", missing[0],
                              f"not in {path.name} ({len(missing)} test PMID(s) missing)")
    return examples


TASK = mc_task(
    name=NAME,
    display_name=DISPLAY_NAME,
    suite="mcqa",
    data_file=DATA_FILE,
    how_to_obtain=HOW_TO_OBTAIN,
    load=load,
    letters=LETTERS,
    gold=letter_gold(LETTERS, WORD_LETTER),
)
