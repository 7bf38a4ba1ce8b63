"""PhysioNet specifics: what its HTTP answers mean, and the ``SHA256SUMS.txt`` each project publishes.

PhysioNet serves a project's files at ``<base>/<project>/<version>/<path>`` with HTTPS basic auth:
401 when the user name or password is wrong, 403 when the account may not read the project (not
credentialed, or the project's data use agreement not signed), 404 when there is no such file.
"""

from __future__ import annotations

from clue.data.download import (
    AccessDeniedError,
    AuthenticationError,
    DownloadError,
    NotFoundError,
    StatusErrors,
)
from clue.data.sources import PhysioNetFile


def status_errors(origin: PhysioNetFile, user: str) -> StatusErrors:
    """The error for an HTTP status of a request for ``origin``'s files, naming what to do."""

    def error(status: int, url: str) -> DownloadError:
        project = f"{origin.project}/{origin.version}"
        if status == 401:
            return AuthenticationError(
                f"PhysioNet did not accept the user name or password for {user!r} (HTTP 401 at {url}): check "
                "the password ($PHYSIONET_PASSWORD, ~/.netrc or the prompt) and the user name",
                url, status,
            )
        if status == 403:
            return AccessDeniedError(
                f"PhysioNet account {user!r} has no access to {project} (HTTP 403 at {url}): sign in at "
                f"{origin.page}, complete PhysioNet's credentialing if it asks, and sign this project's data "
                "use agreement first",
                url, status,
            )
        if status == 404:
            return NotFoundError(
                f"not found on PhysioNet: {url} (HTTP 404): the project {project} has no such file "
                "(check --physionet-file and --physionet-base)",
                url, status,
            )
        return DownloadError(f"PhysioNet answered HTTP {status} for {url}", url, status)

    return error


def parse_checksums(text: str) -> dict[str, str]:
    """``SHA256SUMS.txt`` (``sha256sum`` output: ``<hex>  <path>`` per line) -> {path: hex}."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            continue
        digest, path = parts
        path = path.strip().removeprefix("*").removeprefix("./")
        sums[path] = digest.lower()
    return sums
