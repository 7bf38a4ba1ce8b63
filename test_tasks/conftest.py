"""Fixtures for the task tests: the shipped demo data, token counters and tiny chat tokenizers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DEMO_DIR = Path(__file__).resolve().parent.parent / "clue" / "data" / "demo"

# One turn: <|role|>\ncontent<|end|>\n (roles as in many chat models).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif -%}"
)
# The same, but rejecting a system turn (as Mistral- or Gemma-style templates do).
CHAT_TEMPLATE_NO_SYSTEM = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ raise_exception('System role not supported') }}{%- endif -%}"
    "{{ '[' + message['role'] + ']\\n' + message['content'] + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '[assistant]\\n' }}{% endif -%}"
)

_TRAINING_TEXT = [
    "The patient was admitted with chest pain and shortness of breath.",
    "Summarize the question. List the diagnoses. ENTAILMENT NEUTRAL CONTRADICTION",
    "discharge letter question answer codes ICD-10 user assistant system end",
]


class WordCounter:
    """A TokenCounter where a token is a run of non-space characters (easy to reason about in tests)."""

    _WORD = re.compile(r"\S+")

    def count(self, text: str) -> int:
        return len(self._WORD.findall(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        for i, match in enumerate(self._WORD.finditer(text)):
            if i == max_tokens:
                return text[: match.start()]
        return text


@pytest.fixture
def demo_dir() -> Path:
    return DEMO_DIR


@pytest.fixture
def words() -> WordCounter:
    return WordCounter()


def _tokenizer(template: str):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(_TRAINING_TEXT, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<s>", "</s>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="[UNK]")
    tokenizer.chat_template = template
    return tokenizer


@pytest.fixture(scope="session")
def chat_tokenizer():
    """A tiny word-level tokenizer whose chat template accepts a system turn."""
    return _tokenizer(CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def nosystem_tokenizer():
    """A tiny word-level tokenizer whose chat template rejects a system turn."""
    return _tokenizer(CHAT_TEMPLATE_NO_SYSTEM)


@pytest.fixture(scope="session")
def bos_counter():
    """A token counter over a word-level tokenizer that adds a BOS token ``<s>`` when encoding."""
    from tokenizers import processors

    from clue.engines.tokens import HFTokenCounter

    tokenizer = _tokenizer(CHAT_TEMPLATE)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.convert_tokens_to_ids("<s>"))]
    )
    return HFTokenCounter(tokenizer)
