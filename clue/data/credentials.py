"""PhysioNet credentials: a user name from the command line and a password from ``$PHYSIONET_PASSWORD``,
``~/.netrc`` or an interactive prompt, in that order.

The password lives only in memory: it is never written to a file, a log, a report or an exception
message (the :class:`Credentials` repr hides it), and it travels only as an HTTP basic-auth header.
"""

from __future__ import annotations

import getpass
import logging
import netrc
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from clue.errors import ConfigError

log = logging.getLogger(__name__)

ENV_PASSWORD = "PHYSIONET_PASSWORD"

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    source: str = ""  # where the password came from: "$PHYSIONET_PASSWORD", "~/.netrc", "prompt"

    def __str__(self) -> str:
        return f"{self.user} (password from {self.source or 'unknown'})"


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def resolve_password(
    user: str,
    base_url: str,
    *,
    env: Mapping[str, str] | None = None,
    netrc_file: Path | None = None,
    prompt: Prompt | None = None,
) -> Credentials:
    """The password of ``user`` for the host of ``base_url``.

    ``$PHYSIONET_PASSWORD`` first; then the ``~/.netrc`` entry of that host whose login is ``user``
    (an entry for another login is ignored); then ``prompt`` (default: ``getpass`` when standard
    input is a terminal). ConfigError when none gives one.
    """
    user = user.strip()
    if not user:
        raise ConfigError("--physionet-user is empty")
    env = os.environ if env is None else env
    password = env.get(ENV_PASSWORD)
    if password:
        return Credentials(user, password, f"${ENV_PASSWORD}")
    host = urlsplit(base_url).hostname or ""
    from_netrc = _netrc_password(user, host, netrc_file)
    if from_netrc:
        return Credentials(user, from_netrc, "~/.netrc")
    if prompt is None and _interactive():
        prompt = getpass.getpass
    if prompt is None:
        raise ConfigError(
            f"no PhysioNet password for {user}: set ${ENV_PASSWORD}, add a ~/.netrc entry "
            f"(machine {host} login {user} password ...), or run in a terminal to be asked"
        )
    answer = prompt(f"PhysioNet password for {user}@{host}: ")
    if not answer:
        raise ConfigError(f"no PhysioNet password given for {user}")
    return Credentials(user, answer, "prompt")


def _netrc_password(user: str, host: str, path: Path | None) -> str | None:
    file = Path(path) if path is not None else Path.home() / ".netrc"
    if not host or not file.is_file():
        return None
    try:
        # The default file gets netrc's own check that only its owner can read it.
        entry = netrc.netrc(None if path is None else str(file)).authenticators(host)
    except netrc.NetrcParseError as exc:
        # A parse error's text can quote a token of the file (a password): keep only the position,
        # except for the permission check, whose text quotes nothing of the file.
        problem = exc.msg if "access" in exc.msg and "permissive" in exc.msg else f"parse error at line {exc.lineno}"
        raise ConfigError(f"cannot use {file}: {problem}; fix it, or set ${ENV_PASSWORD}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    if entry is None:
        return None
    login, _account, password = entry
    if login and login != user:
        log.info("%s has an entry for %s with another login; not used for %s", file, host, user)
        return None
    return password or None
