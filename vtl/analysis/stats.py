"""Significance across seeds: of each persona claim, and of the trend of mean transferability/malleability with scale.

- Persona claim "task t is a donor" (or pirate, sponge, sieve): per seed, the difference between t's score (Δ⁺, Δ⁻,
  Θ⁺ or Θ⁻ on that seed's PGF matrix) and the mean score of the other tasks; a one-sided Wilcoxon signed-rank test
  of those differences (above 0 for donor and sponge, below 0 for pirate and sieve).
- Scale trend: per seed, the mean over tasks of each score at the smallest and at the largest scale; a one-sided
  Mann-Whitney U test that the larger scale's per-seed means are larger (the seeds of two scales are separate runs,
  so the samples are unpaired).

Each p-value needs two seeds or more per side; with fewer it is None.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import mannwhitneyu

from vtl.analysis.cliques import wilcoxon_p
from vtl.analysis.matrix import PGFMatrices
from vtl.analysis.metrics import malleability, transferability
from vtl.analysis.personas import PERSONAS

SCORES = {  # summary name -> (table, column)
    "mean_positive_transferability": ("transferability", "pos"),
    "mean_negative_transferability": ("transferability", "neg"),
    "mean_positive_malleability": ("malleability", "pos"),
    "mean_negative_malleability": ("malleability", "neg"),
}


def per_seed_scores(m: PGFMatrices, include_diagonal: bool = False) -> dict[str, dict]:
    """seed -> {"transferability": frame, "malleability": frame} of that seed's PGF matrix."""
    return {seed: {"transferability": transferability(frame, include_diagonal),
                   "malleability": malleability(frame, include_diagonal)} for seed, frame in m.per_seed.items()}


def persona_p_values(m: PGFMatrices, personas: dict[str, list[str]], include_diagonal: bool = False
                     ) -> dict[str, dict[str, float | None]]:
    """persona -> {task: one-sided p-value across seeds} for every task holding that persona."""
    scores = per_seed_scores(m, include_diagonal)
    out: dict[str, dict[str, float | None]] = {}
    for persona, tasks in personas.items():
        table, column, descending = PERSONAS[persona]
        out[persona] = {}
        for task in tasks:
            diffs = []
            for tables in scores.values():
                col = tables[table][column]
                if task not in col.index or math.isnan(col[task]):
                    continue
                others = col.drop(task).dropna()
                if len(others):
                    diffs.append(float(col[task] - others.mean()))
            p = wilcoxon_p(diffs, "positive" if descending else "negative")
            out[persona][task] = None if math.isnan(p) else p
    return out


def scale_trend_test(matrices: dict[str, PGFMatrices], include_diagonal: bool = False) -> dict:
    """Smallest vs largest scale (first and last label): per-seed means of each score and a one-sided p-value that
    the larger scale's are larger. {} with fewer than two labels."""
    labels = list(matrices)
    if len(labels) < 2:
        return {}
    small, large = labels[0], labels[-1]
    seeds = {lbl: per_seed_scores(matrices[lbl], include_diagonal) for lbl in (small, large)}
    tests = {}
    for name, (table, column) in SCORES.items():
        means = {lbl: [float(np.nanmean(t[table][column])) for t in seeds[lbl].values()
                       if t[table][column].notna().any()] for lbl in (small, large)}
        a, b = means[small], means[large]
        p = None
        if len(a) >= 2 and len(b) >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = float(mannwhitneyu(b, a, alternative="greater").pvalue)
        tests[name] = {"smaller_scale_mean": float(np.mean(a)) if a else None,
                       "larger_scale_mean": float(np.mean(b)) if b else None,
                       "n_seeds": [len(a), len(b)], "p_value": p}
    return {"smaller": small, "larger": large, "alternative": "larger at the larger scale",
            "test": "one-sided Mann-Whitney U over per-seed means", "scores": tests}
