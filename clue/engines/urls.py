"""Server URLs of the remote engine: credentials taken out, redaction, normalisation, the loopback test.

A URL such as ``http://user:password@host:8000/v1`` is split into the URL without ``user:password@``
(the only form kept, shown or sent to the HTTP library) and :class:`Credentials`, whose ``repr``
shows nothing secret. :func:`take_credentials` never raises, so a caller can drop the raw URL
before anything can fail and print it in a traceback.

:func:`is_loopback_host` decides whether data stays on this machine (the PhysioNet data-use guard):
an IP literal is judged as it is; a name is resolved and every address it resolves to must be a
loopback address; a name that does not resolve is not loopback.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from clue.errors import ConfigError

Resolver = Callable[..., Sequence[tuple[Any, ...]]]

# scheme://userinfo@ : everything between "//" and the last "@" before a blank (greedy: a password
# with an unencoded "/" is hidden too; for messages, where hiding too much is harmless)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)\S*@")


@dataclass(frozen=True)
class Credentials:
    """User name and password from a URL (percent-decoded); neither appears in ``repr``."""

    username: str = field(repr=False)
    password: str = field(repr=False)

    def basic_auth_header(self) -> str:
        """The value of an ``Authorization`` header for HTTP Basic authentication."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


def redact_urls(text: str) -> str:
    """``text`` with the ``user:password@`` part of every URL in it removed."""
    return _USERINFO.sub(r"\g<scheme>", text)


def take_credentials(url: str) -> tuple[str, Credentials | None]:
    """``url`` without its ``user:password@`` part, and the credentials it carried (None if none).

    Pure string work that never raises: call it first, then validate the credential-free URL.
    The authority ends at the first "/", "?" or "#" (RFC 3986): a password holding one of those
    unencoded leaves an "@" behind, which :func:`normalize_api_base` refuses.
    """
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, None
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    userinfo, at, hostport = rest[:end].rpartition("@")
    if not at:
        return url, None
    stripped = f"{scheme}://{hostport}{rest[end:]}"
    if not userinfo:
        return stripped, None
    user, _, password = userinfo.partition(":")
    return stripped, Credentials(unquote(user), unquote(password))


def stray_at_error(shown: str) -> ConfigError:
    """The error for a URL left with an "@" after :func:`take_credentials` (``shown``: redacted)."""
    return ConfigError(
        f"api_base has an '@' that does not end a user:password@ part, got {shown!r}; percent-encode "
        "'/', '?', '#' and '@' in a user name or password (%2F, %3F, %23, %40)"
    )


def normalize_api_base(api_base: str) -> str:
    """``scheme://host[:port]/.../v1`` without a trailing slash; ``/v1`` is appended when missing.

    Error messages show the URL without credentials.
    """
    base = api_base.strip().rstrip("/")
    shown = redact_urls(base)
    if shown != base:
        raise stray_at_error(shown)
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"api_base is not a valid URL ({exc}), got {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"api_base must be an http(s) URL such as http://127.0.0.1:8000/v1, got {shown!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"api_base must not carry a query or fragment, got {shown!r}")
    return base if parts.path.endswith("/v1") else base + "/v1"


def _literal_loopback(text: str) -> bool | None:
    """True/False for an IP address literal (IPv4-mapped IPv6 included), None for anything else."""
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


def is_loopback_host(host: str, resolve: Resolver | None = None) -> bool:
    """True when ``host`` is a loopback address, or a name all of whose addresses are loopback.

    IP literals (``127.0.0.0/8``, ``::1``, ``::ffff:127.0.0.1``) are not resolved. A name is resolved
    with ``resolve`` (default :func:`socket.getaddrinfo`); it is loopback only when it resolves and
    every address is. ``evil.localhost`` is judged by what it resolves to, not by its suffix.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return False
    literal = _literal_loopback(name)
    if literal is not None:
        return literal
    try:
        infos = (resolve or socket.getaddrinfo)(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return False  # does not resolve (or not a valid name): not known to be this machine
    addresses = {str(info[4][0]) for info in infos if len(info) > 4 and info[4]}
    return bool(addresses) and all(_literal_loopback(a) is True for a in addresses)
