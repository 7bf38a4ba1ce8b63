"""Task declarations and the demo data shipped with clue (real MeQSum, synthetic look-alikes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import simple_icd_10_cm as icd

from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary

MODULES = (mednli, meqsum, problem_summary, medisumqa, medisumcode)

EXPECTED = {
    # name: (display name, data file, credentialed, shots, max new tokens, level metrics)
    "mednli": ("MedNLI", "MedNLI/mli_test_v1.jsonl", True, 3, 20, ("accuracy",)),
    "meqsum": (
        "MeQSum", "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx", False, 3, 512,
        ("rougeL", "rouge1", "rouge2", "bertscore_f1"),
    ),
    "problemsummary": (
        "ProblemSummary", "ProblemSummary/BioNLP2023-1A-Test.csv", True, 3, 512,
        ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1"),
    ),
    "medisumqa": (
        "MeDiSumQA", "MeDiSumQA/MeDiSumQA.json", True, 1, 512,
        ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1"),
    ),
    "medisumcode": (
        "MeDiSumCode", "MeDiSumCode/MeDiSumCode.json", True, 1, 512,
        ("icd_exact_f1", "icd_approx_f1", "icd_valid_ratio"),
    ),
}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_task_declaration(module) -> None:
    task = module.TASK
    display, data_file, credentialed, shots, new_tokens, level_metrics = EXPECTED[task.name]
    assert (task.display_name, task.data_file, task.credentialed) == (display, data_file, credentialed)
    assert (task.n_shots, task.max_new_tokens, task.level_metrics) == (shots, new_tokens, level_metrics)
    assert set(task.level_metrics) <= set(task.metrics)
    assert task.level == (1 if task.name in ("mednli", "meqsum", "problemsummary") else 2)
    assert ("physionet.org" in task.how_to_obtain) == credentialed
    if task.name == "meqsum":
        assert "github.com/abachaa/MeQSum" in task.how_to_obtain


@pytest.mark.parametrize(
    "module, count, first_id",
    [
        (mednli, 108, None),
        (meqsum, 1000, "1-131188152.xml.txt"),
        (problem_summary, 72, "190007"),
        (medisumqa, 70, None),
        (medisumcode, 74, "29000101"),
    ],
    ids=lambda v: getattr(v, "NAME", None),
)
def test_demo_file_loads(module, count: int, first_id: str | None, demo_dir: Path) -> None:
    examples = module.TASK.load(module.TASK.data_path(demo_dir))
    assert len(examples) == count
    assert len({e.id for e in examples}) == count
    assert all(e.task == module.NAME and e.reference for e in examples)
    assert [e.source_line for e in examples] == sorted(e.source_line for e in examples)
    if first_id is not None:
        assert examples[0].id == first_id


def test_demo_mednli_has_every_original_key(demo_dir: Path) -> None:
    keys = {"pairID", "gold_label", "sentence1", "sentence2", "sentence1_parse", "sentence2_parse",
            "sentence1_binary_parse", "sentence2_binary_parse"}
    lines = (demo_dir / "MedNLI" / "mli_test_v1.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert all(set(r) == keys for r in records)
    labels = [r["gold_label"] for r in records]
    assert {label: labels.count(label) for label in set(labels)} == {"entailment": 36, "neutral": 36, "contradiction": 36}
    examples = mednli.load(demo_dir / "MedNLI" / "mli_test_v1.jsonl")
    assert [e.id for e in examples] == [r["pairID"] for r in records]
    assert [e.reference for e in examples] == [r["gold_label"].upper() for r in records]


def test_demo_meqsum_is_the_real_file(demo_dir: Path) -> None:
    examples = meqsum.load(demo_dir / meqsum.TASK.data_file)
    assert examples[0].reference == "Who manufactures cetirizine?"
    assert examples[0].fields["chq"].startswith("SUBJECT: who and where to get cetirizine")
    assert examples[0].source_line == 2
    assert (demo_dir / "MeQSum" / "README.md").is_file()
    assert "CC BY 4.0" in (demo_dir / "MeQSum" / "SOURCE.txt").read_text(encoding="utf-8")


def test_demo_problem_summary_has_trailing_semicolons(demo_dir: Path) -> None:
    raw = (demo_dir / problem_summary.TASK.data_file).read_text(encoding="utf-8")
    assert ";\n" in raw  # some summaries end with ";" as in the original
    examples = problem_summary.load(demo_dir / problem_summary.TASK.data_file)
    assert all(";" not in e.reference and not e.reference.endswith(",") for e in examples)
    assert all(e.fields["subjectives"] and e.fields["assessment"] for e in examples)


def test_demo_medisumqa_shares_letters(demo_dir: Path) -> None:
    examples = medisumqa.load(demo_dir / medisumqa.TASK.data_file)
    documents = {e.fields["document_id"] for e in examples}
    assert 45 <= len(documents) < len(examples)  # letters form the clusters of the statistics
    assert len({e.reference for e in examples}) == len(examples)  # answers are specific to their letter
    assert json.loads((demo_dir / medisumqa.TASK.data_file).read_text(encoding="utf-8"))  # a JSON array


def test_demo_medisumcode_codes_are_real(demo_dir: Path) -> None:
    examples = medisumcode.load(demo_dir / medisumcode.TASK.data_file)
    for e in examples:
        codes = e.fields["codes"]
        assert 3 <= len(codes) <= 8
        assert all(icd.is_valid_item(c) and "." not in c for c in codes), (e.id, codes)
        assert e.reference == "ICD-10 Codes: " + ", ".join(codes)
        assert 150 <= len(e.fields["text"].split()) <= 800
    every = {c for e in examples for c in e.fields["codes"]}
    assert "U071" in every and any(c.startswith("C7A") for c in every)


@pytest.mark.parametrize("folder", ["MedNLI", "ProblemSummary", "MeDiSumQA", "MeDiSumCode", "LongHealth"])
def test_synthetic_folders_say_so(folder: str, demo_dir: Path) -> None:
    note = (demo_dir / folder / "SYNTHETIC.md").read_text(encoding="utf-8")
    assert "synthetic" in note.lower() and "clue" in note
    assert "scripts/make_synthetic_data.py" in note


def test_demo_files_are_what_the_generator_writes(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped files equal the output of scripts/make_synthetic_data.py (regenerate after editing it)."""
    script = demo_dir.parents[2] / "scripts" / "make_synthetic_data.py"
    spec = importlib.util.spec_from_file_location("make_synthetic_data", script)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, generator)  # dataclasses look their module up there
    spec.loader.exec_module(generator)
    built = generator.build(demo_dir)
    assert set(built) == set(generator.FILES.values())
    for relative, content in built.items():
        assert (demo_dir / relative).read_text(encoding="utf-8") == content, relative
