"""MedQA (Jin et al., 2021): USMLE-style questions, the US 4-option test set.

Original file: ``questions/US/4_options/phrases_no_exclude_test.jsonl`` of the MedQA release
(github.com/jind11/MedQA, data on Google Drive; 1,273 questions). JSON lines, each with
``question``, ``options`` (an object with the keys A, B, C and D), ``answer`` (the right option's
text), ``answer_idx`` (its letter) and ``meta_info``; the 4-option files also hold
``metamap_phrases``, which the prompt does not use. The 5-option ``US/test.jsonl`` (keys A..E) is
rejected with a pointer to the 4-option file. Records carry no id: an item's id is its line number.
Prompts: the protocol's ``[tasks.medqa]`` (clue's own zero-shot prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from clue.data.readers import read_json_records, require
from clue.data.records import record_number
from clue.errors import DataFormatError
from clue.records import Example
from clue.tasks.multiple_choice import check_letter, derived_fields, mc_task

NAME = "medqa"
LETTERS = "ABCD"
DATA_FILE = "MedQA/phrases_no_exclude_test.jsonl"
HOW_TO_OBTAIN = (
    "MedQA is public: download the data from the Google Drive folder linked in "
    "https://github.com/jind11/MedQA (data_clean.zip), and put "
    "data_clean/questions/US/4_options/phrases_no_exclude_test.jsonl at "
    "<data dir>/MedQA/phrases_no_exclude_test.jsonl."
)


def load(path: Path) -> list[Example]:
    """The questions of the 4-option test file (JSON lines; a JSON array is accepted too)."""
    examples: list[Example] = []
    for location, record in read_json_records(path):
        question = require(record, "question", str, path, location)
        options = require(record, "options", Mapping, path, location)
        if set(options) != set(LETTERS):
            found = ", ".join(sorted(map(str, options))) or "none"
            hint = " (the 5-option US/test.jsonl; use US/4_options/phrases_no_exclude_test.jsonl)" if "E" in options else ""
            raise DataFormatError(path, location, "options", f"expected the keys A, B, C, D, got {found}{hint}")
        for x in LETTERS:
            if not isinstance(options[x], str):
                raise DataFormatError(path, location, f"options.{x}", f"expected str, got {type(options[x]).__name__}")
        choices = tuple((x, options[x]) for x in LETTERS)
        letter = check_letter(require(record, "answer_idx", str, path, location), LETTERS, path, location, "answer_idx")
        answer = record.get("answer", dict(choices)[letter])
        if not isinstance(answer, str):
            raise DataFormatError(path, location, "answer", f"expected str, got {type(answer).__name__}")
        number = record_number(location)
        fields = {"question": question, "answer": answer, "answer_idx": letter, **derived_fields(choices, letter)}
        examples.append(
            Example(id=f"{NAME}-{number:05d}", task=NAME, fields=fields, reference=letter, source_line=number,
                    source=str(path), location=location)
        )
    if not examples:
        raise DataFormatError(path, "line 1", "<file>", "no questions")
    return examples


TASK = mc_task(
    name=NAME,
    display_name="MedQA",
    suite="mcqa",
    data_file=DATA_FILE,
    how_to_obtain=HOW_TO_OBTAIN,
    load=load,
    letters=LETTERS,
)
