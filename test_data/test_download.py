"""``clue.data.download`` and ``clue.data.fetch`` in-process against the mock hosts: resuming, range
handling, checksums, atomic replacement, network failures, and no password in any log record."""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path

import pytest

from clue.data.credentials import Credentials
from clue.data.download import (
    ChecksumError,
    NetworkError,
    NotFoundError,
    download,
    make_client,
    part_path,
)
from clue.data.fetch import DOWNLOADED, FAILED, PRESENT, FetchSettings, fetch
from clue.data.sources import SOURCES, Endpoints, with_overrides
from data_helpers import USER, demo_bytes, files_under, hosted_key, request_path
from mock_hosts import MockHosts

BLOB = bytes(range(256)) * 4000  # 1,024,000 bytes


@pytest.fixture
def blob_url(hosts: MockHosts) -> str:
    hosts.public["o/r/main/blob.bin"] = BLOB
    return f"{hosts.github_base}/o/r/main/blob.bin"


def settings(hosts: MockHosts, **kw: object) -> FetchSettings:
    return FetchSettings(endpoints=Endpoints(hosts.github_base, hosts.physionet_base), progress=False,
                         backoff_s=0.0, **kw)  # type: ignore[arg-type]


def test_download_writes_the_file_and_its_sha256(blob_url: str, tmp_path: Path) -> None:
    with make_client() as client:
        result = download(client, blob_url, tmp_path / "x" / "blob.bin", sha256=hashlib.sha256(BLOB).hexdigest(),
                          progress=False)
    assert (tmp_path / "x" / "blob.bin").read_bytes() == BLOB
    assert result.sha256 == hashlib.sha256(BLOB).hexdigest() and result.size == len(BLOB)
    assert result.resumed_from == 0 and result.attempts == 1
    assert not part_path(tmp_path / "x" / "blob.bin").exists()


def test_drops_are_resumed_from_the_bytes_received(hosts: MockHosts, blob_url: str, tmp_path: Path) -> None:
    hosts.drops["/gh/o/r/main/blob.bin"] = [100_000, 300_000]
    with make_client() as client:
        result = download(client, blob_url, tmp_path / "blob.bin", progress=False, backoff_s=0)
    assert (tmp_path / "blob.bin").read_bytes() == BLOB
    assert result.attempts == 3
    assert [c.range for c in hosts.log] == [None, "bytes=100000-", "bytes=400000-"]


