"""Image sources × video targets (VSI-Bench): the same transferability, malleability and personas on that block.

Fine-tuning happens on image tasks only, so video targets form extra columns of a PGF matrix with no rows of their
own. `split_video` takes them out of the square image matrix (whose cliques need both directions) and
`video_summary` scores the rectangular block: Δ± of each image source over the video targets, Θ± of each video
target over the sources, and the donor / pirate / sponge / sieve personas they give.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from vtl.analysis.matrix import PGFMatrices
from vtl.analysis.metrics import malleability, transferability
from vtl.analysis.personas import DEFAULT_TOP_K, persona_rankings, personas
from vtl.tasks import get_task


def _columns(m: PGFMatrices, cols: list[str]) -> PGFMatrices:
    return dataclasses.replace(
        m, mean=m.mean[cols], std=m.std[cols], count=m.count[cols],
        per_seed={s: frame[cols] for s, frame in m.per_seed.items()},
    )


def split_video(mats: dict[str, PGFMatrices]) -> tuple[dict[str, PGFMatrices], dict[str, PGFMatrices]]:
    """(image-target matrices, image-source × video-target matrices); a label without video targets has no entry in
    the second, one without image targets none in the first."""
    image, video = {}, {}
    for label, m in mats.items():
        is_video = [get_task(t).modality == "video" for t in m.mean.columns]
        image_cols = [t for t, v in zip(m.mean.columns, is_video, strict=True) if not v]
        video_cols = [t for t, v in zip(m.mean.columns, is_video, strict=True) if v]
        if image_cols:
            image[label] = _columns(m, image_cols) if video_cols else m
        if video_cols:
            video[label] = _columns(m, video_cols)
    return image, video


def video_summary(m: PGFMatrices, top_k: int = DEFAULT_TOP_K) -> dict:
    """Transferability of image sources onto video targets, malleability of the video targets, and personas."""
    t = transferability(m.mean, include_diagonal=True)  # no source is a video target: there is no diagonal
    mal = malleability(m.mean, include_diagonal=True)
    return {
        "sources": list(m.mean.index),
        "targets": list(m.mean.columns),
        "metric": {c: get_task(c).metric for c in m.mean.columns},
        "transferability": t,
        "malleability": mal,
        "personas": personas(persona_rankings(t, mal), top_k),
        "pgf_matrix": m.mean,
    }


def render_video_section(label: str, block: dict) -> list[str]:
    """Markdown lines for report.md."""

    def table(frame: pd.DataFrame, name: str) -> list[str]:
        lines = [f"| {name} | pos | neg | p | n | N |", "|---|---|---|---|---|---|"]
        lines += [f"| {task} | {row.pos:+.3f} | {row.neg:+.3f} | {int(row.p)} | {int(row.n)} | {int(row.N)} |"
                  for task, row in frame.iterrows()]
        return lines

    mean = block["pgf_matrix"]
    out = [f"## {label}: image sources × video targets (VSI-Bench)", "",
           "Video targets are scored by accuracy (multiple choice) or MRA (numerical); PGF uses the score the same "
           "way. Metric per target: " + ", ".join(f"{t} {m}" for t, m in block["metric"].items()) + ".", ""]
    out += ["| source | " + " | ".join(get_task(c).abbrev for c in mean.columns) + " |",
            "|---|" + "---|" * len(mean.columns)]
    out += [f"| {s} | " + " | ".join("" if pd.isna(v) else f"{v:+.2f}" for v in row) + " |"
            for s, row in mean.iterrows()]
    out += ["", "Transferability of each source onto the video targets (Δ±):", ""]
    out += table(block["transferability"], "source")
    out += ["", "Malleability of each video target (Θ±):", ""]
    out += table(block["malleability"], "target")
    out += ["", "Personas on video targets: " + "; ".join(f"{p} {', '.join(ts) or '-'}"
                                                         for p, ts in block["personas"].items()), ""]
    return out
