"""A scripted OpenAI-compatible server on 127.0.0.1 for the openai engine's tests, and the
misbehaviours of a hostile one: never answering, trickling, huge answers, dropped connections."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

from clue.records import Message, Request

# An action answers a request: with (status, headers, body), or with a Stream that writes the raw
# answer itself (it gets the handler and the server's "stopping" event, set on close).
Stream = Callable[[BaseHTTPRequestHandler, threading.Event], None]
Reply = Union[tuple[int, dict[str, str], bytes], Stream]
Action = Callable[[str, dict[str, Any]], Reply]


def chat_answer(text: str, finish_reason: str = "stop", **extra: Any) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
    usage = {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}
    return json.dumps({"id": "x", "object": "chat.completion", "choices": [choice], "usage": usage, **extra}).encode()


def ok_chat(path: str, body: dict[str, Any]) -> Reply:
    """Echo the last user turn, as a chat or a completions answer."""
    if path.endswith("/completions") and "prompt" in body:
        text = "plain:" + body["prompt"][-12:]
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "length"}
    else:
        text = "echo:" + body["messages"][-1]["content"]
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 100 + len(json.dumps(body)), "completion_tokens": 7, "total_tokens": 0}
    return 200, {}, json.dumps({"id": "x", "object": "chat.completion", "choices": [choice], "usage": usage}).encode()


def status(code: int, text: str = "busy", headers: dict[str, str] | None = None) -> Action:
    return lambda path, body: (code, dict(headers or {}), json.dumps({"error": {"message": text}}).encode())


def raw(code: int, payload: bytes) -> Action:
    return lambda path, body: (code, {}, payload)


def slow(seconds: float, then: Action = ok_chat) -> Action:
    def act(path: str, body: dict[str, Any]) -> Reply:
        time.sleep(seconds)
        return then(path, body)

    return act


# -- hostile servers ----------------------------------------------------------------------------------


def _client_gone(exc: OSError) -> bool:
    return isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout))


def hang(path: str, body: dict[str, Any]) -> Reply:
    """Never answer (until the server closes): not even a status line."""

    def stream(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        stopping.wait()
        handler.close_connection = True

    return stream


def trickle(payload: bytes, interval: float = 1.0) -> Action:
    """Send the headers, then the body one byte every ``interval`` seconds."""

    def act(path: str, body: dict[str, Any]) -> Reply:
        def stream(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.close_connection = True
            try:
                for i in range(len(payload)):
                    handler.wfile.write(payload[i : i + 1])
                    handler.wfile.flush()
                    if stopping.wait(interval):
                        return
            except OSError as exc:
                if not _client_gone(exc):
                    raise

        return stream

    return act


def huge(n_bytes: int, declare_length: bool = True) -> Action:
    """A well-formed chat answer of ``n_bytes`` bytes; without a Content-Length when asked (then the
    end of the connection ends the body)."""
    head = b'{"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "'
    tail = b'"}}]}'
    block = b"x" * 2**20

    def act(path: str, body: dict[str, Any]) -> Reply:
        def stream(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            if declare_length:
                handler.send_header("Content-Length", str(n_bytes))
            handler.end_headers()
            handler.close_connection = True
            left = n_bytes - len(head) - len(tail)
            try:
                handler.wfile.write(head)
                while left > 0 and not stopping.is_set():
                    piece = block[: min(left, len(block))]
                    handler.wfile.write(piece)
                    left -= len(piece)
                handler.wfile.write(tail)
                handler.wfile.flush()
            except OSError as exc:
                if not _client_gone(exc):
                    raise

        return stream

    return act


def drop_mid_body(path: str, body: dict[str, Any]) -> Reply:
    """Announce 1000 bytes, send 100, close the connection."""

    def stream(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(chat_answer("cut")[:100])
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    return stream


class FakeServer:
    """ThreadingHTTPServer on 127.0.0.1 (random port): POSTs run the scripted actions in order
    (then ``default``); GET /v1/models lists ``models`` (or runs ``models_action``). Records every
    request; ``answered`` counts the POSTs whose action returned."""

    def __init__(self) -> None:
        self.script: deque[Action] = deque()
        self.default: Action = ok_chat
        self.models: list[dict[str, Any]] = [{"id": "served", "object": "model", "max_model_len": 2048}]
        self.models_action: Action | None = None
        self.seen: list[tuple[str, str, dict[str, str], dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, reply: Reply) -> None:
                if callable(reply):
                    reply(self, server.stopping)
                    return
                code, headers, payload = reply
                self.send_response(code)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

            def do_GET(self) -> None:
                with server._lock:
                    server.seen.append(("GET", self.path, dict(self.headers), {}))
                if self.path == "/v1/models" and server.models_action is not None:
                    self._send(server.models_action(self.path, {}))
                elif self.path == "/v1/models":
                    self._send((200, {}, json.dumps({"object": "list", "data": server.models}).encode()))
                else:
                    self._send((404, {}, b'{"error": "not found"}'))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.seen.append(("POST", self.path, dict(self.headers), body))
                    action = server.script.popleft() if server.script else server.default
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = action(self.path, body)
                finally:  # before answering: the client may send its next request right after
                    with server._lock:
                        server.in_flight -= 1
                self._send(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def posts(self) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        with self._lock:
            return [(path, headers, body) for method, path, headers, body in self.seen if method == "POST"]

    def wait_for_posts(self, n: int, timeout: float) -> bool:
        """Whether ``n`` POSTs arrived within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.posts) >= n:
                return True
            time.sleep(0.02)
        return len(self.posts) >= n

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Sleeps(list):
    """Records the backoff delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def request(i: int, text: str, task: str = "demo", max_new_tokens: int = 16) -> Request:
    messages = (Message("system", "You are a careful clinician."), Message("user", text))
    return Request(id=f"r{i}", task=task, messages=messages, max_new_tokens=max_new_tokens, reference="")
