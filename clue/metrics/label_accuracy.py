"""MedNLI accuracy: the CLUE reference rule and a strict variant.

Reference rule (CLUE code): correct when the gold label occurs exactly once in the upper-cased output;
it also counts "ENTAILMENT or NEUTRAL" as right. Strict: exactly one of the labels occurs, as a whole
word, exactly once, and it is the gold one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MEDNLI_LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")


def label_accuracy(output: str, gold: str, labels: Sequence[str] = MEDNLI_LABELS) -> tuple[float, float]:
    """(reference rule, strict), each 1.0 or 0.0."""
    text = output.upper()
    gold = gold.strip().upper()
    reference = 1.0 if text.count(gold) == 1 else 0.0
    found = {label: len(re.findall(rf"\b{re.escape(label)}\b", text)) for label in labels}
    present = [label for label, n in found.items() if n]
    strict = 1.0 if present == [gold] and found[gold] == 1 else 0.0
    return reference, strict
