"""JAMA Clinical Challenge (as collected by Chen et al., 2024, github.com/HanjieChen/ChallengeClinicalQA).

JAMA's case challenges are licensed; ChallengeClinicalQA publishes the article links and answer
letters (``jama_links.json``) and a scraper, which a user with JAMA access runs to get the cases.
clue reads its output file ``jama_raw.csv`` as the scraper writes it (pandas, a header row, no index
column): ``link``, ``question`` (the case text, then the challenge's question), ``opa``, ``opb``,
``opc``, ``opd``, ``diagnosis``, ``answer_idx`` (the right option's letter, copied from
``jama_links.json``), ``answer``, ``explanation`` and ``field`` (the article type). An item's id is
its ``link``. The case text is the user's: clue ships only a synthetic look-alike. Prompts: the
protocol's ``[tasks.jama]`` (clue's own zero-shot prompt).
"""

from __future__ import annotations

from pathlib import Path

from clue.data.csv_records import read_csv_records
from clue.data.records import UniqueIds, record_number
from clue.errors import DataFormatError
from clue.records import Example
from clue.tasks.multiple_choice import check_letter, derived_fields, mc_task, read_choices

NAME = "jama"
LETTERS = "ABCD"
OPTION_FIELDS = (("A", "opa"), ("B", "opb"), ("C", "opc"), ("D", "opd"))
REQUIRED = ("link", "question", "opa", "opb", "opc", "opd", "answer_idx")
DATA_FILE = "JAMA/jama_raw.csv"
HOW_TO_OBTAIN = (
    "The JAMA Clinical Challenge cases are licensed by JAMA and not redistributed: with access to the "
    "JAMA Network articles, run jama_scraper.py of https://github.com/HanjieChen/ChallengeClinicalQA "
    "(it reads jama_links.json) and put the jama_raw.csv it writes at <data dir>/JAMA/jama_raw.csv."
)


def load(path: Path) -> list[Example]:
    """The cases of ``jama_raw.csv``; row numbers count the header as row 1."""
    examples: list[Example] = []
    ids = UniqueIds(path, "link")
    for location, row in read_csv_records(path, REQUIRED):
        link = ids.add(row["link"].strip(), location, "link")
        if not row["question"].strip():
            raise DataFormatError(path, location, "question", "empty")
        choices = read_choices(row, OPTION_FIELDS, path, location)
        letter = check_letter(row["answer_idx"], LETTERS, path, location, "answer_idx")
        fields = {**row, "link": link, "answer_idx": letter, **derived_fields(choices, letter)}
        examples.append(
            Example(id=link, task=NAME, fields=fields, reference=letter, source_line=record_number(location),
                    source=str(path), location=location)
        )
    if not examples:
        raise DataFormatError(path, "row 2", "<file>", "no cases")
    return examples


TASK = mc_task(
    name=NAME,
    display_name="JAMA Clinical Challenge",
    suite="cases",
    data_file=DATA_FILE,
    how_to_obtain=HOW_TO_OBTAIN,
    load=load,
    letters=LETTERS,
)
