"""The openai engine against a hostile server on 127.0.0.1 (issue 9: never a false PASS, never a
leak, never a hang): a server that never answers, trickles, answers 50 MB, fails part way through a
batch, errs then recovers, drops the connection; credentials in the URL; Ctrl-C.

Every case records how long it took (``record_property``: in the JUnit XML, and printed) and asserts
a generous bound on it; the deadlines are small so that no test takes more than a few seconds
beyond the start of a pytest subprocess.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_fakes import FakeServer, chat_answer, drop_mid_body, hang, huge, ok_chat, request, status, trickle

from clue.cache.store import GenerationCache, generate_with_cache
from clue.config import RunConfig
from clue.engines.openai_engine import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, OpenAIEngine
from clue.errors import ConfigError, EngineError
from clue.records import Sampling
from clue.session import ClueSession

REPO = Path(__file__).resolve().parents[1]
SLACK_S = 5.0  # generous: the machine may be busy


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    yield srv
    srv.close()


Timer = Callable[[str], float]


@pytest.fixture()
def timer(record_property: Callable[[str, object], None]) -> Timer:
    """``timer(label)``: seconds since the last call (or the test's start), recorded under ``label``."""
    last = [time.monotonic()]

    def lap(label: str) -> float:
        now = time.monotonic()
        seconds, last[0] = now - last[0], now
        record_property(label, round(seconds, 3))
        print(f"{label}: {seconds:.2f} s")
        return seconds

    return lap


def engine(srv: FakeServer, **kwargs: Any) -> OpenAIEngine:
    kwargs.setdefault("backoff", 0.05)
    return OpenAIEngine(srv.base, "served", **kwargs)


def requests(n: int) -> list:
    return [request(i, f"question {i}") for i in range(n)]


# -- time ---------------------------------------------------------------------------------------------


def test_the_defaults_fail_a_hung_server_within_five_minutes() -> None:
    eng = OpenAIEngine("http://127.0.0.1:9/v1", "m")
    assert (eng.timeout, eng.deadline, eng.max_response_bytes) == (DEFAULT_TIMEOUT, DEFAULT_DEADLINE, 8 * 2**20)
    # a case waits for at most one request deadline (its batch fails with the first request to
    # fail), plus the grace after which the calling thread abandons a request still running
    assert eng.deadline + 2.0 < 300 and eng.timeout <= eng.deadline


def test_a_server_that_never_answers_fails_within_the_deadline(server: FakeServer, timer: Timer) -> None:
    server.default = hang
    eng = engine(server, deadline=1.5, timeout=60, max_retries=4)
    with pytest.raises(EngineError) as err:
        eng.generate(requests(3), Sampling())
    elapsed = timer("never_answers_s")
    assert 1.4 <= elapsed <= 1.5 + SLACK_S
    message = str(err.value)
    assert "no answer within 1.5 s" in message and "request deadline of 1.5 s" in message
    assert "--clue-request-deadline" in message
    assert not eng.loaded  # nothing ever answered: the session gives up on the whole model


def test_timeouts_are_retried_within_the_deadline(server: FakeServer, timer: Timer) -> None:
    server.default = hang
    eng = engine(server, deadline=2.0, timeout=0.6, max_retries=10, backoff=0.05)
    with pytest.raises(EngineError, match=r"giving up after [23] attempt\(s\)") as err:
        eng.generate(requests(1), Sampling())
    elapsed = timer("timeouts_retried_s")
    assert 1.9 <= elapsed <= 2.0 + SLACK_S
    assert 2 <= len(server.posts) <= 3  # 0.6 s attempts fit three times at most in 2 s, not eleven
    assert "deadline" in str(err.value)


def test_a_model_list_that_never_comes_fails_within_the_deadline(server: FakeServer, timer: Timer) -> None:
    server.models_action = hang
    eng = engine(server, deadline=1.0, max_retries=0)
    with pytest.raises(EngineError, match="/v1/models.*request deadline of 1 s"):
        _ = eng.max_context
    assert timer("model_list_never_comes_s") <= 1.0 + SLACK_S


def test_a_trickling_server_hits_the_deadline(server: FakeServer, timer: Timer) -> None:
    server.default = trickle(chat_answer("slow"), interval=1.0)  # one byte a second
    eng = engine(server, deadline=2.5, timeout=60, max_retries=3)
    with pytest.raises(EngineError, match="sends too slowly") as err:
        eng.generate(requests(1), Sampling())
    elapsed = timer("trickle_s")
    assert 2.4 <= elapsed <= 2.5 + SLACK_S
    assert "bytes received" in str(err.value)


def test_a_request_past_its_deadline_is_abandoned_by_the_caller(
    server: FakeServer, timer: Timer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backstop: even if the HTTP layer hung beyond its timeouts, generate returns."""
    eng = engine(server, deadline=0.5)
    monkeypatch.setattr(eng, "_call", lambda *args: time.sleep(30))
    with pytest.raises(EngineError, match="past the request deadline of 0.5 s"):
        eng.generate(requests(2), Sampling())
    elapsed = timer("abandoned_s")
    assert 0.5 <= elapsed <= 0.5 + 2.0 + SLACK_S


# -- size -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_50_mb_answer_is_an_engine_error_and_never_stored(
    server: FakeServer, timer: Timer, tmp_path: Path, declared: bool
) -> None:
    server.default = huge(50 * 2**20, declare_length=declared)
    cache = GenerationCache(tmp_path / "generations.sqlite")
    with pytest.raises(EngineError, match=f"more than the limit of {DEFAULT_MAX_RESPONSE_BYTES} bytes") as err:
        generate_with_cache(engine(server), requests(1), Sampling(), cache)
    timer(f"answer_50mb_{'declared' if declared else 'undeclared'}_s")
    assert ("announces 52428800 bytes" in str(err.value)) is declared
    assert len(cache) == 0
    assert len(server.posts) == 1  # not retried: the same answer would come again


def test_the_size_limit_is_settable(server: FakeServer) -> None:
    server.default = huge(5000)
    with pytest.raises(EngineError, match="limit of 4096 bytes"):
        engine(server, max_response_bytes=4096).generate(requests(1), Sampling())
    (c,) = engine(server, max_response_bytes=6000).generate(requests(1), Sampling())
    assert set(c.text) == {"x"} and 4500 < len(c.text) < 5000


# -- a batch that fails part way ----------------------------------------------------------------------


def test_a_failure_after_three_successes_keeps_the_three(server: FakeServer, timer: Timer, tmp_path: Path) -> None:
    server.script.extend([ok_chat, ok_chat, ok_chat, status(400, "prompt too long")])
    cache = GenerationCache(tmp_path / "generations.sqlite")
    reqs = requests(6)
    eng = engine(server, concurrency=1)  # one at a time: requests 0-2 finish, request 3 fails
    with pytest.raises(EngineError, match="HTTP 400"):
        generate_with_cache(eng, reqs, Sampling(), cache, chunk_size=6)
    timer("fourth_fails_s")
    assert len(server.posts) == 4  # 4 and 5 were never sent
    assert len(cache) == 3
    server.default = ok_chat
    completions, stats = generate_with_cache(engine(server, concurrency=1), reqs, Sampling(), cache, chunk_size=6)
    assert (stats.hits, stats.misses) == (3, 3)
    assert [b["messages"][-1]["content"] for _, _, b in server.posts[4:]] == [f"question {i}" for i in (3, 4, 5)]
    assert [c.text for c in completions] == [f"echo:question {i}" for i in range(6)]
    assert [c.cached for c in completions] == [True] * 3 + [False] * 3


# -- errors that pass --------------------------------------------------------------------------------


def test_server_errors_then_an_answer(server: FakeServer, timer: Timer) -> None:
    server.script.extend([status(503, "loading"), status(502, "bad gateway")])
    eng = engine(server, backoff=0.1)  # real waits: 0.1 s, then 0.2 s
    (c,) = eng.generate(requests(1), Sampling())
    elapsed = timer("5xx_then_ok_s")
    assert c.text == "echo:question 0" and len(server.posts) == 3
    assert 0.3 <= elapsed <= 0.3 + SLACK_S
    assert eng.loaded


def test_a_connection_dropped_mid_body_is_retried(server: FakeServer, timer: Timer) -> None:
    server.script.append(drop_mid_body)
    (c,) = engine(server).generate(requests(1), Sampling())
    timer("dropped_then_ok_s")
    assert c.text == "echo:question 0" and len(server.posts) == 2


def test_a_connection_dropped_every_time_is_an_engine_error(server: FakeServer, timer: Timer) -> None:
    server.default = drop_mid_body
    with pytest.raises(EngineError, match=r"giving up after 3 attempt\(s\): the connection broke"):
        engine(server, max_retries=2).generate(requests(1), Sampling())
    assert timer("dropped_always_s") <= SLACK_S
    assert len(server.posts) == 3


# -- credentials ---------------------------------------------------------------------------------------

USER = "clue-user"


def secret() -> str:
    return "pw-" + secrets.token_hex(12)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def with_credentials(srv: FakeServer, password: str) -> str:
    return f"http://{USER}:{password}@127.0.0.1:{srv.port}/v1"


def leaks(password: str, text: str) -> bool:
    encoded = base64.b64encode(f"{USER}:{password}".encode()).decode()
    return password in text or encoded in text


def with_locals(exc: BaseException) -> str:
    """The traceback with every frame's variables, as ``pytest --showlocals`` shows them; the
    frames of this file (which hold the password on purpose) left out."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.TracebackException(type(exc), exc, tb, capture_locals=True).format())


@pytest.mark.parametrize("fault", ["http-500", "never-answers", "dropped", "refused", "not-json"])
def test_the_password_never_shows_in_errors(
    server: FakeServer, fault: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    password = secret()
    api_base = with_credentials(server, password)
    server.default = {
        "http-500": status(500, "crashed"),
        "never-answers": hang,
        "dropped": drop_mid_body,
        "not-json": lambda path, body: (200, {}, b"<html>proxy</html>"),
    }.get(fault, ok_chat)
    if fault == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            api_base = f"http://{USER}:{password}@127.0.0.1:{sock.getsockname()[1]}/v1"
    caplog.set_level(logging.DEBUG)
    eng = OpenAIEngine(api_base, "served", max_retries=1, backoff=0.01, deadline=1.0)
    with pytest.raises(EngineError) as err:
        eng.generate(requests(1), Sampling())
    shown = "".join(traceback.format_exception(err.value)) + with_locals(err.value)
    assert "127.0.0.1:" in str(err.value)
    for text in (str(err.value), repr(err.value), shown, caplog.text, repr(eng), repr(vars(eng))):
        assert not leaks(password, text), text
    assert not leaks(password, json.dumps(dict(eng.identity())))
    if fault != "refused":
        assert {h.get("Authorization") for _, h, _ in server.posts} == {basic(USER, password)}


def test_a_bad_url_with_a_password_is_refused_without_showing_it() -> None:
    password = secret()
    for bad in (f"http://{USER}:{password}@127.0.0.1:8000/v1?x=1", f"http://{USER}:{password}@127.0.0.1:port/v1",
                f"ftp://{USER}:{password}@127.0.0.1/v1", f"http://{USER}:{password}/x@127.0.0.1:8000/v1",
                f"http://{USER}:{password}@127.0.0.1:8000/v1", ):  # fmt: skip
        with pytest.raises(ConfigError, match="api_base|concurrency") as err:
            OpenAIEngine(bad, "m", concurrency=0)  # the last one is valid: the engine fails on concurrency
        shown = "".join(traceback.format_exception(err.value)) + repr(err.value) + with_locals(err.value)
        assert not leaks(password, shown) and "x@127.0.0.1" not in shown
        assert "openai_engine.py" in with_locals(err.value)  # the engine's frames were looked at
        assert "127.0.0.1" in str(err.value) or "concurrency" in str(err.value)


def test_a_percent_encoded_password_is_sent_decoded(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    eng = OpenAIEngine(f"http://a%40b:p%3Ass%40@127.0.0.1:{server.port}", "served")
    eng.generate(requests(1), Sampling())
    assert server.posts[0][1]["Authorization"] == basic("a@b", "p:ss@")
    assert eng.api_base == f"http://127.0.0.1:{server.port}/v1"


def test_url_credentials_win_over_the_api_key_and_the_run_says_so(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    password, key = secret(), "sk-" + secrets.token_hex(8)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.WARNING, logger="clue.engines.openai_engine")
    eng = OpenAIEngine(with_credentials(server, password), "served")
    eng.generate(requests(2), Sampling())
    assert {h.get("Authorization") for _, h, _ in server.posts} == {basic(USER, password)}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "OPENAI_API_KEY is not sent" in warnings[0] and "Basic" in warnings[0]
    assert not leaks(password, caplog.text) and key not in caplog.text


def test_the_api_key_alone_is_sent_as_a_bearer_token(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-" + secrets.token_hex(8)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    engine(server).generate(requests(1), Sampling())
    assert server.posts[0][1]["Authorization"] == f"Bearer {key}"


def test_url_credentials_alone_are_sent_without_a_warning(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    password = secret()
    caplog.set_level(logging.WARNING)
    OpenAIEngine(with_credentials(server, password), "served").generate(requests(1), Sampling())
    assert server.posts[0][1]["Authorization"] == basic(USER, password)
    assert caplog.records == []


def test_a_401_with_url_credentials_says_what_was_sent(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.default = status(401, "bad credentials")
    with pytest.raises(EngineError, match="sent as HTTP Basic auth") as err:
        OpenAIEngine(with_credentials(server, "pw"), "served").generate(requests(1), Sampling())
    assert "OPENAI_API_KEY" not in str(err.value)


def test_run_config_repr_hides_the_url() -> None:
    password = secret()
    config = RunConfig(models=("m",), api_base=f"http://{USER}:{password}@127.0.0.1:8000/v1")
    assert not leaks(password, repr(config))


def test_a_loopback_server_is_reached_without_the_environments_proxy(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = FakeServer()  # would receive the requests (in absolute form) if the proxy were used
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        (c,) = engine(server).generate([request(0, "stays here", task="mednli")], Sampling())
        assert c.text == "echo:stays here"
        assert len(server.posts) == 1 and proxy.seen == []
    finally:
        proxy.close()


# -- the session: an engine error is not sent again -------------------------------------------------------

REGISTRY = """
[models.remote]
weights = "served"
engine = "openai"
chat = "system"
options = { max_retries = 1, max_context = 2048, max_new_tokens = 8 }

[models.tuned]
weights = "served"
engine = "openai"
base = "remote"
chat = "system"
options = { max_retries = 1, max_context = 2048, max_new_tokens = 8 }

[models.listed]
weights = "served"
engine = "openai"
chat = "system"
options = { max_retries = 0, max_new_tokens = 8 }

[models.broken]
weights = "served"
engine = "openai"
options = { concurrency = 0 }
"""


@pytest.fixture()
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY)
    return path


def session_for(srv: FakeServer, registry: Path, tmp_path: Path, deadline: float) -> ClueSession:
    config = RunConfig(
        models=("tuned",), tasks=("meqsum", "mednli"), engine="openai", api_base=srv.base, limit=2,
        registry_files=(registry,), use_cache=False, report_dir=tmp_path / "reports",
        cache_dir=tmp_path / "cache", engine_options={"deadline": deadline},
    )  # fmt: skip
    return ClueSession(config, run_id="run")


def test_a_hung_server_costs_one_deadline_per_model_and_regressions_send_nothing(
    server: FakeServer, registry: Path, tmp_path: Path, timer: Timer
) -> None:
    server.default = hang
    session = session_for(server, registry, tmp_path, deadline=1.0)
    cases = session.cases()
    first, second = (t.name for t in session.tasks)
    assert [c.id for c in cases] == [f"{m}-{t}" for m in ("remote", "tuned") for t in (first, second)]
    took: dict[str, float] = {}
    messages: dict[str, str] = {}
    timer("session_setup_s")
    for case in cases:
        with pytest.raises(EngineError) as err:
            session.evaluate(case)
        took[case.id] = timer(f"hung_{case.id}_s")
        messages[case.id] = str(err.value)
    for case in session.regression_cases():  # no results to compare: the remembered failure, nothing asked
        with pytest.raises(EngineError):
            session.regression(case)
    timer("hung_regressions_s")
    session.close()
    assert len(server.posts) == 4  # two requests of the first task of each model, nothing after
    for model in ("remote", "tuned"):
        assert 1.0 <= took[f"{model}-{first}"] <= 1.0 + SLACK_S
        assert took[f"{model}-{second}"] < 1.0
        assert "failed to load or reach its server" in messages[f"{model}-{second}"]


def test_a_request_error_is_remembered_per_task(server: FakeServer, registry: Path, tmp_path: Path) -> None:
    server.default = status(400, "prompt too long")
    session = session_for(server, registry, tmp_path, deadline=5.0)
    remote = session.cases()[:2]
    for case in remote:  # the server answered: the other task is still tried
        with pytest.raises(EngineError, match="HTTP 400"):
            session.evaluate(case)
    sent = len(server.posts)
    assert sent >= 2
    for case in remote:  # the session remembers each case's failure and raises it again
        with pytest.raises(EngineError, match="HTTP 400"):
            session.evaluate(case)
    assert len(server.posts) == sent
    session.close()


# -- pytest runs: the JUnit XML, Ctrl-C -------------------------------------------------------------------


def test_the_password_is_nowhere_in_a_failing_runs_output(
    pytester: pytest.Pytester, server: FakeServer, registry: Path, monkeypatch: pytest.MonkeyPatch, timer: Timer
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    password = secret()
    server.default = status(500, "model crashed")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-m", "clue", "--model", "remote", "--model", "broken",
        "--clue-registry", str(registry), "--engine", "openai", "--api-base", with_credentials(server, password),
        "--task", "meqsum", "--limit", "2", "--clue-no-cache", "--clue-report-dir", "reports",
        "--clue-run-id", "run", "--clue-request-deadline", "5", "--junitxml", "junit.xml",
        "-o", "junit_logging=all", "--tb=long", "--showlocals", "-vv", "-rA", "--log-level=DEBUG",
    )  # fmt: skip
    timer("junit_run_s")
    assert result.ret == 1, result.stdout.str()
    xml = (pytester.path / "junit.xml").read_text()
    assert "HTTP 500" in xml and f"127.0.0.1:{server.port}" in xml  # the failure, with the host
    assert "concurrency must be &gt;= 1" in xml or "concurrency must be >= 1" in xml  # the engine that failed to build
    assert "retry 1/1" in xml  # the logs are in the XML too
    output = result.stdout.str() + result.stderr.str()
    assert not leaks(password, output)
    for path in sorted(p for p in pytester.path.rglob("*") if p.is_file()):
        assert not leaks(password, path.read_bytes().decode("utf-8", errors="replace")), path
    assert {h.get("Authorization") for _, h, _ in server.posts} == {basic(USER, password)}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _stored(cache: Path) -> int:
    if not cache.exists():
        return 0
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("stuck_in", ["generation", "model-list"])
def test_ctrl_c_ends_a_run_against_a_hung_server_within_seconds(
    server: FakeServer, registry: Path, tmp_path: Path, stuck_in: str, timer: Timer
) -> None:
    model = "remote"
    if stuck_in == "generation":
        server.script.append(ok_chat)  # the first answer comes (and is cached), the others never
        server.default = hang
    else:
        server.models_action = hang  # "listed" asks /v1/models for its context first
        model = "listed"
    cache = tmp_path / "cache" / "generations.sqlite"
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "clue", "--model", model,
        "--clue-registry", str(registry), "--engine", "openai", "--api-base", f"http://127.0.0.1:{server.port}",
        "--task", "meqsum", "--limit", "3", "--clue-cache-dir", str(cache.parent),
        "--clue-report-dir", str(tmp_path / "reports"), "--clue-request-deadline", "120",
    ]  # fmt: skip
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=log_file, stderr=subprocess.STDOUT)
    try:
        guard = time.monotonic() + 120  # against a hung test, not a timing assertion
        while not (len(server.posts) >= 3 and _stored(cache) >= 1 if stuck_in == "generation" else server.seen):
            if proc.poll() is not None or time.monotonic() > guard:
                pytest.fail(f"the run never got stuck ({proc.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        time.sleep(0.3)
        timer("ctrl_c_startup_s")
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after SIGINT:\n{log_path.read_text()[-3000:]}")
        elapsed = timer(f"ctrl_c_{stuck_in}_s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text()
    assert elapsed < 10.0, output[-3000:]
    assert proc.returncode == 2 and "KeyboardInterrupt" in output, output[-3000:]
    assert "Exception in thread" not in output
    if stuck_in == "generation":
        with sqlite3.connect(cache) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(GenerationCache(cache)) == 1  # the finished answer, nothing half-written
