"""Transfer curves (PGF per target over epochs) and the comparison of PGF-guided selection arms."""

from __future__ import annotations

import pandas as pd

from vtl.analysis.io import MIXTURE_PREFIX

ARM_ORDER = ("direct", "random", "pgf")  # the baselines first, as in vtl.analysis.select.ARMS


def transfer_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """label, source_task, target, epoch -> mean PGF over seeds (and the seed count), for records with epochs."""
    part = frame[frame["epoch"].notna() & ~frame["source_task"].astype(str).str.startswith(MIXTURE_PREFIX)]
    cols = ["label", "source_task", "target", "epoch"]
    if part.empty:
        return pd.DataFrame(columns=[*cols, "pgf", "n_seeds"])
    out = part.groupby(cols, sort=False).agg(pgf=("pgf", "mean"), n_seeds=("seed", "nunique")).reset_index()
    return out.sort_values(cols, kind="stable").reset_index(drop=True)


def compare_arms(frame: pd.DataFrame) -> pd.DataFrame:
    """Mixture runs (records with an arm and a mixture_target; one epoch per run already chosen): per label, target
    and arm, the mean over seeds of the accuracy and PGF measured on the mixture's own target."""
    cols = ["label", "mixture_target", "arm"]
    part = frame[frame["arm"].notna() & frame["mixture_target"].notna()]
    part = part[part["target"] == part["mixture_target"]]
    if part.empty:
        return pd.DataFrame(columns=[*cols, "accuracy", "pgf", "n_seeds"])
    out = part.groupby(cols, sort=False).agg(
        accuracy=("accuracy", "mean"), pgf=("pgf", "mean"), n_seeds=("seed", "nunique")).reset_index()
    rank = {arm: i for i, arm in enumerate(ARM_ORDER)}
    out = out.sort_values(["label", "mixture_target", "arm"], key=lambda s: s.map(rank) if s.name == "arm" else s,
                          kind="stable")
    return out.rename(columns={"mixture_target": "target"}).reset_index(drop=True)
