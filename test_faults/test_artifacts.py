"""What a run leaves on disk: no credentials, no credentialed source text unless --clue-include-text,
one file mode for every report file, and per-item files that ``clue score`` can read back."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fault_runs import clue_run

from clue.pipeline import demo_data_dir, load_task_data
from clue.report.parts import gold_sha256
from clue.tasks.registry import get_task

MIN_TEXT = 20  # characters: a shorter answer ("Yes.") proves nothing by appearing somewhere


def credentialed_texts() -> dict[str, list[str]]:
    """The gold texts of the shipped demo MeDiSumQA and ProblemSummary files, and their source documents."""
    texts: dict[str, list[str]] = {}
    for name in ("medisumqa", "problemsummary"):
        examples = load_task_data(get_task(name), demo_data_dir()).examples
        texts[f"{name} gold"] = [e.reference for e in examples if len(e.reference) >= MIN_TEXT]
    records = json.loads((demo_data_dir() / "MeDiSumQA" / "MeDiSumQA.json").read_text(encoding="utf-8"))
    texts["discharge summaries"] = [
        max((s.strip() for s in r["discharge_summary"].splitlines()), key=len) for r in records
    ]
    return texts


def every_file(*roots: Path) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        out += [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return out


def item_rows(run_dir: Path, model: str, task: str) -> list[dict[str, Any]]:
    path = run_dir / "items" / model / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow  # a demo run (two tiny models) in a subprocess
def test_a_demo_run_leaves_no_token_and_no_credentialed_text(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "sk-clue-fake-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", token)
    monkeypatch.setenv("HF_TOKEN", token)
    junit = pytester.path / "junit.xml"
    run = clue_run(pytester, "--model", "demo", "--task", "medisumqa", "--task", "problemsummary", "--limit", "3",
                   f"--junitxml={junit}", "-rA", "--log-level=DEBUG")
    assert run.ret in (0, 1), run.output
    artifacts = every_file(pytester.path / "reports", junit)
    assert junit in artifacts and run.run_dir / "report.json" in artifacts
    assert run.run_dir / "items" / "demo" / "medisumqa.jsonl" in artifacts
    texts = credentialed_texts()
    assert all(texts.values())
    for path in artifacts:
        content = path.read_bytes()
        assert token.encode() not in content, path
        text = content.decode("utf-8", errors="replace")
        for what, samples in texts.items():
            leaked = [s for s in samples if s in text]
            assert not leaked, (path, what, leaked[:1])
    assert token not in run.output
    for model in ("demo", "demo-base"):
        for task in ("medisumqa", "problemsummary"):
            rows = item_rows(run.run_dir, model, task)
            assert len(rows) == 3
            for row in rows:
                assert not {"gold", "prompt", "reference"} & set(row)
                assert len(row["gold_sha256"]) == 64 and len(row["prompt_sha256"]) == 64


def test_include_text_writes_the_gold_its_hash_matches_and_clue_score_reads_it(pytester: pytest.Pytester) -> None:
    args = ("--model", "oracle", "--task", "meqsum", "--task", "medisumcode", "--task", "medisumqa", "--limit", "3")
    plain = clue_run(pytester, *args, run_id="plain")
    full = clue_run(pytester, *args, "--clue-include-text", run_id="full")
    assert plain.ret == 0 and full.ret == 0
    for task in ("meqsum", "medisumcode"):
        plain_rows = item_rows(plain.run_dir, "oracle", task)
        full_rows = item_rows(full.run_dir, "oracle", task)
        assert [r["gold_sha256"] for r in plain_rows] == [r["gold_sha256"] for r in full_rows]
        assert all(gold_sha256(r["gold"]) == r["gold_sha256"] for r in full_rows)
        assert all({"gold", "prompt", "reference"} <= set(r) for r in full_rows)
    # the texts the demo-run test looks for are the ones --clue-include-text writes
    written = (full.run_dir / "items" / "oracle" / "medisumqa.jsonl").read_text(encoding="utf-8")
    texts = credentialed_texts()
    assert any(s in written for s in texts["medisumqa gold"])
    assert any(s in written for s in texts["discharge summaries"])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    score = [sys.executable, "-m", "clue", "score", "--task", "meqsum", "--no-bertscore"]
    ok = subprocess.run([*score, str(full.run_dir / "items" / "oracle" / "meqsum.jsonl")],
                        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["metrics"]["rougeL"]["mean"] == 100
    refused = subprocess.run([*score, str(plain.run_dir / "items" / "oracle" / "meqsum.jsonl")],
                             capture_output=True, text=True, env=env, timeout=300, check=False)
    assert refused.returncode == 2
    assert "--clue-include-text" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_report_file_gets_the_same_mode(pytester: pytest.Pytester, umask: int) -> None:
    old = os.umask(umask)
    try:
        run = clue_run(pytester, "--model", "oracle", "--task", "meqsum", "--limit", "2")
    finally:
        os.umask(old)
    assert run.ret == 0
    files = every_file(run.run_dir)
    names = {p.name for p in files}
    assert {"report.json", "summary.md", "plot.png", "meqsum.jsonl"} <= names
    modes = {p.relative_to(run.run_dir).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o666 & ~umask}, modes
    assert not [p for p in run.run_dir.rglob(".*.tmp")]  # no temporary file left behind
