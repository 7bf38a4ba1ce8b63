"""``clue-fetch.json`` in the data folder: what ``clue data fetch`` downloaded and how it was checked.

One entry per file (path under the data folder -> sha256, size, source URL, what the sha256 was
checked against). A later fetch trusts a file whose bytes still have the recorded sha256 without
asking the server again (and so without a password); ``clue data verify`` checks it as a pin. No
credentials are ever stored here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from clue.report.atomic import write_json

log = logging.getLogger(__name__)

MANIFEST_NAME = "clue-fetch.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ManifestEntry:
    sha256: str
    size: int
    url: str
    checked_against: str  # "clue's pin", "PhysioNet's SHA256SUMS.txt", "--sha256 setting" or "nothing"


def manifest_path(data_dir: Path) -> Path:
    return Path(data_dir) / MANIFEST_NAME


def read_manifest(data_dir: Path) -> dict[str, ManifestEntry]:
    """The entries, keyed by path under the data folder; {} when there is no (readable) manifest."""
    path = manifest_path(data_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        return {str(k): ManifestEntry(**v) for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s cannot be read (%s); ignoring it", path, exc)
        return {}


def write_manifest(data_dir: Path, entries: Mapping[str, ManifestEntry]) -> None:
    data = {
        "format": FORMAT_VERSION,
        "written_by": "clue data fetch",
        "files": {k: asdict(v) for k, v in sorted(entries.items())},
    }
    write_json(manifest_path(data_dir), data)
