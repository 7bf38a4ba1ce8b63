"""The OpenAI-compatible engine: any server speaking ``/v1/chat/completions`` (vLLM serve, TGI, SGLang).

Chat styles post to ``/v1/chat/completions``; the plain style posts the plain-text rendering to
``/v1/completions``. Requests run on a bounded thread pool, each with a timeout, and are retried with
exponential backoff on connection errors, timeouts, 429 and 5xx answers (a numeric ``Retry-After``
is honoured). The API key is read from the environment only and never logged or put in the identity.

Data-use guard: PhysioNet's credentialed data (MedNLI, ProblemSummary, MeDiSumQA, MeDiSumCode) may
not be sent to third parties, so a credentialed task is refused for a non-loopback server unless the
user opts in (``allow_remote_credentialed``, the ``--clue-allow-remote-credentialed`` option).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

import httpx
from tqdm.auto import tqdm

from clue.engines.base import OnComplete
from clue.engines.tokens import ApproxTokenCounter, HFTokenCounter
from clue.errors import ConfigError, EngineError
from clue.prompts.chat import CHAT_STYLES, ChatStyle, chat_messages, to_plain_text
from clue.records import Completion, Request, Sampling
from clue.tasks.base import Task, TokenCounter

log = logging.getLogger(__name__)

OPT_IN_OPTION = "--clue-allow-remote-credentialed"
DEFAULT_CONTEXT = 4096  # when neither the option nor the server's /v1/models says
_RETRY_STATUS = frozenset({408, 425, 429})  # plus every 5xx but 501/505 (see _retryable)
_MAX_RETRY_AFTER = 60.0


def normalize_api_base(api_base: str) -> str:
    """``scheme://host[:port]/.../v1`` without a trailing slash; ``/v1`` is appended when missing."""
    base = api_base.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"api_base must be an http(s) URL such as http://127.0.0.1:8000/v1, got {api_base!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"api_base must not carry a query or fragment, got {api_base!r}")
    return base if parts.path.endswith("/v1") else base + "/v1"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (IPv4-mapped forms included). Names are not resolved."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


