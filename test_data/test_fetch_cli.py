"""``python -m clue data fetch`` end to end against the mock GitHub + PhysioNet on 127.0.0.1.

Every run is a subprocess with the base URLs pointed at the mock (``$CLUE_GITHUB_RAW_BASE``,
``$CLUE_PHYSIONET_BASE``), ``HOME`` in tmp_path and no terminal: nothing leaves the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from clue.data.manifest import MANIFEST_NAME
from clue.data.sources import MEQSUM_SHA256, SOURCES
from data_helpers import OTHER_USER, USER, demo_bytes, files_under, hosted_key, request_path, run_data
from mock_hosts import MockHosts

PUBLIC = ("meqsum", "longhealth")
CREDENTIALED = ("mednli", "problemsummary", "medisumqa")


def dest(data: Path, name: str) -> Path:
    return data / next(s for s in SOURCES if s.name == name).dest


def assert_secret_absent(secret: str, *texts: str, folder: Path | None = None) -> None:
    for text in texts:
        assert secret not in text
    for path in files_under(folder) if folder else []:
        assert secret.encode() not in path.read_bytes(), path


def test_public_files_fetched_into_the_layout_then_not_again(hosts: MockHosts, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run_data("fetch", str(data), "--no-progress", hosts=hosts, home=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in PUBLIC:
        assert dest(data, name).read_bytes() == demo_bytes(name)
    assert {p.relative_to(data).as_posix() for p in files_under(data)} == {
        "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx", "LongHealth/benchmark_v5.json", MANIFEST_NAME,
    }
    manifest = json.loads((data / MANIFEST_NAME).read_text())["files"]
    assert manifest["MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"]["sha256"] == MEQSUM_SHA256
    assert manifest["MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"]["checked_against"] == "clue's pin"
    assert manifest["LongHealth/benchmark_v5.json"]["checked_against"] == "nothing"
    assert "fetch: 2 downloaded" in first.stdout
    assert not any(c.path.startswith("/files/") for c in hosts.log)  # no user: PhysioNet is not asked

    hosts.log.clear()
    second = run_data("fetch", str(data), "--no-progress", hosts=hosts, home=tmp_path)
    assert second.returncode == 0, second.stderr
    assert hosts.log == []  # a second fetch downloads nothing
    assert "fetch: 2 present" in second.stdout


def test_credentialed_files_with_the_password_from_the_environment(
    hosts: MockHosts, tmp_path: Path, password: str
) -> None:
    data = tmp_path / "data"
    run = run_data("fetch", str(data), "--physionet-user", USER, "--no-progress", hosts=hosts, home=tmp_path,
                   env={"PHYSIONET_PASSWORD": password})
    assert run.returncode == 0, run.stdout + run.stderr
    for name in PUBLIC + CREDENTIALED:
        assert dest(data, name).read_bytes() == demo_bytes(name), name
    manifest = json.loads((data / MANIFEST_NAME).read_text())["files"]
    assert manifest["MedNLI/mli_test_v1.jsonl"]["checked_against"] == "PhysioNet's SHA256SUMS.txt"
    assert {c.user for c in hosts.log if c.path.startswith("/files/")} == {USER}
    # one checksum list per project, then the file
    assert sum(c.path.endswith("SHA256SUMS.txt") for c in hosts.log) == 3
    assert_secret_absent(password, run.stdout, run.stderr, folder=data)

    # Again: nothing is downloaded, and no password is needed to find that out.
    hosts.log.clear()
    again = run_data("fetch", str(data), "--physionet-user", USER, "--no-progress", hosts=hosts, home=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert hosts.log == []
    assert "fetch: 5 present" in again.stdout


def test_password_from_netrc(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {password}\n")
    netrc.chmod(0o600)
    data = tmp_path / "data"
    run = run_data("fetch", str(data), "--physionet-user", USER, "--only", "mednli", "--no-progress",
                   hosts=hosts, home=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert dest(data, "mednli").read_bytes() == demo_bytes("mednli")
    assert_secret_absent(password, run.stdout, run.stderr, folder=data)


def test_wrong_password_is_named_and_leaves_no_partial_file(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    data = tmp_path / "data"
    wrong = password + "-wrong"
    run = run_data("fetch", str(data), "--physionet-user", USER, "--no-progress", hosts=hosts, home=tmp_path,
                   env={"PHYSIONET_PASSWORD": wrong})
    assert run.returncode == 1
    assert "did not accept the user name or password for 'alice' (HTTP 401" in run.stdout
    assert "not tried: PhysioNet did not accept the credentials" in run.stdout  # the other two projects
    # the public files came; no credentialed file, no partial file, no password anywhere
    assert {p.relative_to(data).as_posix() for p in files_under(data)} == {
        "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx", "LongHealth/benchmark_v5.json", MANIFEST_NAME,
    }
    assert_secret_absent(wrong, run.stdout, run.stderr, folder=data)
    assert_secret_absent(password, run.stdout, run.stderr, folder=data)
    # one rejected request, not one per file
    assert [c.status for c in hosts.log if c.path.startswith("/files/")] == [401]


def test_no_access_names_the_data_use_agreement(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    data = tmp_path / "data"
    run = run_data("fetch", str(data), "--physionet-user", OTHER_USER, "--no-progress", hosts=hosts,
                   home=tmp_path, env={"PHYSIONET_PASSWORD": password + "-bob"})
    assert run.returncode == 1
    assert dest(data, "mednli").read_bytes() == demo_bytes("mednli")  # bob may read MedNLI
    out = run.stdout
    assert "'bob' has no access to bionlp-workshop-2023-task-1a/2.0.0 (HTTP 403" in out
    assert "sign this project's data use agreement first" in out
    assert "https://physionet.org/content/medisumqa/1.0.0/" in out
    assert not dest(data, "problemsummary").exists() and not dest(data, "medisumqa").exists()


def test_a_file_the_project_does_not_list_names_its_files_and_can_be_set(
    hosts: MockHosts, tmp_path: Path, password: str
) -> None:
    hosts.physionet["medisumqa/1.0.0/data/medisumqa_curated.json"] = hosts.physionet.pop(hosted_key("medisumqa"))
    data = tmp_path / "data"
    env = {"PHYSIONET_PASSWORD": password}
    run = run_data("fetch", str(data), "--physionet-user", USER, "--only", "medisumqa", "--no-progress",
                   hosts=hosts, home=tmp_path, env=env)
    assert run.returncode == 1
    assert "lists no file 'MeDiSumQA.json'" in run.stdout
    assert "data/medisumqa_curated.json" in run.stdout and "--physionet-file medisumqa=PATH" in run.stdout
    run = run_data("fetch", str(data), "--physionet-user", USER, "--only", "medisumqa", "--no-progress",
                   "--physionet-file", "medisumqa=data/medisumqa_curated.json", hosts=hosts, home=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert dest(data, "medisumqa").read_bytes() == demo_bytes("medisumqa")


def test_not_found_when_the_project_has_no_checksum_list(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    del hosts.physionet[hosted_key("mednli")]
    hosts.physionet["mednli/1.0.0/README.txt"] = b"readme"
    hosts.no_checksums.add("mednli/1.0.0")
    data = tmp_path / "data"
    run = run_data("fetch", str(data), "--physionet-user", USER, "--only", "mednli", "--no-progress",
                   hosts=hosts, home=tmp_path, env={"PHYSIONET_PASSWORD": password})
    assert run.returncode == 1
    assert "not found on PhysioNet: " in run.stdout and "mli_test_v1.jsonl (HTTP 404)" in run.stdout
    assert files_under(data) == []


def test_connection_dropped_mid_file_is_resumed(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    path = request_path("mednli")
    hosts.drops[path] = [5000]
    data = tmp_path / "data"
    run = run_data("fetch", str(data), "--physionet-user", USER, "--only", "mednli", "--no-progress",
                   hosts=hosts, home=tmp_path, env={"PHYSIONET_PASSWORD": password})
    assert run.returncode == 0, run.stdout + run.stderr
    assert dest(data, "mednli").read_bytes() == demo_bytes("mednli")
    ranges = [c.range for c in hosts.log if c.path == path]
    assert ranges == [None, "bytes=5000-"]
    assert "resuming at byte 5,000 (attempt 2 of 5)" in run.stderr


def test_without_a_password_source_it_says_where_one_comes_from(hosts: MockHosts, tmp_path: Path) -> None:
    run = run_data("fetch", str(tmp_path / "data"), "--physionet-user", USER, "--only", "mednli", "--no-progress",
                   hosts=hosts, home=tmp_path)
    assert run.returncode == 1
    assert "set $PHYSIONET_PASSWORD, add a ~/.netrc entry" in run.stdout
    assert hosts.log == []


def test_usage_errors(hosts: MockHosts, tmp_path: Path) -> None:
    run = run_data("fetch", str(tmp_path), "--only", "mednli", hosts=hosts, home=tmp_path)
    assert run.returncode == 2 and "give --physionet-user NAME" in run.stderr
    run = run_data("fetch", str(tmp_path), "--sha256", "longhealth=abc", hosts=hosts, home=tmp_path)
    assert run.returncode == 2 and "expected 64 hex digits" in run.stderr
    run = run_data("fetch", str(tmp_path), "--physionet-base", "https://u:p@example.org/files", hosts=hosts, home=tmp_path)
    assert run.returncode == 2 and "must not carry credentials" in run.stderr
    assert hosts.log == []
