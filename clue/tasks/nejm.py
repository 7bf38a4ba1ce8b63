"""NEJM Image Challenge, run text-only (the case challenges of Dorfner et al., JAMIA 2025).

The challenges are NEJM's; clue reads the public text fields of each one from a JSON file (an
array of objects, or JSON lines): ``question``, ``relevant_context`` (the case text shown with the
image; may be empty), ``option_A`` .. ``option_E`` and ``correct_answer`` (the right option's
letter). Optional: ``id`` (else the record number is the id) and ``image_required`` (true when the
answer cannot be found without the image). Other fields (image links, dates, votes) are ignored.
The images are never used: items flagged ``image_required`` are run like the others and counted in
the report (note ``needs_image``). These field names follow the issue that asked for this task;
clue found no public repository that defines the file, so its name here is clue's.
Prompts: the protocol's ``[tasks.nejm]`` (clue's own zero-shot prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from clue.data.readers import read_json_records, require
from clue.data.records import UniqueIds, record_number
from clue.errors import DataFormatError
from clue.records import Example
from clue.tasks.multiple_choice import NEEDS_IMAGE, check_letter, derived_fields, mc_task, read_choices

NAME = "nejm"
LETTERS = "ABCDE"
OPTION_FIELDS = tuple((x, f"option_{x}") for x in LETTERS)
DATA_FILE = "NEJMImageChallenge/nejm_image_challenge.json"
HOW_TO_OBTAIN = (
    "The NEJM Image Challenge is NEJM's (https://www.nejm.org/image-challenge) and not redistributed: "
    "put a JSON file of its challenges with the fields question, relevant_context, option_A..option_E "
    "and correct_answer (optionally id and image_required) at "
    "<data dir>/NEJMImageChallenge/nejm_image_challenge.json."
)


def load(path: Path) -> list[Example]:
    """The challenges of the file, in file order."""
    examples: list[Example] = []
    ids = UniqueIds(path)
    for location, record in read_json_records(path):
        number = record_number(location)
        raw_id = record.get("id", f"{NAME}-{number:05d}") if isinstance(record, Mapping) else None
        question = require(record, "question", str, path, location)
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
            raise DataFormatError(path, location, "id", f"expected str/int, got {type(raw_id).__name__}")
        item_id = ids.add(str(raw_id).strip(), location, "id")
        context = record.get("relevant_context", "")
        if context is None:
            context = ""
        if not isinstance(context, str):
            raise DataFormatError(path, location, "relevant_context", f"expected str, got {type(context).__name__}")
        choices = read_choices(record, OPTION_FIELDS, path, location)
        letter = check_letter(require(record, "correct_answer", str, path, location), LETTERS, path, location,
                              "correct_answer")
        image = record.get("image_required", False)
        if not isinstance(image, bool):
            raise DataFormatError(path, location, "image_required", f"expected true or false, got {image!r}")
        fields = {"id": item_id, "question": question, "relevant_context": context,
                  **{name: dict(choices)[x] for x, name in OPTION_FIELDS}, "correct_answer": letter,
                  "image_required": image, **derived_fields(choices, letter)}
        examples.append(
            Example(id=item_id, task=NAME, fields=fields, reference=letter, source_line=number, source=str(path),
                    location=location, notes=(NEEDS_IMAGE,) if image else ())
        )
    if not examples:
        raise DataFormatError(path, "line 1", "<file>", "no challenges")
    return examples


TASK = mc_task(
    name=NAME,
    display_name="NEJM Image Challenge",
    suite="cases",
    data_file=DATA_FILE,
    how_to_obtain=HOW_TO_OBTAIN,
    load=load,
    letters=LETTERS,
)
