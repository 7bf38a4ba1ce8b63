"""Crash safety: a run killed with SIGKILL mid-generation resumes from its last finished chunk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
N_REQUESTS, BATCH = 23, 5  # chunks of 5, 5, 5, 5, 3

# A run of generate_with_cache with a slow fake engine. Every generate call appends the request ids
# it was asked for to a log; call number HANG (if > 0) announces itself and then hangs, so the
# parent can kill the process while that chunk is in flight.
_RUN = textwrap.dedent(
    f"""
    import json, sys, time
    from dataclasses import asdict
    from pathlib import Path
    from clue.cache.store import GenerationCache, generate_with_cache
    from clue.records import Completion, Message, Request, Sampling

    cache_arg, out, log, hang = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])

    class SlowEngine:
        name, model_id, chat_style, max_context = "fake", "fake/slow", "plain", 4096
        def __init__(self):
            self.calls = 0
        loaded = property(lambda self: self.calls > 0)
        def render(self, request):
            return request.messages[-1].content
        def identity(self):
            return {{"engine": "fake", "model": self.model_id, "revision": "r1"}}
        def generate(self, requests, sampling, on_complete=None):
            self.calls += 1
            with open(log, "a") as fh:
                fh.write(json.dumps([r.id for r in requests]) + "\\n")
            if self.calls == hang:
                Path(str(log) + ".hanging").write_text("in flight")
                time.sleep(600)
            time.sleep(0.02)
            return [
                Completion(r.id, "answer: " + r.messages[-1].content.upper(), len(r.messages[-1].content), 7, "stop")
                for r in requests
            ]
        def close(self):
            pass

    requests = [
        Request(f"q{{i}}", "meqsum", (Message("user", f"prompt {{i}} " + "x" * i),), 32, reference="")
        for i in range({N_REQUESTS})
    ]
    cache = None if cache_arg == "-" else GenerationCache(Path(cache_arg))
    engine = SlowEngine()
    completions, stats = generate_with_cache(engine, requests, Sampling(), cache, chunk_size={BATCH})
    out.write_text(json.dumps({{"completions": [asdict(c) for c in completions], "stats": asdict(stats)}}))
    """
)


def _command(script: Path, cache: str, out: Path, log: Path, hang: int) -> list[str]:
    return [sys.executable, str(script), cache, str(out), str(log), str(hang)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _run(args: list[str]) -> None:
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _asked(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_run_resumes_with_only_the_unfinished_chunks(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(_RUN)
    cache = tmp_path / "cache" / "generations.sqlite"

    # 1. The run hangs in its third chunk; kill it there (chunks 1 and 2 are finished and stored).
    killed_log = tmp_path / "killed.log"
    proc = subprocess.Popen(
        _command(script, str(cache), tmp_path / "killed.json", killed_log, hang=3),
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = Path(str(killed_log) + ".hanging")
    deadline = time.monotonic() + 120  # a guard against a hung test, not a timing assertion
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before reaching its third chunk: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached its third chunk")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.json").exists()
    asked_before = _asked(killed_log)
    assert [len(chunk) for chunk in asked_before] == [BATCH, BATCH, BATCH]

    # 2. The rerun finds the two finished chunks and generates only the rest.
    rerun_log = tmp_path / "rerun.log"
    _run(_command(script, str(cache), tmp_path / "rerun.json", rerun_log, hang=0))
    rerun = json.loads((tmp_path / "rerun.json").read_text())
    finished_before_kill = {rid for chunk in asked_before[:2] for rid in chunk}
    asked_again = [rid for chunk in _asked(rerun_log) for rid in chunk]
    assert set(asked_again) == {f"q{i}" for i in range(N_REQUESTS)} - finished_before_kill
    assert len(asked_again) == N_REQUESTS - 2 * BATCH  # nothing generated twice within the rerun
    assert rerun["stats"] == {"hits": 2 * BATCH, "misses": N_REQUESTS - 2 * BATCH, "engine_calls": 3, "chunk_size": BATCH}
    for c in rerun["completions"]:
        assert c["cached"] == (c["request_id"] in finished_before_kill)

    # 3. The final completions equal those of an uninterrupted run (without any cache).
    _run(_command(script, "-", tmp_path / "clean.json", tmp_path / "clean.log", hang=0))
    clean = json.loads((tmp_path / "clean.json").read_text())

    def comparable(run: dict) -> list[tuple]:
        return [
            (c["request_id"], c["text"], c["prompt_tokens"], c["completion_tokens"], c["finish_reason"])
            for c in run["completions"]
        ]

    assert comparable(rerun) == comparable(clean)
    assert [c["request_id"] for c in clean["completions"]] == [f"q{i}" for i in range(N_REQUESTS)]


# -- the same with vLLM: its chunks are whole engine calls ----------------------------------------------
_VLLM_RUN = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from clue.cache.store import GenerationCache, generate_with_cache
    from clue.engines.vllm_engine import VLLMEngine
    from clue.records import Message, Request, Sampling

    def main():  # vLLM starts its engine process by spawning: the script's body needs a main guard
        model, cache_path, log, hang = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
        engine = VLLMEngine(model, dtype="float32", enforce_eager=True, kv_cache_memory_bytes=64 * 2**20)
        real, calls = engine.generate, []

        def generate(requests, sampling, on_complete=None):  # logs each chunk; chunk HANG stays in flight
            calls.append(1)
            with open(log, "a") as fh:
                fh.write(json.dumps([r.id for r in requests]) + "\\n")
            if len(calls) == hang:
                Path(log + ".hanging").write_text("in flight")
                time.sleep(600)
            return real(requests, sampling, on_complete)

        engine.generate = generate
        requests = [Request(f"q{i}", "meqsum", (Message("user", f"question {i} " + "why " * i),), 8, "") for i in range(20)]
        _, stats = generate_with_cache(engine, requests, Sampling(), GenerationCache(cache_path), chunk_size=6)
        Path(log + ".stats").write_text(json.dumps([stats.hits, stats.misses, stats.engine_calls]))
        engine.close()

    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.vllm
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is None, reason="vllm is not installed")
def test_a_killed_vllm_run_generates_only_the_chunk_in_flight_again(tmp_path: Path) -> None:
    from clue.models.demo import ensure_demo_model

    model = ensure_demo_model("demo", tmp_path / "models")
    script = tmp_path / "vllm_run.py"
    script.write_text(_VLLM_RUN)
    cache, log = tmp_path / "generations.sqlite", tmp_path / "killed.log"
    # its own process group: the kill takes vLLM's engine process with it, as kill -9 of a job would
    proc = subprocess.Popen([sys.executable, str(script), str(model), str(cache), str(log), "3"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300  # a guard against a hung test, not a timing assertion
    while not Path(str(log) + ".hanging").exists():
        assert proc.poll() is None, "the vLLM run ended before its third chunk"
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the vLLM run never reached its third chunk")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    asked = _asked(log)
    assert [len(c) for c in asked] == [6, 6, 6]
    rerun_log = tmp_path / "rerun.log"
    done = subprocess.run([sys.executable, str(script), str(model), str(cache), str(rerun_log), "0"], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(Path(str(rerun_log) + ".stats").read_text()) == [12, 8, 2]
    again = _asked(rerun_log)
    assert again[0] == asked[2]  # the chunk that was in flight, and nothing finished before it
    assert {rid for chunk in again for rid in chunk}.isdisjoint({rid for chunk in asked[:2] for rid in chunk})
