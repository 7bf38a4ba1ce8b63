"""MedNLI accuracy (Romanov and Shivade 2018; CLUE, Dada et al. 2024): the reference rule and a strict one.

Reference rule (CLUE code): correct when the gold label occurs exactly once, as a substring, in the
upper-cased output; it also counts "ENTAILMENT or NEUTRAL" as right. Strict: counting each label as
a whole word, exactly one of the labels occurs, exactly once, and it is the gold one; and the
reference rule holds too, so strict never exceeds it ("CONTRADICTION. These are contradictions."
names the label once as a word but twice as a substring: wrong by both).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MEDNLI_LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")


def label_accuracy(output: str, gold: str, labels: Sequence[str] = MEDNLI_LABELS) -> tuple[float, float]:
    """(reference rule, strict), each 1.0 or 0.0. ``gold`` in any case ("entailment" as in the file)."""
    text = output.upper()
    gold = gold.strip().upper()
    if not gold:
        raise ValueError("empty gold label")
    reference = 1.0 if text.count(gold) == 1 else 0.0
    found = {label.upper(): len(re.findall(rf"\b{re.escape(label.upper())}\b", text)) for label in labels}
    present = [label for label, n in found.items() if n]
    strict = 1.0 if reference and present == [gold] and found[gold] == 1 else 0.0
    return reference, strict
