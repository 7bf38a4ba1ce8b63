"""--clue-protocol end to end: both shipped protocols run the demo, render different prompts, never
share cached generations or scores, and the report says which protocol ran; user protocol files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clue.prompts.protocol import builtin_path


def run(pytester: pytest.Pytester, run_id: str, cache: Path, *args: str) -> tuple[pytest.RunResult, dict, list[dict]]:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-m", "clue", "--model", "demo", "--task", "meqsum", "--task", "medisumcode",
        "--limit", "3", "--clue-max-new-tokens", "8", "--clue-report-dir", "reports", "--clue-run-id", run_id,
        "--clue-cache-dir", str(cache), *args,
    )
    run_dir = pytester.path / "reports" / run_id
    report = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").is_file() else {}
    items_file = run_dir / "items" / "demo" / "meqsum.jsonl"
    items = [json.loads(line) for line in items_file.read_text().splitlines()] if items_file.is_file() else []
    return result, report, items


@pytest.mark.slow
def test_the_two_protocols_run_apart(pytester: pytest.Pytester, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r24, rep24, items24 = run(pytester, "p24", cache, "--clue-protocol", "2024-06")
    assert r24.ret == 0, r24.stdout.str()
    r25, rep25, items25 = run(pytester, "p25", cache, "--clue-protocol", "2025-01")
    assert r25.ret == 0, r25.stdout.str()
    assert rep24["settings"]["protocol"]["id"] == "2024-06" and rep25["settings"]["protocol"]["id"] == "2025-01"
    assert rep24["settings"]["protocol"]["sha256"] != rep25["settings"]["protocol"]["sha256"]
    assert rep24["settings"]["protocol"]["deviations"]  # the fixes clue applies on purpose are listed
    # different prompts (shots and prefixes differ), and the second protocol reused nothing
    assert {i["prompt_sha256"] for i in items24}.isdisjoint({i["prompt_sha256"] for i in items25})
    for part in rep25["tasks"]:
        assert part["cache"]["hits"] == 0, part["task"]
    # the same protocol again: everything from the caches
    r24b, rep24b, _ = run(pytester, "p24b", cache, "--clue-protocol", "2024-06")
    assert r24b.ret == 0
    assert all(p["cache"]["misses"] == 0 for p in rep24b["tasks"])
    # published numbers only beside the protocol they came from
    s24 = (pytester.path / "reports" / "p24" / "summary.md").read_text()
    s25 = (pytester.path / "reports" / "p25" / "summary.md").read_text()
    assert "published" in s24 and "published" not in s25
    assert "Protocol **2024-06**" in s24 and "Protocol **2025-01**" in s25


def test_a_user_protocol_file_runs_and_is_recorded(pytester: pytest.Pytester, tmp_path: Path) -> None:
    text = builtin_path("2025-01").read_text(encoding="utf-8")
    mine = tmp_path / "mine.toml"
    mine.write_text(text.replace('id = "2025-01"', 'id = "terse-questions"').replace(
        "Only write out the question. Do not add any other text.", "Answer with one short question."), encoding="utf-8")
    result, report, items = run(pytester, "mine", tmp_path / "cache", "--clue-protocol-file", str(mine),
                                "--clue-include-text")
    assert result.ret == 0, result.stdout.str()
    assert report["settings"]["protocol"]["id"] == "terse-questions"
    assert not report["settings"]["protocol"]["builtin"]
    assert "Answer with one short question." in items[0]["prompt"][0][1]


def test_a_broken_protocol_file_is_one_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(builtin_path("2024-06").read_text(encoding="utf-8").replace("shots = 3", 'shots = "three"', 1))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "clue", "--model", "demo",
                                           "--clue-protocol-file", str(bad))
    assert result.ret == 4
    err = result.stderr.str()
    assert "tasks.mednli.shots" in err and str(bad) in err and "Traceback" not in err
    both = pytester.runpytest_subprocess("-m", "clue", "--model", "demo", "--clue-protocol", "2024-06",
                                         "--clue-protocol-file", str(bad))
    assert both.ret == 4 and "not both" in both.stderr.str()
