"""Transferability / malleability formulas and personas on hand-computed cases."""

import math

import pandas as pd
import pytest

from vtl.analysis.metrics import malleability, signed_transfer, transferability
from vtl.analysis.personas import consistent_personas, persona_rankings, personas

E = math.exp


def test_signed_transfer_mixed_row_counts_zero_in_n_only():
    out = signed_transfer([0.5, -0.2, 0.0, 0.1])
    assert (out["p"], out["n"], out["N"]) == (2, 1, 4)
    assert out["pos"] == pytest.approx((1 - E(-2 / 4)) / 2 * 0.6)  # 0.11804...
    assert out["pos"] == pytest.approx(0.1180408, abs=1e-6)
    assert out["neg"] == pytest.approx((1 - E(-1 / 4)) * -0.2)  # -0.04424...
    assert out["neg"] == pytest.approx(-0.0442398, abs=1e-6)


def test_signed_transfer_p_zero_and_n_zero_give_zero():
    only_neg = signed_transfer([-0.1, -0.3])
    assert only_neg["pos"] == 0.0 and only_neg["p"] == 0
    assert only_neg["neg"] == pytest.approx((1 - E(-1)) / 2 * -0.4)
    only_pos = signed_transfer([0.2, 0.4])
    assert only_pos["neg"] == 0.0 and only_pos["n"] == 0
    assert only_pos["pos"] == pytest.approx(0.1896362, abs=1e-6)
    zeros = signed_transfer([0.0, 0.0])
    assert zeros["pos"] == 0.0 and zeros["neg"] == 0.0 and zeros["N"] == 2


def test_signed_transfer_nothing_measured_is_nan_and_missing_cells_do_not_count():
    assert math.isnan(signed_transfer([])["pos"])
    assert math.isnan(signed_transfer([float("nan")])["neg"])
    out = signed_transfer([0.3, float("nan")])
    assert out["N"] == 1 and out["pos"] == pytest.approx((1 - E(-1)) * 0.3)


def _matrix():
    tasks = ["Counting", "Jigsaw"]
    return pd.DataFrame([[0.9, 0.2], [-0.1, 0.5]], index=tasks, columns=tasks)


def test_diagonal_excluded_by_default_and_included_on_request():
    t = transferability(_matrix())
    assert t.at["Counting", "N"] == 1
    assert t.at["Counting", "pos"] == pytest.approx((1 - E(-1)) * 0.2)
    assert t.at["Jigsaw", "pos"] == 0.0 and t.at["Jigsaw", "neg"] == pytest.approx((1 - E(-1)) * -0.1)
    t_diag = transferability(_matrix(), include_diagonal=True)
    assert t_diag.at["Counting", "N"] == 2
    assert t_diag.at["Counting", "pos"] == pytest.approx((1 - E(-1)) / 2 * 1.1)


def test_malleability_runs_down_columns():
    m = malleability(_matrix())
    assert m.at["Jigsaw", "pos"] == pytest.approx((1 - E(-1)) * 0.2)  # Counting -> Jigsaw
    assert m.at["Counting", "neg"] == pytest.approx((1 - E(-1)) * -0.1)  # Jigsaw -> Counting
    m_diag = malleability(_matrix(), include_diagonal=True)
    assert m_diag.at["Jigsaw", "pos"] == pytest.approx((1 - E(-2 / 2)) / 2 * 0.7)


def test_personas_rank_strongest_first_ties_keep_task_order_and_need_the_sign():
    idx = ["Art_Style", "Counting", "Jigsaw", "Relative_Depth"]
    t = pd.DataFrame({"pos": [0.2, 0.2, 0.0, 0.3], "neg": [0.0, -0.1, -0.4, 0.0]}, index=idx)
    m = pd.DataFrame({"pos": [0.1, 0.0, 0.0, 0.0], "neg": [-0.2, -0.2, 0.0, -0.1]}, index=idx)
    ranks = persona_rankings(t, m)
    assert [task for task, _ in ranks["donor"]] == ["Relative_Depth", "Art_Style", "Counting", "Jigsaw"]
    got = personas(ranks, top_k=3)
    assert got["donor"] == ["Relative_Depth", "Art_Style", "Counting"]
    assert got["pirate"] == ["Jigsaw", "Counting"]  # zeros are no pirates
    assert got["sponge"] == ["Art_Style"]
    assert got["sieve"] == ["Art_Style", "Counting", "Relative_Depth"]  # tie at -0.2 keeps task order
    assert personas(ranks, top_k=1)["donor"] == ["Relative_Depth"]


def test_consistent_personas_are_those_held_at_every_scale():
    per = {"3B": {"donor": ["Counting", "Jigsaw"], "pirate": [], "sponge": ["Art_Style"], "sieve": []},
           "7B": {"donor": ["Jigsaw", "Counting", "Art_Style"], "pirate": ["Jigsaw"], "sponge": [], "sieve": []}}
    out = consistent_personas(per)
    assert set(out["donor"]) == {"Counting", "Jigsaw"}
    assert out["pirate"] == [] and out["sponge"] == []


def test_group_means_by_level_and_granularity():
    from vtl.analysis.groups import group_means, scale_trends

    # Relative_Depth and Relative_Reflectance are low level / pixel, Art_Style high level / image
    t = pd.DataFrame({"pos": [0.1, 0.3, 0.2], "neg": [-0.2, 0.0, -0.4]},
                     index=["Relative_Depth", "Relative_Reflectance", "Art_Style"])
    m = pd.DataFrame({"pos": [0.0, 0.4, 0.6], "neg": [-0.1, -0.3, 0.0]}, index=t.index)
    level = group_means(t, m, "level")
    assert list(level.index) == ["low", "high"]
    assert level.at["low", "transferability_pos"] == pytest.approx(0.2)
    assert level.at["low", "malleability_neg"] == pytest.approx(-0.2)
    assert level.at["high", "n_sources"] == 1 and level.at["low", "n_targets"] == 2
    assert group_means(t, m, "granularity").at["pixel", "transferability_neg"] == pytest.approx(-0.1)
    trends = scale_trends({"3B": {"transferability": t, "malleability": m, "largest_positive_clique": ["a", "b"],
                                  "largest_negative_clique": []}})
    assert trends.at["3B", "mean_positive_transferability"] == pytest.approx(0.2)
    assert trends.at["3B", "largest_positive_clique_size"] == 2
