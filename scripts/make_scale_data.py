#!/usr/bin/env python3
"""Write full-size synthetic CLUE data at any multiple of the real item counts, in the original formats.

The demo data (``make_synthetic_data.py``) is small on purpose; this script writes what a real run
feeds the engines: per scale unit MedNLI 1,422 pairs, MeQSum 1,000 questions, ProblemSummary 237
notes, MeDiSumQA 416 questions and MeDiSumCode 500 notes on discharge letters of about 3-5k tokens,
and LongHealth 20 patients with 20 questions each over 11-14 documents (so its 6,000 prompts fill
the reference's 8,140-token budget). Every text is fictional, composed from the demo generator's
templates, seeded random values and made-up words (drug, place and device names drawn from
syllables, so a tokenizer trained on the text has a realistic vocabulary to learn); nothing comes
from a real record. MeQSum at scale 1 is the shipped file itself (its real 1,000 questions).

    python scripts/make_scale_data.py OUT_DIR              # scale 1: the real counts
    python scripts/make_scale_data.py OUT_DIR --scale 4    # four times as many items

The output folder has the ``--clue-data`` layout. Deterministic for a given scale and seed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_synthetic_data as demo  # noqa: E402  (the sibling script's templates)

REAL_COUNTS = {"mednli": 1422, "meqsum": 1000, "problemsummary": 237, "medisumqa": 416, "medisumcode": 500}
LONGHEALTH_PATIENTS = 20
QUESTIONS_PER_PATIENT = 20
LETTER_WORDS = (2300, 3700)  # about 3,000-5,000 tokens of clinical text
LONGHEALTH_DOCS = (11, 14)
LONGHEALTH_DOC_WORDS = (420, 640)
SEED = 20250105
FILES = {
    **demo.FILES,
    "meqsum": "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
}

_SYLLABLES = (
    "ba be bi bo cal cor da de dra el en fa fen ga gli ha in ka kor la le li lo ma me mi mo na ne ni no "
    "or pa pe pi pra que ra re ri ro sa se si so ta te ti to tra tu va ve vi vo xa ze zi zo"
).split()
_SUFFIXES = ("mab", "nib", "pril", "sartan", "olol", "azole", "mycin", "cillin", "statin", "parin", "dipine", "tide")
_PLACE_SUFFIXES = ("ville", "berg", "field", "stad", "holm", "worth", "ford", "heim", "burgh", "dale")


class Words:
    """Made-up names (drugs, places, devices) with a Zipf-like frequency: a few common, many rare."""

    def __init__(self, rng: random.Random, n: int = 40_000) -> None:
        self._rng = rng
        seen: set[str] = set()
        self.stems: list[str] = []
        while len(self.stems) < n:
            stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
            if stem not in seen:
                seen.add(stem)
                self.stems.append(stem)

    def _pick(self) -> str:
        # index ~ n^u with u uniform: heavy head, long tail
        return self.stems[min(int(len(self.stems) ** self._rng.random()) - 1, len(self.stems) - 1)]

    def drug(self) -> str:
        return self._pick() + self._rng.choice(_SUFFIXES)

    def place(self) -> str:
        return self._pick().capitalize() + self._rng.choice(_PLACE_SUFFIXES)

    def device(self) -> str:
        return f"{self._pick().upper()[:4]}-{self._rng.randint(10, 9999)}"


def progress_paragraph(rng: random.Random, words: Words, day: int) -> str:
    """One hospital-day paragraph of a discharge letter or clinical report (about 60-110 words)."""
    sentences = [
        f"Hospital day {day}: the patient was seen on morning rounds and reported "
        f"{rng.choice(['feeling somewhat better', 'persistent fatigue', 'a poor night of sleep', 'mild nausea', 'no new complaints'])}.",
        f"Vital signs: temperature {round(rng.uniform(36.1, 38.6), 1)} C, heart rate {rng.randint(58, 124)}, blood pressure "
        f"{rng.randint(96, 172)}/{rng.randint(54, 98)} mmHg, respiratory rate {rng.randint(12, 26)}, oxygen saturation "
        f"{rng.randint(88, 100)} percent on {rng.choice(['room air', '2 L nasal cannula', '4 L nasal cannula'])}.",
        f"Laboratory results showed sodium {rng.randint(128, 146)}, potassium {round(rng.uniform(3.1, 5.6), 1)}, creatinine "
        f"{round(rng.uniform(0.6, 2.9), 2)}, white count {round(rng.uniform(3.5, 19.5), 1)} and hemoglobin "
        f"{round(rng.uniform(7.2, 15.1), 1)}.",
        f"{words.drug().capitalize()} {rng.choice([2.5, 5, 10, 20, 40, 250, 500])} mg was "
        f"{rng.choice(['started', 'continued', 'held', 'increased', 'tapered'])} and {words.drug()} was "
        f"{rng.choice(['stopped', 'continued at the home dose', 'switched to the oral form'])}.",
        f"The {rng.choice(['cardiology', 'nephrology', 'infectious disease', 'physical therapy', 'nutrition'])} team "
        f"{rng.choice(['was consulted', 'followed up', 'signed off', 'recommended outpatient review'])} and the plan was "
        f"discussed with the family from {words.place()}.",
        f"A {rng.choice(['peripheral line', 'urinary catheter', 'telemetry monitor', 'pump'])} ({words.device()}) was "
        f"{rng.choice(['placed', 'removed', 'checked', 'replaced'])} without complications.",
    ]
    chosen = rng.sample(sentences, rng.randint(3, len(sentences)))
    return " ".join(chosen)


def padded_letter(rng: random.Random, words: Words, primary: demo.Primary) -> demo.Letter:
    """A demo discharge letter with its hospital course grown to ``LETTER_WORDS`` words."""
    letter = demo.make_letter(rng, primary)
    target = rng.randint(*LETTER_WORDS)
    head, marker, tail = letter.text.partition("Discharge Medications:")
    paragraphs: list[str] = []
    n = len(letter.text.split())
    day = 1
    while n < target:
        paragraph = progress_paragraph(rng, words, day)
        paragraphs.append(paragraph)
        n += len(paragraph.split())
        day += 1
    text = head.rstrip("\n ") + "\n\n" + "\n\n".join(paragraphs) + "\n \n" + marker + tail
    return demo.Letter(text, letter.codes, letter.primary, letter.values, letter.comorbidities)


# -- the data sets -----------------------------------------------------------------------------------
def mednli_records(rng: random.Random, n: int) -> list[dict[str, str]]:
    families = demo._mednli_items(rng)
    records: list[dict[str, str]] = []
    round_ = 0
    while len(records) < n:
        for premise, *hypotheses in families:
            if round_:
                premise = f"On hospital day {round_ + 1}, {demo.lower_first(premise)}"
            for label, hypothesis in zip(("entailment", "neutral", "contradiction"), hypotheses, strict=True):
                if len(records) == n:
                    return records
                p1, b1 = demo._parses(premise)
                p2, b2 = demo._parses(hypothesis)
                records.append({
                    "sentence1": premise, "sentence2": hypothesis, "gold_label": label,
                    "pairID": str(uuid.uuid5(demo.PAIR_NAMESPACE, f"{round_}\n{premise}\n{hypothesis}")),
                    "sentence1_parse": p1, "sentence2_parse": p2,
                    "sentence1_binary_parse": b1, "sentence2_binary_parse": b2,
                })
        round_ += 1
    return records


def meqsum_rows(shipped: Path, scale: int) -> list[tuple[str, str, str]]:
    import openpyxl

    workbook = openpyxl.load_workbook(shipped, read_only=True, data_only=True)
    try:
        rows = [tuple(r) for r in workbook["QS"].iter_rows(values_only=True)]
    finally:
        workbook.close()
    header, body = rows[0], [r for r in rows[1:] if any(v is not None for v in r)]
    col = {str(v).strip(): i for i, v in enumerate(header) if v is not None}
    out = []
    for k in range(scale):
        for r in body:
            file_id, chq, summary = (str(r[col[c]]) for c in ("File", "CHQ", "Summary"))
            if k:
                file_id, chq = f"{file_id}-x{k}", f"{chq} (Asked again, case {k}.)"
            out.append((file_id, chq, summary))
    return out


def write_meqsum(path: Path, rows: Sequence[tuple[str, str, str]]) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("QS")
    sheet.append(["File", "CHQ", "Summary"])
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)


def problem_rows(rng: random.Random, n: int) -> list[list[str]]:
    rows: list[list[str]] = []
    while len(rows) < n:
        batch = demo.problem_rows(rng, min(n - len(rows), 60), 300_000)
        for row in batch:
            row[0] = str(300_000 + 7 * len(rows))
            rows.append(row)
    return rows


def medisumcode_records(rng: random.Random, words: Words, n: int) -> list[dict[str, object]]:
    records = []
    for i in range(n):
        letter = padded_letter(rng, words, rng.choice(demo.PRIMARIES))
        records.append(demo._in_reference_list({
            "hadm_id": str(40_000_000 + i), "text": letter.text,
            "icd_codes": [demo._checked_code(c) for c in letter.codes],
        }))
    return records


def medisumqa_records(rng: random.Random, words: Words, n: int) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    while len(records) < n:
        letter = padded_letter(rng, words, rng.choice(demo.PRIMARIES))
        pairs = demo._qa_pairs(letter)
        for question, answer in rng.sample(pairs, min(n - len(records), 2 if rng.random() < 0.35 else 1)):
            records.append(demo._with_letter_fields({"discharge_summary": letter.text, "Question": question, "Answer": answer}))
    return records


def clinical_report(rng: random.Random, words: Words, title: str, name: str) -> str:
    """A further document of a LongHealth patient: a report of ``LONGHEALTH_DOC_WORDS`` words."""
    target = rng.randint(*LONGHEALTH_DOC_WORDS)
    paragraphs = [f"{title}, {words.place()} Hospital\nPatient: {name}"]
    day = 1
    while sum(len(p.split()) for p in paragraphs) < target:
        paragraphs.append(progress_paragraph(rng, words, day))
        day += 1
    paragraphs.append(f"Dr. {rng.choice(demo.LAST_NAMES)}, {rng.choice(['Resident', 'Attending Physician', 'Consultant'])}")
    return "\n\n".join(paragraphs)


_REPORTS = ("Radiology report", "Pathology report", "Outpatient visit", "Emergency department note",
            "Consultation note", "Rehabilitation report", "Interim report", "Tumour board summary")
_REPHRASE = ("According to the documents, ", "Based on the records, ", "From the letters provided, ")


def longhealth_patient(rng: random.Random, words: Words, index: int) -> dict[str, object]:
    disease = demo.DISEASES[index % len(demo.DISEASES)]
    female = "breast" in disease.diagnosis or index % 2 == 0
    women, men = demo.FIRST_NAMES[0::2], demo.FIRST_NAMES[1::2]  # even positions are women's names
    first = (women if female else men)[index % len(women if female else men)]
    name = f"{first} {demo.LAST_NAMES[index % len(demo.LAST_NAMES)]}-{index + 1}"
    patient = demo.longhealth_patient(rng, disease, name, female)
    texts = dict(patient["texts"])  # type: ignore[arg-type]
    for k in range(len(texts), rng.randint(*LONGHEALTH_DOCS)):
        texts[f"text_{k}"] = clinical_report(rng, words, rng.choice(_REPORTS), name)
    base = list(patient["questions"])  # type: ignore[arg-type]
    questions = []
    for number in range(1, QUESTIONS_PER_PATIENT + 1):
        q = dict(base[(number - 1) % len(base)])
        round_ = (number - 1) // len(base)
        if round_:
            q["question"] = _REPHRASE[(round_ - 1) % len(_REPHRASE)] + demo.lower_first(str(q["question"]))
        q["No"] = number
        questions.append(q)
    return {**patient, "texts": texts, "questions": questions}


def build(out: Path, scale: int = 1, seed: int = SEED) -> dict[str, int]:
    """Write the six data sets under ``out``; the number of records written per data set."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    rng = random.Random(seed)
    words = Words(random.Random(seed + 1))
    counts = {name: n * scale for name, n in REAL_COUNTS.items()}
    for relative in FILES.values():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)

    (out / FILES["mednli"]).write_text(
        demo._jsonl(mednli_records(random.Random(rng.random()), counts["mednli"])), encoding="utf-8", newline="\n"
    )
    shipped = demo.DEMO_DIR / FILES["meqsum"]
    if scale == 1:
        shutil.copyfile(shipped, out / FILES["meqsum"])
    else:
        write_meqsum(out / FILES["meqsum"], meqsum_rows(shipped, scale))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["File ID", "Subjectives", "Objectives", "Assessment", "Summary"])
    writer.writerows(problem_rows(random.Random(rng.random()), counts["problemsummary"]))
    (out / FILES["problemsummary"]).write_text(buffer.getvalue(), encoding="utf-8", newline="\n")
    qa = medisumqa_records(random.Random(rng.random()), words, counts["medisumqa"])
    (out / FILES["medisumqa"]).write_text(json.dumps(qa, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    code = medisumcode_records(random.Random(rng.random()), words, counts["medisumcode"])
    (out / FILES["medisumcode"]).write_text(demo._jsonl(code), encoding="utf-8", newline="\n")
    lh_rng = random.Random(rng.random())
    patients = {f"patient_{i + 1:02d}": longhealth_patient(lh_rng, words, i) for i in range(LONGHEALTH_PATIENTS * scale)}
    (out / FILES["longhealth"]).write_text(json.dumps(patients, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "SYNTHETIC.md").write_text(
        f"Synthetic full-size CLUE data written by scripts/make_scale_data.py (scale {scale}, seed {seed}); "
        "fictional text, not for evaluating models.\n",
        encoding="utf-8",
    )
    return {**counts, "longhealth_questions": LONGHEALTH_PATIENTS * scale * QUESTIONS_PER_PATIENT}


def corpus(out: Path) -> list[str]:
    """The texts of a written data folder, for training a tokenizer on them."""
    texts = [json.loads(line)["sentence1"] for line in (out / FILES["mednli"]).read_text(encoding="utf-8").splitlines()]
    with open(out / FILES["problemsummary"], encoding="utf-8", newline="") as fh:
        texts += [" ".join(row[1:4]) for row in list(csv.reader(fh))[1:]]
    texts += [r["discharge_summary"] for r in json.loads((out / FILES["medisumqa"]).read_text(encoding="utf-8"))]
    texts += [json.loads(line)["text"] for line in (out / FILES["medisumcode"]).read_text(encoding="utf-8").splitlines()]
    for patient in json.loads((out / FILES["longhealth"]).read_text(encoding="utf-8")).values():
        texts += list(patient["texts"].values())
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (the --clue-data layout)")
    parser.add_argument("--scale", type=int, default=1, help="multiple of the real item counts (default 1)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    counts = build(args.out, args.scale, args.seed)
    sys.stderr.write(", ".join(f"{k} {v}" for k, v in counts.items()) + f" -> {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
