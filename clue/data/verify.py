"""``clue data verify``: is each data set's file there, well formed, complete and the published one?

Per data set (the six CLUE tasks; LongHealth's three tasks share one file): present; well formed
(the task's own loader, whose errors name file, line and field); its record counts against the
published sizes; its sha256 against clue's pin or the one ``clue data fetch`` recorded after checking
it against PhysioNet's list; and whether it is the synthetic look-alike shipped with clue. A file is
*usable* when it loads and, unless it is a synthetic demo file, has the published counts and no
sha256 mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clue.data.manifest import ManifestEntry, read_manifest
from clue.data.readers import sha256_file
from clue.errors import ClueError, ConfigError
from clue.pipeline import is_synthetic
from clue.records import Example
from clue.tasks import longhealth, medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue.tasks.base import Task

Counter = Callable[[Sequence[Example]], dict[str, int]]

OK = "ok"
SYNTHETIC = "synthetic"
MISSING = "missing"
MALFORMED = "malformed"
WRONG_SIZE = "wrong size"
SHA_MISMATCH = "sha256 mismatch"


def _records(examples: Sequence[Example]) -> dict[str, int]:
    return {"records": len(examples)}


def _patients_and_questions(examples: Sequence[Example]) -> dict[str, int]:
    return {"patients": len({ex.fields["patient"] for ex in examples}), "questions": len(examples)}


@dataclass(frozen=True)
class DataSet:
    name: str  # as --task and the fetch sources name it
    task: Task  # a task that reads this file (its loader and data path)
    published: Mapping[str, tuple[int, ...]]  # count name -> the published size(s)
    count: Counter = _records
    command: str = "python -m clue data fetch DIR"  # how clue gets it

    @property
    def display_name(self) -> str:
        return self.task.display_name.removesuffix(" Task 1")


_CREDENTIALED = "python -m clue data fetch DIR --physionet-user NAME"
_BUILD = (
    "python -m clue data fetch DIR --physionet-user NAME --mimic, then python -m clue data build medisumcode "
    "--mimic-iv-hosp DIR/mimic-iv/hosp --mimic-iv-note DIR/mimic-iv-note/note -o DIR/MeDiSumCode/MeDiSumCode.json"
)

DATA_SETS: tuple[DataSet, ...] = (
    DataSet("mednli", mednli.TASK, {"records": (1422,)}, command=_CREDENTIALED),
    DataSet("meqsum", meqsum.TASK, {"records": (1000,)}),
    DataSet("problemsummary", problem_summary.TASK, {"records": (237,)}, command=_CREDENTIALED),
    DataSet("medisumcode", medisumcode.TASK, {"records": (500,)}, command=_BUILD),
    DataSet("medisumqa", medisumqa.TASK, {"records": (416, 500)}, command=_CREDENTIALED),  # curated / as generated
    DataSet("longhealth", longhealth.TASK1, {"patients": (20,), "questions": (400,)}, _patients_and_questions),
)


@dataclass(frozen=True)
class Check:
    name: str
    display_name: str
    path: Path
    status: str  # OK, SYNTHETIC, MISSING, MALFORMED, WRONG_SIZE or SHA_MISMATCH
    detail: str
    counts: Mapping[str, int] = field(default_factory=dict)
    published: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    sha256: str | None = None
    sha256_check: str = ""  # what the sha256 was compared with, and the outcome

    @property
    def usable(self) -> bool:
        return self.status in (OK, SYNTHETIC)

    def as_json(self) -> dict[str, object]:
        return {
            "data_set": self.name,
            "file": str(self.path),
            "status": self.status,
            "usable": self.usable,
            "detail": self.detail,
            "counts": dict(self.counts),
            "published": {k: list(v) for k, v in self.published.items()},
            "sha256": self.sha256,
            "sha256_check": self.sha256_check,
        }


def select_data_sets(names: Iterable[str] = ()) -> list[DataSet]:
    """Data sets by name (a LongHealth task name selects LongHealth); empty = all six."""
    wanted = [n.strip().lower() for n in names if n.strip()]
    if not wanted:
        return list(DATA_SETS)
    chosen: set[str] = set()
    for name in wanted:
        matches = [d.name for d in DATA_SETS if name in (d.name, d.task.group) or name.startswith(f"{d.name}_")]
        if not matches:
            raise ConfigError(f"unknown data set {name!r}; known: {', '.join(d.name for d in DATA_SETS)}")
        chosen.update(matches)
    return [d for d in DATA_SETS if d.name in chosen]


def data_set(name: str) -> DataSet:
    return select_data_sets([name])[0]


def _fmt_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{v:,} {k}" for k, v in counts.items())


def _fmt_published(published: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{' or '.join(f'{n:,}' for n in v)} {k}" for k, v in published.items())


def check_data_set(
    ds: DataSet,
    data_dir: Path,
    *,
    pin: str | None = None,
    pin_source: str = "clue's pin",
    recorded: ManifestEntry | None = None,
) -> Check:
    """The check of one data set's file under ``data_dir``. ``pin``: the sha256 its bytes must have;
    ``recorded``: the manifest entry ``clue data fetch`` wrote for it."""
    path = ds.task.data_path(data_dir)
    base = {"name": ds.name, "display_name": ds.display_name, "path": path, "published": ds.published}
    if not path.is_file():
        return Check(**base, status=MISSING, detail=f"not found. With clue: {ds.command}. By hand: {ds.task.how_to_obtain}")
    try:
        digest = sha256_file(path)
        examples = ds.task.load(path)
    except (ClueError, OSError) as exc:
        return Check(**base, status=MALFORMED, detail=str(exc))
    counts = ds.count(examples)
    synthetic = is_synthetic(ds.task, path, digest)
    sha_check, sha_ok = _sha256_check(digest, pin, pin_source, recorded)
    common = {**base, "counts": counts, "sha256": digest, "sha256_check": sha_check}
    if synthetic:
        return Check(**common, status=SYNTHETIC, detail=(
            f"{_fmt_counts(counts)}: the synthetic look-alike shipped with clue (published: "
            f"{_fmt_published(ds.published)}); its scores measure nothing about a model"
        ))
    if not sha_ok:
        return Check(**common, status=SHA_MISMATCH, detail=f"{_fmt_counts(counts)}; {sha_check}")
    wrong = [k for k, v in counts.items() if v not in ds.published.get(k, (v,))]
    if wrong:
        return Check(**common, status=WRONG_SIZE, detail=(
            f"{_fmt_counts(counts)}, but the published data set has {_fmt_published(ds.published)}: "
            "the file is incomplete (truncated?) or another release"
        ))
    return Check(**common, status=OK, detail=f"{_fmt_counts(counts)} (as published); {sha_check}")


def _sha256_check(
    digest: str, pin: str | None, pin_source: str, recorded: ManifestEntry | None
) -> tuple[str, bool]:
    if pin:
        if digest == pin.lower():
            return f"sha256 matches {pin_source}", True
        return f"sha256 {digest} does not match {pin_source} {pin.lower()}", False
    if recorded is not None:
        if digest != recorded.sha256:
            return f"sha256 {digest} differs from the one clue data fetch recorded: the file changed since", False
        if recorded.checked_against == "nothing":
            return "sha256 unchanged since clue data fetch (not pinned)", True
        return f"sha256 matches the one clue data fetch checked against {recorded.checked_against}", True
    return "sha256 not pinned", True


def verify(
    data_dir: Path, names: Iterable[str] = (), *, pins: Mapping[str, str] | None = None
) -> list[Check]:
    """Checks of the selected data sets (default all six). ``pins``: data set -> sha256 (clue's
    pins from ``clue.data.sources`` plus any given with ``--sha256``)."""
    from clue.data.sources import SOURCES

    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    clue_pins = {s.name: s.sha256 for s in SOURCES if s.sha256}
    given = dict(pins or {})
    checks = []
    for ds in select_data_sets(names):
        pin = given.get(ds.name) or clue_pins.get(ds.name)
        source = "the --sha256 setting" if ds.name in given else "clue's pin"
        recorded = manifest.get(ds.task.data_file)
        checks.append(check_data_set(ds, data_dir, pin=pin, pin_source=source, recorded=recorded))
    return checks
