"""MedMCQA (Pal et al., CHIL 2022): Indian medical entrance exam questions, the dev set.

Original file ``dev.json`` of the MedMCQA release (github.com/medmcqa/medmcqa, data on Google
Drive; 4,183 questions; the test set's answers are not published). JSON lines, each with ``id``,
``question``, the options ``opa``, ``opb``, ``opc``, ``opd``, ``cop`` (the correct option, 1 = opa ..
4 = opd, as the release writes it; the Hugging Face copies number them 0..3 and are not this file),
``choice_type``, ``exp``, ``subject_name`` and ``topic_name``. Prompts: the protocol's
``[tasks.medmcqa]`` (clue's own zero-shot prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clue.data.readers import read_json_records, require
from clue.data.records import UniqueIds, record_number
from clue.errors import DataFormatError
from clue.records import Example
from clue.tasks.multiple_choice import derived_fields, mc_task, read_choices

NAME = "medmcqa"
LETTERS = "ABCD"
OPTION_FIELDS = (("A", "opa"), ("B", "opb"), ("C", "opc"), ("D", "opd"))
DATA_FILE = "MedMCQA/dev.json"
HOW_TO_OBTAIN = (
    "MedMCQA is public: download the data linked in https://github.com/medmcqa/medmcqa (data.zip on "
    "Google Drive) and put its dev.json at <data dir>/MedMCQA/dev.json."
)


def _cop(record: Mapping[str, Any], path: Path, location: str) -> str:
    if "cop" not in record:
        raise DataFormatError(path, location, "cop", "missing (the test set publishes no answers: use dev.json)")
    value = record["cop"]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise DataFormatError(path, location, "cop", f"expected the correct option as 1..4 (1 = opa), got {value!r}")
    return LETTERS[value - 1]


def load(path: Path) -> list[Example]:
    """The questions of ``dev.json`` (JSON lines; a JSON array is accepted too)."""
    examples: list[Example] = []
    ids = UniqueIds(path)
    for location, record in read_json_records(path):
        item_id = ids.add(str(require(record, "id", (str, int), path, location)).strip(), location, "id")
        question = require(record, "question", str, path, location)
        choices = read_choices(record, OPTION_FIELDS, path, location)
        letter = _cop(record, path, location)
        fields = {"id": item_id, "question": question, **{name: dict(choices)[x] for x, name in OPTION_FIELDS},
                  "cop": LETTERS.index(letter) + 1, **derived_fields(choices, letter)}
        examples.append(
            Example(id=item_id, task=NAME, fields=fields, reference=letter, source_line=record_number(location),
                    source=str(path), location=location)
        )
    if not examples:
        raise DataFormatError(path, "line 1", "<file>", "no questions")
    return examples


TASK = mc_task(
    name=NAME,
    display_name="MedMCQA",
    suite="mcqa",
    data_file=DATA_FILE,
    how_to_obtain=HOW_TO_OBTAIN,
    load=load,
    letters=LETTERS,
)
