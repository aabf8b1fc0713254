"""PGF matrices (source rows x target columns) per label: per seed, mean over seeds, standard deviation."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vtl.analysis.io import MIXTURE_PREFIX, natural_key, note, task_order
from vtl.tasks import get_task


@dataclass
class PGFMatrices:
    label: str
    mean: pd.DataFrame  # [source, target], NaN where no seed has the cell
    std: pd.DataFrame  # sample standard deviation over seeds (NaN with fewer than two)
    count: pd.DataFrame  # seeds behind each cell
    per_seed: dict[str, pd.DataFrame]
    seeds: list[str]
    model: str

    @property
    def tasks(self) -> list[str]:
        """Tasks that are both a source and a target (the square part cliques need)."""
        return [t for t in self.mean.index if t in self.mean.columns]


def transfer_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of single-source runs (mixture runs are compared by arm, not put in the matrix)."""
    return frame[~frame["source_task"].astype(str).str.startswith(MIXTURE_PREFIX)]


def pgf_matrices(frame: pd.DataFrame, label_order: list[str] | None = None,
                 notes: list[str] | None = None) -> dict[str, PGFMatrices]:
    """label -> PGFMatrices from a long frame that already holds one epoch per run (see io.select_epoch)."""
    notes = [] if notes is None else notes
    frame = transfer_records(frame)
    labels = label_order or list(dict.fromkeys(frame["label"]))
    out: dict[str, PGFMatrices] = {}
    for label in labels:
        part = frame[frame["label"] == label]
        if part.empty:
            continue
        sources = task_order(part["source_task"].unique())
        targets = task_order(part["target"].unique())
        seeds = sorted(part["seed"].unique(), key=natural_key)
        cube = np.full((len(seeds), len(sources), len(targets)), np.nan)
        s_idx = {s: i for i, s in enumerate(seeds)}
        r_idx = {s: i for i, s in enumerate(sources)}
        c_idx = {t: i for i, t in enumerate(targets)}
        cube[part["seed"].map(s_idx).to_numpy(), part["source_task"].map(r_idx).to_numpy(),
             part["target"].map(c_idx).to_numpy()] = part["pgf"].to_numpy(dtype=float)
        count = (~np.isnan(cube)).sum(axis=0)
        with warnings.catch_warnings():  # all-NaN cells are reported as gaps below, not as numpy warnings
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(cube, axis=0)
            std = np.nanstd(cube, axis=0, ddof=1) if len(seeds) > 1 else np.full(mean.shape, np.nan)
        std[count < 2] = np.nan
        rows, cols = pd.Index(sources, name="source"), pd.Index(targets, name="target")
        mats = PGFMatrices(
            label=label, mean=pd.DataFrame(mean, rows, cols), std=pd.DataFrame(std, rows, cols),
            count=pd.DataFrame(count.astype(int), rows, cols),
            per_seed={s: pd.DataFrame(cube[i], rows, cols) for s, i in s_idx.items()}, seeds=seeds,
            model=str(part["model"].iloc[0]),
        )
        _note_gaps(mats, notes)
        out[label] = mats
    return out


def _note_gaps(m: PGFMatrices, notes: list[str]) -> None:
    empty = [f"{s}->{t}" for s in m.mean.index for t in m.mean.columns if m.count.at[s, t] == 0]
    if empty:
        listed = ", ".join(empty[:8]) + (f", ... ({len(empty)} in all)" if len(empty) > 8 else "")
        note(notes, f"[{m.label}] (source, target) cells with no value in any seed, left out of every sum: {listed}")
    partial = int(((m.count > 0) & (m.count < len(m.seeds))).to_numpy().sum())
    if partial:
        note(notes, f"[{m.label}] {partial} cell(s) are missing in some seeds; their mean uses the seeds present")
    # video targets (VSI-Bench) are evaluated, never fine-tuned on: no source row is expected for them
    not_sources = [t for t in m.mean.columns if t not in m.mean.index and get_task(t).modality == "image"]
    if not_sources:
        note(notes, f"[{m.label}] no runs with source task {', '.join(not_sources)}: those rows are absent")

