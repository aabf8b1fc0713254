"""The Perfection Gap Factor (arXiv 2511.18787) and the record written per (epoch, target)."""

from __future__ import annotations

import math

# Fields of one line of `transfer.jsonl`, written by the PGF callback and read by `vtl analyze`.
TRANSFER_RECORD_FIELDS = (
    "model",  # model name or path as given to the loader
    "source_task",  # BLINK spelling; "mixture:<name>" for a mixture run
    "seed",
    "epoch",
    "step",
    "target",  # BLINK spelling
    "accuracy",  # fine-tuned accuracy on the target's eval set
    "zero_shot_accuracy",  # same model with the adapter disabled
    "pgf",  # None when undefined (zero-shot accuracy at the ceiling and epsilon 0)
    "n",  # eval questions of the target
)


def pgf(acc_ft: float, acc_base: float, upper: float = 1.0, eps: float = 0.0) -> float | None:
    """mu = (acc_ft - acc_base) / (upper - acc_base + eps).

    At the ceiling (upper - acc_base + eps == 0) the gap is closed and PGF is undefined: returns None, never inf,
    so callers must say so instead of logging a silent infinity.
    """
    denom = upper - acc_base + eps
    if math.isclose(denom, 0.0, abs_tol=1e-12):
        return None
    return (acc_ft - acc_base) / denom
