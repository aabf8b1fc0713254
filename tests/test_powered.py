"""The powered tests of mu(i->j) (vtl.analysis.powered): on simulated per-question data the crossed t-test rejects
at about alpha when there is no effect (with and without a seed effect) and with the stated power when there is one;
the hierarchical bootstrap is conservative; both agree with the seed-level Wilcoxon where it has power; and through
`vtl analyze --test` they find a planted study's edges at alpha 0.05 where the Wilcoxon over 3 seeds cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transfer_data import ANTAGONISTS, PLANTED_GROUP, write_planted_study

from vtl.analysis.analysis import analyze
from vtl.analysis.cliques import wilcoxon_p
from vtl.analysis.explorer import REPORT_FILE, read_payload
from vtl.analysis.powered import Questions, bootstrap_cells, crossed_cells, crossed_t
from vtl.cli import main


def simulate(rng, *, n_q: int, n_s: int, up: float, down: float, seed_sd: float = 0.0) -> Questions:
    """One cell: a zero-shot model right on half of n_q questions; each seed's fine-tuned model flips a wrong answer
    right with probability up and a right one wrong with probability down (shifted by a seed effect of sd seed_sd).
    mu = (up - down) / 2 / (1 - 1/2) = up - down in expectation."""
    zs = (rng.random(n_q) < 0.5).astype(float)
    runs = {}
    for s in range(n_s):
        shift = rng.normal(0, seed_sd) if seed_sd else 0.0
        u = rng.random(n_q)
        ft = zs.copy()
        ft[(zs == 0) & (u < up + shift)] = 1
        ft[(zs == 1) & (u < down - shift)] = 0
        runs[("A", str(s))] = (ft, zs)
    return Questions({"B": {"ids": list(range(n_q)), "upper": 1.0, "eps": 0.0, "runs": runs}})


def rejection_rate(test, n: int, **cell) -> float:
    rng = np.random.default_rng(7)
    return float(np.mean([test(simulate(rng, **cell), k) < 0.05 for k in range(n)]))


def crossed(q, _k):
    return crossed_cells(q, ["A"], ["B"], confidence=0.95).p.iat[0, 0]


def bootstrap(q, k):
    return bootstrap_cells(q, ["A"], ["B"], confidence=0.95, replicates=499, seed=k).p.iat[0, 0]


@pytest.mark.parametrize("seed_sd", [0.0, 0.05], ids=["question noise only", "with a seed effect"])
def test_crossed_test_has_its_size_under_the_null(seed_sd):
    rate = rejection_rate(crossed, 800, n_q=100, n_s=3, up=0.2, down=0.2, seed_sd=seed_sd)
    assert 0.025 <= rate <= 0.085, rate  # alpha 0.05; 800 nulls give a binomial sd of 0.008


def test_crossed_test_has_its_power_for_a_stated_effect():
    # mu = 0.2 (accuracy 0.5 -> 0.6), 100 questions, 4 seeds: measured power 0.89
    assert rejection_rate(crossed, 400, n_q=100, n_s=4, up=0.3, down=0.1) >= 0.8
    # 48 questions (the demo's), 3 seeds, mu = 0.6 (the planted world's effects are large): always found
    assert rejection_rate(crossed, 200, n_q=48, n_s=3, up=0.7, down=0.1) >= 0.98


def test_bootstrap_is_conservative_but_powered():
    assert rejection_rate(bootstrap, 200, n_q=100, n_s=3, up=0.2, down=0.2) <= 0.05
    assert rejection_rate(bootstrap, 100, n_q=48, n_s=3, up=0.7, down=0.1) >= 0.95


def test_agrees_with_the_wilcoxon_where_both_have_power():
    """8 seeds give the Wilcoxon power (its p-value can reach 1/256): on a clear effect both reject, on no effect
    both mostly do not."""
    rng = np.random.default_rng(3)
    for up, expect in ((0.6, True), (0.2, False)):
        both = []
        for k in range(40):
            q = simulate(rng, n_q=100, n_s=8, up=up, down=0.2)
            per_seed = [(ft.mean() - zs.mean()) / (1 - zs.mean()) for ft, zs in q.targets["B"]["runs"].values()]
            both.append((wilcoxon_p(per_seed, "positive") < 0.05, crossed(q, k) < 0.05))
        wilcoxon_rate, crossed_rate = np.mean(both, axis=0)
        if expect:
            assert wilcoxon_rate == crossed_rate == 1.0
        else:
            assert wilcoxon_rate <= 0.15 and crossed_rate <= 0.15


def test_the_estimate_is_the_matrix_mean():
    rng = np.random.default_rng(0)
    q = simulate(rng, n_q=40, n_s=3, up=0.4, down=0.1)
    runs = q.targets["B"]["runs"]
    d = np.stack([(ft - zs) / (1 - zs.mean()) for ft, zs in runs.values()], axis=1)
    mu, se, df = crossed_t(d)
    assert mu == pytest.approx(np.mean([(ft.mean() - zs.mean()) / (1 - zs.mean()) for ft, zs in runs.values()]))
    assert se > 0 and df > 2
    c = crossed_cells(q, ["A"], ["B"], confidence=0.95)
    assert c.lo.iat[0, 0] < mu < c.hi.iat[0, 0]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("powered")
    return root, write_planted_study(root / "runs", questions=48)


@pytest.mark.parametrize("test", ["crossed", "bootstrap"])
def test_analyze_finds_the_planted_edges_at_alpha_005(study, test):
    root, inputs = study
    summary = analyze(inputs, root / test, test=test, replicates=1999, print_table=False, make_plots=False)
    label = summary["3B"]
    flagged = {(frozenset(e["tasks"]), e["sign"]) for e in label["edges"] if e["significant"]}
    planted = {(frozenset((a, b)), "positive") for i, a in enumerate(PLANTED_GROUP) for b in PLANTED_GROUP[i + 1:]}
    assert flagged == planted | {(frozenset(ANTAGONISTS), "negative")}  # every planted edge, and nothing else
    assert {e["test"] for e in label["edges"]} == {test} and test.split()[0] in label["test"]
    assert label["options"]["confidence"] == 0.95 and label["options"]["test"] == test
    cells = label["cell_tests"]
    lo, hi = cells["ci_low"]["Art_Style"]["Spatial_Relation"], cells["ci_high"]["Art_Style"]["Spatial_Relation"]
    assert lo <= label["pgf_matrix"]["Art_Style"]["Spatial_Relation"] <= hi and lo > 0
    assert cells["significant"]["Art_Style"]["Spatial_Relation"] is True
    assert cells["p_adjusted"]["Art_Style"]["Spatial_Relation"] >= cells["p"]["Art_Style"]["Spatial_Relation"]
    block = read_payload(root / test / REPORT_FILE)["blocks"][0]
    i, j = block["sources"].index("Art_Style"), block["targets"].index("Spatial_Relation")
    assert block["ci_lo"][i][j] == lo and block["sig"][i][j] is True and "Benjamini-Hochberg" in block["test"]


def test_the_paper_test_stays_the_default_and_cannot_reach_005(study):
    root, inputs = study
    summary = analyze(inputs, root / "wilcoxon", confidence=0.95, print_table=False, make_plots=False)
    assert not any(e["significant"] for e in summary["3B"]["edges"])  # 3 seeds: p >= 1/8
    assert {e["test"] for e in summary["3B"]["edges"]} == {"wilcoxon"} and "cell_tests" not in summary["3B"]


def test_runs_without_question_records_fall_back_with_a_note(tmp_path, capsys):
    inputs = write_planted_study(tmp_path / "runs", labels=("3B",))
    assert main(["analyze", *inputs, "--out", str(tmp_path / "out"), "--test", "crossed", "--no_plots",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "no questions.jsonl" in err and "seed-level Wilcoxon instead of the crossed test" in err


def test_a_broken_question_record_is_left_out_with_file_and_line(tmp_path, capsys):
    inputs = write_planted_study(tmp_path / "runs", labels=("3B",), questions=48)
    path = tmp_path / "runs" / "3B" / "Art_Style__seed0" / "questions.jsonl"
    lines = path.read_text().splitlines()
    broken = json.loads(lines[-1])
    broken["score"] = broken["score"][:-1]
    path.write_text("\n".join([*lines[:-2], json.dumps(broken), "{not json"]) + "\n")
    assert main(["analyze", *inputs, "--out", str(tmp_path / "out"), "--test", "crossed", "--no_plots",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"{path} line {len(lines) - 1} (field score: expected a list of 48 numbers, one per idx)" in err
    assert "2 per-question record(s) left out of the powered test" in err
