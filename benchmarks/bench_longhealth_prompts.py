"""LongHealth prompt building: clue's one-tokenisation-per-document builder against a naive builder
that re-tokenises every candidate document for every prompt (what CLUE's reference code did).

Run: ``python -m pytest benchmarks/bench_longhealth_prompts.py --benchmark-only``
(pytest collects a file passed by name even though it does not match ``test_*.py``).

The corpus is generated at bench time (20 patients, six documents of 1,000 to 2,000 words (about 1,800 to 3,600 tokens) each,
five questions per patient: 500 prompts per task, 1,500 for the three tasks) and tokenised with
a real Hugging Face fast tokenizer trained here (``tokenizers`` BPE wrapped in
``transformers.PreTrainedTokenizerFast``), counted through ``clue.engines.tokens.HFTokenCounter``
on both sides. Both builders produce identical prompts (checked after timing), so the
difference is the tokenisation alone. The speed-up is the ratio of the two groups' means in the table.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from transformers import PreTrainedTokenizerFast

from clue.engines.tokens import HFTokenCounter
from clue.records import Example, Message, Request
from clue.tasks import longhealth as lh
from clue.contracts import PromptContext, TokenCounter

N_PATIENTS = 20
N_DOCS = 6
N_QUESTIONS = 5
WORDS = (1000, 2000)
MAX_CONTEXT = 16384

_VOCAB = (
    "patient admitted discharge diagnosis therapy chemotherapy cycle dose mg daily twice tumour "
    "lymph node biopsy histology staging CT MRI PET echocardiography ejection fraction percent "
    "haemoglobin leukocytes platelets creatinine potassium sodium fever infection antibiotic "
    "pain nausea follow-up recommended continued stopped started reduced increased stable "
    "remission progression metastasis resection surgery radiotherapy fractions Gy blood pressure "
    "heart rate oxygen saturation examination unremarkable history allergies medication "
    "the of and with was in on to for after before without under no a an is were has had"
).split()


def _document(rng: random.Random, patient: int, doc: int) -> str:
    words = [f"Patient{patient} report {doc}."]
    for _ in range(rng.randint(*WORDS)):
        r = rng.random()
        if r < 0.08:
            words.append(f"{rng.randint(1, 999)}.{rng.randint(0, 9)}")
        elif r < 0.12:
            words.append(f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.20{rng.randint(10, 24)}")
        else:
            words.append(rng.choice(_VOCAB) + ("." if rng.random() < 0.07 else ("," if rng.random() < 0.05 else "")))
    return " ".join(words)


def _write_corpus(path: Path, seed: int = 2024) -> Path:
    rng = random.Random(seed)
    data: dict[str, object] = {"canary": "generated at bench time"}
    for p in range(1, N_PATIENTS + 1):
        texts = {f"text_{d}": _document(rng, p, d) for d in range(N_DOCS)}
        questions = []
        for q in range(1, N_QUESTIONS + 1):
            evidence = rng.sample(sorted(texts), rng.choice((1, 1, 2)))
            questions.append(
                {
                    "No": q,
                    "question": f"Which finding of patient {p} is described in report {evidence[0]}?",
                    **{f"answer_{x}": f"finding {x} of question {q}" for x in "abcde"},
                    "correct": f"finding {rng.choice('abcde')} of question {q}",
                    "answer_location": {t: {"start": [0.2], "end": [0.3]} for t in evidence},
                }
            )
        data[f"patient_{p:02d}"] = {
            "name": f"Bench Patient {p}",
            "birthday": "1960-01-01",
            "diagnosis": "generated",
            "texts": texts,
            "questions": questions,
        }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _fast_tokenizer(texts: Sequence[str]) -> PreTrainedTokenizerFast:
    import tokenizers

    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=4000, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Example], TokenCounter]:
    examples = lh.load(_write_corpus(tmp_path_factory.mktemp("longhealth-bench") / "benchmark_v5.json"))
    texts = {t for e in examples for t in e.fields["texts"].values()}
    return examples, HFTokenCounter(_fast_tokenizer(sorted(texts)[:40]))


# -- the naive builder: same prompts, every candidate document tokenised for every prompt ----------
class NaiveDoc(NamedTuple):
    key: tuple[str, str]  # (patient, text id)
    text: str


def _naive_select(
    evidence: Sequence[NaiveDoc], others: Sequence[NaiveDoc], budget: int, tokens: TokenCounter, sep: int
) -> tuple[list[tuple[NaiveDoc, str]], bool]:
    chosen: list[tuple[NaiveDoc, str]] = []
    used = 0
    for doc in evidence:
        n = tokens.count(doc.text) + (sep if chosen else 0) + lh.BOUNDARY_SLACK
        if used + n <= budget:
            used += n
            chosen.append((doc, doc.text))
            continue
        room = budget - used - (sep if chosen else 0) - lh.BOUNDARY_SLACK
        cut = tokens.truncate(doc.text, room) if room > 0 else ""
        return ([*chosen, (doc, cut)] if cut else chosen), True
    sizes = [tokens.count(doc.text) for doc in others]  # re-tokenised for this prompt
    for doc, size in zip(others, sizes, strict=True):
        n = size + (sep if chosen else 0) + lh.BOUNDARY_SLACK
        if used + n <= budget:
            used += n
            chosen.append((doc, doc.text))
    if chosen or not others:
        return chosen, False
    room = budget - lh.BOUNDARY_SLACK
    cut = tokens.truncate(others[0].text, room) if room >= lh.MIN_FRAGMENT else ""
    return ([(others[0], cut)] if cut else []), True


def naive_requests(variant: lh.Variant, examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    rng = random.Random(ctx.seed)
    tokens = ctx.tokens
    by_patient: dict[str, list[NaiveDoc]] = {}
    for ex in examples:
        texts = ex.fields["texts"]
        by_patient.setdefault(ex.fields["patient"], [NaiveDoc((ex.fields["patient"], t), texts[t]) for t in texts])
    limit = lh.prompt_limit(ctx.max_context)
    out: list[Request] = []
    for ex in examples:
        f = ex.fields
        options = (*f["options"], lh.NOT_ANSWERABLE) if variant.foreign else tuple(f["options"])
        letter = f["gold"] if variant.answerable else "F"
        own = by_patient[f["patient"]]
        pool = [d for q, docs in by_patient.items() if q != f["patient"] for d in docs]
        evidence = [d for d in own if d.key[1] in f["evidence"]] if variant.evidence else []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for k in range(lh.N_PROMPTS):
            for _ in range(lh.MAX_ORDER_TRIES):
                # the fixed parts are counted again for every prompt, too
                fixed = tokens.count(lh.SYSTEM_PROMPT) + tokens.count(lh.DOCS_HEADER + lh.QUESTION_GAP) + 2 * lh.BOUNDARY_SLACK
                budget = limit - fixed - tokens.count(lh.question_block(f["question"], options))
                first = list(evidence)
                rng.shuffle(first)
                others: list[NaiveDoc] = []
                if variant.own_documents:
                    others = [d for d in own if d.key not in {e.key for e in evidence}]
                    rng.shuffle(others)
                if variant.foreign:
                    others += rng.sample(pool, min(lh.N_FOREIGN, len(pool)))
                chosen, truncated = _naive_select(first, others, max(budget, 0), tokens, tokens.count(lh.DOC_SEPARATOR))
                rng.shuffle(chosen)
                order = tuple(d.key for d, _ in chosen)
                if order not in seen:
                    break
            seen.add(order)
            user = lh.user_turn([t for _, t in chosen], f["question"], options)
            out.append(
                Request(
                    id=f"{ex.id}/p{k + 1}",
                    task=variant.task,
                    messages=(Message("system", lh.SYSTEM_PROMPT), Message("user", user)),
                    max_new_tokens=lh.MAX_NEW_TOKENS,
                    reference=lh.answer_text(letter, options[lh.LETTERS_WITH_F.index(letter)]),
                    gold=letter,
                    cluster=ex.id,
                    truncated=truncated or budget <= 0,
                    example_id=ex.id,
                )
            )
    return out


def build_ours(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    return [r for task in lh.TASKS for r in task.requests(examples, ctx)]


def build_naive(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    return [r for task in lh.TASKS for r in naive_requests(task.extra, examples, ctx)]


@pytest.mark.benchmark(group="longhealth-prompts")
def test_prompts_clue(benchmark: BenchmarkFixture, corpus: tuple[list[Example], TokenCounter]) -> None:
    examples, tokens = corpus
    ctx = PromptContext(tokens, max_context=MAX_CONTEXT, seed=1)
    requests = benchmark.pedantic(build_ours, args=(examples, ctx), rounds=3, iterations=1)
    benchmark.extra_info["prompts"] = len(requests)
    benchmark.extra_info["truncated"] = sum(r.truncated for r in requests)


@pytest.mark.benchmark(group="longhealth-prompts")
def test_prompts_naive_retokenising(benchmark: BenchmarkFixture, corpus: tuple[list[Example], TokenCounter]) -> None:
    examples, tokens = corpus
    ctx = PromptContext(tokens, max_context=MAX_CONTEXT, seed=1)
    requests = benchmark.pedantic(build_naive, args=(examples, ctx), rounds=1, iterations=1)
    benchmark.extra_info["prompts"] = len(requests)
    # a fair comparison: both builders make the same 1,500 prompts
    assert len(requests) == 3 * lh.N_PROMPTS * N_PATIENTS * N_QUESTIONS
    assert requests == build_ours(examples, ctx)
