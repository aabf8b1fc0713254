"""Numerical answers (VSI-Bench's counting, distance and size questions): number parsing and Mean Relative Accuracy.

Two parsing rules, named after the code they reproduce:
- `vsibench`: the original VSI-Bench evaluation, float() of the first whitespace-separated token (a trailing
  period or comma stripped); anything else is unparseable.
- `lmms-eval`: the first number anywhere in the text (digits with an optional decimal part and sign), else the
  first English number word ("three", "twelve", "twenty"); more forgiving of chatty answers.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

NumberRule = Literal["vsibench", "lmms-eval"]
NUMBER_RULES: tuple[str, ...] = ("vsibench", "lmms-eval")

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100})
_WORD = re.compile(r"\b(" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)

# MRA thresholds θ ∈ {0.50, 0.55, …, 0.95}
THRESHOLDS = np.round(np.arange(0.50, 0.951, 0.05), 2)


def parse_number(text: str | None, rule: NumberRule = "lmms-eval") -> float | None:
    """The number a model's answer states, by `rule`; None when there is none."""
    if text is None:
        return None
    text = text.strip()
    if rule == "vsibench":
        token = text.split()[0].rstrip(".,;:") if text.split() else ""
        try:
            return float(token)
        except ValueError:
            return None
    if rule != "lmms-eval":
        raise ValueError(f"number rule {rule!r}: use one of {', '.join(NUMBER_RULES)}")
    match = _NUMBER.search(text.replace(",", ""))
    if match:
        return float(match.group())
    word = _WORD.search(text)
    return float(_WORDS[word.group(1).lower()]) if word else None


def mean_relative_accuracy(pred: float | None, truth: float) -> float:
    """MRA = mean over θ of 1[|ŷ − y| / y ≤ 1 − θ]; an unparseable answer (None) scores 0."""
    if pred is None or truth == 0:
        return float(pred is not None and pred == truth)
    relative_error = abs(pred - truth) / abs(truth)
    # compare with a little slack so an error exactly at a threshold (e.g. 10 % at θ = 0.90) counts
    return float(np.mean(relative_error <= (1 - THRESHOLDS) + 1e-9))
