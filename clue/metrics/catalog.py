"""Every metric clue reports, with the scorer it needs: declared here, never guessed from a name.

``needs``: "none" (pure text rules: accuracy, ROUGE, ICD-10), "bertscore" (an encoder model) or
"umls" (scispaCy's entity linker). A metric whose scorer is unavailable is left out of the item
scores and reported unavailable with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Scorer = Literal["none", "bertscore", "umls"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    needs: Scorer
    description: str


_METRICS = (
    MetricInfo("accuracy", "none", "share of items answered right by the task's strict rule: the reference's for the "
               "CLUE tasks; the exact form 'The correct answer is X:' for the multiple-choice suites"),
    MetricInfo("accuracy_strict", "none", "MedNLI: the reference rule and exactly one label named"),
    MetricInfo("accuracy_lenient", "none", "LongHealth and the multiple-choice suites: right by the lenient answer-letter parse"),
    MetricInfo("rouge1", "none", "ROUGE-1 F-measure (Lin 2004), rouge-score defaults"),
    MetricInfo("rouge2", "none", "ROUGE-2 F-measure"),
    MetricInfo("rougeL", "none", "ROUGE-L F-measure"),
    MetricInfo("bertscore_precision", "bertscore", "BERTScore precision (Zhang et al. 2020)"),
    MetricInfo("bertscore_recall", "bertscore", "BERTScore recall"),
    MetricInfo("bertscore_f1", "bertscore", "BERTScore F1"),
    MetricInfo("umls_precision", "umls", "UMLS concept precision (scispaCy linker)"),
    MetricInfo("umls_recall", "umls", "UMLS concept recall"),
    MetricInfo("umls_f1", "umls", "UMLS concept F1"),
    MetricInfo("icd_exact_precision", "none", "ICD-10 exact-code precision"),
    MetricInfo("icd_exact_recall", "none", "ICD-10 exact-code recall"),
    MetricInfo("icd_exact_f1", "none", "ICD-10 exact-code F1"),
    MetricInfo("icd_approx_precision", "none", "ICD-10 category (3 characters) precision"),
    MetricInfo("icd_approx_recall", "none", "ICD-10 category recall"),
    MetricInfo("icd_approx_f1", "none", "ICD-10 category F1"),
    MetricInfo("icd_valid_ratio", "none", "share of predicted codes that exist in the code list"),
)

METRICS: dict[str, MetricInfo] = {m.name: m for m in _METRICS}


def metric_info(name: str) -> MetricInfo:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; declare it in clue/metrics/catalog.py") from None


def needs(metrics: Iterable[str], scorer: Scorer) -> bool:
    """True when any of ``metrics`` needs ``scorer``."""
    return any(metric_info(m).needs == scorer for m in metrics)
