"""ICD-10-CM code extraction and scoring for MeDiSumCode (CLUE).

Parsing: ICD-10-CM-shaped tokens (a letter, a digit, a digit or letter, then optionally a dot and up
to four letters/digits) anywhere in the text; dots stripped, upper-cased, de-duplicated in order of
first appearance. The CLUE reference regex missed U codes (U07.1) and codes with a letter in third
place (C7A.00); its duplicate predictions inflated precision.

Scores per item: exact P/R/F1 over full codes, approximate P/R/F1 over categories (first three
characters), valid-code ratio = share of distinct predicted codes that exist in ICD-10-CM
(simple-icd-10-cm, a maintained release of the code list; 0 when nothing is predicted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import simple_icd_10_cm as icd

from clue.metrics.parallel import map_chunks
from clue.metrics.set_prf import prf

_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][0-9][0-9A-Za-z])(?:\.?([0-9A-Za-z]{1,4}))?(?![A-Za-z0-9])")

METRICS = (
    "icd_exact_precision", "icd_exact_recall", "icd_exact_f1",
    "icd_approx_precision", "icd_approx_recall", "icd_approx_f1",
    "icd_valid_ratio",
)


def parse_icd_codes(text: str) -> tuple[str, ...]:
    """ICD-10-CM-shaped codes in ``text``, normalised (no dot, upper case), first occurrence order."""
    seen: dict[str, None] = {}
    for match in _CODE.finditer(text or ""):
        seen.setdefault((match.group(1) + (match.group(2) or "")).upper(), None)
    return tuple(seen)


def normalise_code(code: str) -> str:
    return code.replace(".", "").strip().upper()


@lru_cache(maxsize=65536)
def is_valid_code(code: str) -> bool:
    """True when ``code`` (dotted or not) is a code of ICD-10-CM (any level, not only billable leaves)."""
    code = normalise_code(code)
    if not code:
        return False
    try:
        return bool(icd.is_valid_item(code))
    except Exception:  # the package raises on some malformed inputs; those are not codes
        return False


def icd_scores(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """The seven MeDiSumCode metrics of one item; order and duplicates of codes do not matter."""
    pred = {normalise_code(c) for c in predicted if normalise_code(c)}
    ref = {normalise_code(c) for c in gold if normalise_code(c)}
    ep, er, ef = prf(pred, ref)
    ap, ar, af = prf({c[:3] for c in pred}, {c[:3] for c in ref})
    valid = sum(is_valid_code(c) for c in pred) / len(pred) if pred else 0.0
    return dict(zip(METRICS, (ep, er, ef, ap, ar, af, valid), strict=True))


def _score_chunk(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[dict[str, float]]:
    return [icd_scores(p, g) for p, g in pairs]


def icd_scores_many(
    predicted_lists: Sequence[Sequence[str]], gold_lists: Sequence[Sequence[str]], processes: int = 1
) -> list[dict[str, float]]:
    if len(predicted_lists) != len(gold_lists):
        raise ValueError(f"{len(predicted_lists)} predictions but {len(gold_lists)} references")
    return map_chunks(_score_chunk, list(zip(predicted_lists, gold_lists, strict=True)), processes)
