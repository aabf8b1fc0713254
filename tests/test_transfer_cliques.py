"""Transfer graphs, clique search on a hand-made matrix, and Wilcoxon significance with known outcomes."""

import math

import pandas as pd
import pytest

from vtl.analysis import cliques as cq

A, B, C, D, E = "Art_Style", "Counting", "Jigsaw", "Relative_Depth", "Visual_Similarity"
ORDER = [A, B, C, D, E]


def _mean(entries: dict[tuple[str, str], float]) -> pd.DataFrame:
    m = pd.DataFrame(0.0, index=ORDER, columns=ORDER)
    for (s, t), v in entries.items():
        m.at[s, t] = v
    return m


def _both(pairs: dict[tuple[str, str], float]) -> dict:
    out = {}
    for (a, b), v in pairs.items():
        out[(a, b)] = v
        out[(b, a)] = v
    return out


# A-B-C a positive triangle, C-D positive, D-E negative; A->E positive but E->A negative (no edge).
HAND = _mean({**_both({(A, B): 0.3, (A, C): 0.2, (B, C): 0.1, (C, D): 0.5, (D, E): -0.4}), (A, E): 0.2, (E, A): -0.1})


def test_graph_edges_need_the_same_sign_both_ways():
    pos, neg = cq.transfer_graph(HAND, "positive"), cq.transfer_graph(HAND, "negative")
    assert {frozenset(e) for e in pos.edges} == {frozenset(p) for p in [(A, B), (A, C), (B, C), (C, D)]}
    assert {frozenset(e) for e in neg.edges} == {frozenset((D, E))}
    assert pos.edges[A, B]["weight"] == pytest.approx(0.3)


def test_largest_and_all_maximal_cliques_on_hand_made_graph():
    pos = cq.transfer_graph(HAND, "positive")
    assert cq.largest_clique(pos, ORDER).tasks == [A, B, C]
    assert [c.tasks for c in cq.maximal_cliques(pos, ORDER)] == [[A, B, C], [C, D]]
    assert cq.largest_clique(cq.transfer_graph(HAND, "negative"), ORDER).tasks == [D, E]
    assert cq.largest_clique(cq.transfer_graph(_mean({}), "positive"), ORDER) is None


def test_equal_size_cliques_tie_break_on_strength():
    m = _mean(_both({(A, B): 0.1, (C, D): 0.6}))
    assert cq.largest_clique(cq.transfer_graph(m, "positive"), ORDER).tasks == [C, D]
    m = _mean(_both({(A, B): 0.6, (C, D): 0.6}))  # full tie: task order decides
    assert cq.largest_clique(cq.transfer_graph(m, "positive"), ORDER).tasks == [A, B]


def test_wilcoxon_known_outcomes():
    assert cq.wilcoxon_p([0.1, 0.2, 0.3, 0.4], "positive") == pytest.approx(1 / 16)  # exact: all four above 0
    assert cq.wilcoxon_p([-0.1, -0.2, -0.3, -0.4], "negative") == pytest.approx(1 / 16)
    assert cq.wilcoxon_p([0.1, -0.2, 0.3, -0.4], "positive") == pytest.approx(11 / 16)  # W+ = 4
    assert cq.wilcoxon_p([0.1, 0.2, 0.3, -0.05], "positive") == pytest.approx(2 / 16)  # W+ = 9
    assert math.isnan(cq.wilcoxon_p([0.3], "positive"))  # one seed: untestable
    assert cq.wilcoxon_p([0.0, 0.0, 0.0], "positive") == 1.0


def _seeds(cells: dict[tuple[str, str], list[float]], n: int) -> dict[str, pd.DataFrame]:
    return {f"s{i}": _mean({k: v[i] for k, v in cells.items()}) for i in range(n)}


def test_edge_significance_needs_both_directions_and_follows_confidence():
    cells = {(A, B): [0.1, 0.2, 0.3, 0.4], (B, A): [0.2, 0.1, 0.4, 0.3],  # significant both ways, p = 1/16
             (C, D): [0.1, 0.2, 0.3, 0.4], (D, C): [0.1, 0.2, 0.3, -0.05]}  # one direction p = 2/16
    per_seed = _seeds(cells, 4)
    mean = sum(per_seed.values()) / 4
    edges = cq.edge_table(mean, per_seed, confidence=0.9).set_index(["a", "b"])
    assert edges.at[(A, B), "p_value"] == pytest.approx(1 / 16) and edges.at[(A, B), "significant"]
    assert edges.at[(C, D), "p_value"] == pytest.approx(2 / 16) and not edges.at[(C, D), "significant"]
    strict = cq.edge_table(mean, per_seed, confidence=0.95).set_index(["a", "b"])
    assert not strict.at[(A, B), "significant"]
    pos = cq.transfer_graph(mean, "positive")
    table = cq.edge_table(mean, per_seed, 0.9)
    sig = cq.significant_subgraph(pos, table, "positive")
    assert {frozenset(e) for e in sig.edges} == {frozenset((A, B))}
    by_tasks = {tuple(c.tasks): c.significant for c in cq.maximal_cliques(pos, ORDER, table)}
    assert by_tasks == {(A, B): True, (C, D): False}


def test_single_seed_leaves_significance_untested():
    per_seed = _seeds({(A, B): [0.3], (B, A): [0.2]}, 1)
    table = cq.edge_table(per_seed["s0"], per_seed)
    assert len(table) == 1 and table.iloc[0]["significant"] is None
    clique = cq.largest_clique(cq.transfer_graph(per_seed["s0"], "positive"), ORDER, table)
    assert clique.tasks == [A, B] and clique.significant is None


def test_confidence_must_be_a_level():
    with pytest.raises(ValueError, match="confidence"):
        cq.edge_table(HAND, {"s0": HAND}, confidence=90)
