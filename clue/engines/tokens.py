"""Token counters (``clue.contracts.TokenCounter``): a model's own tokenizer, or a cheap estimate."""

from __future__ import annotations

import re
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

    def _encode_special(self, text: str) -> list[int]:
        if self._backend is not None:
            return list(self._backend.encode(text, add_special_tokens=True).ids)
        return list(self._tokenizer.encode(text))

    def count_encoded(self, text: str) -> int:
        """``len(tokenizer.encode(text))``: special tokens (a BOS) included, as CLUE's LongHealth counted."""
        return len(self._encode_special(text))

    def encoded_head(self, text: str, max_tokens: int, keep_special: bool = True) -> str:
        """``tokenizer.decode(tokenizer.encode(text)[:max_tokens])``, special tokens kept unless asked not
        to (CLUE's LongHealth cut: the text then starts with the BOS string)."""
        ids = self._encode_special(text)[: max(max_tokens, 0)]
        return self._tokenizer.decode(ids, skip_special_tokens=not keep_special) if ids else ""

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a token boundary) that counts at most ``max_tokens``."""
        if max_tokens <= 0:
            return ""
        if self._backend is None:
            return _truncate_by_search(text, max_tokens, self.count)
        offsets = self._backend.encode(text, add_special_tokens=False).offsets
        if len(offsets) <= max_tokens:
            return text
        # Re-encoding a prefix may merge differently at the cut (or split a multi-byte character),
        # so step back a token until the prefix re-counts within the limit.
        for k in range(max_tokens, 0, -1):
            prefix = text[: max(end for _, end in offsets[:k])]
            if self.count(prefix) <= max_tokens:
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
        return sum(1 for _ in _PIECE.finditer(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        max_tokens = max(max_tokens, 0)  # 0 keeps only what precedes the first piece (whitespace)
        for i, match in enumerate(_PIECE.finditer(text)):
            if i == max_tokens:  # the first piece that does not fit starts the cut
                return text[: match.start()]
        return text
