"""Numerical answers (VSI-Bench's counting, distance and size questions): number parsing and Mean Relative Accuracy.

Each rule named after a reference gives that reference's verdict on every output, quirks included:
- `vsibench`: the official VSI-Bench scorer (vision-x-nyu/thinking-in-space 51e089c3ae69b9435e9489058610f5b3964c56a8,
  `lmms_eval/tasks/vsibench/utils.py`, `fuzzy_matching` + `to_float`): the text before the first *space* (not any
  whitespace), trailing periods removed, then surrounding whitespace, then Python `float()` (so "nan", "inf", "1e3"
  and "1_000" parse, " 3" does not).
- `lmms-eval`: lmms-eval's VSI-Bench task (EvolvingLMMs-Lab/lmms-eval 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3,
  `lmms_eval/tasks/vsibench/utils.py`, `extract_number`): whichever comes first in the lower-cased text, a digit run
  `-?\\d+(\\.\\d+)?` or a run of number words (compounds such as "twenty-one" or "three hundred and five" summed).
- `vtl`: vtl's own forgiving reading (first number after thousands separators are removed, else a single number
  word) and MRA with a small slack so an error exactly at a threshold counts (`mra_slack`). Not a reference.

MRA (`mean_relative_accuracy`) is the references' arithmetic exactly: `abs(pred - truth) / truth <=
1 - np.linspace(.5, .95, 10)` in float64, mean of the ten booleans, no slack; 4 for 5 scores 0.6.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from vtl.errors import VtlError

NumberRule = Literal["vsibench", "lmms-eval", "vtl"]
NUMBER_RULES: tuple[str, ...] = ("vsibench", "lmms-eval", "vtl")

# the references' thresholds: np.linspace(.5, .95, int((.95 - .5) / .05 + 2)) — ten points, 0.95 included
THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
# lmms-eval's word list; vtl's own rule knows the words up to twenty, the round tens to fifty, and "hundred"
_LMMS_WORDS = {**{w: i for i, w in enumerate(_SMALL)}, **_TENS, "hundred": 100, "thousand": 1000}
_VTL_WORDS = {w: v for w, v in _LMMS_WORDS.items() if v <= 20 or v in (30, 40, 50, 100)}

_LMMS_DIGITS = re.compile(r"-?\d+(?:\.\d+)?")
_LETTERS = re.compile(r"[a-z]+")
_VTL_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_VTL_WORD = re.compile(r"\b(" + "|".join(sorted(_VTL_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


class ScoringError(VtlError):
    """A truth value the reference scorer cannot score (it would divide by zero)."""


def first_token(text: str) -> str:
    """VSI-Bench's `fuzzy_matching`: the text before the first space, trailing periods removed, then stripped."""
    return text.split(" ")[0].rstrip(".").strip()


def parse_number(text: str | None, rule: NumberRule = "lmms-eval") -> float | None:
    """The number a model's answer states, by `rule`; None when there is none."""
    if rule not in NUMBER_RULES:
        raise ValueError(f"number rule {rule!r}: use one of {', '.join(NUMBER_RULES)}")
    if text is None:
        return None
    if rule == "vsibench":
        try:
            return float(first_token(text))
        except ValueError:
            return None
    if rule == "lmms-eval":
        return _lmms_eval_number(text)
    return _vtl_number(text)


def _lmms_eval_number(text: str) -> float | None:
    s = str(text).strip().lower()
    digits = _LMMS_DIGITS.search(s)
    run_start, run = None, []
    for m in _LETTERS.finditer(s):
        word = m.group(0)
        if run_start is None:
            if word in _LMMS_WORDS:
                run_start, run = m.start(), [word]
        elif word in _LMMS_WORDS:
            run.append(word)
        elif word != "and":  # "three hundred and five" is one run
            break
    if digits is not None and (run_start is None or digits.start() < run_start):
        return float(digits.group(0))
    if run_start is None:
        return None
    total, current = 0, 0
    for word in run:
        value = _LMMS_WORDS[word]
        if value == 100:
            current = max(current, 1) * 100
        elif value == 1000:
            total, current = total + max(current, 1) * 1000, 0
        else:
            current += value
    return float(total + current)


def _vtl_number(text: str) -> float | None:
    text = text.strip()
    match = _VTL_NUMBER.search(text.replace(",", ""))
    if match:
        return float(match.group())
    word = _VTL_WORD.search(text)
    return float(_VTL_WORDS[word.group(1).lower()]) if word else None


def mean_relative_accuracy(pred: float | None, truth: float) -> float:
    """The references' MRA: mean over θ of 1[|ŷ − y| / y ≤ 1 − θ]; an unparseable answer (None) scores 0.

    A truth of 0 makes the references divide by zero (they crash); vtl says so instead.
    """
    if pred is None:
        return 0.0
    if truth == 0:
        raise ScoringError("MRA of a question whose answer is 0: the reference formula divides by it; "
                           "use the number rule 'vtl' (exact match for a zero answer)")
    return float((abs(pred - truth) / truth <= 1 - THRESHOLDS).mean())


def mra_slack(pred: float | None, truth: float) -> float:
    """vtl's MRA: an error exactly at a threshold (10 % at θ = 0.90) counts despite float rounding; a zero answer
    needs an exact match. Differs from the references on boundaries (4 for 5: 0.7 here, 0.6 there)."""
    if pred is None or truth == 0:
        return float(pred is not None and pred == truth)
    return float(np.mean(abs(pred - truth) / abs(truth) <= (1 - THRESHOLDS) + 1e-9))


def score_number(text: str | None, truth: float, rule: NumberRule = "lmms-eval") -> tuple[float | None, float]:
    """(parsed value, MRA) of one answer under `rule`: the reference rules use the exact MRA, `vtl` the slack one."""
    value = parse_number(text, rule)
    return value, (mra_slack if rule == "vtl" else mean_relative_accuracy)(value, truth)
