"""Fixtures for the data commands: a mock GitHub + PhysioNet on 127.0.0.1 serving the shipped demo
files under their real URL layout (``mock_hosts``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from data_helpers import OTHER_USER, USER, demo_bytes, hosted_key
from mock_hosts import MockHosts, serve


@pytest.fixture
def password() -> str:
    return "pw-" + secrets.token_hex(12)


@pytest.fixture
def hosts(password: str) -> Iterator[MockHosts]:
    mock = MockHosts(
        public={hosted_key(n): demo_bytes(n) for n in ("meqsum", "longhealth")},
        physionet={hosted_key(n): demo_bytes(n) for n in ("mednli", "problemsummary", "medisumqa")},
        passwords={USER: password, OTHER_USER: password + "-bob"},
        access={
            USER: {"mednli/1.0.0", "bionlp-workshop-2023-task-1a/2.0.0", "medisumqa/1.0.0"},
            OTHER_USER: {"mednli/1.0.0"},
        },
    )
    with serve(mock):
        yield mock
