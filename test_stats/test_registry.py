"""The model registry: shipped entries, overrides from pyproject and files, path resolution, errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from clue.errors import ConfigError
from clue.models.registry import CHAT_STYLES, ENGINES, ModelSpec, Registry, load_registry

PUBLISHED = Path(__file__).resolve().parents[1] / "clue" / "data" / "published"

# the pairs of Dada et al., GEM 2025, Table 3, with the base that paper names
GEM_PAIRS = {
    "meditron-7b": "llama-2-7b",
    "meditron-70b": "llama-2-70b",
    "biomistral": "mistral-7b-v0.1",
    "biomistral-dare": "mistral-7b-v0.1",
    "internist-7b": "mistral-7b-v0.1",
    "openbiollm-8b": "llama-3-8b",
    "openbiollm-70b": "llama-3-70b",
    "med42-8b": "llama-3-8b",
    "med42-70b": "llama-3-70b",
    "aloe-8b-alpha": "llama-3-8b",
    "meditron3-8b": "llama-3.1-8b",
    "meditron3-70b": "llama-3.1-70b",
}
# the other pairing of the same weights: the model card's base, JAMIA 2025's and clue's CLUE 2024 pairing
OTHER_PAIRS = {
    "biomistral-vs-instruct": ("biomistral", "mistral-7b-instruct-v0.1"),
    "biomistral-dare-vs-instruct": ("biomistral-dare", "mistral-7b-instruct-v0.1"),
    "openbiollm-8b-vs-instruct": ("openbiollm-8b", "llama-3-8b-instruct"),
    "openbiollm-70b-vs-instruct": ("openbiollm-70b", "llama-3-70b-instruct"),
    "med42-8b-vs-instruct": ("med42-8b", "llama-3-8b-instruct"),
    "med42-70b-vs-instruct": ("med42-70b", "llama-3-70b-instruct"),
    "aloe-8b-alpha-vs-instruct": ("aloe-8b-alpha", "llama-3-8b-instruct"),
}
CLUE_ONLY_PAIRS = {
    "jsl-medllama-3-8b-v1.0": "llama-3-8b-instruct",
    "jsl-medllama-3-8b-v2.0": "llama-3-8b-instruct",
    "jsl-med-sft-llama-3-8b": "llama-3-8b-instruct",
    "clinicalcamel-70b": "llama-2-70b-chat",
}
BASE_WEIGHTS = {
    "llama-3-8b": "meta-llama/Meta-Llama-3-8B", "llama-3-70b": "meta-llama/Meta-Llama-3-70B",
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B", "llama-3.1-70b": "meta-llama/Llama-3.1-70B",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_shipped_pairs_and_hub_ids(registry: Registry) -> None:
    for model, base in {**GEM_PAIRS, **CLUE_ONLY_PAIRS}.items():
        assert registry.get(model).base == base, model
        assert registry.get(model).alternative_of is None
    for alias, (primary, base) in OTHER_PAIRS.items():
        spec = registry.get(alias)
        assert (spec.alternative_of, spec.base, spec.weights) == (primary, base, registry.get(primary).weights), alias
        assert spec.chat == registry.get(primary).chat and spec.engine == registry.get(primary).engine
    for alias, weights in BASE_WEIGHTS.items():
        assert (registry.get(alias).weights, registry.get(alias).chat) == (weights, "plain")
    assert registry.get("med42-8b").weights == "m42-health/Llama3-Med42-8B"
    assert registry.get("meditron3-70b").weights == "OpenMeditron/Meditron3-70B"
    assert registry.get("biomistral").weights == "BioMistral/BioMistral-7B"
    assert registry.get("mistral-7b-instruct-v0.1").weights == "mistralai/Mistral-7B-Instruct-v0.1"
    assert registry.get("openbiollm-8b").weights == "aaditya/Llama3-OpenBioLLM-8B"
    assert registry.get("llama-3-8b-instruct").weights == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert registry.get("mistral-7b-instruct-v0.1").chat == "nosystem"
    assert registry.get("llama-2-7b").chat == "plain"


def test_local_aliases(registry: Registry) -> None:
    demo, demo_base = registry.get("demo"), registry.get("demo-base")
    assert (demo.weights, demo.base, demo.engine) == ("demo", "demo-base", "hf")
    assert demo_base.weights == "demo-base" and demo_base.base is None
    oracle, degraded = registry.get("oracle"), registry.get("oracle-degraded")
    assert (oracle.engine, oracle.base, oracle.corrupt_fraction) == ("oracle", "oracle", 0.0)
    assert (degraded.engine, degraded.base, degraded.corrupt_fraction) == ("oracle", "oracle", 0.3)


def test_every_entry_is_valid_and_every_base_exists(registry: Registry) -> None:
    assert len(registry) >= 20
    for alias in registry:
        spec = registry.get(alias)
        assert isinstance(spec, ModelSpec) and spec.alias == alias and spec.weights
        assert spec.chat in CHAT_STYLES and spec.engine in ENGINES
        if spec.base:
            assert spec.base in registry, f"{alias}: base {spec.base} not registered"
        for metrics in spec.thresholds.values():
            assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_published_names_exist_in_the_shipped_results(registry: Registry) -> None:
    files = sorted(PUBLISHED.glob("*.json")) if PUBLISHED.is_dir() else []
    if not files:
        pytest.skip("no published results shipped with the package")
    names: set[str] = set()
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8"))
        names |= set(data.get("level_scores", {}))
        for per_model in data.get("tasks", {}).values():
            names |= set(per_model)
    for alias in registry:
        published = registry.get(alias).published
        if published:
            assert published in names, f"{alias}: published name {published!r} not in the results file"


def test_specs_are_frozen_and_serialisable(registry: Registry) -> None:
    spec = registry.get("biomistral")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.base = "x"  # type: ignore[misc]
    json.dumps(dataclasses.asdict(spec))


def test_unknown_alias_lists_known_aliases(registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        registry.resolve("no-such-model")
    message = str(info.value)
    assert "no-such-model" in message and "biomistral" in message and "demo" in message
    assert "[tool.clue.models." in message
    with pytest.raises(ConfigError, match="Known aliases"):
        registry.get("nope")


def test_resolve_by_registered_weights_id(registry: Registry) -> None:
    assert registry.resolve("BioMistral/BioMistral-7B").alias == "biomistral"
    # two entries share these weights; the hub id finds the primary one, never the alternative
    assert registry.resolve("aaditya/Llama3-OpenBioLLM-8B").alias == "openbiollm-8b"


def test_model_card_bases_that_differ_are_commented_in_the_registry() -> None:
    text = (Path(__file__).resolve().parents[1] / "clue" / "models" / "models.toml").read_text(encoding="utf-8")
    for alias in ("biomistral", "biomistral-dare", "openbiollm-70b", "med42-8b", "med42-70b"):
        block = text[text.index(f"[models.{alias}]"):]
        base_line = next(line for line in block.splitlines() if line.startswith("base ="))
        assert "GEM 2025 Table 3" in base_line and "model card" in base_line, alias
        assert f'alternative_of = "{alias}"' in text


@pytest.mark.parametrize(
    "entry, problem",
    [
        ('alternative_of = "nope"', "must name a registered model"),
        ('alternative_of = "biomistral"', "same weights"),
        ("alternative_of = 3", "must be a string"),
    ],
)
def test_alternative_of_is_checked(entry: str, problem: str, tmp_path: Path) -> None:
    extra = tmp_path / "extra.toml"
    extra.write_text(f'[models.mine]\nweights = "org/other"\nbase = "llama-3-8b"\n{entry}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):  # checked when a run uses the entry
        load_registry([extra]).get("mine")


def test_local_folder_becomes_an_ad_hoc_spec(registry: Registry, tmp_path: Path) -> None:
    ckpt = tmp_path / "my-checkpoint"
    ckpt.mkdir()
    spec = registry.resolve(str(ckpt), base_override="llama-3-8b-instruct")
    assert spec.alias == "my-checkpoint"
    assert Path(spec.weights) == ckpt.resolve()
    assert spec.base == "llama-3-8b-instruct"
    assert (spec.engine, spec.chat) == ("hf", "auto")
    assert registry.resolve(str(ckpt)).base is None


def test_folder_named_like_an_alias_keeps_its_path(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    spec = registry.resolve(str(folder))
    assert spec.alias == str(folder) and spec.alias != "demo"


def test_base_override(registry: Registry, tmp_path: Path) -> None:
    assert registry.resolve("biomistral", base_override="llama-3-8b-instruct").base == "llama-3-8b-instruct"
    base_dir = tmp_path / "base-ckpt"
    base_dir.mkdir()
    spec = registry.resolve("demo", base_override=str(base_dir))
    assert registry.resolve(spec.base).alias == "base-ckpt"
    with pytest.raises(ConfigError, match="unknown model 'missing-base'"):
        registry.resolve("demo", base_override="missing-base")


def test_override_and_extend_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        """
[project]
name = "x"

