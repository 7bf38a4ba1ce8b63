"""A local stand-in for GitHub's raw file host and PhysioNet's file server, on 127.0.0.1.

- ``<base>/gh/<owner>/<repo>/<ref>/<path>``: public files, as raw.githubusercontent.com serves them.
- ``<base>/files/<project>/<version>/<path>``: PhysioNet's layout with HTTP basic auth: 401 (with a
  ``WWW-Authenticate`` challenge) for a missing or wrong password, 403 for a user without access to
  the project, 404 for a missing file; each project's ``SHA256SUMS.txt`` is generated from its files.

Both honour ``Range: bytes=N-`` (206, or 416 past the end) unless told to ignore it, and can drop the
connection after a given number of body bytes (the ``Content-Length`` promises the whole file), once
per planned drop. Every request is logged (path, range, user, status); passwords are not logged.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Logged:
    path: str
    range: str | None
    user: str | None
    status: int


@dataclass
class MockHosts:
    public: dict[str, bytes] = field(default_factory=dict)  # "owner/repo/ref/path" -> bytes
    physionet: dict[str, bytes] = field(default_factory=dict)  # "project/version/path" -> bytes
    passwords: dict[str, str] = field(default_factory=dict)  # user -> password
    access: dict[str, set[str]] = field(default_factory=dict)  # user -> {"project/version", ...}
    drops: dict[str, list[int]] = field(default_factory=dict)  # request path -> body bytes sent before each drop
    ignore_range: set[str] = field(default_factory=set)  # request paths served whole (200) despite a Range
    no_checksums: set[str] = field(default_factory=set)  # "project/version" without a SHA256SUMS.txt
    log: list[Logged] = field(default_factory=list)
    port: int = 0

    @property
    def github_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/gh"

    @property
    def physionet_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/files"

    def env(self) -> dict[str, str]:
        return {"CLUE_GITHUB_RAW_BASE": self.github_base, "CLUE_PHYSIONET_BASE": self.physionet_base}

    def checksums(self, project_version: str) -> bytes | None:
        if project_version in self.no_checksums:
            return None
        prefix = project_version + "/"
        lines = [
            f"{hashlib.sha256(data).hexdigest()}  {key[len(prefix):]}\n"
            for key, data in sorted(self.physionet.items()) if key.startswith(prefix)
        ]
        return "".join(lines).encode() if lines else None


def _handler(hosts: MockHosts) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _reply(self, status: int, user: str | None, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            with lock:
                hosts.log.append(Logged(self.path, self.headers.get("Range"), user, status))
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _user(self) -> tuple[str | None, bool]:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None, False
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None, False
            return user, hosts.passwords.get(user) == password

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?")[0]
            if path.startswith("/gh/"):
                data = hosts.public.get(path[len("/gh/"):])
                if data is None:
                    return self._reply(404, None, b"404: Not Found")
                return self._send(data, None)
            if path.startswith("/files/"):
                user, ok = self._user()
                if not ok:
                    return self._reply(401, user, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="PhysioNet"'})
                parts = path[len("/files/"):].split("/", 2)
                if len(parts) < 3:
                    return self._reply(404, user, b"Not found")
                project_version, rest = f"{parts[0]}/{parts[1]}", parts[2]
                if project_version not in hosts.access.get(user or "", set()):
                    return self._reply(403, user, b"Forbidden")
                data = hosts.checksums(project_version) if rest == "SHA256SUMS.txt" else hosts.physionet.get(f"{project_version}/{rest}")
                if data is None:
                    return self._reply(404, user, b"Not found")
                return self._send(data, user)
            return self._reply(404, None, b"Not found")

        def _send(self, data: bytes, user: str | None) -> None:
            start = 0
            status = 200
            wanted = self.headers.get("Range")
            match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
            if match and self.path not in hosts.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    return self._reply(416, user, b"", {"Content-Range": f"bytes */{len(data)}"})
                status = 206
            body = data[start:]
            with lock:
                plan = hosts.drops.get(self.path)
                cut = plan.pop(0) if plan else None
                hosts.log.append(Logged(self.path, wanted, user, status))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if cut is None:
                self.wfile.write(body)
                return
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


@contextmanager
def serve(hosts: MockHosts) -> Iterator[MockHosts]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hosts))
    server.daemon_threads = True
    hosts.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield hosts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
