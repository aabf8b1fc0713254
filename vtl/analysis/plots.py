"""PNG figures: PGF heatmap, transfer graph with cliques highlighted, transfer curves (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vtl.tasks import abbrev  # noqa: E402

_DPI = 110
_POS, _NEG = "#1a9850", "#d73027"


def _symmetric_norm(values: np.ndarray, scale_mask: np.ndarray) -> TwoSlopeNorm:
    """Limits +-max |value| over the cells in scale_mask (all cells if none is finite there); centre 0."""
    finite = values[scale_mask & np.isfinite(values)]
    if not finite.size:
        finite = values[np.isfinite(values)]
    lim = float(np.max(np.abs(finite))) if finite.size else 1.0
    lim = lim or 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)


def pgf_heatmap(mean: pd.DataFrame, path: Path, title: str) -> Path:
    """Mean PGF, sources as rows and targets as columns in task order, values annotated; diagonal outlined."""
    values = mean.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(mean.columns), 1.2 + 0.5 * len(mean.index)))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#dddddd")
    # the colour scale follows the off-diagonal transfer; the (outlined) diagonal may saturate
    off_diagonal = np.array([[s != t for t in mean.columns] for s in mean.index], dtype=bool).reshape(values.shape)
    norm = _symmetric_norm(values, off_diagonal)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(len(mean.columns)), [abbrev(t) for t in mean.columns])
    ax.set_yticks(range(len(mean.index)), [abbrev(t) for t in mean.index])
    ax.set_xlabel("target task")
    ax.set_ylabel("source (fine-tuned) task")
    ax.set_title(title)
    lim = image.norm.vmax
    for r, source in enumerate(mean.index):
        for c, target in enumerate(mean.columns):
            v = values[r, c]
            text = "n/a" if math.isnan(v) else f"{v:.2f}"
            ax.text(c, r, text, ha="center", va="center", fontsize=7,
                    color="white" if not math.isnan(v) and abs(v) > 0.6 * lim else "black")
            if source == target:
                ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.2, ec="black"))
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="PGF (mean over seeds)", extend="both")
    # fixed margins: tight_layout would render every annotation twice
    fig.subplots_adjust(left=0.1, right=0.9, bottom=0.1, top=0.93)
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def transfer_graph_plot(positive: nx.Graph, negative: nx.Graph, cliques: dict[str, list[str]], path: Path,
                        title: str) -> Path:
    """Tasks on a circle; green edges both-ways positive, red both-ways negative; the largest cliques drawn bold."""
    nodes = list(positive.nodes)
    pos = nx.circular_layout(nodes) if nodes else {}
    fig, ax = plt.subplots(figsize=(7.5, 7.5))
    for graph, colour, key in ((positive, _POS, "positive"), (negative, _NEG, "negative")):
        members = set(cliques.get(key, []))
        for bold in (False, True):
            edges = [(a, b, d) for a, b, d in graph.edges(data=True) if (a in members and b in members) == bold]
            if not edges:
                continue
            widths = [3.2 if bold else 0.5 + 2.5 * min(abs(d["weight"]), 1) for _, _, d in edges]
            ax.add_collection(LineCollection([(pos[a], pos[b]) for a, b, _ in edges], colors=colour,
                                             linewidths=widths, alpha=0.95 if bold else 0.35, zorder=2 if bold else 1))
    in_pos, in_neg = set(cliques.get("positive", [])), set(cliques.get("negative", []))
    rims = [_POS if n in in_pos else _NEG if n in in_neg else "#555555" for n in nodes]
    if nodes:
        ax.scatter([pos[n][0] for n in nodes], [pos[n][1] for n in nodes], s=900, color="white", edgecolors=rims,
                   linewidths=[1 if r == "#555555" else 3 for r in rims], zorder=3)
    for node in nodes:
        ax.text(*pos[node], abbrev(node), ha="center", va="center", fontsize=9, zorder=4)
    ax.legend(handles=[
        Line2D([], [], color=_POS, lw=3, label="largest positive clique"),
        Line2D([], [], color=_NEG, lw=3, label="largest negative clique"),
        Line2D([], [], color="grey", lw=1, alpha=0.5, label="other edges (width ~ |mean PGF|)"),
    ], loc="lower center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    ax.set_title(title)
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.08, top=0.94)
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def curves_plot(curves: pd.DataFrame, path: Path, title: str, task_order: list[str]) -> Path:
    """One panel per source task: mean PGF of every target over epochs."""
    sources = [t for t in task_order if t in set(curves["source_task"])]
    cols = min(4, len(sources))
    rows = math.ceil(len(sources) / cols)
    height = 2.6 * rows + 0.8  # inches; fixed room above for the title, below for the legend
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, height), squeeze=False, sharey=True)
    cmap = matplotlib.colormaps["tab20"]
    # the dark tab20 shades first, so up to ten targets get clearly different colours
    shades = [*range(0, 20, 2), *range(1, 20, 2)]
    colours = {t: cmap(shades[i % 20]) for i, t in enumerate(task_order)}
    for ax, source in zip(axes.flat, sources, strict=False):
        part = curves[curves["source_task"] == source]
        for target, line in part.groupby("target", sort=False):
            ax.plot(line["epoch"], line["pgf"], marker="o", ms=3, lw=1.2, color=colours.get(target),
                    label=abbrev(target))
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(f"fine-tuned on {abbrev(source)}", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(sources):]:
        ax.set_axis_off()
    axes[0][0].set_ylabel("PGF", fontsize=8)
    handles = [Line2D([], [], color=colours[t], lw=2, label=abbrev(t)) for t in task_order
               if t in set(curves["target"])]
    fig.subplots_adjust(hspace=0.55, wspace=0.12, top=1 - 0.6 / height, bottom=0.75 / height)
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 13), fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 0.0), title="target", title_fontsize=7)
    fig.suptitle(title)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path