def _safe_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIEngine:
    """``clue.engines.base.Engine`` over an OpenAI-compatible HTTP API.

    ``tokenizer``: a local tokenizer (folder or hub id) for exact token counts in prompt building;
    without it token counts are estimated. ``max_context``: the model's context; by default the
    server's ``max_model_len`` from ``/v1/models`` (vLLM reports it), else 4096.
    """

    name = "openai"

    def __init__(
        self,
        api_base: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        allow_remote_credentialed: bool = False,
        chat_style: str = "system",
        tokenizer: str | None = None,
        max_context: int | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chat_style not in CHAT_STYLES:
            raise ConfigError(f"openai engine: chat_style must be one of {', '.join(CHAT_STYLES)}, got {chat_style!r}")
        if concurrency < 1:
            raise ConfigError(f"openai engine: concurrency must be >= 1, got {concurrency}")
        if timeout <= 0 or max_retries < 0 or backoff < 0:
            raise ConfigError("openai engine: timeout must be > 0, max_retries and backoff >= 0")
        if not model:
            raise ConfigError("openai engine: the served model name is empty")
        self.api_base = normalize_api_base(api_base)
        self.host = urlsplit(self.api_base).hostname or ""
        self.model_id = model
        self.chat_style: ChatStyle = chat_style  # type: ignore[assignment]
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.allow_remote_credentialed = allow_remote_credentialed
        self._api_key_env = api_key_env
        self._sleep = sleep
        self._tokens: TokenCounter = self._token_counter(tokenizer)
        self._max_context = max_context
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    # -- data-use guard ---------------------------------------------------------------------------

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)

    def check_allowed(self, task: Task) -> None:
        """Raise :class:`ConfigError` if ``task``'s data may not be sent to this server."""
        self._check_credentialed(task.display_name, task.credentialed)

    def _check_credentialed(self, task_name: str, credentialed: bool) -> None:
        if not credentialed or self.loopback or self.allow_remote_credentialed:
            return
        raise ConfigError(
            f"{task_name} is credentialed data (PhysioNet), and {self.host} is not a loopback address. "
            "PhysioNet's data use agreement forbids sharing the data with third parties, so clue does not "
            "send it to a remote server. Serve the model on this machine (127.0.0.1 / localhost), or, if the "
            f"remote server is under your control and covered by the agreement, opt in with {OPT_IN_OPTION}."
        )

    def _guard(self, requests: Sequence[Request]) -> None:
        """Backstop for callers that skipped :meth:`check_allowed`: look task names up in the registry."""
        if self.loopback or self.allow_remote_credentialed:
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
        return self._client is not None

    def render(self, request: Request) -> str:
        if self.chat_style == "plain":
            return to_plain_text(request.messages)
        return json.dumps(chat_messages(request.messages, self.chat_style), ensure_ascii=False)

    def identity(self) -> Mapping[str, Any]:
        return {"engine": self.name, "api_host": self.host, "model_id": self.model_id, "chat_style": self.chat_style}

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        if not requests:
            return []
        self._guard(requests)
        client = self._http()
        results: list[Completion | None] = [None] * len(requests)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests)), thread_name_prefix="clue-openai") as pool:
            futures: dict[Future[Completion], int] = {
                pool.submit(self._one, client, r, sampling): i for i, r in enumerate(requests)
            }
            with tqdm(total=len(requests), desc=f"openai {self.model_id}", unit="req", disable=None) as bar:
                pending: set[Future[Completion]] = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    for fut in done:
                        exc = fut.exception()
                        if exc is not None:
                            for other in pending:
                                other.cancel()
                            raise exc
                        results[futures[fut]] = fut.result()
                    bar.update(len(done))
        return [c for c in results if c is not None]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- HTTP -------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Content-Type": "application/json"}
                key = os.environ.get(self._api_key_env)
                if key:
                    headers["Authorization"] = f"Bearer {key}"
                limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
                self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout), limits=limits)
            return self._client

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
        if self.chat_style == "plain":
            body["prompt"] = to_plain_text(request.messages)
            return "/completions", body
        body["messages"] = chat_messages(request.messages, self.chat_style)
        return "/chat/completions", body

    def _one(self, client: httpx.Client, request: Request, sampling: Sampling) -> Completion:
        path, body = self._payload(request, sampling)
        data = self._call(client, "POST", path, body)
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

    def _call(self, client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call with retries; the decoded JSON body. EngineError names the URL on failure."""
        url = self.api_base + path
        shown = _safe_url(url)
        attempts = self.max_retries + 1
        last = ""
        for attempt in range(attempts):
            try:
                return self._attempt(client, method, url, shown, body)
            except _RetryableError as exc:
                last = str(exc)
                if attempt + 1 == attempts:
                    break
                delay = self.backoff * (2**attempt)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, _MAX_RETRY_AFTER))
                log.warning("%s: %s; retry %d/%d in %.1f s", shown, last, attempt + 1, self.max_retries, delay)
                self._sleep(delay)
        raise EngineError(
            f"{shown}: giving up after {attempts} attempt(s): {last}. Is the OpenAI-compatible server running "
            "and reachable at that address?"
        )

    def _attempt(self, client: httpx.Client, method: str, url: str, shown: str, body: dict[str, Any] | None) -> Any:
        try:
            response = client.request(method, url, json=body)
        except httpx.TimeoutException as exc:
            raise _RetryableError(f"no answer within {self.timeout:g} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _RetryableError(f"cannot connect ({type(exc).__name__}: {exc})") from exc
        status = response.status_code
        if _retryable(status):
            raise _RetryableError(
                f"HTTP {status} {_excerpt(response.text)}", retry_after=_retry_after(response.headers.get("retry-after"))
            )
        if status in (401, 403):
            raise EngineError(
                f"{shown}: HTTP {status} (not authorized): set the API key in the environment variable "
                f"{self._api_key_env} ({_excerpt(response.text)})"
            )
        if status >= 400:
            raise EngineError(f"{shown}: HTTP {status}: {_excerpt(response.text)}")
        try:
            return response.json()
        except ValueError as exc:
            raise EngineError(
                f"{shown}: the server answered HTTP {status} with a body that is not JSON: {_excerpt(response.text)!r}. "
                "Is this an OpenAI-compatible API?"
            ) from exc

    def _parse(self, data: Any, path: str) -> tuple[str, str, Mapping[str, Any]]:
        shown = _safe_url(self.api_base + path)
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
        data = self._call(self._http(), "GET", "/models")
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise EngineError(f"{_safe_url(self.api_base + '/models')}: the answer has no 'data' list")
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
