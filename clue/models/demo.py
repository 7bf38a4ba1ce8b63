"""The demo models: tiny Mistral-style causal LMs, trained locally and deterministically on first use.

``demo-base`` and ``demo`` share one tokenizer (byte-level BPE trained here on an embedded text, so
no download is needed). ``demo-base`` starts from seeded random weights (our own generator, not
transformers' initialisers) and is trained for a few hundred steps on CPU on the demo training split
(``clue.models.demo_training``: synthetic records that share none with the shipped test items), so
it learns the answer formats of the six tasks; ``demo`` is its "fine-tune": demo-base's weights
trained further on a mix weighted towards MedNLI. Training: ``clue.models.demo_train``, about a
minute for both on two CPU cores. The models attend through a sliding window, so a sample of the
prompt's last tokens trains them exactly as full-length prompts run them.
The folders load with ``AutoTokenizer`` / ``AutoModelForCausalLM`` (and vLLM: head_dim 64).
They are tiny: their scores show the gate at work, they are not a clinical model's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clue.config import default_cache_dir
from clue.errors import ConfigError

from clue.models.demo_train import TrainingLog, TrainingPlan

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer
    from transformers import MistralConfig

log = logging.getLogger(__name__)

# Bump when anything below changes what a build writes: old folders are then left alone and a new
# one is built beside them.
FORMAT_VERSION = 2
MARKER = "clue-demo.json"
WEIGHTS_FILE = "model.safetensors"

BOS, EOS, PAD, END = "<s>", "</s>", "<pad>", "<|end|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, BOS, EOS, END, *ROLE_TOKENS)  # ids 0..6 in this order

# One turn: <|role|>\ncontent<|end|>\n; BOS once at the start; an unknown role is an error.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unsupported role: ' + message['role']) }}"
    "{%- endif -%}"
    "{%- if loop.first %}{{ bos_token }}{% endif -%}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif -%}"
)


# the base learns every task's answer format; the fine-tune leans on MedNLI (so the two differ there)
BASE_MIX = {"mednli": 2.0, "meqsum": 1.0, "problemsummary": 1.0, "medisumcode": 1.0, "medisumqa": 1.0,
            "longhealth_task1": 1.0, "longhealth_task2": 0.3, "longhealth_task3": 0.3}
FINE_TUNE_MIX = {**BASE_MIX, "mednli": 5.0, "medisumcode": 2.0}


@dataclass(frozen=True)
class DemoSpec:
    name: str
    seed: int
    plan: TrainingPlan
    init_from: str | None = None  # a demo model whose trained weights this one starts from
    hidden_size: int = 128
    num_attention_heads: int = 2  # head_dim 64: vLLM's CPU attention rejects head_dim 16
    num_key_value_heads: int = 2
    num_hidden_layers: int = 2
    intermediate_size: int = 256
    max_position_embeddings: int = 8192  # LongHealth prompts reach ~8k tokens
    sliding_window: int = 128  # each layer attends to the last 128 tokens: 2 layers see 255
    vocab_target: int = 3072
    init_std: float = 0.02


DEMO_MODELS: dict[str, DemoSpec] = {
    "demo-base": DemoSpec("demo-base", seed=20240402, plan=TrainingPlan(steps=150, mix=BASE_MIX, seed=1)),
    "demo": DemoSpec("demo", seed=20240401, init_from="demo-base",
                     plan=TrainingPlan(steps=350, mix=FINE_TUNE_MIX, seed=2, learning_rate=4e-3, warmup_steps=5)),
}

# Training text for the tokenizer, written for this package: clinical prose in the style of the
# CLUE tasks plus the words their prompts use. Any change here needs a FORMAT_VERSION bump.
_CORPUS = """
The patient is a 67 year old woman with a history of hypertension, type 2 diabetes mellitus and
chronic kidney disease who presented to the emergency department with shortness of breath.
On admission her blood pressure was 162/94 mmHg, heart rate 104 beats per minute, temperature 37.9 C,
respiratory rate 24 and oxygen saturation 89% on room air. Chest x-ray showed bilateral infiltrates.
She was started on intravenous antibiotics for community acquired pneumonia and improved.
The patient denies chest pain, palpitations, nausea, vomiting, fever or chills.
Physical examination: alert and oriented, lungs with crackles at both bases, abdomen soft, non tender.
Laboratory results: hemoglobin 10.2 g/dL, white blood cell count 14.3, platelets 221, sodium 134,
potassium 5.1, creatinine 2.4 mg/dL, troponin negative, lactate 2.1, glucose 212.
Assessment and plan: acute hypoxic respiratory failure secondary to pneumonia; acute on chronic kidney
injury, likely prerenal; continue insulin sliding scale; hold metformin; monitor electrolytes daily.
Discharge diagnosis: community acquired pneumonia, acute kidney injury, diabetes, hypertension.
Discharge medications: amoxicillin clavulanate 875 mg twice daily for five days, lisinopril 10 mg daily,
insulin glargine 20 units at night, aspirin 81 mg daily, atorvastatin 40 mg daily.
Follow up with your primary care physician in one week and with nephrology in two weeks.
The man is 54 years old and was admitted after a fall at home with a fracture of the left hip.
He underwent open reduction and internal fixation without complication. Postoperative course was
notable for delirium, which resolved. Physical therapy recommended rehabilitation.
History of present illness: three days of abdominal pain, worse after meals, with dark stools.
Upper endoscopy revealed a gastric ulcer; biopsies were taken; Helicobacter pylori testing was positive.
Treatment with a proton pump inhibitor and triple therapy was started.
Problem list: Lower GI bleed; Hypotension; CAD; Atrial fibrillation; Heart failure with reduced
ejection fraction; COPD exacerbation; Sepsis; Urinary tract infection; Anemia; Hyperkalemia.
Subjective: patient reports fatigue and poor appetite. Objective: vital signs stable, afebrile.
Assessment: worsening anemia, likely chronic disease. Plan: transfuse if hemoglobin below 7.
SENTENCE_1: The patient had a myocardial infarction last year. SENTENCE_2: The patient has heart disease.
ENTAILMENT NEUTRAL CONTRADICTION entailment neutral contradiction
Decide whether the second sentence follows from the first. Answer with one word.
Summarize the patient inquiry as one concise question. Output only the question.
What are the side effects of metformin? How long should I take antibiotics for a sinus infection?
Is it safe to take ibuprofen with high blood pressure? Where can I find a support group for diabetes?
My mother was diagnosed with breast cancer, what treatment options does she have?
List the diagnoses and problems of the patient only, separated by commas.
Read the discharge letter and answer the question briefly, in words a patient understands.
Why was I given a blood thinner? What should I do if my symptoms come back?
List the ICD-10 codes of all primary and secondary diagnoses. Output the codes only.
ICD-10 Codes: I10, E11.9, N18.3, J18.9, N17.9, I48.91, I50.22, D64.9, E87.5, K25.4, S72.002A, U07.1
You are a medical expert reading discharge letters. Answer the question using the documents.
The correct answer is C: metoprolol. The correct answer is A. The correct answer is F.
A: B: C: D: E: F: Question cannot be answered with provided documents.
When was the patient first diagnosed with the tumor? Which medication was changed at discharge?
Computed tomography of the chest, abdomen and pelvis showed no evidence of metastatic disease.
Magnetic resonance imaging of the brain demonstrated a small lesion in the right frontal lobe.
The oncology team recommended adjuvant chemotherapy with carboplatin and paclitaxel followed by
radiotherapy. Tumor board discussion on 12.03.2019; follow up staging in three months.
Echocardiography: left ventricular ejection fraction 35%, moderate mitral regurgitation.
Electrocardiogram: sinus rhythm, left bundle branch block, QTc 460 ms.
Allergies: penicillin (rash). Social history: former smoker, 30 pack years, no alcohol use.
Family history: father with colon cancer at age 60; mother with stroke.
Code status: full code. Disposition: home with services. Condition at discharge: stable.
Instructions: take all medications as prescribed, return if you develop fever, bleeding or pain.
Common words: the of and to in is was for with on as by at from that this be are were has have had
not no or but if then than when which who whom whose what where why how all any each every some many
more most other such only own same so too very can will would should could may might must shall do
does did done being been into over under after before during between through about against among
patient patients doctor nurse hospital clinic ward unit room bed day days week weeks month months year
years today yesterday tomorrow morning evening night time times first second third last next previous
left right upper lower anterior posterior medial lateral proximal distal bilateral unilateral acute
chronic mild moderate severe stable unstable normal abnormal positive negative elevated decreased
increased high low small large new old recent prior history present past current family social
Body: head neck chest abdomen pelvis back spine arm leg hand foot knee hip shoulder elbow wrist ankle
heart lung lungs liver kidney kidneys spleen pancreas stomach colon bowel bladder prostate uterus ovary
breast thyroid adrenal brain skin bone bones muscle joint artery vein blood lymph node nodes eye ear
Findings: pain fever cough dyspnea edema swelling rash itching bleeding nausea vomiting diarrhea
constipation dizziness syncope headache weakness numbness tingling confusion seizure tremor fatigue
weight loss gain appetite thirst urination incontinence jaundice pallor cyanosis wheezing murmur
Diagnoses: hypertension hypotension diabetes mellitus hyperlipidemia obesity asthma bronchitis
emphysema pneumonia tuberculosis influenza sepsis bacteremia endocarditis myocarditis pericarditis
cardiomyopathy arrhythmia tachycardia bradycardia fibrillation flutter infarction ischemia angina
stroke hemorrhage thrombosis embolism aneurysm stenosis occlusion dissection anemia leukemia lymphoma
myeloma carcinoma adenocarcinoma sarcoma melanoma metastasis tumor neoplasm cyst abscess ulcer hernia
cirrhosis hepatitis pancreatitis cholecystitis appendicitis diverticulitis colitis gastritis
nephritis nephrolithiasis pyelonephritis cystitis prostatitis dementia delirium depression anxiety
schizophrenia bipolar disorder epilepsy migraine neuropathy osteoporosis arthritis gout fracture
dislocation sprain laceration contusion burn allergy anaphylaxis hypothyroidism hyperthyroidism
hyponatremia hypernatremia hypokalemia hyperkalemia hypoglycemia hyperglycemia acidosis alkalosis
Drugs: metformin insulin glipizide lisinopril losartan amlodipine metoprolol carvedilol furosemide
hydrochlorothiazide spironolactone digoxin amiodarone warfarin apixaban rivaroxaban heparin enoxaparin
clopidogrel aspirin atorvastatin simvastatin rosuvastatin levothyroxine prednisone dexamethasone
hydrocortisone methotrexate tamoxifen letrozole cisplatin carboplatin paclitaxel docetaxel
doxorubicin cyclophosphamide rituximab pembrolizumab nivolumab trastuzumab omeprazole pantoprazole
ranitidine ondansetron metoclopramide acetaminophen ibuprofen naproxen morphine oxycodone tramadol
gabapentin pregabalin sertraline fluoxetine citalopram escitalopram bupropion trazodone quetiapine
haloperidol lorazepam diazepam alprazolam zolpidem albuterol ipratropium tiotropium budesonide
fluticasone montelukast amoxicillin ampicillin ceftriaxone cefazolin vancomycin piperacillin
tazobactam meropenem ciprofloxacin levofloxacin azithromycin doxycycline clindamycin
metronidazole nitrofurantoin trimethoprim sulfamethoxazole fluconazole acyclovir oseltamivir
Procedures: biopsy resection excision incision drainage catheterization angiography angioplasty
stent bypass graft transplant dialysis hemodialysis intubation extubation ventilation tracheostomy
bronchoscopy colonoscopy endoscopy laparoscopy laparotomy thoracotomy craniotomy arthroplasty
ultrasound sonography radiography mammography scintigraphy tomography imaging scan contrast infusion
transfusion injection vaccination chemotherapy radiotherapy immunotherapy surgery operation
Numbers and units: 0 1 2 3 4 5 6 7 8 9 10 12 15 20 25 30 40 50 60 75 80 90 100 120 150 200 250 500
1000 mg mcg g kg mL L mmol mEq units IU mmHg bpm cm mm % per day daily twice three times weekly
January February March April May June July August September October November December
Monday Tuesday Wednesday Thursday Friday Saturday Sunday Dr. Mr. Mrs. Ms. MD RN ICU ED OR CT MRI ECG
"""


def cache_root(cache_dir: Path | None = None) -> Path:
    """Where demo models live: ``cache_dir`` or ``$CLUE_CACHE_DIR/models`` (``~/.cache/clue/models``)."""
    return Path(cache_dir) if cache_dir is not None else default_cache_dir() / "models"


def ensure_demo_model(name: str, cache_dir: Path | None = None) -> Path:
    """The folder of demo model ``name`` ("demo" or "demo-base"), built on first use.

    Safe when several processes build at once: each builds in a temporary folder and renames it
    into place; the loser of the race discards its copy.
    """
    spec = DEMO_MODELS.get(name)
    if spec is None:
        raise ConfigError(f"unknown demo model {name!r}; choose one of {', '.join(DEMO_MODELS)}")
    root = cache_root(cache_dir)
    final = root / f"{name}-v{FORMAT_VERSION}"
    if (final / MARKER).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    if final.exists():  # a folder without marker is not ours or broken: move it aside, rebuild
        log.warning("demo model folder %s is incomplete; rebuilding it", final)
        _remove_aside(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-build-", dir=root))
    try:
        log.info("building demo model %s in %s", name, final)
        _build(spec, tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / MARKER).is_file():
                raise
            log.info("demo model %s was built by another process", name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _remove_aside(path: Path) -> None:
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}-stale-", dir=path.parent))
    try:
        os.rename(path, aside / path.name)
    except OSError:
        pass  # another process moved or completed it meanwhile
    shutil.rmtree(aside, ignore_errors=True)


def train_tokenizer(vocab_target: int = 3072) -> Tokenizer:
    """A byte-level BPE tokenizer trained on the embedded corpus; deterministic for a given input."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_target,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = [line for line in _CORPUS.strip().splitlines() if line.strip()]
    tok.train_from_iterator(lines, trainer=trainer)
    # Plain prompts (add_special_tokens=True) start with BOS, as chat prompts do via the template.
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def _tokenizer_config(spec: DemoSpec) -> dict:
    """Written by hand (not save_pretrained) so that transformers 4.x and 5.x, and vLLM, all read it."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "additional_special_tokens": [END, *ROLE_TOKENS],
        "model_max_length": spec.max_position_embeddings,
        "padding_side": "left",
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _build(spec: DemoSpec, folder: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    tok = train_tokenizer(spec.vocab_target)
    tok.save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(spec))
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    config = MistralConfig(
        vocab_size=tok.get_vocab_size(with_added_tokens=True),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        sliding_window=spec.sliding_window,
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
        tie_word_embeddings=False,
        dtype="float32",
        architectures=["MistralForCausalLM"],
    )
    config_dict = config.to_diff_dict()
    config_dict.pop("transformers_version", None)  # the folder's content does not depend on it
    # The 4.x spellings too, for older transformers (as a vLLM install may pin).
    config_dict["rope_theta"] = config_dict.get("rope_parameters", {}).get("rope_theta", 10000.0)
    config_dict["torch_dtype"] = "float32"
    _write_json(folder / "config.json", config_dict)
    generation = {
        "bos_token_id": ids[BOS],
        "eos_token_id": [ids[EOS], ids[END]],
        "pad_token_id": ids[PAD],
        "do_sample": False,
    }
    _write_json(folder / "generation_config.json", generation)

    if spec.init_from is not None:
        start_dir = ensure_demo_model(spec.init_from, folder.parent)
        start = load_file(str(start_dir / WEIGHTS_FILE))
        start_sha = json.loads((start_dir / MARKER).read_text(encoding="utf-8"))["weights_sha256"]
    else:
        start, start_sha = _weights(spec, config), None
    torch.manual_seed(spec.seed)  # nothing below draws from it; fixed all the same
    model = MistralForCausalLM(config)
    model.load_state_dict(start)
    from clue.models.demo_train import train, training_samples

    hf_tok = AutoTokenizer.from_pretrained(folder)
    samples = training_samples(hf_tok, spec.sliding_window, spec.plan.max_answer_tokens, end_token=END)
    trained = train(model, samples, spec.plan, pad_id=ids[PAD])
    log.info("trained demo model %s: %d steps in %.1f s, loss %.3f -> %.3f", spec.name, trained.steps,
             trained.seconds, trained.first_loss, trained.last_loss)
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    sha = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    marker = {"name": spec.name, "format_version": FORMAT_VERSION, "seed": spec.seed, "weights_sha256": sha,
              "init_from": spec.init_from, "init_weights_sha256": start_sha, "training": _training_record(spec, trained)}
    _write_json(folder / MARKER, marker)  # written last: its presence means the build is complete


def _training_record(spec: DemoSpec, trained: TrainingLog) -> dict:
    return {
        "steps": trained.steps,
        "batch_size": spec.plan.batch_size,
        "learning_rate": spec.plan.learning_rate,
        "mix": dict(spec.plan.mix),
        "samples": dict(trained.samples),
        "seconds": round(trained.seconds, 1),
        "first_loss": round(trained.first_loss, 4),
        "last_loss": round(trained.last_loss, 4),
    }


def _weights(spec: DemoSpec, config: MistralConfig) -> dict[str, torch.Tensor]:
    """Random initial weights in the state-dict layout of MistralForCausalLM, from our own seeded generator."""
    import torch
    from transformers import MistralForCausalLM

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in MistralForCausalLM(config).state_dict().items()}
    gen = torch.Generator().manual_seed(spec.seed)
    weights: dict[str, torch.Tensor] = {}
    for key in sorted(shapes):
        if key.endswith("norm.weight"):
            weights[key] = torch.ones(shapes[key], dtype=torch.float32)
        else:
            weights[key] = torch.randn(shapes[key], generator=gen, dtype=torch.float32) * spec.init_std
    return weights
