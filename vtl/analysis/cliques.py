"""Transfer graphs, cliques and per-edge significance across seeds.

An edge i-j is positive when the seed-mean mu(i->j) and mu(j->i) are both > 0, negative when both are < 0. Cliques
are the complete subgraphs of each graph. An edge is significant when both of its directions pass a one-sided
Wilcoxon signed-rank test across seeds in the edge's direction (mu > 0 for positive edges, < 0 for negative), at
level alpha = 1 - confidence; the edge's p-value is the larger of the two (an intersection-union test).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

SIGNS = ("positive", "negative")


def wilcoxon_p(values, sign: str) -> float:
    """One-sided p-value that the values lie above 0 (sign "positive") or below 0 ("negative"); NaN with < 2 values.

    All-zero samples have nothing to rank and give p = 1.
    """
    vals = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(vals) < 2:
        return math.nan
    if not np.any(vals != 0):
        return 1.0
    alternative = "greater" if sign == "positive" else "less"
    with warnings.catch_warnings():  # scipy warns that small samples with ties fall back to the normal approximation
        warnings.simplefilter("ignore")
        return float(wilcoxon(vals, alternative=alternative).pvalue)


def transfer_graph(mean: pd.DataFrame, sign: str) -> nx.Graph:
    """Graph over the tasks that are both sources and targets; edge weight = mean of the two directions."""
    tasks = [t for t in mean.index if t in mean.columns]
    graph = nx.Graph()
    graph.add_nodes_from(tasks)
    for a_i, a in enumerate(tasks):
        for b in tasks[a_i + 1:]:
            ab, ba = mean.at[a, b], mean.at[b, a]
            if math.isnan(ab) or math.isnan(ba):
                continue
            if (sign == "positive" and ab > 0 and ba > 0) or (sign == "negative" and ab < 0 and ba < 0):
                graph.add_edge(a, b, weight=(ab + ba) / 2)
    return graph


def edge_table(mean: pd.DataFrame, per_seed: dict[str, pd.DataFrame], confidence: float = 0.9,
               directed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every edge of both graphs with its mean weight, the two directed p-values, the edge p-value and significance.

    The directed p-values are the seed-level one-sided Wilcoxon's, or, given `directed` (source x target), those
    of another test (vtl.analysis.powered). `significant` is None where a direction cannot be tested (fewer than
    two seeds for the Wilcoxon).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    alpha = 1 - confidence
    rows = []
    for sign in SIGNS:
        for a, b, data in transfer_graph(mean, sign).edges(data=True):
            a, b = sorted((a, b), key=list(mean.index).index)
            if directed is None:
                p_ab = wilcoxon_p([m.at[a, b] for m in per_seed.values()], sign)
                p_ba = wilcoxon_p([m.at[b, a] for m in per_seed.values()], sign)
            else:
                p_ab, p_ba = float(directed.at[a, b]), float(directed.at[b, a])
            p = math.nan if math.isnan(p_ab) or math.isnan(p_ba) else max(p_ab, p_ba)
            rows.append({"a": a, "b": b, "sign": sign, "weight": data["weight"], "p_ab": p_ab, "p_ba": p_ba,
                         "p_value": p, "significant": None if math.isnan(p) else bool(p < alpha)})
    return pd.DataFrame(rows, columns=["a", "b", "sign", "weight", "p_ab", "p_ba", "p_value", "significant"])


@dataclass
class Clique:
    tasks: list[str]  # in task order
    strength: float  # mean edge weight
    significant: bool | None  # every edge significant; None when some edge could not be tested


def _order(tasks, order: list[str]) -> list[str]:
    return sorted(tasks, key=order.index)


def maximal_cliques(graph: nx.Graph, order: list[str], edges: pd.DataFrame | None = None) -> list[Clique]:
    """All maximal cliques with at least two tasks, largest first, then strongest, then by task order."""
    sig = {}
    if edges is not None:
        sig = {frozenset((r.a, r.b)): r.significant for r in edges.itertuples()}
    out = []
    for members in nx.find_cliques(graph):
        if len(members) < 2:
            continue
        tasks = _order(members, order)
        pairs = [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1:]]
        strength = float(np.mean([abs(graph.edges[a, b]["weight"]) for a, b in pairs]))
        flags = [sig.get(frozenset(p)) for p in pairs]
        significant = None if any(f is None for f in flags) else all(flags)
        out.append(Clique(tasks, strength, significant))
    out.sort(key=lambda c: (-len(c.tasks), -c.strength, [order.index(t) for t in c.tasks]))
    return out


def largest_clique(graph: nx.Graph, order: list[str], edges: pd.DataFrame | None = None) -> Clique | None:
    """The largest clique (ties: strongest mean edge, then task order); None when the graph has no edge."""
    cliques = maximal_cliques(graph, order, edges)
    return cliques[0] if cliques else None


def significant_subgraph(graph: nx.Graph, edges: pd.DataFrame, sign: str) -> nx.Graph:
    keep = edges[(edges["sign"] == sign) & (edges["significant"] == True)]  # noqa: E712 (None means untested)
    sub = nx.Graph()
    sub.add_nodes_from(graph.nodes)
    sub.add_edges_from((r.a, r.b, graph.edges[r.a, r.b]) for r in keep.itertuples())
    return sub
