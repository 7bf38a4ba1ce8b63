"""Token counters: counts without special tokens, truncation to the longest prefix that fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from clue.engines.tokens import ApproxTokenCounter, HFTokenCounter

TEXT = (
    "The patient is a 67 year old woman with hypertension and diabetes mellitus, admitted with "
    "shortness of breath. Blutdruck 160/95 mmHg; Übelkeit und Erbrechen. Discharge on metoprolol."
)
texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF) | st.sampled_from(["\n", " ", "é", "€", "🙂"]), max_size=120)


@pytest.fixture(scope="module")
def hf_tokenizer(demo_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(demo_model_dir)


@pytest.fixture(scope="module")
def counter(hf_tokenizer: Any) -> HFTokenCounter:
    return HFTokenCounter(hf_tokenizer)


class WhitespaceTokenizer:
    """A 'slow' tokenizer: no Rust backend, no offsets; one token per whitespace-separated word."""

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return ([0] if add_special_tokens else []) + [1] * len(text.split())


def test_count_excludes_special_tokens(counter: HFTokenCounter, hf_tokenizer: Any) -> None:
    with_special = hf_tokenizer(TEXT)["input_ids"]
    assert with_special[0] == hf_tokenizer.bos_token_id
    assert counter.count(TEXT) == len(with_special) - 1
    assert counter.count("") == 0


def test_count_accepts_a_tokenizers_tokenizer(counter: HFTokenCounter, demo_model_dir: Path) -> None:
    raw = HFTokenCounter(Tokenizer.from_file(str(demo_model_dir / "tokenizer.json")))
    assert raw.count(TEXT) == counter.count(TEXT)
    assert raw.truncate(TEXT, 10) == counter.truncate(TEXT, 10)


def test_truncate_gives_the_prefix_of_exactly_n_tokens(counter: HFTokenCounter, hf_tokenizer: Any) -> None:
    total = counter.count(TEXT)
    assert total > 40
    for n in (1, 5, 17, total - 1):
        cut = counter.truncate(TEXT, n)
        assert TEXT.startswith(cut)
        assert counter.count(cut) == n
        ids = hf_tokenizer(TEXT, add_special_tokens=False)["input_ids"]
        assert hf_tokenizer(cut, add_special_tokens=False)["input_ids"] == ids[:n]
    assert counter.truncate(TEXT, total) == TEXT
    assert counter.truncate(TEXT, total + 100) == TEXT
    assert counter.truncate(TEXT, 0) == ""


@settings(max_examples=150, deadline=None)
@given(text=texts, n=st.integers(min_value=0, max_value=60))
def test_truncate_recounts_within_the_limit(counter: HFTokenCounter, text: str, n: int) -> None:
    cut = counter.truncate(text, n)
    assert text.startswith(cut)
    assert counter.count(cut) <= n
    if counter.count(text) <= n:
        assert cut == text


def test_slow_tokenizer_truncates_by_search() -> None:
    slow = HFTokenCounter(WhitespaceTokenizer())
    text = "one two three four five six"
    assert slow.count(text) == 6
    assert slow.truncate(text, 3) == "one two three "  # longest prefix still counting 3 words
    assert slow.truncate(text, 6) == text
    assert slow.truncate(text, 0) == ""


def test_approx_counts_word_number_and_punctuation_pieces() -> None:
    approx = ApproxTokenCounter()
    assert approx.count("") == 0
    assert approx.count("Blood pressure: 140/90.") == 7  # Blood pressure : 140 / 90 .
    assert approx.count("1234567") == 3  # digits in runs of at most three
    assert approx.count("pneumonoultramicroscopic") == 3  # long words count as several pieces
    assert approx.count("Übelkeit, naïve") == 3


def test_approx_truncate_keeps_whole_pieces() -> None:
    approx = ApproxTokenCounter()
    assert approx.truncate("Blood pressure: 140/90.", 3) == "Blood pressure: "
    assert approx.truncate("Blood pressure: 140/90.", 2) == "Blood pressure"
    assert approx.truncate("Blood pressure: 140/90.", 7) == "Blood pressure: 140/90."
    assert approx.truncate("a b", 0) == ""


@settings(max_examples=200, deadline=None)
@given(text=texts, n=st.integers(min_value=0, max_value=40))
def test_approx_truncate_is_the_longest_prefix_within_the_limit(text: str, n: int) -> None:
    approx = ApproxTokenCounter()
    cut = approx.truncate(text, n)
    assert text.startswith(cut)
    assert approx.count(cut) <= n
    if cut != text:
        assert approx.count(text[: len(cut) + 1]) > n


def test_truncate_never_splits_a_character(counter: HFTokenCounter) -> None:
    # Byte-level BPE spells a character missing from the vocabulary as several byte tokens; a cut
    # inside it would re-count to more tokens, so truncation steps back to before the character.
    assert counter.count("🙂") > 1
    assert counter.truncate("a🙂 ok", counter.count("a") + 1) == "a"
    assert counter.truncate("a🙂 ok", counter.count("a🙂")) == "a🙂"


# -- truncation that keeps the token offsets (few-shot prompts) ---------------------------------------
@settings(max_examples=150, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=4))
def test_memoised_truncation_cuts_as_the_counter_does(counter: HFTokenCounter, text: str, cuts: list[int]) -> None:
    from clue.prompts.fewshot import _MemoCounter

    memo = _MemoCounter(counter)
    current = text
    for n in cuts:  # a fit cuts the original, then cuts its own cut again
        expected = counter.truncate(current, n)
        assert memo.truncate(current, n, original=current is text) == expected
        assert memo.count(expected) == counter.count(expected)
        current = expected


def test_memoised_truncation_encodes_a_shot_letter_once(counter: HFTokenCounter) -> None:
    from clue.prompts.fewshot import _MemoCounter

    calls: list[str] = []

    class Counting(HFTokenCounter):
        def token_ends(self, text: str) -> list[int] | None:
            calls.append(text)
            return super().token_ends(text)

    memo = _MemoCounter(Counting(counter._tokenizer))
    letter = TEXT * 6
    for keep in (40, 37, 52, 45, 33):  # one cut of the shot's letter per item
        assert memo.truncate(letter, keep, original=True) == counter.truncate(letter, keep)
    assert calls.count(letter) == 1


def test_approx_counts_as_before() -> None:
    import re

    pieces = re.compile(r"[^\W\d_]{1,8}|\d{1,3}|[^\w\s]|_", re.UNICODE)
    for text in (TEXT, TEXT * 50, "", "   ", "a_b__c 1234567 élan-vital"):
        assert ApproxTokenCounter().count(text) == sum(1 for _ in pieces.finditer(text))
