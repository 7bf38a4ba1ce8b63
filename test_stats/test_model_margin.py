"""A registry entry's margin (options.margin, points) applies unless --clue-margin is given."""

from __future__ import annotations

from clue.config import RunConfig
from clue.session import ClueSession


def test_registry_margin_and_the_option_wins(tmp_path) -> None:
    session = ClueSession(RunConfig(models=("demo",), report_dir=tmp_path), run_id="r")
    assert session.gate_for("demo").margin == 0.10
    assert session.gate_for("oracle" if "oracle" in session.specs else "demo-base").margin == 0.0
    given = ClueSession(RunConfig(models=("demo",), report_dir=tmp_path, margin=0.02), run_id="r2")
    assert given.gate_for("demo").margin == 0.02
    assert session.settings_row()["gate"]["margins"] == {"demo": 0.10}
