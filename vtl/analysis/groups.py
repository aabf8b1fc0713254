"""Grouping by perceptual level and granularity (from the task registry), and trends across model scales."""

from __future__ import annotations

import pandas as pd

from vtl.tasks import get_task

GROUPINGS = ("level", "granularity")
# groups listed from fine to coarse, whatever order pandas finds them in
GROUP_ORDER = {"level": ("low", "mid", "high"), "granularity": ("pixel", "patch", "crop", "image")}


def group_means(transfer: pd.DataFrame, malleable: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per group (level or granularity): mean Delta+/Delta- of its sources and Theta+/Theta- of its targets."""
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {GROUPINGS}, got {by!r}")
    key = lambda task: getattr(get_task(task), by)  # noqa: E731
    t = transfer.groupby(transfer.index.map(key))[["pos", "neg"]].mean()
    m = malleable.groupby(malleable.index.map(key))[["pos", "neg"]].mean()
    out = pd.DataFrame({
        "transferability_pos": t["pos"], "transferability_neg": t["neg"],
        "malleability_pos": m["pos"], "malleability_neg": m["neg"],
        "n_sources": transfer.index.map(key).value_counts(),
        "n_targets": malleable.index.map(key).value_counts(),
    })
    out = out.reindex([g for g in GROUP_ORDER[by] if g in out.index])
    out.index.name = by
    return out.fillna({"n_sources": 0, "n_targets": 0}).astype({"n_sources": int, "n_targets": int})


def scale_trends(per_label: dict[str, dict]) -> pd.DataFrame:
    """One row per label (model scale, in the order given): mean transferability/malleability and clique sizes.

    `per_label[label]` holds "transferability" and "malleability" frames and the largest clique task lists.
    """
    rows = []
    for label, res in per_label.items():
        t, m = res["transferability"], res["malleability"]
        rows.append({
            "label": label,
            "mean_positive_transferability": t["pos"].mean(),
            "mean_negative_transferability": t["neg"].mean(),
            "mean_positive_malleability": m["pos"].mean(),
            "mean_negative_malleability": m["neg"].mean(),
            "largest_positive_clique_size": len(res["largest_positive_clique"]),
            "largest_negative_clique_size": len(res["largest_negative_clique"]),
        })
    return pd.DataFrame(rows).set_index("label")
