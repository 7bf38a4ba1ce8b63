"""The outcome of a run, from everything that happened in it: PASS, FAIL or INCOMPLETE.

One rule, used for report.json, the first line of summary.md (and so the CI step summary) and the
exit status:

- INCOMPLETE: pytest was interrupted (Ctrl-C, exit status 2), or selected cases did not run
  (``-x`` / ``--maxfail`` stopped the run, a worker died);
- FAIL: anything else that is not a clean pass: a failed check (threshold or regression), a case
  that failed or errored (malformed or unreadable data, a refusal, an engine or cache error), a case
  skipped because its data is missing (unless skips are allowed), no case selected or none that ran
  to a result, or a pytest exit status other than 0;
- PASS: pytest exited 0, every selected case ran, no check failed and no case was skipped for
  missing data (or skips were allowed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PASS = "PASS"
FAIL = "FAIL"
INCOMPLETE = "INCOMPLETE"

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_INTERRUPTED = 2

OUTCOMES = ("passed", "failed", "error", "skipped", "not_run")

# skip categories that leave a check unmade: they fail the run unless skips are allowed
BLOCKING_SKIPS = ("data_missing", "no_comparison")

_CATEGORY_TEXT = {
    "threshold": "below a registry minimum",
    "regression": "worse than the base model",
    "data_error": "data file malformed or unreadable",
    "refused": "credentialed data refused for a remote server",
    "engine_error": "engine error",
    "cache_error": "cache error",
    "crashed": "pytest worker crashed",
    "error": "unexpected error",
    "data_missing": "data file missing",
    "no_comparison": "no comparison with the base possible",
}


@dataclass(frozen=True)
class RunOutcome:
    status: str  # PASS | FAIL | INCOMPLETE
    exit_status: int  # what the process exits with: pytest's, or 1 where pytest said 0 but the run did not pass
    pytest_exit_status: int
    reasons: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_status": self.exit_status,
            "pytest_exit_status": self.pytest_exit_status,
            "reasons": list(self.reasons),
            "counts": dict(self.counts),
        }


def _describe(categories: Counter[str]) -> str:
    return ", ".join(f"{n} {_CATEGORY_TEXT.get(c, c)}" for c, n in sorted(categories.items(), key=lambda kv: -kv[1]))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_outcome(
    *,
    pytest_exit_status: int,
    cases: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Mapping[str, Any]],
    allow_skips: bool = False,
    stop_reason: str | None = None,
) -> RunOutcome:
    """The run's outcome. ``cases``: one record per selected case (``outcome`` one of OUTCOMES and a
    ``category``); ``verdicts``: every check recorded (``kind``, ``passed``)."""
    by_outcome = Counter(str(c.get("outcome")) for c in cases)
    counts = {o: by_outcome.get(o, 0) for o in OUTCOMES}
    counts["selected"] = len(cases)
    counts["checks"] = len(verdicts)
    counts["checks_failed"] = sum(1 for v in verdicts if not v.get("passed"))
    incomplete: list[str] = []
    failing: list[str] = []

    if pytest_exit_status == EXIT_INTERRUPTED:
        incomplete.append(f"pytest was interrupted ({stop_reason})" if stop_reason else "pytest was interrupted")
    not_run = counts["not_run"]
    if not_run:
        why = f" ({stop_reason})" if stop_reason and pytest_exit_status != EXIT_INTERRUPTED else ""
        incomplete.append(f"{not_run} of {_plural(len(cases), 'selected case')} did not run{why}")

    failed_checks = Counter(str(v.get("kind")) for v in verdicts if not v.get("passed"))
    if failed_checks:
        failing.append(f"{_plural(sum(failed_checks.values()), 'check')} failed: {_describe(failed_checks)}")
    broken = Counter(
        str(c.get("category") or "error")
        for c in cases
        if c.get("outcome") in ("failed", "error") and c.get("category") not in ("threshold", "regression")
    )
    if broken:
        failing.append(f"{_plural(sum(broken.values()), 'case')} failed: {_describe(broken)}")
    check_cases = sum(
        1 for c in cases if c.get("outcome") == "failed" and c.get("category") in ("threshold", "regression")
    )
    if check_cases and not failed_checks:  # a check failed whose verdict was not recorded
        failing.append(f"{_plural(check_cases, 'case')} failed a check")
    skipped = Counter(str(c.get("category")) for c in cases if c.get("outcome") == "skipped")
    blocking = Counter({k: v for k, v in skipped.items() if k in BLOCKING_SKIPS})
    if blocking and not allow_skips:
        failing.append(
            f"{_plural(sum(blocking.values()), 'case')} skipped, so not checked: {_describe(blocking)} "
            "(--clue-allow-skips accepts this)"
        )
    if not cases:
        failing.append("no clue case was selected")
    elif counts["passed"] == 0 and not failing and not incomplete:
        failing.append("no selected case ran to a result: every one was skipped")
    if pytest_exit_status not in (EXIT_OK, EXIT_INTERRUPTED) and not failing and not incomplete:
        failing.append(f"pytest exited with status {pytest_exit_status}")

    if incomplete:
        status = INCOMPLETE
    elif failing or pytest_exit_status != EXIT_OK:
        status = FAIL
    else:
        status = PASS
    exit_status = pytest_exit_status
    if status != PASS and exit_status == EXIT_OK:
        exit_status = EXIT_TESTS_FAILED
    return RunOutcome(status, int(exit_status), int(pytest_exit_status), tuple(incomplete + failing), counts)
