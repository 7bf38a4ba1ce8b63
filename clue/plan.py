"""What a run would do, as text (``--clue-dry-run``): models and weights, the base each is gated
against and where that pairing comes from, the published differences of the pair, the tasks and
whether their data files are there. Nothing is loaded, generated or written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clue.report.published_transfer import pair_cases, pair_deltas

if TYPE_CHECKING:
    from clue.session import ClueSession


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}"


def run_plan(session: ClueSession) -> list[str]:
    lines = [
        f"protocol {session.protocol.id} (sha256 {session.protocol.sha256[:16]}); data folder {session.data_dir}",
        "models:",
    ]
    bases = {p.base for p in session.pairings}
    for alias, spec in session.specs.items():
        role = "base" if alias in bases and alias not in {p.model for p in session.pairings} else "model"
        lines.append(f"  {alias}: {spec.weights} ({role}; engine {session.config.engine or spec.engine}, chat {spec.chat})")
        base = session.base_of(alias)
        if base is None:
            continue
        base_spec = session.specs[base]
        gem = pair_deltas(spec.weights, base_spec.weights)
        cases = pair_cases(spec.weights, base_spec.weights)
        if session.config.base:
            origin = "--base"
        elif gem or cases:
            origin = f"the pairing of {gem.source if gem else cases[0].source}"
        else:
            origin = "the registry's pairing"
        lines.append(f"    gated against {base} ({base_spec.weights}): {origin}")
        if gem:
            lines.append(f"    published ({gem.source}, {gem.model} vs {gem.base}): MCQA {_signed(gem.mcqa)}, "
                         f"CLUE Level 1 {_signed(gem.level1)}, CLUE Level 2 {_signed(gem.level2)}")
        for c in cases:
            lines.append(f"    published ({c.source}): {c.challenge} {c.accuracy:.1f} vs {c.base_accuracy:.1f} ({c.model} vs {c.base})")
        others = [s for s in session.registry.models.values()
                  if s.weights == spec.weights and s.alias != alias and s.base and s.base != base]
        for other in others:
            lines.append(f"    also registered: {other.alias}, gated against {other.base}")
    lines.append(f"tasks ({len(session.tasks)}):")
    for task in session.tasks:
        path = task.data_path(session.data_dir)
        lines.append(f"  {task.name} [{task.suite}]: {task.data_file} {'found' if path.is_file() else 'MISSING'}")
    return lines
