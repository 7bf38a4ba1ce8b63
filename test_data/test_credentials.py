"""Where the PhysioNet password comes from: $PHYSIONET_PASSWORD, then ~/.netrc, then a prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue.data.credentials import Credentials, resolve_password
from clue.errors import ConfigError

BASE = "https://physionet.org/files"


def netrc_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".netrc"
    path.write_text(text)
    path.chmod(0o600)
    return path


def no_prompt(_: str) -> str:
    raise AssertionError("must not prompt")


def test_environment_first(tmp_path: Path) -> None:
    netrc = netrc_file(tmp_path, "machine physionet.org login ann password from-netrc\n")
    c = resolve_password("ann", BASE, env={"PHYSIONET_PASSWORD": "from-env"}, netrc_file=netrc, prompt=no_prompt)
    assert (c.user, c.password, c.source) == ("ann", "from-env", "$PHYSIONET_PASSWORD")


def test_netrc_entry_of_the_host_and_user(tmp_path: Path) -> None:
    netrc = netrc_file(tmp_path, "machine example.org login ann password other-host\n"
                                 "machine physionet.org login ann password from-netrc\n")
    c = resolve_password("ann", BASE, env={}, netrc_file=netrc, prompt=no_prompt)
    assert (c.password, c.source) == ("from-netrc", "~/.netrc")


def test_netrc_entry_of_another_login_is_not_used(tmp_path: Path) -> None:
    netrc = netrc_file(tmp_path, "machine physionet.org login someone-else password theirs\n")
    c = resolve_password("ann", BASE, env={}, netrc_file=netrc, prompt=lambda text: "typed")
    assert (c.password, c.source) == ("typed", "prompt")


def test_the_prompt_names_user_and_host(tmp_path: Path) -> None:
    seen: list[str] = []
    c = resolve_password("ann", BASE, env={}, netrc_file=tmp_path / "none", prompt=lambda t: seen.append(t) or "pw")
    assert c.password == "pw" and seen == ["PhysioNet password for ann@physionet.org: "]


def test_no_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"set \$PHYSIONET_PASSWORD, add a ~/.netrc entry \(machine physionet.org login ann"):
        resolve_password("ann", BASE, env={}, netrc_file=tmp_path / "none")  # stdin is not a terminal here
    with pytest.raises(ConfigError, match="no PhysioNet password given"):
        resolve_password("ann", BASE, env={}, netrc_file=tmp_path / "none", prompt=lambda t: "")
    with pytest.raises(ConfigError, match="--physionet-user is empty"):
        resolve_password(" ", BASE, env={"PHYSIONET_PASSWORD": "x"})


def test_a_broken_netrc_is_named_without_quoting_it(tmp_path: Path) -> None:
    netrc = netrc_file(tmp_path, "machine physionet.org login ann password secret-token bogus-keyword\n")
    with pytest.raises(ConfigError) as info:
        resolve_password("ann", BASE, env={}, netrc_file=netrc, prompt=no_prompt)
    assert str(netrc) in str(info.value) and "parse error at line" in str(info.value)
    assert "secret-token" not in str(info.value) and "bogus-keyword" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_the_password_is_not_in_the_repr_or_str() -> None:
    c = Credentials("ann", "hunter2-secret", "prompt")
    assert "hunter2-secret" not in repr(c) and "hunter2-secret" not in str(c)
    assert str(c) == "ann (password from prompt)"
