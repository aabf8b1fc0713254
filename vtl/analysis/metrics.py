"""Transferability (per source, along a row) and malleability (per target, down a column) of a PGF matrix.

Delta+(i) = ((1 - exp(-p/N)) / p) * sum_j mu(i->j) [mu > 0], p = number of positive entries, N = entries considered;
Delta-(i) likewise over the n negative entries. A zero mu counts in N only. With p = 0 (or n = 0) the sum is empty
and the score is 0; with N = 0 (nothing measured) it is NaN. The diagonal is left out unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd


def signed_transfer(values: Iterable[float]) -> dict[str, float]:
    """{"pos", "neg", "p", "n", "N"} for one row or column; NaN values are not measured and do not count in N."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    big_n = len(vals)
    pos = [v for v in vals if v > 0]
    neg = [v for v in vals if v < 0]
    out = {"p": len(pos), "n": len(neg), "N": big_n}
    for key, part in (("pos", pos), ("neg", neg)):
        if big_n == 0:
            out[key] = math.nan
        elif not part:
            out[key] = 0.0
        else:
            out[key] = (1.0 - math.exp(-len(part) / big_n)) / len(part) * sum(part)
    return out


def _scores(matrix: pd.DataFrame, include_diagonal: bool, name: str) -> pd.DataFrame:
    rows = []
    for task in matrix.index:
        row = matrix.loc[task]
        if not include_diagonal:
            row = row.drop(labels=[task], errors="ignore")
        rows.append({name: task, **signed_transfer(row.to_numpy())})
    frame = pd.DataFrame(rows, columns=[name, "pos", "neg", "p", "n", "N"]).set_index(name)
    return frame.astype({"p": int, "n": int, "N": int})


def transferability(matrix: pd.DataFrame, include_diagonal: bool = False) -> pd.DataFrame:
    """Per source task: pos (Delta+), neg (Delta-), p, n, N over its targets."""
    return _scores(matrix, include_diagonal, "source")


def malleability(matrix: pd.DataFrame, include_diagonal: bool = False) -> pd.DataFrame:
    """Per target task: pos (Theta+), neg (Theta-), p, n, N over its sources."""
    return _scores(matrix.T, include_diagonal, "target")
