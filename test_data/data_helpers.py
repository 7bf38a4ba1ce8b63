"""Helpers of the data-command tests: the shipped demo files as the mock hosts serve them, and a
runner for ``python -m clue data ...`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clue.data.sources import SOURCES, GitHubFile, PhysioNetFile
from clue.pipeline import demo_data_dir
from mock_hosts import MockHosts

DEMO = demo_data_dir()
USER = "alice"
OTHER_USER = "bob"  # may read MedNLI only


def demo_bytes(name: str) -> bytes:
    """The shipped demo file of a source (real MeQSum; synthetic look-alikes of the others)."""
    source = next(s for s in SOURCES if s.name == name)
    return (DEMO / source.dest).read_bytes()


def hosted_key(name: str) -> str:
    origin = next(s for s in SOURCES if s.name == name).origin
    if isinstance(origin, GitHubFile):
        return f"{origin.owner}/{origin.repo}/{origin.ref}/{origin.path}"
    assert isinstance(origin, PhysioNetFile)
    return f"{origin.project}/{origin.version}/{origin.path}"


def request_path(name: str) -> str:
    """The path a request for this source's file has on the mock server."""
    source = next(s for s in SOURCES if s.name == name)
    return ("/gh/" if isinstance(source.origin, GitHubFile) else "/files/") + hosted_key(name)


def run_data(
    *args: str, hosts: MockHosts | None, home: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m clue data ARGS`` with the mock hosts' base URLs, ``HOME`` at ``home`` (no real
    ~/.netrc), no terminal on stdin and no password unless ``env`` gives one."""
    full = {k: v for k, v in os.environ.items() if k != "PHYSIONET_PASSWORD"}
    full["HOME"] = str(home)
    if hosts is not None:
        full.update(hosts.env())
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "clue", "data", *args], capture_output=True, text=True, env=full,
        stdin=subprocess.DEVNULL, timeout=timeout,
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
