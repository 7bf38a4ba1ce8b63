"""Nothing secret or restricted leaves a run: API tokens never reach reports, output or logs; source
documents (MIMIC-derived text may not be redistributed) stay out of the reports unless asked for;
remote model code is never run by default."""

from __future__ import annotations

import inspect
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from clue.pipeline import demo_data_dir

SECRET_VARIABLES = ("HF_TOKEN", "OPENAI_API_KEY", "HUGGING_FACE_HUB_TOKEN")
RUN_ARGS = (
    "-m", "clue", "--model", "oracle", "--clue-no-cache", "--clue-report-dir", "reports", "--clue-run-id", "run",
    "--task", "meqsum", "--task", "medisumqa", "--limit", "3",
)
MIN_SENTENCE = 40  # characters: long enough to be distinctive


def demo_discharge_sentences() -> list[str]:
    """The longest line of each discharge summary of the shipped demo MeDiSumQA file."""
    records = json.loads((demo_data_dir() / "MeDiSumQA" / "MeDiSumQA.json").read_text(encoding="utf-8"))
    sentences = []
    for record in records:
        line = max((s.strip() for s in record["discharge_summary"].splitlines()), key=len)
        assert len(line) >= MIN_SENTENCE
        sentences.append(line)
    answers = " ".join(r["Answer"] + " " + r["Question"] for r in records)
    return [s for s in sentences if s not in answers]  # a sentence quoted in an answer proves nothing


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def item_rows(run_dir: Path, task: str) -> list[dict[str, Any]]:
    path = run_dir / "items" / "oracle" / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow  # a full plugin run in a subprocess
def test_secrets_and_documents_stay_out_of_a_default_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "clue-test-secret-" + secrets.token_hex(16)
    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, secret)
    result = pytester.runpytest_subprocess(*RUN_ARGS, "--log-level=DEBUG", "--log-cli-level=DEBUG", "-rA")
    assert result.ret == 0, result.stdout.str()

    output = result.stdout.str() + result.stderr.str()
    assert "DEBUG" in output or "INFO" in output or "WARNING" in output  # the logs were captured
    assert secret not in output
    run_dir = pytester.path / "reports" / "run"
    written = files_under(pytester.path / "reports")
    assert run_dir / "report.json" in written and run_dir / "items" / "oracle" / "medisumqa.jsonl" in written
    for path in files_under(pytester.path):
        assert secret.encode() not in path.read_bytes(), path

    sentences = demo_discharge_sentences()
    assert sentences
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="replace")
        leaked = [s for s in sentences if s in text]
        assert not leaked, (path, leaked[:1])
    rows = item_rows(run_dir, "medisumqa")
    assert len(rows) == 3
    assert all("prompt" not in row and "reference" not in row and "gold" not in row for row in rows)
    assert all(len(row["gold_sha256"]) == 64 for row in rows)


@pytest.mark.slow  # a full plugin run in a subprocess
def test_include_text_writes_the_documents(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*RUN_ARGS, "--clue-include-text")
    assert result.ret == 0, result.stdout.str()
    run_dir = pytester.path / "reports" / "run"
    rows = item_rows(run_dir, "medisumqa")
    assert rows and all("prompt" in row and "reference" in row for row in rows)
    text = (run_dir / "items" / "oracle" / "medisumqa.jsonl").read_text(encoding="utf-8")
    assert any(s in text for s in demo_discharge_sentences())


def test_remote_code_is_off_by_default(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from clue.config import RunConfig
    from clue.engines import hf
    from clue.engines.factory import build_engine
    from clue.models.registry import ModelSpec

    assert inspect.signature(hf.HFEngine.__init__).parameters["trust_remote_code"].default is False
    assert RunConfig(models=("x",)).trust_remote_code is False
    config = pytester.parseconfig()
    assert config.getoption("--clue-trust-remote-code") is False
    assert pytester.parseconfig("--clue-trust-remote-code").getoption("--clue-trust-remote-code") is True

    seen: dict[str, Any] = {}

    class Recorder:
        def __init__(self, model: str, **kwargs: Any) -> None:
            seen.update(kwargs, model=model)

    monkeypatch.setattr(hf, "HFEngine", Recorder)
    build_engine(ModelSpec(alias="m", weights="org/model", engine="hf"), RunConfig(models=("m",)))
    assert seen["model"] == "org/model" and seen["trust_remote_code"] is False
