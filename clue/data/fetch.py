"""``clue data fetch``: the public data sets, and with a PhysioNet account the credentialed ones, into
the folder layout ``--clue-data`` expects.

For each file: when it is already there and good (its sha256 matches clue's pin, or the sha256 the
last fetch recorded, or, for an unpinned file, it loads with the published counts) nothing is
downloaded. Else it is downloaded (resumable, atomic, checked against clue's pin or against the
``SHA256SUMS.txt`` PhysioNet publishes for the project) and recorded in ``clue-fetch.json``. The
PhysioNet password is asked for only when a credentialed file must be downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from clue.data.credentials import Credentials
from clue.data.download import (
    AuthenticationError,
    DownloadError,
    NotFoundError,
    download,
    fetch_small,
    http_status_error,
    make_client,
)
from clue.data.manifest import ManifestEntry, read_manifest, write_manifest
from clue.data.physionet import parse_checksums, status_errors
from clue.data.readers import sha256_file
from clue.data.sources import SOURCES, Endpoints, PhysioNetFile, Source
from clue.errors import ConfigError

log = logging.getLogger(__name__)

DOWNLOADED = "downloaded"
PRESENT = "present"
FAILED = "failed"
SKIPPED = "skipped"

PasswordSource = Callable[[], Credentials]


@dataclass(frozen=True)
class FetchSettings:
    endpoints: Endpoints = Endpoints()
    user: str | None = None  # PhysioNet user: without one only the public files are fetched
    mimic: bool = False  # also MIMIC-IV's diagnoses_icd and MIMIC-IV-Note's discharge (MeDiSumCode's inputs)
    only: tuple[str, ...] = ()  # source names; empty = all that the other settings select
    retries: int = 4
    backoff_s: float = 1.0
    progress: bool = True


@dataclass(frozen=True)
class FetchOutcome:
    name: str
    dest: Path
    status: str  # DOWNLOADED, PRESENT, FAILED or SKIPPED
    detail: str
    sha256: str | None = None
    size: int = 0

    @property
    def ok(self) -> bool:
        return self.status in (DOWNLOADED, PRESENT)


def planned_sources(settings: FetchSettings, sources: Sequence[Source] = SOURCES) -> list[Source]:
    """The sources to fetch, public first; ConfigError when a credentialed one is asked for without a user."""
    if settings.only:
        known = {s.name for s in sources}
        unknown = [n for n in settings.only if n not in known]
        if unknown:
            raise ConfigError(f"unknown data source {unknown[0]!r}; known: {', '.join(s.name for s in sources)}")
        chosen = [s for s in sources if s.name in settings.only]
    else:
        groups = {"public"} | ({"physionet"} if settings.user else set()) | ({"mimic"} if settings.mimic else set())
        chosen = [s for s in sources if s.group in groups]
    needs_user = [s.name for s in chosen if s.credentialed]
    if needs_user and not settings.user:
        raise ConfigError(f"{', '.join(needs_user)}: credentialed PhysioNet data; give --physionet-user NAME")
    order = {"public": 0, "physionet": 1, "mimic": 2}
    return sorted(chosen, key=lambda s: order.get(s.group, 3))


class _Session:
    """One fetch run: the client, the credentials (asked for once, when first needed), the checksum
    lists of the PhysioNet projects, and the manifest."""

    def __init__(
        self, data_dir: Path, settings: FetchSettings, client: httpx.Client, password: PasswordSource | None
    ) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.client = client
        self._password = password
        self._credentials: Credentials | None = None
        self._sums: dict[tuple[str, str], dict[str, str] | None] = {}
        self.manifest = read_manifest(data_dir)

    def credentials(self) -> Credentials:
        if self._credentials is None:
            if self._password is None:
                raise ConfigError("no PhysioNet password source")
            self._credentials = self._password()
        return self._credentials

    def checksums(self, origin: PhysioNetFile) -> dict[str, str] | None:
        """The project's SHA256SUMS.txt as {path: sha256}; None when the project publishes none."""
        key = (origin.project, origin.version)
        if key not in self._sums:
            credentials = self.credentials()
            url = origin.checksums_url(self.settings.endpoints)
            try:
                body = fetch_small(self.client, url, credentials=credentials,
                                   errors=status_errors(origin, credentials.user))
            except NotFoundError:
                log.warning("%s/%s publishes no SHA256SUMS.txt; its files are not checked", *key)
                self._sums[key] = None
            else:
                self._sums[key] = parse_checksums(body.decode("utf-8", errors="replace"))
        return self._sums[key]

    def record(self, source: Source, entry: ManifestEntry) -> None:
        self.manifest = {**self.manifest, source.dest: entry}
        write_manifest(self.data_dir, self.manifest)


