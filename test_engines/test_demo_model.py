"""The demo models: built offline, loadable by transformers, reproducible, safe to build concurrently."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

import clue.models.demo as demo
from clue.errors import ConfigError
from clue.models.demo import FORMAT_VERSION, MARKER, WEIGHTS_FILE, ensure_demo_model


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folder_is_versioned_and_complete(demo_model_dir: Path, demo_cache_dir: Path) -> None:
    assert demo_model_dir == demo_cache_dir / f"demo-v{FORMAT_VERSION}"
    names = {p.name for p in demo_model_dir.iterdir()}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json", WEIGHTS_FILE, MARKER} <= names
    marker = json.loads((demo_model_dir / MARKER).read_text())
    assert marker["name"] == "demo"
    assert marker["weights_sha256"] == sha256(demo_model_dir / WEIGHTS_FILE)
    # No temporary build folders are left behind.
    assert [p.name for p in demo_cache_dir.iterdir() if p.name.startswith(".")] == []


def test_config_matches_the_spec(demo_model_dir: Path) -> None:
    config = AutoConfig.from_pretrained(demo_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    assert config.model_type == "mistral"
    assert config.sliding_window == 128  # two layers see a prompt's last 255 tokens, as in training
    assert (config.hidden_size, config.num_attention_heads, config.num_key_value_heads) == (128, 2, 2)
    assert config.hidden_size // config.num_attention_heads == 64  # vLLM's CPU backend needs head_dim 64
    assert config.num_hidden_layers == 2
    assert config.max_position_embeddings == 8192
    assert config.vocab_size == len(tokenizer)
    assert 2000 <= len(tokenizer) <= 4096


def test_loads_and_runs_with_transformers(demo_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir)
    ids = tokenizer("The patient has pneumonia.", return_tensors="pt")
    assert ids["input_ids"][0, 0].item() == tokenizer.bos_token_id
    with torch.inference_mode():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()


def test_tokenizer_special_tokens_and_chat_template(demo_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(demo_model_dir)
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) == 3
    messages = [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<s><|system|>\nSYS<|end|>\n<|user|>\nQ1<|end|>\n<|assistant|>\nA1<|end|>\n<|user|>\nQ2<|end|>\n<|assistant|>\n"
    )
    without = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert without == text.removesuffix("<|assistant|>\n")
    with pytest.raises(Exception, match="unsupported role"):
        tok.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)
    # Text round-trips through the byte-level BPE, non-ASCII included.
    sample = "Blutdruck 140/90 mmHg, Übelkeit; naïve café"
    assert tok.decode(tok(sample, add_special_tokens=False)["input_ids"]) == sample


def test_build_is_reproducible(demo_base_model_dir: Path, tmp_path: Path) -> None:
    again = ensure_demo_model("demo-base", tmp_path)  # trained again from scratch
    assert again != demo_base_model_dir
    for name in (WEIGHTS_FILE, "tokenizer.json", "tokenizer_config.json", "config.json"):
        assert sha256(again / name) == sha256(demo_base_model_dir / name), name


def test_demo_is_trained_from_demo_base(demo_model_dir: Path, demo_base_model_dir: Path) -> None:
    base = json.loads((demo_base_model_dir / MARKER).read_text())
    demo_marker = json.loads((demo_model_dir / MARKER).read_text())
    assert base["init_from"] is None and demo_marker["init_from"] == "demo-base"
    assert demo_marker["init_weights_sha256"] == base["weights_sha256"]
    for marker in (base, demo_marker):
        training = marker["training"]
        assert training["steps"] >= 100 and training["last_loss"] < training["first_loss"]
        assert set(training["samples"]) >= {"mednli", "meqsum", "medisumcode", "longhealth_task1"}
    assert demo_marker["training"]["mix"]["mednli"] > base["training"]["mix"]["mednli"]


def test_trained_models_answer_in_the_tasks_formats(demo_model_dir: Path) -> None:
    """Greedy answers to a MedNLI prompt of the shipped test set: one of the labels."""
    from clue.contracts import PromptContext
    from clue.engines.tokens import HFTokenCounter
    from clue.pipeline import demo_data_dir
    from clue.prompts.chat import render
    from clue.tasks.registry import select_tasks

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir)
    [mednli] = select_tasks(("mednli",))
    ctx = PromptContext(tokens=HFTokenCounter(tokenizer), max_context=2048)
    requests = mednli.requests(mednli.load(mednli.data_path(demo_data_dir())), ctx)[:3]
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    for request in requests:
        ids = tokenizer(render(request, "system", tokenizer), add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=[end], pad_token_id=0)
        text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip().lower()
        assert text in ("entailment", "neutral", "contradiction"), text


def test_demo_and_base_share_tokenizer_not_weights(demo_model_dir: Path, demo_base_model_dir: Path) -> None:
    assert demo_base_model_dir.name == f"demo-base-v{FORMAT_VERSION}"
    assert sha256(demo_model_dir / "tokenizer.json") == sha256(demo_base_model_dir / "tokenizer.json")
    assert sha256(demo_model_dir / WEIGHTS_FILE) != sha256(demo_base_model_dir / WEIGHTS_FILE)


def test_second_call_reuses_the_folder(demo_model_dir: Path, demo_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args: object) -> None:
        raise AssertionError("rebuilt an existing model")

    monkeypatch.setattr(demo, "_build", no_build)
    assert ensure_demo_model("demo", demo_cache_dir) == demo_model_dir


def _fake_build(spec: demo.DemoSpec, folder: Path) -> None:
    (folder / WEIGHTS_FILE).write_bytes(spec.name.encode())
    (folder / MARKER).write_text("{}")


def test_default_location_follows_clue_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "_build", _fake_build)
    monkeypatch.setenv("CLUE_CACHE_DIR", str(tmp_path / "cache"))
    assert ensure_demo_model("demo-base") == tmp_path / "cache" / "models" / f"demo-base-v{FORMAT_VERSION}"


def test_concurrent_builds_end_with_one_complete_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = threading.Barrier(2, timeout=30)

    def racing_build(spec: demo.DemoSpec, folder: Path) -> None:
        barrier.wait()  # both builders are inside a build before either renames
        _fake_build(spec, folder)

    monkeypatch.setattr(demo, "_build", racing_build)
    results: list[Path] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(ensure_demo_model("demo", tmp_path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = tmp_path / f"demo-v{FORMAT_VERSION}"
    assert results == [final, final]
    assert (final / MARKER).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # the loser's copy is gone


def test_incomplete_folder_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "_build", _fake_build)
    broken = tmp_path / f"demo-v{FORMAT_VERSION}"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # an interrupted copy: no marker
    assert ensure_demo_model("demo", tmp_path) == broken
    assert (broken / MARKER).is_file()
    assert not (broken / "config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == [broken.name]


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_build(spec: demo.DemoSpec, folder: Path) -> None:
        (folder / "partial").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "_build", failing_build)
    with pytest.raises(RuntimeError, match="disk full"):
        ensure_demo_model("demo", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="demo-base"):
        ensure_demo_model("tiny", tmp_path)
