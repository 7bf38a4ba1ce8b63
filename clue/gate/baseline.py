"""Stored baselines: a previous run's results of the base model, to gate against without running it.

``--clue-baseline PATH`` names a run folder (``reports/<run-id>/``) or its ``report.json``; the base's
per-item scores come from that run's items files (``items/<model>/<task>.jsonl``), paired on item
ids. A baseline is refused, with the reason, when it was made under another protocol, on other
data or with other scorers than this run (``baseline_problems``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue.errors import ConfigError
from clue.gate.family import SideResult

REPORT = "report.json"


@dataclass(frozen=True)
class Baseline:
    """A stored run: where it is, what it is, and its task parts by (model, task)."""

    folder: Path
    run_id: str
    report_sha256: str
    protocol_id: str
    protocol_sha256: str
    models: Mapping[str, Mapping[str, Any]]
    parts: Mapping[tuple[str, str], Mapping[str, Any]]

    def describe(self) -> str:
        return f"baseline run {self.run_id}"

    def record(self, models: Collection[str]) -> dict[str, Any]:
        """What the report says about the baseline, used for the base ``models``."""
        return {
            "path": str(self.folder),
            "run_id": self.run_id,
            "report_sha256": self.report_sha256,
            "protocol": {"id": self.protocol_id, "sha256": self.protocol_sha256},
            "models": sorted(models),
            "tasks": sorted({t for m, t in self.parts if m in models}),
        }


def load_baseline(path: Path) -> Baseline:
    """Read a stored run (its folder or its report.json). ConfigError says what is missing."""
    path = Path(path)
    report_path = path / REPORT if path.is_dir() else path
    if not report_path.is_file():
        raise ConfigError(f"--clue-baseline {path}: no {REPORT} there (give a run folder reports/<run-id>/ or its {REPORT})")
    raw = report_path.read_bytes()
    try:
        report = json.loads(raw)
        protocol = report["settings"]["protocol"]
        parts = {(p["model"], p["task"]): p for p in report["tasks"] if p.get("status") == "ok"}
        baseline = Baseline(
            folder=report_path.parent,
            run_id=str(report["run"]["id"]),
            report_sha256=hashlib.sha256(raw).hexdigest(),
            protocol_id=str(protocol["id"]),
            protocol_sha256=str(protocol["sha256"]),
            models=report.get("models", {}),
            parts=parts,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--clue-baseline {report_path}: not a clue report ({type(exc).__name__}: {exc})") from None
    return baseline


def baseline_problems(
    baseline: Baseline,
    model: str,
    *,
    protocol_sha256: str,
    data_sha256: Mapping[str, str | None],
    scorers: Mapping[str, str],
) -> list[str]:
    """Why ``baseline``'s results of ``model`` cannot serve this run (empty when they can).

    ``data_sha256``: task -> this run's data file sha256 (None when the file is missing here);
    ``scorers``: task -> this run's scorer identity. Tasks the baseline lacks are named too.
    """
    where = f"--clue-baseline {baseline.folder} (run {baseline.run_id})"
    if model not in baseline.models:
        return [f"{where} has no results of {model!r}; it has {', '.join(sorted(baseline.models)) or 'none'}"]
    problems = []
    if baseline.protocol_sha256 != protocol_sha256:
        problems.append(f"{where} was made under protocol {baseline.protocol_id} (sha256 {baseline.protocol_sha256[:12]}), "
                        f"this run uses sha256 {protocol_sha256[:12]}")
    for task, sha in data_sha256.items():
        part = baseline.parts.get((model, task))
        if part is None:
            problems.append(f"{where} has no {task} results of {model}")
            continue
        stored = part.get("data", {}).get("sha256")
        if sha is not None and stored != sha:
            problems.append(f"{where}: {task} was scored on other data ({part.get('data', {}).get('file')} "
                            f"sha256 {str(stored)[:12]}; here sha256 {sha[:12]})")
        if part.get("scorers", "") != scorers.get(task, ""):
            problems.append(f"{where}: {task} was scored with other scorers ({part.get('scorers') or '(none)'}; "
                            f"here {scorers.get(task) or '(none)'})")
    return problems


def _read_items(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--clue-baseline: cannot read the per-item file {path}: {exc}") from None


def baseline_side(baseline: Baseline, model: str, task: str, metrics: Sequence[str] = ()) -> SideResult | None:
    """``model``'s stored results on ``task`` as a ``SideResult`` (None when the baseline lacks them).

    ``metrics``: the metrics to read (default: every metric of the stored rows)."""
    part = baseline.parts.get((model, task))
    if part is None:
        return None
    rows = _read_items(baseline.folder / part["items_file"])
    names = list(metrics) or sorted({k for r in rows for k in r.get("scores", {})})
    scores = {m: {r["id"]: float(r["scores"][m]) for r in rows if r.get("scores", {}).get(m) is not None} for m in names}
    return SideResult(
        model=model,
        task=task,
        scores=scores,
        clusters={r["id"]: r.get("cluster") or r["id"] for r in rows},
        data_sha256=str(part.get("data", {}).get("sha256", "")),
        protocol_sha256=baseline.protocol_sha256,
        scorers=str(part.get("scorers", "")),
        n_truncated=int(part.get("n_truncated", 0)),
        outputs={r["id"]: str(r.get("output", "")) for r in rows},
        origin=baseline.describe(),
    )
