"""``clue data verify``: present, well formed, published size, sha256, synthetic; exit 0 / 1 / 2."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from clue.data.manifest import ManifestEntry, write_manifest
from clue.data.verify import MALFORMED, MISSING, OK, SHA_MISMATCH, SYNTHETIC, WRONG_SIZE, verify
from clue.pipeline import demo_data_dir
from data_helpers import run_data

DEMO = demo_data_dir()


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(DEMO, data)
    return data


def statuses(data: Path, *names: str) -> dict[str, str]:
    return {c.name: c.status for c in verify(data, names)}


def write_mednli(path: Path, n: int) -> None:
    """A MedNLI-shaped file of ``n`` records (from the demo's first record)."""
    first = json.loads((DEMO / "MedNLI" / "mli_test_v1.jsonl").read_text().splitlines()[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({**first, "pairID": f"p{i}"}) + "\n" for i in range(n)))


def write_longhealth(path: Path, patients: int, questions: int) -> None:
    demo = json.loads((DEMO / "LongHealth" / "benchmark_v5.json").read_text())
    template = demo["patient_01"]
    question = template["questions"][0]
    data = {
        f"patient_{p:02d}": {**template, "questions": [{**question, "No": q} for q in range(questions)]}
        for p in range(1, patients + 1)
    }
    path.write_text(json.dumps(data))


def test_the_shipped_demo_folder_is_usable_and_says_what_is_synthetic(tmp_path: Path) -> None:
    run = run_data("verify", str(DEMO), hosts=None, home=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for name in ("MedNLI", "ProblemSummary", "MeDiSumCode", "MeDiSumQA", "LongHealth"):
        assert any(line.startswith(name) and "SYNTHETIC" in line for line in lines), name
    assert any(line.startswith("MeQSum") and " OK " in line for line in lines)
    assert "1,000 records (as published); sha256 matches clue's pin" in run.stdout
    assert "13 patients, 55 questions: the synthetic look-alike shipped with clue" in run.stdout
    assert "verify: 6 of 6 usable (5 synthetic)" in run.stdout


def test_a_truncated_file_is_named_and_fails(demo_copy: Path, tmp_path: Path) -> None:
    path = demo_copy / "MedNLI" / "mli_test_v1.jsonl"
    path.write_bytes(path.read_bytes()[:-200])  # cut inside the last record
    run = run_data("verify", str(demo_copy), hosts=None, home=tmp_path)
    assert run.returncode == 1
    assert f"MedNLI          MALFORMED        {path}" in run.stdout
    assert f"{path}: line 108: field '<json>': invalid JSON" in run.stdout
    assert "not usable: MedNLI" in run.stdout


def test_a_file_cut_at_a_record_boundary_has_the_wrong_size(demo_copy: Path) -> None:
    path = demo_copy / "MedNLI" / "mli_test_v1.jsonl"
    write_mednli(path, 1422)
    assert statuses(demo_copy, "mednli") == {"mednli": OK}
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:1000]))
    (check,) = verify(demo_copy, ["mednli"])
    assert check.status == WRONG_SIZE and not check.usable
    assert "1,000 records, but the published data set has 1,422 records" in check.detail


def test_published_sizes(demo_copy: Path) -> None:
    write_longhealth(demo_copy / "LongHealth" / "benchmark_v5.json", 20, 20)
    assert statuses(demo_copy, "longhealth") == {"longhealth": OK}
    write_longhealth(demo_copy / "LongHealth" / "benchmark_v5.json", 19, 20)
    (check,) = verify(demo_copy, ["longhealth_task2"])  # a task name selects its data set
    assert check.status == WRONG_SIZE and "19 patients, 380 questions" in check.detail
    assert "20 patients, 400 questions" in check.detail


def test_missing_files_fail_only_when_requested(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DEMO / "MeQSum", data / "MeQSum")
    assert run_data("verify", str(data), "--task", "meqsum", hosts=None, home=tmp_path).returncode == 0
    run = run_data("verify", str(data), hosts=None, home=tmp_path)
    assert run.returncode == 1
    assert "MISSING" in run.stdout and "sign the data use agreement" in run.stdout
    assert "With clue: python -m clue data fetch DIR --physionet-user NAME." in run.stdout
    assert "then python -m clue data build medisumcode" in run.stdout
    assert statuses(data)["mednli"] == MISSING


def test_sha256_pins(demo_copy: Path, tmp_path: Path) -> None:
    meqsum = demo_copy / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    run = run_data("verify", str(demo_copy), "--task", "meqsum", "--sha256", "meqsum=" + "0" * 64, "--json",
                   hosts=None, home=tmp_path)
    assert run.returncode == 1
    (check,) = json.loads(run.stdout)
    assert check["status"] == SHA_MISMATCH and "does not match the --sha256 setting" in check["sha256_check"]
    # a file changed since clue data fetch recorded (and checked) it
    write_mednli(demo_copy / "MedNLI" / "mli_test_v1.jsonl", 1422)
    digest = hashlib.sha256((demo_copy / "MedNLI" / "mli_test_v1.jsonl").read_bytes()).hexdigest()
    write_manifest(demo_copy, {"MedNLI/mli_test_v1.jsonl": ManifestEntry(digest, 1, "u", "PhysioNet's SHA256SUMS.txt")})
    (check,) = verify(demo_copy, ["mednli"])
    assert check.status == OK
    assert "sha256 matches the one clue data fetch checked against PhysioNet's SHA256SUMS.txt" in check.detail
    write_manifest(demo_copy, {"MedNLI/mli_test_v1.jsonl": ManifestEntry("1" * 64, 1, "u", "PhysioNet's SHA256SUMS.txt")})
    (check,) = verify(demo_copy, ["mednli"])
    assert check.status == SHA_MISMATCH and "the file changed since" in check.detail
    assert meqsum.is_file()


def test_a_synthetic_file_is_reported_as_such_only_when_byte_identical(demo_copy: Path) -> None:
    assert statuses(demo_copy, "medisumcode") == {"medisumcode": SYNTHETIC}
    path = demo_copy / "MeDiSumCode" / "MeDiSumCode.json"
    path.write_bytes(path.read_bytes() + b"\n")
    (check,) = verify(demo_copy, ["medisumcode"])
    assert check.status == WRONG_SIZE  # no longer the shipped file: 74 records are not the published 500


def test_unknown_task_is_a_usage_error(tmp_path: Path) -> None:
    run = run_data("verify", str(DEMO), "--task", "nope", hosts=None, home=tmp_path)
    assert run.returncode == 2 and "unknown data set 'nope'" in run.stderr


def test_json_output(tmp_path: Path) -> None:
    run = run_data("verify", str(DEMO), "--json", hosts=None, home=tmp_path)
    checks = json.loads(run.stdout)
    assert [c["data_set"] for c in checks] == ["mednli", "meqsum", "problemsummary", "medisumcode", "medisumqa", "longhealth"]
    assert all(c["usable"] for c in checks)
    assert {c["data_set"]: c["status"] for c in checks}["meqsum"] == OK
    assert checks[0]["status"] == SYNTHETIC and checks[0]["counts"] == {"records": 108}


def test_malformed_status_constant_is_reported(demo_copy: Path) -> None:
    (demo_copy / "MeDiSumQA" / "MeDiSumQA.json").write_text("[{\"Question\": 1}]")
    (check,) = verify(demo_copy, ["medisumqa"])
    assert check.status == MALFORMED and "MeDiSumQA.json" in check.detail
