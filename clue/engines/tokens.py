"""Token counters (``clue.contracts.TokenCounter``): a model's own tokenizer, or a cheap estimate."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any


class HFTokenCounter:
    """Counts and truncates in the tokens of a Hugging Face tokenizer, special tokens excluded.

    Accepts a ``transformers`` tokenizer or a ``tokenizers.Tokenizer``. Fast tokenizers truncate at
    the character offsets of the tokens; slow ones by a search over prefix lengths.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        # The Rust tokenizer directly: no "sequence longer than model_max_length" warnings, faster.
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None and hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "token_to_id"):
            backend = tokenizer  # a tokenizers.Tokenizer
        self._backend = backend

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._backend is not None:
            return len(self._backend.encode(text, add_special_tokens=False).ids)
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def encoded_ids(self, text: str) -> list[int]:
        """``tokenizer.encode(text)``: the ids with special tokens (a BOS) included."""
        if self._backend is not None:
            return list(self._backend.encode(text, add_special_tokens=True).ids)
        return list(self._tokenizer.encode(text))

    def decode_ids(self, ids: Sequence[int], keep_special: bool = True) -> str:
        """``tokenizer.decode(ids)``, special tokens kept unless asked not to; "" for no ids."""
        return self._tokenizer.decode(list(ids), skip_special_tokens=not keep_special) if ids else ""

    def count_encoded(self, text: str) -> int:
        """``len(tokenizer.encode(text))``: special tokens (a BOS) included, as CLUE's LongHealth counted."""
        return len(self.encoded_ids(text))

    def encoded_head(self, text: str, max_tokens: int, keep_special: bool = True) -> str:
        """``tokenizer.decode(tokenizer.encode(text)[:max_tokens])``, special tokens kept unless asked not
        to (CLUE's LongHealth cut: the text then starts with the BOS string)."""
        return self.decode_ids(self.encoded_ids(text)[: max(max_tokens, 0)], keep_special)

    def token_ends(self, text: str) -> list[int] | None:
        """The character offset where each token of ``text`` ends (special tokens excluded; as many
        as ``count(text)``), or None for a tokenizer without offsets (a slow one)."""
        if self._backend is None:
            return None
        return [end for _, end in self._backend.encode(text, add_special_tokens=False).offsets]

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a token boundary) that counts at most ``max_tokens``."""
        if max_tokens <= 0:
            return ""
        ends = self.token_ends(text)
        if ends is None:
            return _truncate_by_search(text, max_tokens, self.count)
        return truncate_at_token_ends(text, max_tokens, ends, self.count)


def truncate_at_token_ends(text: str, max_tokens: int, ends: Sequence[int], count: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` ending where one of its first ``max_tokens`` tokens ends (``ends``:
    the tokens' end offsets) that ``count`` puts within ``max_tokens``. Re-encoding a prefix may merge
    differently at the cut (or split a multi-byte character), so it steps back a token at a time."""
    if max_tokens <= 0:
        return ""
    if len(ends) <= max_tokens:
        return text
    reach = list(accumulate(ends[:max_tokens], max))  # reach[k - 1]: the furthest end of the first k tokens
    for k in range(max_tokens, 0, -1):
        prefix = text[: reach[k - 1]]
        if count(prefix) <= max_tokens:
            return prefix
    return ""


def _truncate_by_search(text: str, max_tokens: int, count: Any) -> str:
    """Longest prefix within ``max_tokens`` by binary search on its length (counts grow with length)."""
    if count(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)  # count(text[:lo]) <= max_tokens < count(text[:hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid
    return text[:lo]


# Letters in runs of at most 8, digits in runs of at most 3 (as most BPE vocabularies split numbers),
# every other non-space character alone. An estimate for engines without a local tokenizer; it
# errs towards more pieces than a real tokenizer gives for English prose.
_PIECE = re.compile(r"[^\W\d_]{1,8}|\d{1,3}|[^\w\s]|_", re.UNICODE)


class ApproxTokenCounter:
    """Cheap token estimate from regex word/number/punctuation pieces (no tokenizer needed)."""

    def count(self, text: str) -> int:
        return _PIECE.subn("", text)[1]  # the matches counted in C: 1.6x faster than iterating them

    def truncate(self, text: str, max_tokens: int) -> str:
        max_tokens = max(max_tokens, 0)  # 0 keeps only what precedes the first piece (whitespace)
        for i, match in enumerate(_PIECE.finditer(text)):
            if i == max_tokens:  # the first piece that does not fit starts the cut
                return text[: match.start()]
        return text
