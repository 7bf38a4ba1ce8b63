"""The demo models' training split: synthetic records of the six CLUE data sets, in their original formats.

Every text is fictional, composed here from templates and one seeded generator, with its own clinical
content (other findings, diseases, questions and codes than the shipped demo test files), so the
training split shares no record with the items the demo is scored on (a test checks it). The files
are written with the original names and layouts, and read back by the tasks' own loaders, so the
models train on prompts rendered by the protocol exactly as they are scored.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import Sequence
from pathlib import Path

TRAIN_SEED = 77_001  # unrelated to the seed of scripts/make_synthetic_data.py
PAIR_NAMESPACE = uuid.UUID("0b7e3c58-51f4-4a8e-a4c6-5f1f3a1c2d90")

# -- MedNLI --------------------------------------------------------------------------------------------
# (lab, value, state, cause): entailment names the state, neutral a cause, contradiction denies the state
_LABS = [
    ("calcium", "13.2 mg/dL", "hypercalcemia", "The patient has a parathyroid adenoma."),
    ("magnesium", "0.9 mg/dL", "hypomagnesemia", "The patient takes a proton pump inhibitor."),
    ("TSH", "38 mIU/L", "hypothyroidism", "The patient had thyroid surgery."),
    ("bilirubin", "9.4 mg/dL", "hyperbilirubinemia", "The patient has a blocked bile duct."),
    ("creatinine", "4.8 mg/dL", "kidney injury", "The patient received intravenous contrast."),
    ("white blood cell count", "27,000", "leukocytosis", "The patient has an abscess."),
    ("ammonia", "142 umol/L", "hyperammonemia", "The patient has liver cirrhosis."),
    ("hemoglobin A1c", "12.1 percent", "poorly controlled diabetes", "The patient does not take metformin."),
    ("ferritin", "4 ng/mL", "iron deficiency", "The patient has heavy menstrual bleeding."),
    ("creatine kinase", "24,000 U/L", "rhabdomyolysis", "The patient was found down at home."),
]
# (study, finding, state, consequence)
_STUDIES = [
    ("MRI of the lumbar spine", "a large L4-L5 disc herniation", "a herniated disc", "The patient will need back surgery."),
    ("Renal ultrasound", "moderate left hydronephrosis", "an obstructed kidney", "The patient has a kidney stone."),
    ("CT of the chest", "a spiculated 2 cm nodule in the right upper lobe", "a lung nodule", "The patient has lung cancer."),
    ("X-ray of the right wrist", "a displaced distal radius fracture", "a broken wrist", "The patient fell on an outstretched hand."),
    ("Abdominal ultrasound", "multiple gallstones with a thickened gallbladder wall", "gallstones", "The patient needs a cholecystectomy."),
    ("Carotid duplex", "an 80 percent stenosis of the left internal carotid artery", "carotid stenosis", "The patient had a stroke."),
    ("Lumbar puncture", "a white count of 900 with low glucose", "meningitis", "The patient has a bacterial infection."),
]
# (history, state, consequence, denial)
_HISTORY = [
    ("worked in a coal mine for thirty years", "The patient has an occupational exposure.", "The patient has lung disease.",
     "The patient has never worked."),
    ("takes warfarin for a mechanical heart valve", "The patient is on anticoagulation.", "The patient has had a bleed.",
     "The patient takes no blood thinners."),
    ("is allergic to penicillin", "The patient has a drug allergy.", "The patient had a rash with amoxicillin.",
     "The patient has no known allergies."),
    ("returned from a trip to West Africa a week ago", "The patient travelled recently.", "The patient has malaria.",
     "The patient has not left the country."),
    ("has been on dialysis three times a week for two years", "The patient has end stage renal disease.",
     "The patient is waiting for a kidney transplant.", "The patient's kidney function is normal."),
]
# (symptoms, state, cause, denial)
_SYMPTOMS = [
    ("a severe headache, fever and a stiff neck", "The patient has a headache.", "The patient has meningitis.",
     "The patient denies any headache."),
    ("a hot, swollen and painful right knee", "The patient has knee pain.", "The patient has gout.",
     "The patient's joints are normal."),
    ("a purple rash on both legs and joint pains", "The patient has a rash.", "The patient has vasculitis.",
     "The patient's skin is normal."),
    ("painless blood in the urine for two weeks", "The patient has hematuria.", "The patient has bladder cancer.",
     "The patient has no urinary symptoms."),
    ("a racing heartbeat and a tremor of both hands", "The patient has palpitations.", "The patient has hyperthyroidism.",
     "The patient's heart rate has been normal."),
]


def _mednli(rng: random.Random, variants: int) -> list[dict[str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for _ in range(variants):
        for lab, value, state, cause in _LABS:
            age, sex = rng.randint(21, 93), rng.choice(["man", "woman"])
            opening = rng.choice([f"Labs in this {age} year old {sex} showed a {lab} of {value}.",
                                  f"On admission the {lab} was {value}.", f"Blood work revealed a {lab} of {value}."])
            denial = rng.choice([f"The patient's {lab} was normal.", f"There is no evidence of {state}.",
                                 f"The {lab} was within normal limits."])
            rows.append((opening, f"The patient has {state}.", cause, denial))
        for study, finding, state, consequence in _STUDIES:
            opening = rng.choice([f"{study} showed {finding}.", f"{study} done today revealed {finding}."])
            denial = rng.choice([f"The {study.split(' of ')[0].lower()} was normal.", f"There is no sign of {state}."])
            rows.append((opening, f"The patient has {state}.", consequence, denial))
        for history, state, consequence, denial in _HISTORY:
            pron, age = rng.choice(["He", "She"]), rng.randint(30, 88)
            rows.append((f"{pron} is {age} years old and {history}.", state, consequence, denial))
        for symptoms, state, cause, denial in _SYMPTOMS:
            age, sex = rng.randint(18, 90), rng.choice(["man", "woman"])
            rows.append((f"A {age} year old {sex} came in with {symptoms}.", state, cause, denial))
    unique = list({row[0]: row for row in reversed(rows)}.values())  # one row per premise
    rng.shuffle(unique)
    records = []
    for premise, *hypotheses in unique:
        for label, hypothesis in zip(("entailment", "neutral", "contradiction"), hypotheses, strict=True):
            records.append({"sentence1": premise, "sentence2": hypothesis, "gold_label": label,
                            "pairID": str(uuid.uuid5(PAIR_NAMESPACE, premise + "\n" + hypothesis))})
    return records


# -- shared clinical content: (diagnosis, ICD-10-CM code, lay reason, lay warning, drug) -------------------
DIAGNOSES = [
    ("Acute pyelonephritis", "N10", "You had an infection of your kidney.", "Come back if your fever returns.", "cefpodoxime"),
    ("Hypertensive urgency", "I160", "Your blood pressure was very high.", "Call us if you get a bad headache.", "amlodipine"),
    ("Acute gout of the right knee", "M1A9XX0", "Crystals inflamed your knee joint.", "Call us if the knee swells again.", "colchicine"),
    ("Iron deficiency anemia", "D509", "Your blood was low in iron.", "Come back if you feel faint or short of breath.", "ferrous sulfate"),
    ("Acute cholecystitis", "K810", "Your gallbladder was inflamed and was removed.", "Come back if your skin turns yellow.", "oxycodone"),
    ("Rhabdomyolysis", "M6282", "Your muscles broke down and strained your kidneys.", "Drink plenty of water and call if your urine darkens.", "none"),
    ("Bacterial meningitis", "G009", "You had an infection of the lining of your brain.", "Come back if the headache or fever returns.", "ceftriaxone"),
    ("Kidney stone with hydronephrosis", "N132", "A stone blocked your left kidney.", "Come back if you have fever or cannot pass urine.", "tamsulosin"),
    ("Hypercalcemia", "E8352", "The calcium in your blood was too high.", "Call us if you feel confused or very thirsty.", "none"),
    ("Hyperthyroidism", "E0590", "Your thyroid gland was overactive.", "Call us if your heart races.", "methimazole"),
]
COMORBIDITIES = [("Essential hypertension", "I10"), ("Type 2 diabetes mellitus", "E119"), ("Hyperlipidemia", "E785"),
                 ("Obesity", "E669"), ("Gastro-esophageal reflux disease", "K219"), ("Major depressive disorder", "F329"),
                 ("Hypothyroidism", "E039"), ("Osteoarthritis of the knee", "M170"), ("Chronic obstructive pulmonary disease", "J449")]


def _letter(rng: random.Random, dx: tuple[str, str, str, str, str], comorbidities: Sequence[tuple[str, str]]) -> str:
    name, _code, why, warning, drug = dx
    age, sex = rng.randint(24, 90), rng.choice(["M", "F"])
    pmh = "; ".join(c[0] for c in comorbidities)
    meds = f"1. {drug.capitalize()} as directed" if drug != "none" else "1. No new medications"
    return (
        f"Sex: {sex}\nAge: {age}\n \nService: {rng.choice(['MEDICINE', 'SURGERY', 'NEUROLOGY'])}\n \n"
        f"History of Present Illness:\nPatient with {pmh.lower()} admitted after {rng.randint(1, 9)} days of symptoms.\n \n"
        f"Brief Hospital Course:\n# {name}: treated and improved over {rng.randint(2, 8)} days.\n \n"
        f"Discharge Medications:\n{meds}\n \n"
        f"Discharge Instructions:\n{why} {warning}\n \n"
        f"Discharge Diagnosis:\nPrimary: {name}\nSecondary: {pmh}\n"
    )


def _medisumcode(rng: random.Random, n: int) -> list[dict[str, object]]:
    records = []
    for i in range(n):
        dx = DIAGNOSES[i % len(DIAGNOSES)]
        comorbidities = rng.sample(COMORBIDITIES, rng.randint(1, 3))
        codes = [dx[1]] + [c[1] for c in comorbidities]
        records.append({"hadm_id": str(880_000 + 13 * i), "text": _letter(rng, dx, comorbidities),
                        "icd_codes": [{"code": c, "description": ""} for c in codes]})
    return records


_QA = [
    ("Why was I in the hospital?", "{why}"),
    ("What should I watch out for at home?", "{warning}"),
    ("Which new medicine do I take?", "You take {drug} as your doctor told you."),
]


def _medisumqa(rng: random.Random, n: int) -> list[dict[str, str]]:
    records, seen = [], set()
    for i in range(n):
        dx = DIAGNOSES[i % len(DIAGNOSES)]
        letter = _letter(rng, dx, rng.sample(COMORBIDITIES, rng.randint(1, 3)))
        question, template = rng.choice(_QA if dx[4] != "none" else _QA[:2])
        if (letter, question) in seen:
            continue
        seen.add((letter, question))
        answer = template.format(why=dx[2], warning=dx[3], drug=dx[4])
        records.append({"discharge_summary": letter, "Question": question, "Answer": answer})
    return records


# -- MeQSum and ProblemSummary ---------------------------------------------------------------------------
_TOPICS = ["shingles", "sleep apnea", "kidney stones", "psoriasis", "vertigo", "celiac disease", "tinnitus",
           "plantar fasciitis", "lupus", "glaucoma", "scoliosis", "sciatica", "eczema", "anemia", "gallstones"]
_ASKS = [
    ("my {who} was just diagnosed with {t} and we are scared. what can be done for it?", "What are the treatments for {t}?"),
    ("i have had {t} for years. is there anything new that helps, like diet or pills?", "What are new treatments for {t}?"),
    ("does {t} run in families? my {who} has it and i worry about my kids.", "Is {t} inherited?"),
    ("what causes {t}? my doctor did not explain it to my {who}.", "What causes {t}?"),
    ("can {t} be cured or will my {who} have it forever?", "Can {t} be cured?"),
]


def _meqsum(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    rows, seen = [], set()
    while len(rows) < n:
        topic = rng.choice(_TOPICS)
        ask, summary = rng.choice(_ASKS)
        chq = (f"SUBJECT: {topic}\nMESSAGE: hello, " + ask.format(who=rng.choice(["wife", "son", "father", "aunt"]), t=topic)
               + rng.choice(["", " thank you.", " please help."]))
        if chq in seen:
            continue
        seen.add(chq)
        rows.append((f"train-{len(rows) + 1}", chq, summary.format(t=topic)))
    return rows


def _problemsummary(rng: random.Random, n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        chosen = rng.sample(DIAGNOSES, rng.randint(2, 3))
        subj = " ".join(rng.choice(["Feels better.", "Tired today.", "Slept poorly.", "Pain controlled."]) for _ in chosen)
        obj = f"T {round(rng.uniform(36.3, 38.4), 1)} HR {rng.randint(60, 115)} BP {rng.randint(100, 170)}/{rng.randint(55, 95)}."
        assessment = (f"{rng.randint(25, 90)}{rng.choice('MF')} admitted with " + "; ".join(d[0].lower() for d in chosen)
                      + ", improving.")
        rows.append([str(550_000 + 11 * i), subj, obj, assessment, "; ".join(d[0] for d in chosen)])
    return rows


# -- LongHealth ---------------------------------------------------------------------------------------
def _longhealth(rng: random.Random, n_patients: int) -> dict[str, object]:
    patients: dict[str, object] = {}
    for p in range(n_patients):
        dx = DIAGNOSES[p % len(DIAGNOSES)]
        name = f"{rng.choice(['Aino', 'Bertil', 'Clea', 'Dorian', 'Edda', 'Fiete'])} {rng.choice(['Marrow', 'Quill', 'Stroud'])}"
        drug = dx[4].capitalize() if dx[4] != "none" else "No new drug"
        service = rng.choice(["Internal medicine", "General surgery", "Neurology"])
        temperature = f"{round(rng.uniform(37.5, 39.9), 1)} C"
        # (question, answer, statement in the letter, wrong options: none contains another)
        facts = [
            ("What was the main diagnosis of {n}?", dx[0], "Main diagnosis: {a}.", [d[0] for d in DIAGNOSES if d != dx]),
            ("Which drug was started for {n}?", drug, "Started on discharge: {a}.",
             ["Aspirin", "Metoprolol", "Insulin glargine", "Prednisone", "Furosemide", "Ondansetron"]),
            ("Which service admitted {n}?", service, "Admitting service: {a}.",
             ["Dermatology", "Psychiatry", "Ophthalmology", "Orthopaedics"]),
            ("What was the temperature of {n} on admission?", temperature, "Temperature on admission: {a}.",
             ["35.0 C", "36.1 C", "41.2 C", "34.4 C"]),
        ]
        body = f"Discharge letter for {name}.\n\n" + " ".join(st.format(a=a) for _, a, st, _ in facts) + f"\n\n{dx[2]} {dx[3]}"
        questions = []
        for number, (question, answer, _, pool) in enumerate(facts, start=1):
            options = [answer] + rng.sample([o for o in pool if o != answer], 4)
            rng.shuffle(options)
            start = body.index(answer)
            record: dict[str, object] = {"No": number, "question": question.format(n=name)}
            record.update({f"answer_{x}": o for x, o in zip("abcde", options, strict=True)})
            record.update({"correct": answer, "answer_location": {"text_0": {"start": [start], "end": [start + len(answer)]}}})
            questions.append(record)
        patients[f"patient_{p + 1:02d}"] = {
            "name": name, "birthday": f"19{rng.randint(40, 95)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            "diagnosis": dx[0], "texts": {"text_0": body}, "questions": questions,
        }
    return patients


# -- files -------------------------------------------------------------------------------------------
FILES = {
    "mednli": "MedNLI/mli_test_v1.jsonl",
    "meqsum": "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
    "problemsummary": "ProblemSummary/BioNLP2023-1A-Test.csv",
    "medisumcode": "MeDiSumCode/MeDiSumCode.json",
    "medisumqa": "MeDiSumQA/MeDiSumQA.json",
    "longhealth": "LongHealth/benchmark_v5.json",
}


def write_training_split(folder: Path, seed: int = TRAIN_SEED) -> Path:
    """Write the six training files under ``folder`` (the layout of a ``--clue-data`` folder); deterministic."""
    import openpyxl

    rng = random.Random(seed)
    for relative in FILES.values():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
    (folder / FILES["mednli"]).write_text("".join(json.dumps(r) + "\n" for r in _mednli(rng, 4)), encoding="utf-8")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "QS"
    sheet.append(["File", "CHQ", "Summary"])
    for row in _meqsum(rng, 60):
        sheet.append(list(row))
    book.save(folder / FILES["meqsum"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["File ID", "Subjectives", "Objectives", "Assessment", "Summary"])
    writer.writerows(_problemsummary(rng, 60))
    (folder / FILES["problemsummary"]).write_text(out.getvalue(), encoding="utf-8")
    (folder / FILES["medisumcode"]).write_text(json.dumps(_medisumcode(rng, 60)), encoding="utf-8")
    (folder / FILES["medisumqa"]).write_text(json.dumps(_medisumqa(rng, 60)), encoding="utf-8")
    (folder / FILES["longhealth"]).write_text(json.dumps(_longhealth(rng, 12)), encoding="utf-8")
    return folder
