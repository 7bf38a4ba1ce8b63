"""ICD-10-CM code extraction and scoring for MeDiSumCode (CLUE, Dada et al. 2024).

Parsing: ICD-10-CM-shaped tokens anywhere in the text, in either case: a letter, a digit, a digit or
letter (the category: I10, U07, C7A, M1A), then optionally a dot and up to four letters/digits, not
glued to other letters or digits. Dots stripped, upper-cased, de-duplicated in order of first
appearance. The CLUE reference regex missed U codes (U07.1) and codes with a letter in third place
(C7A.00), and its duplicate predictions inflated precision (CLUE-SPEC defect 6).

Scores per item, over sets (so order and duplicates do not count): exact P/R/F1 over full codes,
approximate P/R/F1 over categories (first three characters), and the valid-code ratio = share of
distinct predicted codes that are ICD-10-CM categories or subcategories at any level (billable or
not; chapters and blocks excluded) according to simple-icd-10-cm, a maintained release of the code
list; 0 when nothing is predicted. Empty sets: see ``clue.metrics.set_prf.prf`` (both empty -> 1,
one side empty -> 0), so a prediction equal to the gold list always scores 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

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
    """" e11.65" -> "E1165"."""
    return code.replace(".", "").strip().upper()


@lru_cache(maxsize=65536)
def is_valid_code(code: str) -> bool:
    """True when ``code`` (dotted or not, any case) is an ICD-10-CM code: a category or subcategory
    at any level, billable leaf or not ("E11" and "E11.9" both count; blocks like "E08-E13" do not)."""
    code = normalise_code(code)
    if not code or not code.isalnum():
        return False
    try:
        import simple_icd_10_cm as icd  # parses the code list on import (~1.5 s): only when needed

        return bool(icd.is_valid_item(code)) and bool(icd.is_category_or_subcategory(code))
    except Exception:  # the package raises on some malformed inputs; those are not codes
        return False


def icd_scores(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """The seven MeDiSumCode metrics of one item (``METRICS`` keys, values in [0, 1]).

    ``predicted`` and ``gold`` are code lists (e.g. from ``parse_icd_codes``), dotted or not; order
    and duplicates do not matter.
    """
    if isinstance(predicted, str) or isinstance(gold, str):
        raise TypeError("icd_scores takes lists of codes; parse text with parse_icd_codes first")
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
    """``icd_scores`` per item, in order; ``processes`` > 1 spreads large runs over a process pool."""
    if len(predicted_lists) != len(gold_lists):
        raise ValueError(f"{len(predicted_lists)} predictions but {len(gold_lists)} references")
    return map_chunks(_score_chunk, list(zip(predicted_lists, gold_lists, strict=True)), processes)