def test_out_of_retries_keeps_the_part_and_the_next_run_resumes(hosts: MockHosts, blob_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    hosts.drops["/gh/o/r/main/blob.bin"] = [250_000]
    with make_client() as client:
        with pytest.raises(NetworkError, match=r"250,000 bytes kept in \.blob\.bin\.part, run again to resume"):
            download(client, blob_url, dest, retries=0, progress=False)
        assert not dest.exists()
        assert part_path(dest).read_bytes() == BLOB[:250_000]
        result = download(client, blob_url, dest, retries=0, progress=False, sha256=hashlib.sha256(BLOB).hexdigest())
    assert dest.read_bytes() == BLOB and not part_path(dest).exists()
    assert result.resumed_from == 250_000
    assert hosts.log[-1].range == "bytes=250000-"


def test_a_server_that_ignores_the_range_gets_the_file_rewritten(hosts: MockHosts, blob_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    part_path(dest).write_bytes(b"stale bytes from another file")
    hosts.ignore_range.add("/gh/o/r/main/blob.bin")
    with make_client() as client:
        download(client, blob_url, dest, progress=False)
    assert dest.read_bytes() == BLOB


def test_a_part_longer_than_the_file_starts_again(hosts: MockHosts, blob_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    part_path(dest).write_bytes(BLOB + b"more")
    with make_client() as client:
        download(client, blob_url, dest, progress=False)
    assert dest.read_bytes() == BLOB
    assert [c.status for c in hosts.log] == [416, 200]


def test_a_stale_part_that_spoils_the_checksum_is_fetched_again_whole(hosts: MockHosts, blob_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    part_path(dest).write_bytes(b"\xff" * 1000)  # resumable, but not the file's first bytes
    with make_client() as client:
        download(client, blob_url, dest, sha256=hashlib.sha256(BLOB).hexdigest(), progress=False)
    assert dest.read_bytes() == BLOB
    assert [c.range for c in hosts.log] == ["bytes=1000-", None]


def test_checksum_mismatch_keeps_the_old_file_and_no_part(blob_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"the old file")
    with make_client() as client, pytest.raises(ChecksumError, match="does not match the expected 0000"):
        download(client, blob_url, dest, sha256="0" * 64, progress=False)
    assert dest.read_bytes() == b"the old file"
    assert files_under(tmp_path) == [dest]


def test_not_found_and_unreachable(blob_url: str, tmp_path: Path) -> None:
    with make_client() as client:
        with pytest.raises(NotFoundError, match="not found"):
            download(client, blob_url.replace("blob.bin", "nothing.bin"), tmp_path / "a", progress=False)
        with socket.socket() as s:  # a port with nothing listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(NetworkError, match="network failure downloading http://127.0.0.1"):
            download(client, f"http://127.0.0.1:{port}/x", tmp_path / "b", retries=1, backoff_s=0, progress=False)
    assert files_under(tmp_path) == []


def test_fetch_replaces_a_corrupted_pinned_file_and_keeps_a_good_one(hosts: MockHosts, tmp_path: Path) -> None:
    data = tmp_path / "data"
    meqsum = data / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    meqsum.parent.mkdir(parents=True)
    meqsum.write_bytes(demo_bytes("meqsum")[:-10])
    outcomes = fetch(data, settings(hosts, only=("meqsum",)))
    assert [o.status for o in outcomes] == [DOWNLOADED]
    assert meqsum.read_bytes() == demo_bytes("meqsum")
    hosts.log.clear()
    (data / "clue-fetch.json").unlink()  # the pin alone says the file is good
    assert [o.status for o in fetch(data, settings(hosts, only=("meqsum",)))] == [PRESENT]
    assert hosts.log == []


def test_an_unpinned_file_already_there_is_kept_when_it_loads_with_the_published_counts(
    hosts: MockHosts, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    longhealth = data / "LongHealth" / "benchmark_v5.json"
    longhealth.parent.mkdir(parents=True)
    longhealth.write_bytes(demo_bytes("longhealth"))  # synthetic: 13 patients, not the published 20
    outcomes = fetch(data, settings(hosts, only=("longhealth",)))
    assert [o.status for o in outcomes] == [DOWNLOADED]  # so it is fetched
    assert "not pinned" in outcomes[0].detail and outcomes[0].sha256 in outcomes[0].detail


def test_a_pin_given_as_a_setting_is_checked(hosts: MockHosts, tmp_path: Path) -> None:
    sources = with_overrides(SOURCES, {"longhealth": "ab" * 32})
    outcomes = fetch(tmp_path, settings(hosts, only=("longhealth",)), sources=sources)
    assert outcomes[0].status == FAILED and "does not match the expected abab" in outcomes[0].detail
    good = hashlib.sha256(demo_bytes("longhealth")).hexdigest()
    sources = with_overrides(SOURCES, {"longhealth": good})
    outcomes = fetch(tmp_path, settings(hosts, only=("longhealth",)), sources=sources)
    assert outcomes[0].status == DOWNLOADED and "checked against the --sha256 setting" in outcomes[0].detail


def test_the_password_is_asked_for_once_and_only_when_needed(hosts: MockHosts, tmp_path: Path, password: str) -> None:
    asked: list[int] = []

    def ask() -> Credentials:
        asked.append(1)
        return Credentials(USER, password, "test")

    s = settings(hosts, user=USER)
    assert all(o.ok for o in fetch(tmp_path, s, password=ask))
    assert asked == [1]
    assert all(o.status == PRESENT for o in fetch(tmp_path, s, password=ask))
    assert asked == [1]


def test_no_password_in_any_log_record(
    hosts: MockHosts, tmp_path: Path, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    hosts.drops[request_path("mednli")] = [3000]  # a retry logs a warning too
    with caplog.at_level(logging.DEBUG):
        for name in ("httpx", "httpcore", "clue"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        outcomes = fetch(tmp_path, settings(hosts, user=USER, mimic=False),
                         password=lambda: Credentials(USER, password, "test"))
        wrong = fetch(tmp_path / "w", settings(hosts, user=USER),
                      password=lambda: Credentials(USER, password + "x", "test"))
    assert all(o.ok for o in outcomes)
    assert [o.status for o in wrong if o.name != "meqsum" and o.name != "longhealth"] == [FAILED, "skipped", "skipped"]
    assert caplog.records, "logging was captured"
    assert password not in caplog.text
    assert all(password not in o.detail for o in outcomes + wrong)
    assert password not in repr(Credentials(USER, password, "test"))
    assert (tmp_path / "MedNLI" / "mli_test_v1.jsonl").read_bytes() == demo_bytes("mednli")
    assert hosted_key("mednli") in {c.path.removeprefix("/files/") for c in hosts.log}
