"""The loaders of MedQA, MedMCQA, PubMedQA, JAMA and NEJM on good and malformed files: each case loads
correctly or raises one DataFormatError naming the file, the line/row/record and the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from clue.errors import DataFormatError, DataMissingError
from clue.tasks import jama, medmcqa, medqa, nejm, pubmedqa
from clue_task_sources import json_array, json_lines, write
from mc_task_sources import (
    JAMA_HEADER,
    jama_row,
    medmcqa_record,
    medqa_record,
    nejm_record,
    pandas_csv,
    pubmedqa_record,
    write_pubmedqa,
)

HUGE = "word " * 400_000  # a ~2 MB field


@dataclass(frozen=True)
class Ok:
    count: int
    check: Callable[[list], object] | None = None


@dataclass(frozen=True)
class Bad:
    location: str
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
    assert path.name in message or info.value.path.name in message
    assert expected.location in message, message
    assert repr(expected.field) in message, message
    assert info.value.field == expected.field


def _without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


# ---------------------------------------------------------------- MedQA
MEDQA_CASES = {
    "valid": (json_lines([medqa_record(i) for i in range(3)]), Ok(3)),
    "fields": (
        json_lines([medqa_record(0)]),
        Ok(1, lambda ex: (ex[0].id, ex[0].reference, ex[0].fields["answer_letter"], ex[0].fields["answer_text"],
                          ex[0].fields["choices"][0]) == ("medqa-00001", "B", "B", "Pneumonia 0", ("A", "Asthma 0"))),
    ),
    "empty": ("", Bad("line 1", "<file>")),
    "blank_lines_and_bom": ("\ufeff\n" + json_lines([medqa_record(0)]) + "\n\n" + json_lines([medqa_record(1)]),
                            Ok(2, lambda ex: [e.id for e in ex] == ["medqa-00002", "medqa-00005"])),
    "crlf": (json_lines([medqa_record(0), medqa_record(1)]).replace("\n", "\r\n"), Ok(2)),
    "truncated_json": (json_lines([medqa_record(0)]) + json.dumps(medqa_record(1))[:30], Bad("line 2", "<json>")),
    "missing_question": (json_lines([medqa_record(0), _without(medqa_record(1), "question")]), Bad("line 2", "question")),
    "missing_answer_idx": (json_lines([_without(medqa_record(0), "answer_idx")]), Bad("line 1", "answer_idx")),
    "answer_idx_not_an_option": (json_lines([medqa_record(0, answer_idx="E")]), Bad("line 1", "answer_idx")),
    "answer_idx_number": (json_lines([medqa_record(0, answer_idx=2)]), Bad("line 1", "answer_idx")),
    "lowercase_answer_idx": (json_lines([medqa_record(0, answer_idx=" c ")]), Ok(1, lambda ex: ex[0].reference == "C")),
    "options_not_an_object": (json_lines([medqa_record(0, options=["a", "b", "c", "d"])]), Bad("line 1", "options")),
    "five_options": (
        json_lines([medqa_record(0, options={**medqa_record(0)["options"], "E": "Lupus"})]), Bad("line 1", "options"),
    ),
    "three_options": (json_lines([medqa_record(0, options={"A": "x", "B": "y", "C": "z"})]), Bad("line 1", "options")),
    "option_wrong_type": (
        json_lines([medqa_record(0, options={"A": "x", "B": 2, "C": "z", "D": "w"})]), Bad("line 1", "options.B"),
    ),
    "answer_wrong_type": (json_lines([medqa_record(0, answer=None)]), Bad("line 1", "answer")),
    "not_an_object": (json_lines([medqa_record(0)]) + "[1]\n", Bad("line 2", "<record>")),
    "json_array": (json_array([medqa_record(i) for i in range(4)]), Ok(4)),
    "huge_question": (json_lines([medqa_record(0, question=HUGE)]), Ok(1, lambda ex: len(ex[0].fields["question"]) == len(HUGE))),
    "extra_fields_ignored": (json_lines([medqa_record(0, note={"x": 1})]), Ok(1)),
}


@pytest.mark.parametrize("case", list(MEDQA_CASES))
def test_medqa_files(case: str, tmp_path: Path) -> None:
    text, expected = MEDQA_CASES[case]
    run_case(medqa.load, write(tmp_path / "phrases_no_exclude_test.jsonl", text), expected)


def test_medqa_five_option_file_is_pointed_to_the_four_option_one(tmp_path: Path) -> None:
    path = write(tmp_path / "test.jsonl", json_lines([medqa_record(0, options={**medqa_record(0)["options"], "E": "x"})]))
    with pytest.raises(DataFormatError, match="4_options"):
        medqa.load(path)


# ---------------------------------------------------------------- MedMCQA
MEDMCQA_CASES = {
    "valid": (json_lines([medmcqa_record(i) for i in range(4)]), Ok(4, lambda ex: [e.reference for e in ex] == list("ABCD"))),
    "cop_is_one_based": (json_lines([medmcqa_record(0, cop=1)]),
                         Ok(1, lambda ex: (ex[0].fields["answer_text"], ex[0].fields["cop"]) == ("Drug A0", 1))),
    "cop_as_digit_string": (json_lines([medmcqa_record(0, cop="3")]), Ok(1, lambda ex: ex[0].reference == "C")),
    "empty": ("", Bad("line 1", "<file>")),
    "cop_missing_as_in_the_test_set": (json_lines([_without(medmcqa_record(0), "cop")]), Bad("line 1", "cop")),
    "cop_zero": (json_lines([medmcqa_record(0, cop=0)]), Bad("line 1", "cop")),
    "cop_five": (json_lines([medmcqa_record(0), medmcqa_record(1, cop=5)]), Bad("line 2", "cop")),
    "cop_bool": (json_lines([medmcqa_record(0, cop=True)]), Bad("line 1", "cop")),
    "cop_letter": (json_lines([medmcqa_record(0, cop="a")]), Bad("line 1", "cop")),
    "missing_option": (json_lines([_without(medmcqa_record(0), "opc")]), Bad("line 1", "opc")),
    "option_wrong_type": (json_lines([medmcqa_record(0, opd=None)]), Bad("line 1", "opd")),
    "missing_id": (json_lines([_without(medmcqa_record(0), "id")]), Bad("line 1", "id")),
    "duplicate_id": (json_lines([medmcqa_record(0), medmcqa_record(1), medmcqa_record(0)]), Bad("line 3", "id")),
    "empty_id": (json_lines([medmcqa_record(0, id=" ")]), Bad("line 1", "id")),
    "question_wrong_type": (json_lines([medmcqa_record(0, question=["x"])]), Bad("line 1", "question")),
    "truncated": (json_lines([medmcqa_record(0)]) + '{"question": "x', Bad("line 2", "<json>")),
    "huge_question": (json_lines([medmcqa_record(0, question=HUGE)]), Ok(1)),
    "multi_choice_type_kept": (json_lines([medmcqa_record(0, choice_type="multi")]), Ok(1)),
}


@pytest.mark.parametrize("case", list(MEDMCQA_CASES))
def test_medmcqa_files(case: str, tmp_path: Path) -> None:
    text, expected = MEDMCQA_CASES[case]
    run_case(medmcqa.load, write(tmp_path / "dev.json", text), expected)


# ---------------------------------------------------------------- PubMedQA
def _pqal(n: int = 4) -> dict:
    decisions = ["yes", "no", "maybe", "yes"]
    return {str(1000 + i): pubmedqa_record(i, decisions[i % 4]) for i in range(n)}


def _truth(records: dict, ids: list[str]) -> dict:
    return {pmid: records[pmid]["final_decision"] for pmid in ids}


def test_pubmedqa_scores_the_test_pmids_in_file_order(tmp_path: Path) -> None:
    records = _pqal(4)
    truth = _truth(records, ["1003", "1000", "1002"])  # grouped by label in the original, not in file order
    examples = pubmedqa.load(write_pubmedqa(tmp_path, records, truth))
    assert [e.id for e in examples] == ["1000", "1002", "1003"]
    first = examples[0]
    assert first.fields["CONTEXTS"] == "Background 0.\nResults 0."
    assert (first.fields["answer_letter"], first.fields["answer_text"], first.reference) == ("A", "yes", "yes")
    assert examples[1].fields["answer_letter"] == "C" and examples[1].fields["choices"] == (("A", "yes"), ("B", "no"), ("C", "maybe"))
    assert "LONG_ANSWER" not in first.fields  # the reasoning-required setting never sees the conclusion


def test_pubmedqa_without_the_test_ids_is_missing_data(tmp_path: Path) -> None:
    path = write_pubmedqa(tmp_path, _pqal(2), None)
    with pytest.raises(DataMissingError) as info:
        pubmedqa.load(path)
    assert "test_ground_truth.json" in str(info.value) and "github.com/pubmedqa/pubmedqa" in str(info.value)


PUBMEDQA_CASES: dict[str, tuple[Callable[[dict], tuple[dict, dict | str]], str, Ok | Bad]] = {
    # (records -> (records, truth or raw truth text)), which file the error names, expected
    "missing_question": (lambda r: ({**r, "1001": _without(r["1001"], "QUESTION")}, _truth(r, ["1000"])), "ori", Bad("PMID 1001", "QUESTION")),
    "contexts_not_a_list": (lambda r: ({**r, "1000": {**r["1000"], "CONTEXTS": "text"}}, _truth(r, ["1000"])), "ori", Bad("PMID 1000", "CONTEXTS")),
    "contexts_empty": (lambda r: ({**r, "1000": {**r["1000"], "CONTEXTS": []}}, _truth(r, ["1000"])), "ori", Bad("PMID 1000", "CONTEXTS")),
    "contexts_not_text": (lambda r: ({**r, "1000": {**r["1000"], "CONTEXTS": ["a", 2]}}, _truth(r, ["1000"])), "ori", Bad("PMID 1000", "CONTEXTS")),
    "decision_unknown": (lambda r: ({**r, "1002": {**r["1002"], "final_decision": "perhaps"}}, _truth(r, ["1000"])), "ori", Bad("PMID 1002", "final_decision")),
    "record_not_an_object": (lambda r: ({**r, "1003": [1]}, _truth(r, ["1000"])), "ori", Bad("PMID 1003", "<record>")),
    "labels_disagree": (lambda r: (r, {"1000": "no"}), "truth", Bad("PMID 1000", "1000")),
    "truth_label_unknown": (lambda r: (r, {"1000": "sometimes"}), "truth", Bad("PMID 1000", "1000")),
    "truth_pmid_absent": (lambda r: (r, {"1000": "yes", "9999": "no"}), "truth", Bad("PMID 9999", "9999")),
    "truth_not_an_object": (lambda r: (r, "[\"1000\"]"), "truth", Bad("top level", "<json>")),
    "truth_empty_file": (lambda r: (r, ""), "truth", Bad("line 1", "<file>")),
    "truth_duplicate_pmid": (lambda r: (r, '{"1000": "yes", "1000": "yes"}'), "truth", Bad("<json>", "1000")),
    "duplicate_pmid": (lambda r: (r, _truth(r, ["1000"])), "dup", Bad("<json>", "1000")),
    "valid_uppercase_label": (lambda r: (r, {"1000": "YES"}), "ori", Ok(1)),
}


@pytest.mark.parametrize("case", list(PUBMEDQA_CASES))
def test_pubmedqa_files(case: str, tmp_path: Path) -> None:
    build, which, expected = PUBMEDQA_CASES[case]
    records, truth = build(_pqal(4))
    path = write_pubmedqa(tmp_path, records, truth if isinstance(truth, dict) else None)
    if isinstance(truth, str):
        (tmp_path / "test_ground_truth.json").write_text(truth, encoding="utf-8")
    if which == "dup":
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('{\n    "1000"', '{\n    "1000": {"QUESTION": "q"},\n    "1000"', 1), encoding="utf-8")
    run_case(pubmedqa.load, path, expected)
    if isinstance(expected, Bad):
        with pytest.raises(DataFormatError) as info:
            pubmedqa.load(path)
        named = "test_ground_truth.json" if which == "truth" else "ori_pqal.json"
        assert info.value.path.name == named


def test_pubmedqa_invalid_json_names_line(tmp_path: Path) -> None:
    path = write_pubmedqa(tmp_path, _pqal(2), {"1000": "yes"})
    path.write_text('{\n  "1000": {\n    "QUESTION": "x",\n', encoding="utf-8")
    run_case(pubmedqa.load, path, Bad("line 4", "<json>"))


# ---------------------------------------------------------------- JAMA
JAMA_CASES = {
    "valid": (pandas_csv([jama_row(i) for i in range(3)]), Ok(3)),
    "fields": (
        pandas_csv([jama_row(0)]),
        Ok(1, lambda ex: (ex[0].id, ex[0].reference, ex[0].fields["answer_text"], ex[0].fields["field"],
                          ex[0].location) == ("https://synthetic.invalid/jama/0", "C", "Lupus 0", "Clinical Challenge", "row 2 (line 2)")),
    ),
    "multiline_question_keeps_line_numbers": (
        pandas_csv([jama_row(0), jama_row(1)]),
        Ok(2, lambda ex: ex[1].location == "row 3 (line 4)" and "\n" in ex[0].fields["question"]),
    ),
    "empty": ("", Bad("line 1", "<file>")),
    "header_only": (pandas_csv([]), Bad("row 2", "<file>")),
    "missing_column": (pandas_csv([[c for c, h in zip(jama_row(0), JAMA_HEADER) if h != "opd"]], [h for h in JAMA_HEADER if h != "opd"]),
                       Bad("row 1 (line 1)", "opd")),
    "short_row": (pandas_csv([jama_row(0), jama_row(1)[:4]]), Bad("row 3", "opc")),
    "answer_idx_unknown": (pandas_csv([jama_row(0, answer_idx="E")]), Bad("row 2", "answer_idx")),
    "answer_idx_empty_as_pandas_writes_nan": (pandas_csv([jama_row(0), jama_row(1, answer_idx="")]), Bad("row 3", "answer_idx")),
    "duplicate_link": (pandas_csv([jama_row(0), jama_row(0)]), Bad("row 3", "link")),
    "empty_link": (pandas_csv([jama_row(0, link="")]), Bad("row 2", "link")),
    "empty_question": (pandas_csv([jama_row(0, question=" ")]), Bad("row 2", "question")),
    "unterminated_quote_reads_as_a_short_row": (pandas_csv([jama_row(0)]) + 'x,"open\n', Bad("row 3 (line 4)", "opa")),
    "bom_and_crlf": ("\ufeff" + pandas_csv([jama_row(0), jama_row(1)]).replace("\n", "\r\n"), Ok(2)),
    "huge_case": (pandas_csv([jama_row(0, question=HUGE)]), Ok(1, lambda ex: len(ex[0].fields["question"]) == len(HUGE))),
    "blank_rows_skipped": (pandas_csv([jama_row(0)]) + "\n,,,,,,,,,,\n" + pandas_csv([jama_row(1)]).split("\n", 1)[1], Ok(2)),
    "lowercase_letter": (pandas_csv([jama_row(0, answer_idx="b")]), Ok(1, lambda ex: ex[0].reference == "B")),
}


@pytest.mark.parametrize("case", list(JAMA_CASES))
def test_jama_files(case: str, tmp_path: Path) -> None:
    text, expected = JAMA_CASES[case]
    run_case(jama.load, write(tmp_path / "jama_raw.csv", text), expected)


def test_jama_reads_what_pandas_writes(tmp_path: Path) -> None:
    """The scraper saves with pandas' DataFrame.to_csv(index=False): quotes, commas and newlines in cases."""
    pd = pytest.importorskip("pandas")
    rows = [jama_row(0, question='A case, with "quotes",\nand lines.'), jama_row(1)]
    frame = pd.DataFrame([dict(zip(JAMA_HEADER, r)) for r in rows], columns=JAMA_HEADER)
    path = tmp_path / "jama_raw.csv"
    frame.to_csv(path, index=False)
    first, second = jama.load(path)
    assert first.fields["question"] == 'A case, with "quotes",\nand lines.'
    assert (second.id, second.reference) == ("https://synthetic.invalid/jama/1", "C")