[tool.clue.models.my-ft]
weights = "org/my-finetune"
revision = "abc123"
base = "llama-3-8b-instruct"
thresholds = { mednli = { accuracy = 0.7 } }

[tool.clue.models.biomistral]
revision = "v1"
thresholds = { meqsum = { rougeL = 0.2 } }
options = { dtype = "float16" }
""",
        encoding="utf-8",
    )
    reg = load_registry(pyproject=pyproject)
    ft = reg.get("my-ft")
    assert (ft.weights, ft.revision, ft.base) == ("org/my-finetune", "abc123", "llama-3-8b-instruct")
    assert ft.thresholds == {"mednli": {"accuracy": 0.7}}
    bio = reg.get("biomistral")
    assert bio.revision == "v1" and bio.weights == "BioMistral/BioMistral-7B"  # other fields kept
    assert bio.thresholds == {"meqsum": {"rougeL": 0.2}} and bio.options == {"dtype": "float16"}
    assert load_registry(pyproject=tmp_path / "absent.toml").get("biomistral").revision is None


@pytest.mark.parametrize(
    "text",
    [
        '[models.my-ft]\nweights = "org/ft"\nbase = "demo"\nthresholds = { meqsum = { rougeL = 0.3 } }\n',
        '[my-ft]\nweights = "org/ft"\nbase = "demo"\nthresholds = { meqsum = { rougeL = 0.3 } }\n',
        '[tool.clue.models.my-ft]\nweights = "org/ft"\nbase = "demo"\nthresholds = { meqsum = { rougeL = 0.3 } }\n',
    ],
)
def test_extend_from_a_file(tmp_path: Path, text: str) -> None:
    f = tmp_path / "models.toml"
    f.write_text(text, encoding="utf-8")
    spec = load_registry([f]).get("my-ft")
    assert (spec.weights, spec.base, spec.thresholds) == ("org/ft", "demo", {"meqsum": {"rougeL": 0.3}})


def test_file_wins_over_pyproject_and_thresholds_merge(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.clue.models.demo]\nthresholds = { mednli = { accuracy = 0.1 }, meqsum = { rougeL = 0.1 } }\n',
        encoding="utf-8",
    )
    extra = tmp_path / "extra.toml"
    extra.write_text('[models.demo]\nbase = ""\nthresholds = { mednli = { accuracy = 0.2 } }\n', encoding="utf-8")
    demo = load_registry([extra], pyproject=pyproject).get("demo")
    assert demo.thresholds == {"mednli": {"accuracy": 0.2}, "meqsum": {"rougeL": 0.1}}
    assert demo.base is None  # base = "" removes the base


@pytest.mark.parametrize(
    "text,match",
    [
        ('[models.x]\nweights = "a/b"\nchat = "fancy"\n', "chat"),
        ('[models.x]\nweights = "a/b"\nengine = "tgi"\n', "engine"),
        ('[models.x]\nweights = "a/b"\ncolour = "red"\n', "unknown field"),
        ('[models.x]\nweights = "a/b"\nthresholds = { mednli = { accuracy = 70 } }\n', "thresholds.mednli.accuracy"),
        ('[models.x]\nweights = "a/b"\nbase = "nowhere"\n', "base 'nowhere'"),
        ('[models.x]\nbase = "demo"\n', "weights"),
        ('[models.x]\nweights = "a/b"\ncorrupt_fraction = 2\n', "corrupt_fraction"),
        ("[models.x\n", "invalid TOML"),
    ],
)
def test_invalid_entries_name_file_and_field(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        load_registry([f]).resolve("x")  # an entry is checked when a run uses it
    assert "bad.toml" in str(info.value)


def test_a_broken_entry_blocks_only_the_runs_that_use_it(tmp_path: Path) -> None:
    f = tmp_path / "mixed.toml"
    f.write_text(
        '[models.broken]\nweights = "a/b"\ncolour = "red"\n'
        '[models.orphan]\nweights = "a/c"\nbase = "nowhere"\n'
        '[models.good]\nweights = "a/d"\nbase = "demo"\n',
        encoding="utf-8",
    )
    registry = load_registry([f])
    assert registry.resolve("good").base == "demo"
    assert registry.resolve("demo").base == "demo-base"
    assert "broken" in registry and "broken" in registry.aliases
    with pytest.raises(ConfigError, match="unknown field"):
        registry.resolve("broken")
    with pytest.raises(ConfigError, match="base 'nowhere'"):
        registry.get("orphan")


@pytest.mark.parametrize(
    "text,model,cycle",
    [
        ('[models.a]\nweights = "x/a"\nbase = "b"\n[models.b]\nweights = "x/b"\nbase = "a"\n', "a", "a -> b -> a"),
        ('[models.a]\nweights = "x/a"\nbase = "b"\n[models.b]\nweights = "x/b"\nbase = "c"\n'
         '[models.c]\nweights = "x/c"\nbase = "b"\n', "a", "b -> c -> b"),
        ('[models.a]\nweights = "x/a"\nbase = "x/b"\n[models.b]\nweights = "x/b"\nbase = "a"\n', "b", "b -> a -> b"),
    ],
)
def test_base_cycles_are_refused_naming_the_cycle(tmp_path: Path, text: str, model: str, cycle: str) -> None:
    f = tmp_path / "cycle.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="cycle") as info:
        load_registry([f]).resolve(model)
    assert cycle in str(info.value) and "cycle.toml" in str(info.value)


def test_a_model_that_is_its_own_base_is_not_a_cycle(tmp_path: Path) -> None:
    f = tmp_path / "self.toml"
    f.write_text('[models.a]\nweights = "x/a"\nbase = "oracle"\n', encoding="utf-8")
    registry = load_registry([f])
    assert registry.resolve("a").base == "oracle" and registry.resolve("oracle").base == "oracle"


def test_a_base_override_that_closes_a_cycle_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "ft.toml"
    f.write_text('[models.ft]\nweights = "x/ft"\nbase = "ft2"\n[models.ft2]\nweights = "x/ft2"\n', encoding="utf-8")
    registry = load_registry([f])
    assert registry.resolve("ft2", base_override="demo").base == "demo"
    with pytest.raises(ConfigError, match="ft2 -> ft -> ft2"):
        registry.resolve("ft2", base_override="ft")


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_registry([tmp_path / "nope.toml"])
