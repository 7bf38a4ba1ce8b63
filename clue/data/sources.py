"""Where each data file comes from: the catalogue ``clue data fetch`` downloads from.

Public files come from their GitHub repositories (raw file URLs, ``<base>/<owner>/<repo>/<ref>/<path>``),
credentialed ones from PhysioNet (``<base>/<project>/<version>/<path>``, HTTPS basic auth). Both base
URLs are settings (:class:`Endpoints`), so a mirror or a local test server can stand in.

sha256 pins: a file's bytes are pinned only where they were read and hashed for clue (see each
source's ``pin_note``); a pin can be given or overridden per run (``--sha256 NAME=HEX``). PhysioNet
files are checked against the ``SHA256SUMS.txt`` that PhysioNet publishes beside each project's files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from clue.errors import ConfigError

DEFAULT_GITHUB_RAW = "https://raw.githubusercontent.com"
DEFAULT_PHYSIONET = "https://physionet.org/files"
ENV_GITHUB_RAW = "CLUE_GITHUB_RAW_BASE"
ENV_PHYSIONET = "CLUE_PHYSIONET_BASE"

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the two hosts (no trailing slash)."""

    github_raw: str = DEFAULT_GITHUB_RAW
    physionet: str = DEFAULT_PHYSIONET

    @classmethod
    def from_settings(
        cls, github_raw: str | None = None, physionet: str | None = None, env: Mapping[str, str] | None = None
    ) -> Endpoints:
        """Options first, then ``$CLUE_GITHUB_RAW_BASE`` / ``$CLUE_PHYSIONET_BASE``, then the real hosts."""
        env = os.environ if env is None else env
        return cls(
            github_raw=_base(github_raw or env.get(ENV_GITHUB_RAW) or DEFAULT_GITHUB_RAW, "GitHub raw base URL"),
            physionet=_base(physionet or env.get(ENV_PHYSIONET) or DEFAULT_PHYSIONET, "PhysioNet base URL"),
        )


def _base(url: str, what: str) -> str:
    url = url.strip().rstrip("/")
    if not re.match(r"https?://[^/\s]+", url):
        raise ConfigError(f"{what} must be an http(s) URL, got {url!r}")
    if "@" in url.split("/")[2]:
        raise ConfigError(f"{what} must not carry credentials; use --physionet-user and a password source")
    return url


