"""Loaders on malformed files: each case either loads correctly or raises one DataFormatError whose
message names the file, the line/row/record and the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from clue.errors import DataFormatError
from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue_task_sources import (
    PROBLEM_HEADER,
    csv_text,
    json_array,
    json_lines,
    medisumcode_record,
    medisumqa_record,
    mednli_record,
    meqsum_row,
    problem_row,
    write,
    write_xlsx,
)

HUGE = "word " * 400_000  # a ~2 MB field


@dataclass(frozen=True)
class Ok:
    count: int
    check: Callable[[list], None] | None = None


@dataclass(frozen=True)
class Bad:
    location: str  # e.g. "line 3", "row 2", "record 2"
    field: str


def run_case(load: Callable, path: Path, expected: Ok | Bad) -> None:
    if isinstance(expected, Ok):
        examples = load(path)
        assert len(examples) == expected.count
        if expected.check:
            assert expected.check(examples) in (None, True)
        return
    with pytest.raises(DataFormatError) as info:
        load(path)
    message = str(info.value)
    assert path.name in message
    assert expected.location in message, message
    assert repr(expected.field) in message, message
    assert info.value.field == expected.field


# ---------------------------------------------------------------- MedNLI

def _mednli_lines(*records) -> str:
    return json_lines(records)


def _dropped(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


MEDNLI_CASES = {
    "valid": (_mednli_lines(*(mednli_record(i) for i in range(3))), Ok(3)),
    "empty": ("", Bad("line 1", "<file>")),
    "blank_lines": ("\n" + _mednli_lines(mednli_record(0)) + "\n\n" + _mednli_lines(mednli_record(1)), Ok(2)),
    "bom": ("\ufeff" + _mednli_lines(mednli_record(0), mednli_record(1)), Ok(2)),
    "crlf": (_mednli_lines(mednli_record(0), mednli_record(1)).replace("\n", "\r\n"), Ok(2)),
    "truncated_json": (
        _mednli_lines(mednli_record(0), mednli_record(1)) + json.dumps(mednli_record(2))[:40],
        Bad("line 3", "<json>"),
    ),
    "missing_label": (_mednli_lines(mednli_record(0), _dropped(mednli_record(1), "gold_label")), Bad("line 2", "gold_label")),
    "missing_sentence": (_mednli_lines(_dropped(mednli_record(0), "sentence2")), Bad("line 1", "sentence2")),
    "label_wrong_type": (_mednli_lines(mednli_record(0), mednli_record(1, gold_label=1)), Bad("line 2", "gold_label")),
    "label_unknown": (_mednli_lines(mednli_record(0, gold_label="-")), Bad("line 1", "gold_label")),
    "sentence_wrong_type": (_mednli_lines(mednli_record(0, sentence1=["a"])), Bad("line 1", "sentence1")),
    "duplicate_id": (_mednli_lines(mednli_record(0), mednli_record(1), mednli_record(0)), Bad("line 3", "pairID")),
    "not_an_object": (_mednli_lines(mednli_record(0)) + "[1, 2]\n", Bad("line 2", "<record>")),
    "extra_fields": (_mednli_lines(mednli_record(0, annotator_labels=["neutral"], note={"x": 1})), Ok(1)),
    "parse_trees_absent": (
        _mednli_lines({k: mednli_record(0)[k] for k in ("pairID", "gold_label", "sentence1", "sentence2")}),
        Ok(1),
    ),
    "json_array": (json_array([mednli_record(i) for i in range(4)]), Ok(4)),
    "huge_record": (
        _mednli_lines(mednli_record(0, sentence1=HUGE)),
        Ok(1, lambda ex: len(ex[0].fields["sentence1"]) == len(HUGE)),
    ),
    "uppercase_label": (_mednli_lines(mednli_record(0, gold_label="NEUTRAL")), Ok(1, lambda ex: ex[0].reference == "NEUTRAL")),
    "padded_label": (
        _mednli_lines(mednli_record(0, gold_label=" neutral ")),
        Ok(1, lambda ex: ex[0].reference == ex[0].fields["gold_label"] == "neutral"),
    ),
}


@pytest.mark.parametrize("case", list(MEDNLI_CASES))
def test_mednli_malformed(case: str, tmp_path: Path) -> None:
    text, expected = MEDNLI_CASES[case]
    run_case(mednli.load, write(tmp_path / "mli_test_v1.jsonl", text), expected)


def test_mednli_fields_and_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "mli_test_v1.jsonl", "\n" + _mednli_lines(mednli_record(0, "neutral"), mednli_record(1, "entailment")))
    first, second = mednli.load(path)
    # the label as the file writes it (lower case): the prompt's shots show it so
    assert (first.id, first.reference, first.source_line) == ("pair-0", "neutral", 2)
    assert (second.id, second.source_line) == ("pair-1", 3)
    # the original field names, and only the three the prompts read
    assert dict(first.fields) == {
        "sentence1": mednli_record(0)["sentence1"], "sentence2": mednli_record(0)["sentence2"], "gold_label": "neutral",
    }


# ---------------------------------------------------------------- MeQSum

HEADER = ("File", "CHQ", "Summary")


def _check_crlf(examples) -> None:
    assert "\r" not in examples[0].fields["CHQ"] and "\n" in examples[0].fields["CHQ"]


MEQSUM_CASES: dict[str, tuple[Callable[[Path], Path], Ok | Bad]] = {
    "valid": (lambda p: write_xlsx(p, [HEADER, *map(meqsum_row, range(3))]), Ok(3)),
    "styled_unnamed_cells_and_empty_rows": (
        lambda p: write_xlsx(p, [HEADER, meqsum_row(0), (None, None, None), ("", " ", None), meqsum_row(1)],
                             extra_styled_cells=True),
        Ok(2),
    ),
    "extra_named_column": (lambda p: write_xlsx(p, [(*HEADER, "Notes"), (*meqsum_row(0), "x")]), Ok(1)),
    "columns_reordered": (
        lambda p: write_xlsx(p, [("Summary", "File", "CHQ"), ("Q?", "f1", "long question")]),
        Ok(1, lambda ex: (ex[0].id, ex[0].reference, ex[0].fields["CHQ"]) == ("f1", "Q?", "long question")),
    ),
    "cells_as_stored": (
        lambda p: write_xlsx(p, [HEADER, (" f1 ", "  padded question  \n", " Q? ")]),
        Ok(1, lambda ex: dict(ex[0].fields) == {"File": "f1", "CHQ": "  padded question  \n", "Summary": " Q? "}
           and ex[0].reference == " Q? " and ex[0].id == "f1"),
    ),
    "crlf_in_cell": (
        lambda p: write_xlsx(p, [HEADER, ("f1", "line one\r\nline two", "Q?")]),
        Ok(1, _check_crlf),
    ),
    "numeric_file_id": (lambda p: write_xlsx(p, [HEADER, (17, "question", "Q?")]), Ok(1, lambda ex: ex[0].id == "17")),
    "missing_column": (lambda p: write_xlsx(p, [("File", "Summary"), ("f1", "Q?")]), Bad("row 1", "CHQ")),
    "missing_sheet": (lambda p: write_xlsx(p, [HEADER, meqsum_row(0)], sheet="Sheet1"), Bad("file", "<sheet QS>")),
    "empty_sheet": (lambda p: write_xlsx(p, []), Bad("row 1", "<header>")),
    "empty_summary": (lambda p: write_xlsx(p, [HEADER, meqsum_row(0), ("f2", "question", None)]), Bad("row 3", "Summary")),
    "number_as_question": (lambda p: write_xlsx(p, [HEADER, ("f1", 42, "Q?")]), Bad("row 2", "CHQ")),
    "duplicate_id": (lambda p: write_xlsx(p, [HEADER, meqsum_row(0), meqsum_row(1), meqsum_row(0)]), Bad("row 4", "File")),
    "not_a_workbook": (lambda p: write(p, "File,CHQ,Summary\n"), Bad("file", "<workbook>")),
    "truncated_workbook": (
        lambda p: write(p, write_xlsx(p, [HEADER, meqsum_row(0)]).read_bytes()[:300]),
        Bad("file", "<workbook>"),
    ),
    "huge_record": (
        lambda p: write_xlsx(p, [HEADER, ("f1", HUGE[:32_000], "Q?")]),  # Excel's cell limit is 32,767
        Ok(1),
    ),
}


@pytest.mark.parametrize("case", list(MEQSUM_CASES))
def test_meqsum_malformed(case: str, tmp_path: Path) -> None:
    build, expected = MEQSUM_CASES[case]
    path = build(tmp_path / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx")
    run_case(meqsum.load, path, expected)


# ---------------------------------------------------------------- ProblemSummary

def _rows(n: int) -> list[list[str]]:
    return [problem_row(i) for i in range(n)]


def _check_multiline(examples) -> None:
    assert examples[0].fields["Subjectives"] == "first line\nsecond line"


PROBLEM_CASES = {
    "valid": (csv_text(PROBLEM_HEADER, _rows(3)), Ok(3)),
    "empty": ("", Bad("line 1", "<file>")),
    "header_only": (csv_text(PROBLEM_HEADER, []), Ok(0)),
    "bom_and_crlf": ("\ufeff" + csv_text(PROBLEM_HEADER, _rows(2)).replace("\n", "\r\n"), Ok(2)),
    "missing_column": (
        csv_text([c for c in PROBLEM_HEADER if c != "Assessment"], [r[:3] + r[4:] for r in _rows(2)]),
        Bad("row 1", "Assessment"),
    ),
    "objectives_absent": (
        csv_text([c for c in PROBLEM_HEADER if c != "Objectives"], [r[:2] + r[3:] for r in _rows(2)]),
        Ok(2),
    ),
    "short_row": (csv_text(PROBLEM_HEADER, _rows(1)) + "1005,only two\n", Bad("row 3 (line 3)", "Assessment")),
    "duplicate_id": (csv_text(PROBLEM_HEADER, _rows(2) + [problem_row(0)]), Bad("row 4", "File ID")),
    "empty_id": (csv_text(PROBLEM_HEADER, [["", *problem_row(0)[1:]]]), Bad("row 2", "File ID")),
    "pandas_index_and_extra_columns": (
        csv_text(["", *PROBLEM_HEADER, "Notes"], [[str(i), *problem_row(i), "x"] for i in range(2)]),
        Ok(2, lambda ex: ex[1].id == "1001"),
    ),
    "multiline_field_then_error": (
        csv_text(PROBLEM_HEADER, [["1", "first line\nsecond line", "o", "a", "s"], ["1", "s", "o", "a", "s"]]),
        Bad("row 3 (line 4)", "File ID"),
    ),
    "multiline_field": (
        csv_text(PROBLEM_HEADER, [["1", "first line\nsecond line", "o", "a", "s"]]),
        Ok(1, _check_multiline),
    ),
    "empty_summary": (
        csv_text(PROBLEM_HEADER, [problem_row(0, summary="")]),
        Ok(1, lambda ex: ex[0].reference == ex[0].fields["Summary"] == "" and ex[0].notes == ("empty_gold",)),
    ),
    "fields_raw_summary_cleaned": (
        csv_text(PROBLEM_HEADER, [[" 7 ", "  s  ", " o ", " a\n", " x ;  y; ;"]]),
        Ok(1, lambda ex: dict(ex[0].fields) == {
            "File ID": "7", "Subjectives": "  s  ", "Objectives": " o ", "Assessment": " a\n", "Summary": "x, y",
        } and ex[0].reference == "x, y" and not ex[0].notes),
    ),
    "blank_lines": (csv_text(PROBLEM_HEADER, _rows(1)) + "\n,,,,\n" + csv_text([], [problem_row(1)]).lstrip(), Ok(2)),
    "huge_record": (csv_text(PROBLEM_HEADER, [["1", HUGE, "o", "a", "x; y"]]), Ok(1)),
}


@pytest.mark.parametrize("case", list(PROBLEM_CASES))
def test_problem_summary_malformed(case: str, tmp_path: Path) -> None:
    text, expected = PROBLEM_CASES[case]
    run_case(problem_summary.load, write(tmp_path / "BioNLP2023-1A-Test.csv", text), expected)


def test_problem_summary_unterminated_quote(tmp_path: Path) -> None:
    """A file cut inside a quoted field: a DataFormatError naming the row, or the partial row loaded."""
    text = csv_text(PROBLEM_HEADER, _rows(1)) + '1009,"the note starts and never ends'
    path = write(tmp_path / "BioNLP2023-1A-Test.csv", text)
    try:
        examples = problem_summary.load(path)
    except DataFormatError as exc:
        assert "BioNLP2023-1A-Test.csv" in str(exc) and "row 3" in str(exc)
    else:
        pytest.fail(f"a row without Summary loaded: {examples}")


# ---------------------------------------------------------------- MeDiSumQA

QA_CASES = {
    "json_array": (json_array([medisumqa_record(i) for i in range(3)]), Ok(3)),
    "json_lines": (json_lines([medisumqa_record(i) for i in range(3)]), Ok(3)),
    "empty": ("  \n", Bad("line 1", "<file>")),
    "truncated_array": (json_array([medisumqa_record(i) for i in range(3)])[:-40], Bad("line", "<json>")),
    "truncated_line": (json_lines([medisumqa_record(0)]) + json.dumps(medisumqa_record(1))[:30], Bad("line 2", "<json>")),
    "bom_crlf": ("\ufeff" + json_array([medisumqa_record(0)]).replace("\n", "\r\n"), Ok(1)),
    "missing_answer": (json_array([medisumqa_record(0), _dropped(medisumqa_record(1), "Answer")]), Bad("record 2", "Answer")),
    "missing_summary": (json_lines([_dropped(medisumqa_record(0), "discharge_summary")]), Bad("line 1", "discharge_summary")),
    "question_wrong_type": (json_array([medisumqa_record(0, Question=None)]), Bad("record 1", "Question")),
    "empty_question": (json_array([medisumqa_record(0, Question="  ")]), Bad("record 1", "Question")),
    "duplicate_item": (json_array([medisumqa_record(0), medisumqa_record(1), medisumqa_record(0)]), Bad("record 3", "Question")),
    "duplicate_explicit_id": (
        json_array([medisumqa_record(0, id="a"), medisumqa_record(1, id="a")]),
        Bad("record 2", "id"),
    ),
    "explicit_ids": (
        json_array([medisumqa_record(0, id="qa-1"), medisumqa_record(1, id=7)]),
        Ok(2, lambda ex: [e.id for e in ex] == ["qa-1", "7"]),
    ),
    "id_wrong_type": (json_array([medisumqa_record(0, id=[1])]), Bad("record 1", "id")),
    "not_an_object": (json_array([medisumqa_record(0), "text"]), Bad("record 2", "<record>")),
    "extra_fields": (json_lines([medisumqa_record(0, note_id="n1", with_discharge_summary="x", rouge_l=0.2)]), Ok(1)),
    "huge_record": (json_lines([medisumqa_record(0, discharge_summary=HUGE)]), Ok(1)),
    "derived_without_summary": (
        json_array([medisumqa_record(0, discharge_summary="Letter.\n\n\nDischarge Instructions:\nRest.\n\n\nFollow up.")]),
        Ok(1, lambda ex: ex[0].fields["without_discharge_summary"] == "Letter.\n\nFollow up."
           and ex[0].notes == ("derived:without_discharge_summary",)),
    ),
    "both_letter_fields": (
        json_array([medisumqa_record(0, without_discharge_summary="Given as is ")]),
        Ok(1, lambda ex: ex[0].fields["without_discharge_summary"] == "Given as is " and not ex[0].notes),
    ),
    "only_without_summary": (
        json_array([{**_dropped(medisumqa_record(0), "discharge_summary"), "without_discharge_summary": "Short letter."}]),
        Ok(1, lambda ex: "discharge_summary" not in ex[0].fields and not ex[0].notes),
    ),
    "question_and_answer_raw": (
        json_array([medisumqa_record(0, Question=" Why? ", Answer=" Because. ")]),
        Ok(1, lambda ex: (ex[0].fields["Question"], ex[0].fields["Answer"], ex[0].reference) == (" Why? ", " Because. ", " Because. ")),
    ),
    "letter_field_wrong_type": (json_array([medisumqa_record(0, without_discharge_summary=3)]), Bad("record 1", "without_discharge_summary")),
}


@pytest.mark.parametrize("case", list(QA_CASES))
def test_medisumqa_malformed(case: str, tmp_path: Path) -> None:
    text, expected = QA_CASES[case]
    run_case(medisumqa.load, write(tmp_path / "MeDiSumQA.json", text), expected)


def test_medisumqa_hash_ids_are_stable_and_documents_shared(tmp_path: Path) -> None:
    records = [medisumqa_record(0), medisumqa_record(1, doc=0), medisumqa_record(2)]
    a = medisumqa.load(write(tmp_path / "a" / "MeDiSumQA.json", json_array(records)))
    b = medisumqa.load(write(tmp_path / "b" / "MeDiSumQA.json", json_lines(reversed(records))))
    assert [e.id for e in a] == [e.id for e in reversed(b)]
    assert all(len(e.id) == 16 for e in a)
    assert a[0].fields["document_id"] == a[1].fields["document_id"] != a[2].fields["document_id"]


# ---------------------------------------------------------------- MeDiSumCode

CODE_CASES = {
    "json_lines": (json_lines([medisumcode_record(i) for i in range(3)]), Ok(3)),
    "json_array": (json_array([medisumcode_record(i) for i in range(3)]), Ok(3)),
    "empty": ("", Bad("line 1", "<file>")),
    "truncated_line": (json_lines([medisumcode_record(0)]) + json.dumps(medisumcode_record(1))[:50], Bad("line 2", "<json>")),
    "bom_crlf": ("\ufeff" + json_lines([medisumcode_record(0), medisumcode_record(1)]).replace("\n", "\r\n"), Ok(2)),
    "int_hadm_id": (json_lines([medisumcode_record(0, hadm_id=123)]), Ok(1, lambda ex: ex[0].id == "123")),
    "hadm_id_wrong_type": (json_lines([medisumcode_record(0, hadm_id=1.5)]), Bad("line 1", "hadm_id")),
    "missing_text": (json_lines([medisumcode_record(0), _dropped(medisumcode_record(1), "text")]), Bad("line 2", "text")),
    "codes_not_a_list": (json_lines([medisumcode_record(0, icd_codes="I10")]), Bad("line 1", "icd_codes")),
    "code_wrong_type": (json_lines([medisumcode_record(0, codes=["I10", {"code": 10}])]), Bad("line 1", "icd_codes[1].code")),
    "code_missing": (json_lines([medisumcode_record(0, codes=[{"description": "x"}])]), Bad("line 1", "icd_codes[0].code")),
    "code_not_icd10": (json_lines([medisumcode_record(0, codes=["I10", "4019"])]), Bad("line 1", "icd_codes[1].code")),
    "duplicate_id": (json_lines([medisumcode_record(0), medisumcode_record(0)]), Bad("line 2", "hadm_id")),
    # codes as the file holds them: dots and repeats kept, joined with ", " as the reference did
    "dotted_and_repeated_codes": (
        json_lines([medisumcode_record(0, codes=["E11.65", "I10", "E1165", "U07.1", "I10"])]),
        Ok(1, lambda ex: ex[0].fields["codes"] == ex[0].reference == "E11.65, I10, E1165, U07.1, I10"),
    ),
    "lower_case_code": (json_lines([medisumcode_record(0, codes=["I10", "e11.65"])]), Bad("line 1", "icd_codes[1].code")),
    "plain_code_strings": (json_lines([medisumcode_record(0, codes=[])]).replace("[]", '["I10", "C7A00"]'), Ok(1)),
    "no_codes": (
        json_lines([medisumcode_record(0, codes=[])]),
        Ok(1, lambda ex: ex[0].fields["codes"] == "" and ex[0].notes == ("empty_gold",)),
    ),
    "fields": (
        json_lines([medisumcode_record(0, hadm_id=123)]),
        Ok(1, lambda ex: dict(ex[0].fields) == {"text": medisumcode_record(0)["text"], "codes": "J189, I10", "hadm_id": "123"}
           and not ex[0].notes),
    ),
    "extra_fields": (json_lines([medisumcode_record(0, subject_id=5, note_type="DS")]), Ok(1)),
    "huge_record": (json_lines([medisumcode_record(0, text=HUGE)]), Ok(1)),
}


@pytest.mark.parametrize("case", list(CODE_CASES))
def test_medisumcode_malformed(case: str, tmp_path: Path) -> None:
    text, expected = CODE_CASES[case]
    run_case(medisumcode.load, write(tmp_path / "MeDiSumCode.json", text), expected)


@pytest.mark.parametrize("module, records", [
    (mednli, [mednli_record(i) for i in range(4)]),
    (medisumqa, [medisumqa_record(i) for i in range(4)]),
    (medisumcode, [medisumcode_record(i) for i in range(4)]),
], ids=["mednli", "medisumqa", "medisumcode"])
def test_json_array_and_json_lines_load_alike(module, records, tmp_path: Path) -> None:
    """CLUE-SPEC defect 8: the generators wrote JSON lines, the evaluators read JSON arrays."""
    name = Path(module.TASK.data_file).name
    from_lines = module.load(write(tmp_path / "lines" / name, json_lines(records)))
    from_array = module.load(write(tmp_path / "array" / name, json_array(records)))
    assert [(e.id, e.reference, dict(e.fields)) for e in from_lines] == [
        (e.id, e.reference, dict(e.fields)) for e in from_array
    ]
    assert len(from_lines) == 4
