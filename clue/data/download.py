"""One file over HTTP(S): resumable, sha256-checked, atomic, with a progress bar.

The bytes go to ``.<name>.part`` beside the destination. A download that breaks off (a dropped
connection, a time-out) is resumed from the part's size with an HTTP ``Range`` request, on the next
attempt or by running the same command again. Only a complete file whose sha256 matches (when one
is expected) is moved into place, with ``os.replace``: the destination is the old file or the whole
new one, never a half-written one. Errors name the cause (:class:`AuthenticationError`,
:class:`AccessDeniedError`, :class:`NotFoundError`, :class:`NetworkError`, :class:`ChecksumError`)
and never carry credentials: those travel only as a basic-auth header.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from clue.data.credentials import Credentials
from clue.data.readers import sha256_file
from clue.errors import ClueError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT = httpx.Timeout(30.0, read=120.0)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(ClueError):
    """A file could not be downloaded; ``url`` and ``status`` (HTTP status, 0 for none) say why."""

    def __init__(self, message: str, url: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class AuthenticationError(DownloadError):
    """HTTP 401: the user name or password was not accepted."""


class AccessDeniedError(DownloadError):
    """HTTP 403: signed in, but without access to this resource."""


class NotFoundError(DownloadError):
    """HTTP 404: no such file at that URL."""


class NetworkError(DownloadError):
    """The host could not be reached, or the connection broke and retries did not help."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected sha256 (the file was not kept)."""


StatusErrors = Callable[[int, str], DownloadError]


def http_status_error(status: int, url: str) -> DownloadError:
    """The default mapping of an HTTP error status to an error a user can act on."""
    if status == 401:
        return AuthenticationError(f"{url}: the server asks for credentials (HTTP 401)", url, status)
    if status == 403:
        return AccessDeniedError(f"{url}: access denied (HTTP 403)", url, status)
    if status == 404:
        return NotFoundError(f"{url}: not found (HTTP 404)", url, status)
    return DownloadError(f"{url}: the server answered HTTP {status}", url, status)


@dataclass(frozen=True)
class DownloadResult:
    dest: Path
    sha256: str
    size: int
    resumed_from: int  # bytes already on disk from an earlier, broken-off attempt (0: fresh)
    attempts: int


def part_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` collect while they download (same folder, so os.replace is atomic)."""
    return dest.with_name(f".{dest.name}.part")


def make_client(timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
    """A client for downloads: redirects followed (httpx drops the auth header when one leaves the
    host), and ``Accept-Encoding: identity`` so that lengths and ranges count the file's own bytes."""
    return httpx.Client(
        timeout=timeout, follow_redirects=True,
        headers={"User-Agent": "clue-data-fetch", "Accept-Encoding": "identity"},
    )


def _auth(credentials: Credentials | None) -> httpx.BasicAuth | None:
    return None if credentials is None else httpx.BasicAuth(credentials.user, credentials.password)


def fetch_small(
    client: httpx.Client, url: str, *, credentials: Credentials | None = None,
    errors: StatusErrors = http_status_error, max_bytes: int = 1 << 22,
) -> bytes:
    """A small file (a checksum list) into memory; nothing is written to disk."""
    try:
        with client.stream("GET", url, auth=_auth(credentials)) as response:
            if response.status_code != 200:
                raise errors(response.status_code, url)
            body = bytearray()
            for chunk in response.iter_bytes(CHUNK):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise DownloadError(f"{url}: larger than the {max_bytes:,} bytes expected", url)
            return bytes(body)
    except httpx.TransportError as exc:
        raise NetworkError(f"network failure fetching {url}: {_describe(exc)}", url) from None


def download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    credentials: Credentials | None = None,
    errors: StatusErrors = http_status_error,
    retries: int = 4,
    backoff_s: float = 1.0,
    progress: bool = True,
    label: str = "",
) -> DownloadResult:
    """Download ``url`` to ``dest``; see the module's docstring. ``retries`` broken-off attempts are
    resumed (waiting ``backoff_s``, doubling); after that NetworkError, keeping the part to resume later."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    first_offset = part.stat().st_size if part.is_file() else 0
    resumed = first_offset > 0
    fresh_retry_done = False
    attempt = 0
    wait = backoff_s
    while True:
        attempt += 1
        try:
            complete = _attempt(client, url, part, credentials, errors, progress, label or dest.name)
        except httpx.TransportError as exc:
            if attempt > retries:
                kept = part.stat().st_size if part.is_file() else 0
                hint = f"; {kept:,} bytes kept in {part.name}, run again to resume" if kept else ""
                raise NetworkError(f"network failure downloading {url}: {_describe(exc)}{hint}", url) from None
            have = part.stat().st_size if part.is_file() else 0
            again = f"resuming at byte {have:,}" if have else "retrying"
            log.warning("%s: %s; %s (attempt %d of %d)", label or dest.name, _describe(exc), again, attempt + 1, retries + 1)
            resumed = resumed or have > 0
            time.sleep(wait)
            wait *= 2
            continue
        if not complete:  # the server could not serve the range asked for: start again from byte 0
            part.unlink(missing_ok=True)
            fresh_retry_done = True
            continue
        digest = sha256_file(part)
        if sha256 is not None and digest != sha256.lower():
            part.unlink(missing_ok=True)
            if resumed and not fresh_retry_done:
                log.warning("%s: sha256 mismatch after resuming; downloading it again from the start", dest.name)
                fresh_retry_done = True
                resumed = False
                continue
            raise ChecksumError(
                f"{url}: sha256 {digest} does not match the expected {sha256.lower()}; the download was "
                "discarded (the file at the source has changed, or the pin is wrong)",
                url,
            )
        size = part.stat().st_size
        os.replace(part, dest)
        return DownloadResult(dest=dest, sha256=digest, size=size, resumed_from=first_offset, attempts=attempt)


def _attempt(
    client: httpx.Client, url: str, part: Path, credentials: Credentials | None, errors: StatusErrors,
    progress: bool, label: str,
) -> bool:
    """One GET, appending to the part when the server honours the range. False: start again fresh.
    Raises httpx.TransportError when the transfer breaks off (the bytes so far stay in the part)."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers, auth=_auth(credentials)) as response:
        status = response.status_code
        if status == 416 and offset:
            log.info("%s: the server refused to resume at byte %d; starting again", label, offset)
            return False
        if status not in (200, 206):
            raise errors(status, url)
        length = _int_header(response, "Content-Length")
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != offset:
                log.info("%s: the server answered another range than asked; starting again", label)
                return False
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        else:
            offset, mode = 0, "wb"
            total = length
        with open(part, mode) as fh, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
            disable=None if progress else True, leave=False,
        ) as bar:
            for chunk in response.iter_bytes():  # as received: a break loses nothing already read
                fh.write(chunk)
                bar.update(len(chunk))
            fh.flush()
            os.fsync(fh.fileno())
    size = part.stat().st_size
    if total is not None and size != total:
        raise httpx.RemoteProtocolError(f"got {size:,} of {total:,} bytes")
    return True


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    return int(value) if value and value.isdigit() else None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
