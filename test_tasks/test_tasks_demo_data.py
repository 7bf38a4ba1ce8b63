"""Task declarations and the demo data shipped with clue (real MeQSum, synthetic look-alikes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import icd10
import pytest
import simple_icd_10_cm as icd

from clue.prompts.protocol import load_protocol
from clue.tasks import medisumcode, medisumqa, mednli, meqsum, problem_summary

MODULES = (mednli, meqsum, problem_summary, medisumqa, medisumcode)

EXPECTED = {
    # name: (display name, data file, credentialed, level metrics)
    "mednli": ("MedNLI", "MedNLI/mli_test_v1.jsonl", True, ("accuracy",)),
    "meqsum": (
        "MeQSum", "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx", False,
        ("rougeL", "rouge1", "rouge2", "bertscore_f1"),
    ),
    "problemsummary": (
        "ProblemSummary", "ProblemSummary/BioNLP2023-1A-Test.csv", True,
        ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1"),
    ),
    "medisumqa": (
        "MeDiSumQA", "MeDiSumQA/MeDiSumQA.json", True,
        ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1"),
    ),
    "medisumcode": (
        "MeDiSumCode", "MeDiSumCode/MeDiSumCode.json", True,
        ("icd_exact_f1", "icd_approx_f1", "icd_valid_ratio"),
    ),
}
# per protocol: name -> (shots, shot order, max new tokens)
PROTOCOL_RULES = {
    "2024-06": {
        "mednli": (3, "file", 20), "meqsum": (3, "file", 200), "problemsummary": (3, "file", 100),
        "medisumcode": (1, "file", 200), "medisumqa": (1, "shuffle", 200),
    },
    "2025-01": {
        "mednli": (3, "shuffle", 20), "meqsum": (3, "shuffle", 512), "problemsummary": (3, "shuffle", 512),
        "medisumcode": (1, "shuffle", 512), "medisumqa": (1, "shuffle", 512),
    },
}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_task_declaration(module) -> None:
    task = module.TASK
    display, data_file, credentialed, level_metrics = EXPECTED[task.name]
    assert (task.display_name, task.data_file, task.credentialed) == (display, data_file, credentialed)
    assert task.level_metrics == level_metrics
    assert set(task.level_metrics) <= set(task.metrics)
    assert task.level == (1 if task.name in ("mednli", "meqsum", "problemsummary") else 2)
    assert ("physionet.org" in task.how_to_obtain) == credentialed
    if task.name == "meqsum":
        assert "github.com/abachaa/MeQSum" in task.how_to_obtain
    for pid, rules in PROTOCOL_RULES.items():
        tp = load_protocol(pid).task(task.name)
        assert (tp.shots, tp.shot_order, tp.max_new_tokens) == rules[task.name], pid


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
    assert [e.reference for e in examples] == [r["gold_label"] for r in records]  # as in the file
    assert [e.fields["gold_label"] for e in examples] == [r["gold_label"] for r in records]
    assert [(e.fields["sentence1"], e.fields["sentence2"]) for e in examples] == [(r["sentence1"], r["sentence2"]) for r in records]


def test_demo_meqsum_is_the_real_file(demo_dir: Path) -> None:
    examples = meqsum.load(demo_dir / meqsum.TASK.data_file)
    assert examples[0].reference == "Who manufactures cetirizine?"
    assert examples[0].fields["CHQ"].startswith("SUBJECT: who and where to get cetirizine")
    assert examples[0].fields["File"] == examples[0].id == "1-131188152.xml.txt"
    assert examples[0].source_line == 2
    assert (demo_dir / "MeQSum" / "README.md").is_file()
    assert "CC BY 4.0" in (demo_dir / "MeQSum" / "SOURCE.txt").read_text(encoding="utf-8")


def test_demo_problem_summary_has_trailing_semicolons(demo_dir: Path) -> None:
    raw = (demo_dir / problem_summary.TASK.data_file).read_text(encoding="utf-8")
    assert ";\n" in raw  # some summaries end with ";" as in the original
    examples = problem_summary.load(demo_dir / problem_summary.TASK.data_file)
    assert all(";" not in e.reference and not e.reference.endswith(",") for e in examples)
    assert all(e.fields["Summary"] == e.reference for e in examples)
    assert all(e.fields["Subjectives"] and e.fields["Assessment"] for e in examples)
    assert all(e.fields["File ID"] == e.id for e in examples)


def test_demo_medisumqa_shares_letters(demo_dir: Path) -> None:
    examples = medisumqa.load(demo_dir / medisumqa.TASK.data_file)
    documents = {e.fields["document_id"] for e in examples}
    assert 45 <= len(documents) < len(examples)  # letters form the clusters of the statistics
    assert len({e.reference for e in examples}) == len(examples)  # answers are specific to their letter
    raw = json.loads((demo_dir / medisumqa.TASK.data_file).read_text(encoding="utf-8"))  # a JSON array
    assert isinstance(raw, list) and len(raw) == len(examples)
    # both letter fields, as the release holds them: the 2024-06 prompt reads the letter without
    # its discharge instructions, so nothing is derived
    assert all(not e.notes for e in examples)
    for e, record in zip(examples, raw, strict=True):
        assert e.fields["discharge_summary"] == record["discharge_summary"]
        assert e.fields["without_discharge_summary"] == record["without_discharge_summary"]
        assert "Discharge Instructions" in record["discharge_summary"]
        assert "Discharge Instructions" not in record["without_discharge_summary"]
        assert record["discharge_summary"].startswith(record["without_discharge_summary"])


def test_demo_medisumcode_codes_are_real(demo_dir: Path) -> None:
    examples = medisumcode.load(demo_dir / medisumcode.TASK.data_file)
    raw = [json.loads(line) for line in (demo_dir / medisumcode.TASK.data_file).read_text(encoding="utf-8").splitlines()]
    for e, record in zip(examples, raw, strict=True):
        codes = e.fields["codes"].split(", ")
        assert codes == [c["code"] for c in record["icd_codes"]]  # the file's codes, joined as the reference did
        assert 2 <= len(codes) <= 8
        assert all(icd.is_valid_item(c) and "." not in c for c in codes), (e.id, codes)
        assert all(icd10.find(c) is not None for c in codes), (e.id, codes)  # the builder's filter
        assert e.reference == e.fields["codes"] and not e.notes
        assert e.fields["hadm_id"] == e.id
        assert 150 <= len(e.fields["text"].split()) <= 800
    every = {c for e in examples for c in e.fields["codes"].split(", ")}
    # codes the reference's code list lacks are filtered out (as the builder does); codes its answer
    # pattern cannot read (a letter in third place) stay, as in the real data
    assert "U071" not in every and any(c.startswith("C7A") for c in every)


@pytest.mark.parametrize("folder", ["MedNLI", "ProblemSummary", "MeDiSumQA", "MeDiSumCode", "LongHealth",
                                    "MedQA", "MedMCQA", "PubMedQA", "JAMA", "NEJMImageChallenge"])
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
