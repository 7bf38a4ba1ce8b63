"""LongHealth prompt building: clue's one-tokenisation-per-document builder against a naive builder
that re-tokenises the fixed parts and every candidate document for every prompt (what CLUE's
reference ``create_prompt`` did; the same selection, cut and shuffle).

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


# -- the naive builder: the reference's create_prompt, every document tokenised for every prompt ---
def _naive_prompt(
    answer_docs: Sequence[str], other_docs: Sequence[str], record: dict, letters: str, ctx: PromptContext, rng: random.Random
) -> tuple[str, bool]:
    """eval_LongHealth.py's create_prompt (CLUE ff75877): encode the fixed parts and every candidate
    document again for this prompt, take documents while they fit, cut the first that does not."""
    rules = ctx.rules.longhealth
    tp = ctx.rules.task("longhealth_task1")
    tokens = ctx.tokens
    n = tokens.count_encoded  # type: ignore[attr-defined]
    max_len = lh.prompt_limit(rules, ctx.max_context, tp.max_new_tokens) - n(tp.system)
    options = rules.option_separator.join(rules.option_line.format(letter=x, text=record[f"answer_{x.lower()}"]) for x in letters)
    len_separator = n(rules.counted_separator)
    total = n(record["question"]) + n(options) + n(tp.user)
    sizes = [[n(doc) for doc in group] for group in (answer_docs, other_docs)]  # re-tokenised per prompt
    selected: list[str] = []
    cut = False
    for group, group_sizes in zip((answer_docs, other_docs), sizes, strict=True):
        for doc, size in zip(group, group_sizes, strict=True):
            if total + size <= max_len:
                selected.append(doc)
                total += size + len_separator
                continue
            selected.append(tokens.encoded_head(doc, max(max_len - total, 0), keep_special=True))  # type: ignore[attr-defined]
            total, cut = max_len, True
            break
    rng.shuffle(selected)
    user = tp.user.format(documents=rules.document_separator.join(selected), question_text=record["question"], options=options)
    return user, cut


def naive_requests(variant: lh.Variant, examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    rules = ctx.rules.longhealth
    tp = ctx.rules.task(variant.task)
    rng = random.Random(ctx.seed)
    patients = {ex.fields["patient"]: ex.fields["texts"] for ex in examples}
    out: list[Request] = []

    def add(ex: Example, k: int, user: str, cut: bool, letter: str | None, record: dict) -> None:
        text = rules.not_answerable if letter == "F" else record.get(f"answer_{(letter or 'a').lower()}", "")
        out.append(
            Request(
                id=f"{ex.id}/p{k + 1}",
                task=variant.task,
                messages=(Message("system", tp.system), Message("user", user)),
                max_new_tokens=tp.max_new_tokens,
                reference=rules.answer_format.format(letter=letter or "?", text=text),
                gold=letter,
                cluster=ex.id,
                truncated=cut,
                example_id=ex.id,
                rendering=tp.rendering,
                stop=tp.stop_strings(ctx.model_id),
            )
        )

    for ex in examples:
        texts = ex.fields["texts"]
        answer = [texts[t] for t in ex.fields["evidence"]]
        if variant.number == 1:
            record = dict(ex.fields["record"])
            others = [text for t, text in texts.items() if t not in ex.fields["evidence"]]
            letter = lh.gold_letter(record, rules.gold_rule)
            for k in range(rules.prompts_per_question):
                add(ex, k, *_naive_prompt(answer, others, record, "ABCDE", ctx, rng), letter, record)
            continue
        record = {**ex.fields["record"], "answer_f": rules.not_answerable}
        letter = lh.gold_letter(record, rules.gold_rule)
        pool = [text for p, ts in patients.items() if p != ex.fields["patient"] for text in ts.values()]
        for j in range(2 * rules.prompts_per_question):
            foreign = rng.sample(pool, min(rules.foreign_documents, len(pool)))
            task3 = j % 2 == 0
            user, cut = _naive_prompt([] if task3 else answer, foreign, record, "ABCDEF", ctx, rng)
            if task3 == (variant.number == 3):
                add(ex, j // 2, user, cut, "F" if task3 else letter, record)
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
    assert len(requests) == 3 * ctx.rules.longhealth.prompts_per_question * N_PATIENTS * N_QUESTIONS
    assert requests == build_ours(examples, ctx)