# ---------------------------------------------------------------- NEJM
NEJM_CASES = {
    "valid": (json_array([nejm_record(i) for i in range(3)]), Ok(3, lambda ex: [e.reference for e in ex] == ["D"] * 3)),
    "json_lines": (json_lines([nejm_record(i) for i in range(2)]), Ok(2)),
    "no_id_uses_record_number": (json_array([_without(nejm_record(0), "id")]), Ok(1, lambda ex: ex[0].id == "nejm-00001")),
    "int_id": (json_array([nejm_record(0, id=17)]), Ok(1, lambda ex: ex[0].id == "17")),
    "image_flag_counted": (
        json_array([nejm_record(0, image_required=True), nejm_record(1, image_required=False), nejm_record(2)]),
        Ok(3, lambda ex: [e.notes for e in ex] == [("needs_image",), (), ()]),
    ),
    "context_absent_or_null": (json_array([_without(nejm_record(0), "relevant_context"), nejm_record(1, relevant_context=None)]),
                               Ok(2, lambda ex: [e.fields["relevant_context"] for e in ex] == ["", ""])),
    "empty": ("", Bad("line 1", "<file>")),
    "empty_array": ("[]", Bad("line 1", "<file>")),
    "missing_option_e": (json_array([nejm_record(0), _without(nejm_record(1), "option_E")]), Bad("record 2", "option_E")),
    "answer_not_a_letter": (json_array([nejm_record(0, correct_answer="Diagnosis D0")]), Bad("record 1", "correct_answer")),
    "answer_f": (json_array([nejm_record(0, correct_answer="F")]), Bad("record 1", "correct_answer")),
    "missing_answer": (json_array([_without(nejm_record(0), "correct_answer")]), Bad("record 1", "correct_answer")),
    "image_flag_not_bool": (json_array([nejm_record(0, image_required="yes")]), Bad("record 1", "image_required")),
    "context_wrong_type": (json_array([nejm_record(0, relevant_context=["x"])]), Bad("record 1", "relevant_context")),
    "id_wrong_type": (json_array([nejm_record(0, id=["x"])]), Bad("record 1", "id")),
    "duplicate_id": (json_array([nejm_record(0), nejm_record(0)]), Bad("record 2", "id")),
    "not_an_object": (json_array([nejm_record(0), "text"]), Bad("record 2", "<record>")),
    "truncated": ('[{"question": "x"', Bad("line 1", "<json>")),
}


@pytest.mark.parametrize("case", list(NEJM_CASES))
def test_nejm_files(case: str, tmp_path: Path) -> None:
    text, expected = NEJM_CASES[case]
    run_case(nejm.load, write(tmp_path / "nejm_image_challenge.json", text), expected)
