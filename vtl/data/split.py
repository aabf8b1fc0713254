"""Seeded train/eval split of one task's rows, disjoint by idx, so part of BLINK val can train and the rest evaluate."""

from __future__ import annotations

import math
import random
from itertools import pairwise

from vtl.data.sample import BlinkSample


def split_samples(samples: list[BlinkSample], eval_fraction: float, seed: int) -> tuple[list, list]:
    """(train, eval) with round(eval_fraction * n) rows in eval.

    Rows are sorted by idx before a seeded shuffle, so the split depends only on the set of rows and the seed, not
    on the order they were loaded in. Duplicate idx values are an error: they would break disjointness.
    """
    if not isinstance(eval_fraction, (int, float)) or math.isnan(eval_fraction) or not 0 <= eval_fraction <= 1:
        raise ValueError(f"eval_fraction must be a number in [0, 1], got {eval_fraction!r}")
    ordered = sorted(samples, key=lambda s: s.idx)
    for a, b in pairwise(ordered):
        if a.idx == b.idx:
            raise ValueError(f"{b.origin}: row {b.idx!r}: field 'idx': duplicate idx; make every idx unique")
    random.Random(seed).shuffle(ordered)
    n_eval = round(eval_fraction * len(ordered))
    return ordered[n_eval:], ordered[:n_eval]