def existing_good(source: Source, dest: Path, manifest: dict[str, ManifestEntry], data_dir: Path) -> str | None:
    """Why the file already at ``dest`` needs no download, or None when it must be fetched."""
    if not dest.is_file():
        return None
    digest = sha256_file(dest)
    if source.sha256:
        return "sha256 matches the pin" if digest == source.sha256 else None
    entry = manifest.get(source.dest)
    if entry is not None:
        return f"unchanged since fetched (sha256 checked against {entry.checked_against})" if digest == entry.sha256 else None
    from clue.data.verify import OK, check_data_set, select_data_sets

    try:
        (ds,) = select_data_sets([source.name])
    except ConfigError:
        return "present, not checked (no pin, not fetched by clue)"
    check = check_data_set(ds, data_dir)
    return "loads, with the published counts (not pinned)" if check.status == OK else None


def fetch(
    data_dir: Path,
    settings: FetchSettings,
    *,
    sources: Sequence[Source] = SOURCES,
    password: PasswordSource | None = None,
    client: httpx.Client | None = None,
) -> list[FetchOutcome]:
    """Fetch the planned sources into ``data_dir``; one outcome per source, in order."""
    data_dir = Path(data_dir)
    plan = planned_sources(settings, sources)
    own_client = client is None
    session = _Session(data_dir, settings, client or make_client(), password)
    outcomes: list[FetchOutcome] = []
    stop_credentialed = ""
    try:
        for source in plan:
            dest = data_dir / source.dest
            if source.credentialed and stop_credentialed:
                outcomes.append(FetchOutcome(source.name, dest, SKIPPED, stop_credentialed))
                continue
            try:
                outcomes.append(_fetch_one(session, source, dest))
            except AuthenticationError as exc:
                outcomes.append(FetchOutcome(source.name, dest, FAILED, str(exc)))
                stop_credentialed = "not tried: PhysioNet did not accept the credentials"
            except ConfigError as exc:  # no password to be had
                outcomes.append(FetchOutcome(source.name, dest, FAILED, str(exc)))
                stop_credentialed = f"not tried: {exc}"
            except DownloadError as exc:
                outcomes.append(FetchOutcome(source.name, dest, FAILED, str(exc)))
    finally:
        if own_client:
            session.client.close()
    return outcomes


def _fetch_one(session: _Session, source: Source, dest: Path) -> FetchOutcome:
    reason = existing_good(source, dest, session.manifest, session.data_dir)
    if reason is not None:
        return FetchOutcome(source.name, dest, PRESENT, reason, size=dest.stat().st_size)
    settings = session.settings
    url = source.url(settings.endpoints)
    expected = source.sha256
    checked = source.pinned_by
    credentials = None
    errors = http_status_error
    if isinstance(source.origin, PhysioNetFile):
        credentials = session.credentials()
        errors = status_errors(source.origin, credentials.user)
        if expected is None:
            sums = session.checksums(source.origin)
            if sums is None:
                checked = "nothing (the project publishes no SHA256SUMS.txt)"
            elif source.origin.path not in sums:
                listed = ", ".join(sorted(sums)) or "none"
                raise NotFoundError(
                    f"{source.origin.project}/{source.origin.version} lists no file {source.origin.path!r} in its "
                    f"SHA256SUMS.txt; its files: {listed}. Name the right one with --physionet-file "
                    f"{source.name}=PATH", url, 404,
                )
            else:
                expected = sums[source.origin.path]
                checked = "PhysioNet's SHA256SUMS.txt"
    elif expected is None:
        checked = "nothing"
    result = download(
        session.client, url, dest, sha256=expected, credentials=credentials, errors=errors,
        retries=settings.retries, backoff_s=settings.backoff_s, progress=settings.progress, label=source.dest,
    )
    session.record(source, ManifestEntry(sha256=result.sha256, size=result.size, url=url, checked_against=checked))
    resumed = f", resumed at byte {result.resumed_from:,}" if result.resumed_from else ""
    detail = f"{result.size:,} bytes{resumed}; sha256 checked against {checked}"
    if expected is None:
        detail = f"{result.size:,} bytes{resumed}; sha256 {result.sha256} (not pinned: {source.pin_note or 'no pin'})"
    return FetchOutcome(source.name, dest, DOWNLOADED, detail, sha256=result.sha256, size=result.size)
