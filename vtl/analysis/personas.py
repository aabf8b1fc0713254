"""Task personas: Donor (high Delta+), Pirate (most negative Delta-), Sponge (high Theta+), Sieve (most negative
Theta-), and the tasks that keep a persona across every model scale given.

A task holds a persona when it is among the `top_k` strongest on that score and the score has the persona's sign
(a task with Delta+ = 0 gives nothing, so it is no donor however the others rank).
"""

from __future__ import annotations

import math

import pandas as pd

# persona -> (which table, column, strongest first when descending)
PERSONAS = {
    "donor": ("transferability", "pos", True),
    "pirate": ("transferability", "neg", False),
    "sponge": ("malleability", "pos", True),
    "sieve": ("malleability", "neg", False),
}
DEFAULT_TOP_K = 3


def persona_rankings(transfer: pd.DataFrame, malleable: pd.DataFrame) -> dict[str, list[tuple[str, float]]]:
    """persona -> every task with its score, strongest first (ties keep task order); NaN scores are left out."""
    tables = {"transferability": transfer, "malleability": malleable}
    out = {}
    for persona, (table, col, descending) in PERSONAS.items():
        scores = [(task, float(v)) for task, v in tables[table][col].items() if not math.isnan(v)]
        scores.sort(key=lambda tv: -tv[1] if descending else tv[1])  # stable: ties stay in task order
        out[persona] = scores
    return out


def personas(rankings: dict[str, list[tuple[str, float]]], top_k: int = DEFAULT_TOP_K) -> dict[str, list[str]]:
    """persona -> up to top_k tasks, strongest first, whose score has the persona's sign."""
    out = {}
    for persona, ranked in rankings.items():
        descending = PERSONAS[persona][2]
        out[persona] = [t for t, v in ranked if (v > 0 if descending else v < 0)][:top_k]
    return out


def consistent_personas(per_label: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """persona -> tasks holding it at every label, ordered by their mean rank across labels."""
    out = {}
    for persona in PERSONAS:
        lists = [p[persona] for p in per_label.values()]
        if not lists:
            out[persona] = []
            continue
        common = set(lists[0]).intersection(*lists[1:])
        out[persona] = sorted(common, key=lambda t: (sum(lst.index(t) for lst in lists), lists[0].index(t)))
    return out
