"""Server URLs: credentials taken out (and kept out of every repr), redaction in messages, the
options that reach the openai engine."""

from __future__ import annotations

import base64

import pytest

from clue.config import RunConfig
from clue.engines.factory import build_engine
from clue.engines.urls import Credentials, normalize_api_base, redact_urls, take_credentials
from clue.errors import ConfigError
from clue.models.registry import ModelSpec


@pytest.mark.parametrize(
    ("given", "url", "user", "password"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", None, None),
        ("http://u:p@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", "u", "p"),
        (" https://u:p@host.example/openai/v1 ", "https://host.example/openai/v1", "u", "p"),
        ("http://u@host:1", "http://host:1", "u", ""),
        ("http://u:@host", "http://host", "u", ""),
        ("http://a%40b:p%3Aq%40@host/v1", "http://host/v1", "a@b", "p:q@"),
        ("http://u:p@ss@host/v1", "http://host/v1", "u", "p@ss"),  # the last "@" ends the user part
        ("http://@host/v1", "http://host/v1", None, None),
        ("http://[::1]:8000", "http://[::1]:8000", None, None),
        ("http://u:p@[::1]:8000/v1", "http://[::1]:8000/v1", "u", "p"),
        ("http://host/v1/models@x", "http://host/v1/models@x", None, None),  # "@" in the path: no user part
        ("127.0.0.1:8000", "127.0.0.1:8000", None, None),
    ],
)
def test_take_credentials(given: str, url: str, user: str | None, password: str | None) -> None:
    got_url, credentials = take_credentials(given)
    assert got_url == url
    if user is None:
        assert credentials is None
    else:
        assert credentials == Credentials(user, password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert credentials.basic_auth_header() == f"Basic {token}"


def test_credentials_repr_shows_nothing() -> None:
    credentials = Credentials("alice", "hunter2-secret")
    assert "alice" not in repr(credentials) and "hunter2" not in repr(credentials)
    assert "hunter2" not in str(credentials)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("POST http://u:secret@h:1/v1 failed", "POST http://h:1/v1 failed"),
        ("two: https://a:b@x/v1 and http://c:d@y/v1", "two: https://x/v1 and http://y/v1"),
        ("http://u:pa/ss@h:1/v1", "http://h:1/v1"),  # an unencoded "/" in the password is hidden too
        ("no url here: user@example.org", "no url here: user@example.org"),
        ("http://h:1/v1", "http://h:1/v1"),
    ],
)
def test_redact_urls(text: str, shown: str) -> None:
    assert redact_urls(text) == shown


def test_a_stray_at_is_refused() -> None:
    with pytest.raises(ConfigError, match="percent-encode") as err:
        normalize_api_base("http://u:pa/ss@127.0.0.1:8000/v1")
    assert "pa/ss" not in str(err.value) and "127.0.0.1:8000" in str(err.value)


def openai_spec(**options: object) -> ModelSpec:
    return ModelSpec(alias="m", weights="served", engine="openai", chat="system", options=options)


def test_the_deadline_option_reaches_the_engine(pytester: pytest.Pytester) -> None:
    from clue.pytest_plugin import _config

    config = _config(pytester.parseconfig("--clue-request-deadline", "7.5", "--api-base", "http://127.0.0.1:1"))
    assert config.engine_options["deadline"] == 7.5
    engine = build_engine(openai_spec(), config)
    assert engine.deadline == 7.5
    assert "deadline" not in _config(pytester.parseconfig()).engine_options  # unset: the engine's default


def test_registry_options_reach_the_engine() -> None:
    config = RunConfig(models=("m",), api_base="http://127.0.0.1:1")
    engine = build_engine(openai_spec(deadline=9, max_response_bytes=1234, timeout=3), config)
    assert (engine.deadline, engine.max_response_bytes, engine.timeout) == (9.0, 1234, 3.0)


@pytest.mark.parametrize(("option", "value"), [("deadline", 0), ("deadline", -1.0), ("max_response_bytes", 0)])
def test_bad_limits_name_the_option(option: str, value: float) -> None:
    config = RunConfig(models=("m",), api_base="http://127.0.0.1:1", engine_options={option: value})
    with pytest.raises(ConfigError, match=option):
        build_engine(openai_spec(), config)