@dataclass(frozen=True)
class GitHubFile:
    """A public file in a GitHub repository at ``ref`` (a commit where known, else a branch)."""

    owner: str
    repo: str
    ref: str
    path: str

    def url(self, endpoints: Endpoints) -> str:
        return f"{endpoints.github_raw}/{self.owner}/{self.repo}/{self.ref}/{self.path}"

    @property
    def page(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"


@dataclass(frozen=True)
class PhysioNetFile:
    """A file of a PhysioNet project version; ``path`` relative to the version's folder."""

    project: str
    version: str
    path: str

    def url(self, endpoints: Endpoints) -> str:
        return f"{endpoints.physionet}/{self.project}/{self.version}/{self.path}"

    def checksums_url(self, endpoints: Endpoints) -> str:
        return f"{endpoints.physionet}/{self.project}/{self.version}/SHA256SUMS.txt"

    @property
    def page(self) -> str:
        return f"https://physionet.org/content/{self.project}/{self.version}/"


@dataclass(frozen=True)
class Source:
    """One file ``clue data fetch`` can download, and where it goes under the data folder."""

    name: str  # "meqsum", "mednli", ...: used by --only and --sha256
    dest: str  # path under the data folder, as --clue-data expects it
    origin: GitHubFile | PhysioNetFile
    sha256: str | None = None  # pinned bytes; None: not pinned (see pin_note)
    pin_note: str = ""
    pinned_by: str = "clue's pin"  # or "the --sha256 setting"
    group: str = "public"  # "public", "physionet" (the CLUE files) or "mimic" (MeDiSumCode's inputs)

    @property
    def credentialed(self) -> bool:
        return isinstance(self.origin, PhysioNetFile)

    def url(self, endpoints: Endpoints) -> str:
        return self.origin.url(endpoints)


MEQSUM_SHA256 = "abedd939d5014306ca576522416bf69103e85dc8fcf1668a4099e8b84a39eeea"

SOURCES: tuple[Source, ...] = (
    Source(
        name="meqsum",
        dest="MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
        origin=GitHubFile("abachaa", "MeQSum", "51e36cf65c12602333b6fdc3ae8ecf10430529f7",
                          "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"),
        sha256=MEQSUM_SHA256,
        pin_note="hashed from the repository at commit 51e36cf (216,310 bytes); the same bytes as "
                 "clue's shipped copy. The file is unchanged since it was added in commit 587a500.",
    ),
    Source(
        name="longhealth",
        dest="LongHealth/benchmark_v5.json",
        origin=GitHubFile("kbressem", "LongHealth", "main", "data/benchmark_v5.json"),
        sha256=None,
        pin_note="not pinned: the file's bytes could not be read when clue was released. The download "
                 "is checked by the LongHealth loader and its counts (20 patients, 400 questions); pin "
                 "it with --sha256 longhealth=HEX.",
    ),
    Source(
        name="mednli",
        dest="MedNLI/mli_test_v1.jsonl",
        origin=PhysioNetFile("mednli", "1.0.0", "mli_test_v1.jsonl"),
        group="physionet",
        pin_note="checked against PhysioNet's SHA256SUMS.txt of mednli/1.0.0",
    ),
    Source(
        name="problemsummary",
        dest="ProblemSummary/BioNLP2023-1A-Test.csv",
        origin=PhysioNetFile("bionlp-workshop-2023-task-1a", "2.0.0", "BioNLP2023-1A-Test.csv"),
        group="physionet",
        pin_note="checked against PhysioNet's SHA256SUMS.txt of bionlp-workshop-2023-task-1a/2.0.0",
    ),
    Source(
        name="medisumqa",
        dest="MeDiSumQA/MeDiSumQA.json",
        origin=PhysioNetFile("medisumqa", "1.0.0", "MeDiSumQA.json"),
        group="physionet",
        pin_note="checked against PhysioNet's SHA256SUMS.txt of medisumqa/1.0.0. The file's name in "
                 "that project is clue's assumption; when the project lists no such file, fetch names "
                 "the files it has (set one with --physionet-file medisumqa=PATH).",
    ),
    Source(
        name="mimic-iv-diagnoses",
        dest="mimic-iv/hosp/diagnoses_icd.csv.gz",
        origin=PhysioNetFile("mimiciv", "2.2", "hosp/diagnoses_icd.csv.gz"),
        group="mimic",
        pin_note="checked against PhysioNet's SHA256SUMS.txt of mimiciv/2.2",
    ),
    Source(
        name="mimic-iv-note-discharge",
        dest="mimic-iv-note/note/discharge.csv.gz",
        origin=PhysioNetFile("mimic-iv-note", "2.2", "note/discharge.csv.gz"),
        group="mimic",
        pin_note="checked against PhysioNet's SHA256SUMS.txt of mimic-iv-note/2.2",
    ),
)

SOURCE_NAMES = tuple(s.name for s in SOURCES)


def get_source(name: str) -> Source:
    for source in SOURCES:
        if source.name == name:
            return source
    raise ConfigError(f"unknown data source {name!r}; known: {', '.join(SOURCE_NAMES)}")


def parse_assignments(values: list[str] | tuple[str, ...], what: str) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` -> {name: value}; names must be known sources."""
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(f"{what}: expected NAME=VALUE, got {item!r}")
        get_source(name)
        out[name] = value
    return out


def with_overrides(
    sources: tuple[Source, ...], sha256: Mapping[str, str] | None = None, remote_paths: Mapping[str, str] | None = None
) -> tuple[Source, ...]:
    """The sources with pins (``--sha256 NAME=HEX``) and PhysioNet file paths (``--physionet-file``) set."""
    sha256 = {k: v.lower() for k, v in (sha256 or {}).items()}
    remote_paths = dict(remote_paths or {})
    for name, digest in sha256.items():
        if not _SHA256.fullmatch(digest):
            raise ConfigError(f"--sha256 {name}: expected 64 hex digits, got {digest!r}")
    out = []
    for source in sources:
        if source.name in sha256:
            source = replace(source, sha256=sha256[source.name], pinned_by="the --sha256 setting")
        if source.name in remote_paths:
            if not isinstance(source.origin, PhysioNetFile):
                raise ConfigError(f"--physionet-file {source.name}: not a PhysioNet file")
            path = str(PurePosixPath(remote_paths[source.name]))
            if path.startswith("/") or ".." in PurePosixPath(path).parts:
                raise ConfigError(f"--physionet-file {source.name}: expected a path inside the project, got {path!r}")
            source = replace(source, origin=replace(source.origin, path=path))
        out.append(source)
    return tuple(out)
