"""The answer letter of a multiple-choice output (LongHealth).

CLUE's reference reads the letter with a case-sensitive pattern for ``The correct answer is X:``
and scores every other form wrong (CLUE-SPEC defect 5). We report that exact form as the *strict*
parse and also accept reasonable variants (*lenient*): any letter case of the phrase,
``The correct answer is X.`` / ``is: X`` / ``Answer: X`` / ``answer is (X)`` / ``option X``, and an
output that is only the letter (``C``, ``C:``, ``(C)``).

Every pattern uses bounded repetitions only, so a parse is linear in the length of the text, and
no input text makes the parser raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_LETTERS = "ABCDE"

# The exact form the prompt asks for (the reference's rule): case-sensitive, colon required.
_STRICT = re.compile(r"The correct answer is ([A-Z]):")

# "answer", then optionally "is"/"would be"/"=", a colon, "option"/"letter" and up to three
# opening marks before a single letter that is not part of a word.
_LENIENT = re.compile(
    r"\banswer"
    r"(?:[ \t]{1,3}(?:is|would[ \t]{1,3}be)\b)?"
    r"[ \t]{0,3}[:=\-]?[*_]{0,2}[ \t\n]{0,3}"
    r"(?:(?:option|letter|choice)[ \t]{1,3})?"
    r"[(\[*\"'`]{0,3}"
    r"([A-Za-z])(?![A-Za-z0-9])",
    re.IGNORECASE,
)

# The whole output is the letter, possibly wrapped or followed by ":" / "." / ")" and text.
_BARE = re.compile(r"[ \t\n]{0,20}[(\[*\"'`]{0,3}([A-Z])(?:[)\]*\"'`]{0,3}[:.)]|[)\]*\"'`]{0,3}[ \t\n]{0,20}$)")

# After a lower-case letter only these mark it as an answer letter ("answer: a fever" is not "A").
_LOWER_FOLLOW = frozenset(":.)]*\"'`,;\n")


@dataclass(frozen=True)
class ParsedAnswer:
    """The letter read from an output (None when none is found) and whether it had the exact form."""

    letter: str | None
    strict: bool


NO_ANSWER = ParsedAnswer(None, False)


def parse_answer_letter(text: str, letters: Iterable[str] = DEFAULT_LETTERS) -> ParsedAnswer:
    """The option letter in ``text`` (one of ``letters``), strict form first, then the lenient forms.

    The first occurrence wins within each form. Never raises on any ``text``.
    """
    allowed = _allowed(letters)
    if not isinstance(text, str) or not text:
        return NO_ANSWER
    for match in _STRICT.finditer(text):
        if match.group(1) in allowed:
            return ParsedAnswer(match.group(1), True)
    for match in _LENIENT.finditer(text):
        letter = match.group(1)
        if letter.upper() not in allowed:
            continue
        if letter.islower() and not _ends_answer(text, match.end()):
            continue
        return ParsedAnswer(letter.upper(), False)
    bare = _BARE.match(text)
    if bare and bare.group(1) in allowed:
        return ParsedAnswer(bare.group(1), False)
    return NO_ANSWER


def _ends_answer(text: str, end: int) -> bool:
    return end >= len(text) or text[end] in _LOWER_FOLLOW


def _allowed(letters: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(letters)
    bad = sorted(x for x in allowed if len(x) != 1 or not ("A" <= x <= "Z"))
    if not allowed or bad:
        raise ValueError(f"letters must be upper-case single letters A-Z, got {sorted(allowed)!r}")
    return allowed
