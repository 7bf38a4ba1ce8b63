"""The OpenAI-compatible engine: any server speaking ``/v1/chat/completions`` (vLLM serve, TGI, SGLang).

Chat styles post to ``/v1/chat/completions``; the plain style posts the plain-text rendering to
``/v1/completions``. Requests run on at most ``concurrency`` daemon threads (clue/engines/workers.py)
and each finished completion is handed to ``on_complete`` at once, so the caller can cache it even
when a later request of the batch fails. A protocol's generation prefix is sent as a final
assistant message with vLLM's ``continue_final_message`` (servers without that extension answer
after the prefix instead of continuing it); its stop strings go in ``stop``.

Time and size are bounded:

- ``timeout`` (default 120 s) bounds one attempt from connecting to the last byte of the answer:
  every socket wait is limited to what is left of it, and the body is streamed with the clock
  checked after each chunk, so a server trickling a byte a second is cut off at its first byte
  past the limit.
- ``deadline`` (default 180 s, ``--clue-request-deadline``) bounds one request, every attempt and
  every backoff included; the calling thread abandons a request still running 2 s after it,
  whatever the HTTP layer does. A batch fails with its first failing request, so a server that
  never answers fails a case in about ``deadline`` seconds, and (having never answered) no other
  task of that model is tried (clue/session.py).
- Connection errors, timeouts, 429 and 5xx answers are retried with exponential backoff (a numeric
  ``Retry-After`` is honoured) while the deadline allows, at most ``max_retries`` times.
- An answer larger than ``max_response_bytes`` (default 8 MiB) is an engine error; nothing of it is
  kept.
- Ctrl-C returns at once: no thread is waited for, pending requests are cancelled and the HTTP client
  is closed.

Credentials: the API key is read from the environment (``OPENAI_API_KEY`` by default) and sent as a
Bearer token. An ``api_base`` with ``user:password@`` is taken apart on construction: the engine
keeps, shows and requests only the URL without them, and sends them as HTTP Basic auth. The
two cannot share one ``Authorization`` header, so the URL's credentials win (they were given for
this server; the environment variable may be meant for another): the API key is then not sent, and
a warning says so. Neither the key nor the password appears in messages, logs, ``repr`` or the
identity.

Data-use guard: PhysioNet's credentialed data (MedNLI, ProblemSummary, MeDiSumQA, MeDiSumCode) may
not be sent to third parties, so a credentialed task is refused for a non-loopback server unless the
user opts in (``allow_remote_credentialed``, the ``--clue-allow-remote-credentialed`` option). A
host name counts as loopback only when every address it resolves to is a loopback address (see
clue/engines/urls.py); the name is resolved once per engine, and again by the HTTP client when it
connects, so a name whose DNS answer changes in between is not caught: give an IP literal
(127.0.0.1, [::1]) when that matters. A loopback server is reached without the environment's
proxy settings (``HTTP_PROXY`` would otherwise carry the data off the machine).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
from tqdm.auto import tqdm

from clue.engines.base import OnComplete
from clue.engines.tokens import ApproxTokenCounter, HFTokenCounter
from clue.engines.urls import (
    is_loopback_host,
    normalize_api_base,
    redact_urls,
    stray_at_error,
    take_credentials,
)
from clue.engines.workers import Job, Overdue, run_jobs
from clue.errors import ConfigError, EngineError
from clue.prompts.chat import CHAT_STYLES, ChatStyle, chat_messages, to_plain_text
from clue.records import Completion, Request, Sampling
from clue.contracts import TokenCounter
from clue.tasks.base import Task

__all__ = [
    "DEFAULT_CONTEXT",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "OpenAIEngine",
    "is_loopback_host",
    "normalize_api_base",
]

log = logging.getLogger(__name__)

OPT_IN_OPTION = "--clue-allow-remote-credentialed"
DEADLINE_OPTION = "--clue-request-deadline"
DEFAULT_CONTEXT = 4096  # when neither the option nor the server's /v1/models says
DEFAULT_TIMEOUT = 120.0  # seconds per attempt
DEFAULT_DEADLINE = 180.0  # seconds per request, retries included
DEFAULT_MAX_RESPONSE_BYTES = 8 * 2**20
_MIN_ATTEMPT_S = 0.05  # less time than this left before the deadline: no new attempt
_GRACE_S = 2.0  # past the deadline, the calling thread abandons a request that is still running
_RETRY_STATUS = frozenset({408, 425, 429})  # plus every 5xx but 501/505 (see _retryable)
_MAX_RETRY_AFTER = 60.0


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _body_excerpt(content: bytes, limit: int = 200) -> str:
    return _excerpt(content[: limit * 4].decode("utf-8", errors="replace"), limit)


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Cancelled(Exception):
    """The batch was abandoned (an error elsewhere, Ctrl-C): stop without another attempt."""


class OpenAIEngine:
    """``clue.engines.base.Engine`` over an OpenAI-compatible HTTP API.

    ``tokenizer``: a local tokenizer (folder or hub id) for exact token counts in prompt building;
    without it token counts are estimated. ``max_context``: the model's context; by default the
    server's ``max_model_len`` from ``/v1/models`` (vLLM reports it), else 4096. ``timeout``,
    ``deadline`` and ``max_response_bytes``: see the module docstring. ``sleep``: how to wait
    between retries (default: a wait that a cancelled batch cuts short).
    """

    name = "openai"

    def __init__(
        self,
        api_base: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        backoff: float = 1.0,
        allow_remote_credentialed: bool = False,
        chat_style: str = "system",
        tokenizer: str | None = None,
        max_context: int | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        # First, before anything can raise: no frame of a traceback may hold the password.
        api_base, self._credentials = take_credentials(api_base)
        if redact_urls(api_base) != api_base:  # a stray "@": rebind the variable, then refuse
            api_base = redact_urls(api_base)
            raise stray_at_error(api_base)
        if chat_style not in CHAT_STYLES:
            raise ConfigError(f"openai engine: chat_style must be one of {', '.join(CHAT_STYLES)}, got {chat_style!r}")
        if concurrency < 1:
            raise ConfigError(f"openai engine: concurrency must be >= 1, got {concurrency}")
        if timeout <= 0 or max_retries < 0 or backoff < 0:
            raise ConfigError("openai engine: timeout must be > 0, max_retries and backoff >= 0")
        if not deadline > 0:
            raise ConfigError(
                f"openai engine: deadline must be > 0 seconds ({DEADLINE_OPTION} or the registry option "
                f"'deadline'), got {deadline}"
            )
        if max_response_bytes < 1:
            raise ConfigError(f"openai engine: max_response_bytes must be >= 1, got {max_response_bytes}")
        if not model:
            raise ConfigError("openai engine: the served model name is empty")
        self.api_base = normalize_api_base(api_base)  # without credentials
        self.host = urlsplit(self.api_base).hostname or ""
        self.model_id = model
        self.chat_style: ChatStyle = chat_style  # type: ignore[assignment]
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.deadline = float(deadline)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_response_bytes = int(max_response_bytes)
        self.allow_remote_credentialed = allow_remote_credentialed
        self._api_key_env = api_key_env
        self._sleep = sleep
        self._tokens: TokenCounter = self._token_counter(tokenizer)
        self._max_context = max_context
        self._client: httpx.Client | None = None
        self._answered = False  # the server answered a generation request since the last close()
        self._loopback: bool | None = None
        self._warned_auth = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # getattr: a traceback may show an engine whose __init__ raised half way
        return f"OpenAIEngine({getattr(self, 'api_base', '?')!r}, model={getattr(self, 'model_id', '?')!r})"

    # -- data-use guard ---------------------------------------------------------------------------

    @property
    def loopback(self) -> bool:
        """Whether the server is on this machine (resolved once per engine)."""
        if self._loopback is None:
            self._loopback = is_loopback_host(self.host)
        return self._loopback

    def check_allowed(self, task: Task) -> None:
        """Raise :class:`ConfigError` if ``task``'s data may not be sent to this server."""
        self._check_credentialed(task.display_name, task.credentialed)

    def _check_credentialed(self, task_name: str, credentialed: bool) -> None:
        if not credentialed or self.allow_remote_credentialed or self.loopback:
            return
        raise ConfigError(
            f"{task_name} is credentialed data (PhysioNet), and {self.host} is not a loopback address. "
            "PhysioNet's data use agreement forbids sharing the data with third parties, so clue does not "
            "send it to a remote server. Serve the model on this machine (127.0.0.1 / localhost), or, if the "
            f"remote server is under your control and covered by the agreement, opt in with {OPT_IN_OPTION}."
        )

    def _guard(self, requests: Sequence[Request]) -> None:
        """Backstop for callers that skipped :meth:`check_allowed`: look task names up in the registry."""
        if self.allow_remote_credentialed or self.loopback:
            return
        from clue.tasks.registry import get_task

        for name in sorted({r.task for r in requests}):
            try:
                task = get_task(name)
            except ConfigError:
                continue  # not a CLUE task (tests, custom data): nothing known about it
            self.check_allowed(task)

    # -- Engine -----------------------------------------------------------------------------------

    @property
    def tokens(self) -> TokenCounter:
        return self._tokens

    @property
    def max_context(self) -> int:
        if self._max_context is None:
            self._max_context = self._server_context()
        return self._max_context

    @property
    def loaded(self) -> bool:
        """True once the server has answered a generation request (any HTTP status) since ``close``.

        An engine error while this is False means the server was never reached: no task can run.
        """
        return self._answered

    def render(self, request: Request) -> str:
        if self.chat_style == "plain":
            return to_plain_text(request)
        return json.dumps(self._messages(request), ensure_ascii=False)

    def _messages(self, request: Request) -> list[dict[str, str]]:
        """Chat messages; a generation prefix becomes a final assistant message that the server continues."""
        messages = chat_messages(request, self.chat_style)
        if request.rendering.prefix:
            messages.append({"role": "assistant", "content": request.rendering.prefix})
        return messages

    def identity(self) -> Mapping[str, Any]:
        return {"engine": self.name, "api_host": self.host, "model_id": self.model_id, "chat_style": self.chat_style}

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        """One completion per request, in order; ``on_complete(i, c)`` as each one finishes.

        The first request that fails ends the batch with its :class:`EngineError`; requests not yet
        sent are not sent, and the answers of those in flight are dropped.
        """
        if not requests:
            return []
        self._guard(requests)
        client = self._http()
        jobs: list[Job[Completion]] = [partial(self._one, client, r, sampling) for r in requests]
        with tqdm(total=len(requests), desc=f"openai {self.model_id}", unit="req", disable=None) as bar:

            def finished(index: int, completion: Completion) -> None:
                bar.update(1)
                if on_complete is not None:
                    on_complete(index, completion)

            return self._run(jobs, finished)

    def close(self) -> None:
        self._discard_client()
        self._answered = False

    # -- HTTP -------------------------------------------------------------------------------------

    def _run(self, jobs: Sequence[Job[Any]], on_result: Callable[[int, Any], None] | None) -> list[Any]:
        """Run API calls on the worker threads; on any way out but success the client is replaced."""
        try:
            return run_jobs(
                jobs,
                workers=min(self.concurrency, len(jobs)),
                limit=self.deadline + _GRACE_S,
                on_result=on_result,
                name="clue-openai",
            )
        except Overdue as exc:
            self._discard_client()
            raise EngineError(
                f"{self.api_base}: request {exc.index + 1} still had no complete answer after "
                f"{exc.seconds:.0f} s, past the request deadline of {self.deadline:g} s ({DEADLINE_OPTION}); "
                "is the server overloaded or hung?"
            ) from None
        except BaseException:
            self._discard_client()  # requests still in flight are abandoned: close their connections
            raise

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Content-Type": "application/json"}
                authorization = self._authorization()
                if authorization:
                    headers["Authorization"] = authorization
                limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
                self._client = httpx.Client(
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout),
                    limits=limits,
                    # a loopback server is reached directly: an HTTP(S)_PROXY of the environment
                    # would carry the data (credentialed data included) off this machine
                    trust_env=not self.loopback,
                )
            return self._client

    def _authorization(self) -> str | None:
        """The ``Authorization`` header: the URL's credentials, else the API key, else none."""
        key = os.environ.get(self._api_key_env)
        if self._credentials is not None:
            if key and not self._warned_auth:
                self._warned_auth = True
                log.warning(
                    "%s: api_base carries a user name and password, sent as HTTP Basic auth; the API key in "
                    "$%s is not sent (one Authorization header; the URL's credentials win)",
                    self.api_base,
                    self._api_key_env,
                )
            return self._credentials.basic_auth_header()
        return f"Bearer {key}" if key else None

    def _discard_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # a connection torn down under a running request: nothing to keep
                log.debug("closing the HTTP client: %s", type(exc).__name__)

    def _payload(self, request: Request, sampling: Sampling) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "max_tokens": request.max_new_tokens or sampling.max_new_tokens,
            "temperature": max(sampling.temperature, 0.0),
            "seed": sampling.seed,
            "n": 1,
        }
        if sampling.temperature > 0:
            body["top_p"] = sampling.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        if self.chat_style == "plain":
            body["prompt"] = to_plain_text(request)
            return "/completions", body
        body["messages"] = self._messages(request)
        if request.rendering.prefix:  # vLLM's extension: continue the last (assistant) message
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return "/chat/completions", body

    def _one(self, client: httpx.Client, request: Request, sampling: Sampling, cancel: threading.Event) -> Completion:
        path, body = self._payload(request, sampling)
        data = self._call(client, "POST", path, body, cancel)
        text, finish_reason, usage = self._parse(data, path)
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Completion(
            request_id=request.id,
            text=text,
            prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else self._tokens.count(self.render(request)),
            completion_tokens=completion_tokens if isinstance(completion_tokens, int) else self._tokens.count(text),
            finish_reason=finish_reason,
        )

    def _call(
        self, client: httpx.Client, method: str, path: str, body: dict[str, Any] | None, cancel: threading.Event
    ) -> Any:
        """One API call, retried within the deadline; the decoded JSON body. EngineError names the URL."""
        url = self.api_base + path
        started = time.monotonic()
        deadline = started + self.deadline
        attempts = 0
        last = ""
        out_of_time = False  # stopped by the deadline rather than by the number of retries
        while attempts <= self.max_retries:
            if cancel.is_set():
                raise _Cancelled()
            now = time.monotonic()
            end = min(now + self.timeout, deadline)
            attempts += 1
            try:
                return self._attempt(client, method, url, body, end, cancel)
            except _RetryableError as exc:
                last, retry_after = str(exc), exc.retry_after
            out_of_time = deadline - time.monotonic() < _MIN_ATTEMPT_S
            if attempts > self.max_retries or out_of_time:
                break
            delay = self.backoff * 2 ** (attempts - 1)
            if retry_after is not None:
                delay = max(delay, min(retry_after, _MAX_RETRY_AFTER))
            if time.monotonic() + delay >= deadline:
                out_of_time = True
                break
            log.warning("%s: %s; retry %d/%d in %.1f s", url, last, attempts, self.max_retries, delay)
            self._pause(delay, cancel)
        spent = time.monotonic() - started
        within = f", the request deadline of {self.deadline:g} s ({DEADLINE_OPTION}) spent" if out_of_time else ""
        raise EngineError(
            f"{url}: giving up after {attempts} attempt(s): {last or 'no time for an attempt'} "
            f"({spent:.1f} s in all{within}). Is the OpenAI-compatible server running and reachable at that address?"
        )

    def _pause(self, seconds: float, cancel: threading.Event) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif cancel.wait(seconds):
            raise _Cancelled()

    def _attempt(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        end: float,
        cancel: threading.Event,
    ) -> Any:
        """One HTTP exchange, over by ``end`` (a ``time.monotonic()`` value)."""
        budget = max(end - time.monotonic(), 0.001)
        try:
            # each phase (connect, send, every read) waits at most the attempt's budget; the body
            # loop checks the clock after every chunk, so trickling ends at ``end`` too
            with client.stream(method, url, json=body, timeout=httpx.Timeout(budget)) as response:
                if method == "POST":
                    self._answered = True
                status = response.status_code
                content = self._read_body(response, url, end, budget, cancel)
        except httpx.TimeoutException as exc:
            raise _RetryableError(f"no answer within {budget:.3g} s ({type(exc).__name__})") from None
        except httpx.ConnectError as exc:
            raise _RetryableError(f"cannot connect ({type(exc).__name__}: {redact_urls(str(exc))})") from None
        except httpx.TransportError as exc:  # dropped mid-answer, reset, protocol errors
            raise _RetryableError(f"the connection broke ({type(exc).__name__}: {redact_urls(str(exc))})") from None
        if _retryable(status):
            raise _RetryableError(
                f"HTTP {status} {_body_excerpt(content)}", retry_after=_retry_after(response.headers.get("retry-after"))
            )
        if status in (401, 403):
            sent = (
                "the user name and password of the URL were sent as HTTP Basic auth"
                if self._credentials is not None
                else f"set the API key in the environment variable {self._api_key_env}"
            )
            raise EngineError(f"{url}: HTTP {status} (not authorized): {sent} ({_body_excerpt(content)})")
        if status >= 400:
            raise EngineError(f"{url}: HTTP {status}: {_body_excerpt(content)}")
        try:
            return json.loads(content)
        except ValueError as exc:
            raise EngineError(
                f"{url}: the server answered HTTP {status} with a body that is not JSON: {_body_excerpt(content)!r}. "
                "Is this an OpenAI-compatible API?"
            ) from exc

    def _read_body(
        self, response: httpx.Response, url: str, end: float, budget: float, cancel: threading.Event
    ) -> bytes:
        """The whole body, at most ``max_response_bytes`` of it, by ``end``."""
        cap = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > cap:
            raise self._too_large(url, f"announces {int(declared)} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise self._too_large(url, f"passed {cap} bytes and was cut off")
            chunks.append(chunk)
            if cancel.is_set():
                raise _Cancelled()
            if time.monotonic() > end:
                raise _RetryableError(
                    f"no complete answer within {budget:.3g} s ({size} bytes received: the server sends too slowly)"
                )
        return b"".join(chunks)

    def _too_large(self, url: str, what: str) -> EngineError:
        return EngineError(
            f"{url}: the answer {what}, more than the limit of {self.max_response_bytes} bytes "
            "(the engine option max_response_bytes); nothing of it is kept"
        )

    def _parse(self, data: Any, path: str) -> tuple[str, str, Mapping[str, Any]]:
        shown = self.api_base + path
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise EngineError(f"{shown}: the answer has no 'choices' list: {_excerpt(json.dumps(data))}")
        choice = choices[0]
        if path == "/completions":
            text = choice.get("text")
        else:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
            if text is None and isinstance(message, dict) and "content" in message:
                text = ""  # an empty answer (e.g. only a refusal or tool call): score it as empty
        if not isinstance(text, str):
            field = "text" if path == "/completions" else "message.content"
            raise EngineError(f"{shown}: choices[0] has no string '{field}': {_excerpt(json.dumps(choice))}")
        usage = data.get("usage")
        return text, str(choice.get("finish_reason") or ""), usage if isinstance(usage, dict) else {}

    # -- construction helpers -----------------------------------------------------------------------

    def _token_counter(self, tokenizer: str | None) -> TokenCounter:
        if tokenizer is None:
            return ApproxTokenCounter()
        from transformers import AutoTokenizer

        try:
            return HFTokenCounter(AutoTokenizer.from_pretrained(tokenizer))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"openai engine: cannot load the tokenizer {tokenizer!r}: {exc}") from exc

    def models(self) -> list[Mapping[str, Any]]:
        """The server's ``/v1/models`` entries."""
        client = self._http()
        (data,) = self._run([partial(self._call, client, "GET", "/models", None)], None)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise EngineError(f"{self.api_base}/models: the answer has no 'data' list")
        return [e for e in entries if isinstance(e, dict)]

    def _server_context(self) -> int:
        entries = self.models()
        ids = [str(e.get("id")) for e in entries]
        entry = next((e for e in entries if e.get("id") == self.model_id), None)
        if entry is None:
            log.warning("%s does not list model %r (it serves: %s)", self.api_base, self.model_id, ", ".join(ids))
            return DEFAULT_CONTEXT
        value = entry.get("max_model_len")
        if isinstance(value, int) and value > 0:
            return value
        log.warning("%s: no max_model_len for %s; assuming a context of %d tokens (set max_context)", self.api_base, self.model_id, DEFAULT_CONTEXT)
        return DEFAULT_CONTEXT


def _retryable(status: int) -> bool:
    """Worth another try: timeouts, rate limits and server errors (not "not implemented")."""
    return status in _RETRY_STATUS or (500 <= status < 600 and status not in (501, 505))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to the exponential backoff
    return seconds if seconds >= 0 else None
