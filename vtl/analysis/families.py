"""Model families in the analysis: which family a run's model belongs to, and the structure compared across families
the way it is compared across scales (personas that hold, cliques that stay, mean transfer per family).

Torch-free: the family is read from the model name or label (`Qwen/Qwen3-VL-8B-Instruct`, `tiny-internvl`,
`qwen2.5-vl-3B-instruct.csv`); names `vtl.models.families` calls `qwen2.5-vl`, `qwen3-vl`, `internvl`,
`llava-onevision`. Labels of no known family form one group, so an analysis of one family reads as before.
"""

from __future__ import annotations

import re

import pandas as pd

from vtl.analysis.personas import PERSONAS, consistent_personas

# checked in order: LLaVA-OneVision and InternVL names mention their Qwen language models
_PATTERNS = (
    ("llava-onevision", re.compile(r"llava[-_ ]?(onevision|ov)", re.I)),
    ("internvl", re.compile(r"intern[-_ ]?vl", re.I)),
    ("qwen3-vl", re.compile(r"qwen[-_ ]?3[-_ ]?vl", re.I)),
    ("qwen2.5-vl", re.compile(r"qwen[-_ ]?2(?:[._]5)?[-_ ]?vl", re.I)),
)
UNKNOWN = "unknown"


def family_of_name(*names: str) -> str:
    """The family named by the first of `names` (label, then model name) that names one, else "unknown"."""
    for name in names:
        for family, pattern in _PATTERNS:
            if name and pattern.search(str(name)):
                return family
    return UNKNOWN


def group_labels(label_order: list[str], families: dict[str, str]) -> dict[str, list[str]]:
    """family -> its labels in `label_order`, families in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for label in label_order:
        groups.setdefault(families[label], []).append(label)
    return groups


def _common(lists: list[list[str]]) -> list[str]:
    """Tasks in every list, in the first list's order."""
    if not lists:
        return []
    keep = set(lists[0]).intersection(*lists[1:])
    return [t for t in lists[0] if t in keep]


def compare_families(groups: dict[str, list[str]], per_label: dict[str, dict]) -> dict:
    """Structure per family and across families.

    `per_label[label]` holds "personas", "largest_positive_clique", "largest_negative_clique" and the
    "transferability"/"malleability" frames. Within a family a task holds a persona (or a clique place) when it does
    at every scale of that family; across families when it does so in every family.
    Returns {"per_family": {family: {...}}, "personas_across_families": {...}, "positive_clique_across_families",
    "negative_clique_across_families"}.
    """
    per_family = {}
    for family, labels in groups.items():
        labels = [lbl for lbl in labels if lbl in per_label]
        if not labels:
            continue
        res = [per_label[lbl] for lbl in labels]
        per_family[family] = {
            "labels": labels,
            "personas": consistent_personas({lbl: per_label[lbl]["personas"] for lbl in labels}),
            "positive_clique": _common([r["largest_positive_clique"] for r in res]),
            "negative_clique": _common([r["largest_negative_clique"] for r in res]),
            "mean_positive_transferability": _mean([r["transferability"]["pos"].mean() for r in res]),
            "mean_negative_transferability": _mean([r["transferability"]["neg"].mean() for r in res]),
            "mean_positive_malleability": _mean([r["malleability"]["pos"].mean() for r in res]),
            "mean_negative_malleability": _mean([r["malleability"]["neg"].mean() for r in res]),
        }
    return {
        "per_family": per_family,
        "personas_across_families": consistent_personas({f: v["personas"] for f, v in per_family.items()})
        if per_family else {p: [] for p in PERSONAS},
        "positive_clique_across_families": _common([v["positive_clique"] for v in per_family.values()]),
        "negative_clique_across_families": _common([v["negative_clique"] for v in per_family.values()]),
    }


def _mean(values: list[float]) -> float:
    return float(pd.Series(values, dtype=float).mean())
