"""Cache keys: everything that changes an output changes the key; nothing else does."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue.cache.keys import cache_key, canonical_json, sampling_fields
from clue.records import Sampling

IDENTITY = {"engine": "hf", "model": "org/model", "revision": "abc123", "dtype": "bfloat16", "chat_style": "system"}
PROMPT = "<s>[INST] Summarize: my head hurts [/INST]"
GREEDY = Sampling()
SAMPLED = Sampling(temperature=0.7, top_p=0.9, seed=3)


def key(identity=IDENTITY, prompt=PROMPT, sampling=GREEDY, max_new_tokens=512) -> str:
    return cache_key(identity, prompt, sampling, max_new_tokens)


def test_key_is_a_sha256_hex_digest_and_deterministic() -> None:
    k = key()
    assert len(k) == 64 and int(k, 16) >= 0
    assert key() == k


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"identity": {**IDENTITY, "revision": "def456"}}, id="model-revision"),
        pytest.param({"identity": {**IDENTITY, "model": "org/other"}}, id="model-id"),
        pytest.param({"identity": {**IDENTITY, "dtype": "float32"}}, id="engine-setting"),
        pytest.param({"identity": {**IDENTITY, "extra": {"tensor_parallel_size": 2}}}, id="added-setting"),
        pytest.param({"prompt": PROMPT + " "}, id="prompt-trailing-space"),
        pytest.param({"prompt": PROMPT.replace("head", "Head")}, id="prompt-case"),
        pytest.param({"sampling": Sampling(temperature=0.7)}, id="temperature"),
        pytest.param({"max_new_tokens": 511}, id="max-new-tokens"),
    ],
)
def test_each_output_relevant_input_changes_the_key(changed: dict) -> None:
    assert key(**changed) != key()


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"sampling": Sampling(temperature=0.7, top_p=0.5, seed=3)}, id="top_p"),
        pytest.param({"sampling": Sampling(temperature=0.7, top_p=0.9, seed=4)}, id="seed"),
        pytest.param({"sampling": Sampling(temperature=0.8, top_p=0.9, seed=3)}, id="temperature"),
    ],
)
def test_sampled_decoding_keys_on_every_sampling_setting(changed: dict) -> None:
    assert key(**changed) != key(sampling=SAMPLED)


@pytest.mark.parametrize(
    "same",
    [
        pytest.param({"identity": dict(reversed(list(IDENTITY.items())))}, id="identity-key-order"),
        pytest.param({"sampling": Sampling(seed=99)}, id="greedy-seed"),
        pytest.param({"sampling": Sampling(top_p=0.5)}, id="greedy-top_p"),
        pytest.param({"sampling": Sampling(temperature=0)}, id="int-zero-temperature"),
        pytest.param({"sampling": Sampling(max_new_tokens=20)}, id="sampling-default-max-tokens"),
    ],
)
def test_irrelevant_differences_keep_the_key(same: dict) -> None:
    assert key(**same) == key()


def test_greedy_sampling_fields_drop_seed_and_top_p() -> None:
    assert sampling_fields(Sampling(seed=5, top_p=0.3)) == {"temperature": 0.0}
    assert sampling_fields(SAMPLED) == {"temperature": 0.7, "top_p": 0.9, "seed": 3}


def test_paths_and_tuples_have_a_stable_form() -> None:
    a = key(identity={"model": Path("models/x"), "layers": (1, 2)})
    b = key(identity={"model": "models/x", "layers": [1, 2]})
    assert a == b


def test_identity_values_without_a_stable_form_are_refused() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="no stable key"):
        key(identity={"model": Opaque()})
    with pytest.raises(TypeError, match="non-finite"):
        key(identity={"scale": float("nan")})


def test_canonical_json_sorts_keys_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


@given(st.text(max_size=40), st.text(max_size=40))
def test_different_prompts_give_different_keys(p: str, q: str) -> None:
    assert (key(prompt=p) == key(prompt=q)) == (p == q)


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=6), st.randoms())
def test_identity_key_order_never_matters(identity: dict, rng) -> None:
    items = list(identity.items())
    rng.shuffle(items)
    assert key(identity=dict(items)) == key(identity=identity)
