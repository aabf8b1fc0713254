"""The whole analysis: released CSVs end to end, tiny-model runs with epochs and mixtures, bad input, the CLI."""

import json
import math
import subprocess
import sys
import warnings

import pandas as pd
import pytest
from transfer_data import RELEASED_CSVS, write_csv, write_run

from vtl.analysis.analysis import analyze
from vtl.analysis.metrics import signed_transfer
from vtl.analysis.report import TINY_NOTE
from vtl.cli import main
from vtl.tasks import TRANSFER_TASKS

needs_released = pytest.mark.skipif(not RELEASED_CSVS, reason="tests/data/task-transfer-pgf is absent")
KEYS = ("largest_positive_clique", "largest_negative_clique", "transferability", "malleability", "personas",
        "mean_positive_transferability")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("released")
    labels = {"3B": "3B", "7B": "7B", "32B": "32B"}
    inputs = [f"{lbl}={next(p for p in RELEASED_CSVS if f'-{lbl}-' in p.name)}" for lbl in labels] \
        if RELEASED_CSVS else []
    summary = analyze(list(reversed(inputs)), out, print_table=False) if inputs else None
    return out, summary


@needs_released
def test_released_csvs_outputs_complete(released):
    out, summary = released
    assert list(summary) == ["3B", "7B", "32B"]  # scales ordered by size whatever the input order
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    for s in on_disk.values():
        assert all(k in s for k in KEYS)
        assert set(s["transferability"]) == set(TRANSFER_TASKS) == set(s["malleability"])
        assert set(s["personas"]) == {"donor", "pirate", "sponge", "sieve"}
        for name in ("heatmap", "graph"):
            assert (out / s["files"][name]).stat().st_size > 10_000
        assert all(t in TRANSFER_TASKS for t in s["largest_positive_clique"] + s["largest_negative_clique"])
        assert s["left_out"] == []
    report = (out / "report.md").read_text()
    for label in ("3B", "7B", "32B"):
        assert f"## {label}" in report
    assert "Across model scales" in report and TINY_NOTE not in report


@needs_released
def test_released_csvs_numbers_are_consistent(released):
    _, summary = released
    raw = pd.read_csv(next(p for p in RELEASED_CSVS if "-3B-" in p.name))
    mean = raw.groupby(["ft_task", "task"])["perfection_gap_factor"].mean()
    s = summary["3B"]
    assert s["pgf_matrix"]["Relative_Depth"]["Relative_Depth"] == pytest.approx(mean[("Relative_Depth",) * 2])
    for task in TRANSFER_TASKS:  # the diagonal the CSVs include is left out: 12 targets per source
        row = [mean[(task, t)] for t in TRANSFER_TASKS if t != task]
        expect = signed_transfer(row)
        assert s["transferability"][task]["N"] == 12
        assert s["transferability"][task]["pos"] == pytest.approx(expect["pos"])
        assert s["transferability"][task]["neg"] == pytest.approx(expect["neg"])
    assert s["mean_positive_transferability"] == pytest.approx(
        sum(v["pos"] for v in s["transferability"].values()) / 13)
    for sign, key in (("positive", "largest_positive_clique"), ("negative", "largest_negative_clique")):
        clique = s[key]
        assert len(clique) >= 2
        for a in clique:
            for b in clique:
                if a != b:
                    v = s["pgf_matrix"][a][b]
                    assert (v > 0) if sign == "positive" else (v < 0)
        sizes = [len(c["tasks"]) for c in s["maximal_cliques"][sign]]
        assert len(clique) == max(sizes)
    donors = [t for t, _ in s["persona_rankings"]["donor"]][:3]
    assert s["personas"]["donor"] == donors
    common = set(summary["3B"]["personas"]["donor"]) & set(summary["7B"]["personas"]["donor"]) \
        & set(summary["32B"]["personas"]["donor"])
    assert set(s["personas_across_scales"]["donor"]) == common
    assert [summary[lbl]["scale_trend"]["largest_positive_clique_size"] for lbl in summary] == \
        [len(summary[lbl]["largest_positive_clique"]) for lbl in summary]


def _tiny_grid(root):
    tasks = ["Counting", "Jigsaw", "Relative_Depth"]
    accs = {"Counting": 0.5, "Jigsaw": 0.4, "Relative_Depth": 0.6}
    for seed in (0, 1):
        for i, src in enumerate(tasks):
            epochs = {}
            for epoch in (0, 1):
                epochs[epoch] = {t: (min(1.0, accs[t] + (0.1 if t == src else 0.05 * (i - 1)) * (epoch + 1)
                                         + 0.01 * seed), accs[t]) for t in tasks}
            write_run(root / f"{src}_{seed}", model="vtl://tiny-qwen2.5-vl", source=src, seed=seed, epochs=epochs)
        for arm, gain in (("direct", 0.1), ("random", 0.0), ("pgf", 0.2)):
            write_run(root / f"mix_{arm}_{seed}", model="vtl://tiny-qwen2.5-vl", source="mixture:Jigsaw", seed=seed,
                      epochs={0: {"Jigsaw": (0.4 + gain, 0.4)}}, arm=arm, mixture_target="Jigsaw")
    return root


def test_tiny_runs_give_curves_arms_and_the_tiny_note(tmp_path, capsys):
    summary = analyze([str(_tiny_grid(tmp_path / "runs"))], tmp_path / "out")
    (label,) = summary
    assert label == "tiny-qwen2.5-vl" and summary[label]["tiny_model"] is True
    s = summary[label]
    assert s["seeds"] == ["0", "1"] and (tmp_path / "out" / s["files"]["curves"]).exists()
    arms = s["selection"]["Jigsaw"]
    assert list(arms) == ["direct", "random", "pgf"]
    assert arms["pgf"]["accuracy"] == pytest.approx(0.6) and arms["pgf"]["pgf"] == pytest.approx(0.2 / 0.6)
    assert arms["random"]["pgf"] == pytest.approx(0.0) and arms["direct"]["n_seeds"] == 2
    assert s["transferability"]["Relative_Depth"]["pos"] > 0 and s["transferability"]["Counting"]["neg"] < 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert TINY_NOTE in report and "PGF-guided data selection" in report and "Transfer curves" in report
    printed = capsys.readouterr().out
    assert "CT" in printed and "personas" in printed and "tiny offline model" in printed


def test_missing_cells_and_single_seed_go_as_far_as_the_data_allows(tmp_path):
    cells = {("Counting", "Jigsaw"): [0.2], ("Jigsaw", "Counting"): [0.1], ("Counting", "Relative_Depth"): [-0.1],
             ("Relative_Depth", "Counting"): [-0.3], ("Jigsaw", "Relative_Depth"): [0.4]}  # RD -> JG missing
    path = write_csv(tmp_path / "one-seed.csv", cells)
    with pytest.warns(UserWarning) as record:
        summary = analyze([f"S={path}"], tmp_path / "out", print_table=False, make_plots=False)
    text = " ".join(str(w.message) for w in record)
    assert "Relative_Depth->Jigsaw" in text and "only one seed" in text
    s = summary["S"]
    assert s["pgf_matrix"]["Relative_Depth"]["Jigsaw"] is None
    assert s["transferability"]["Relative_Depth"]["N"] == 1
    assert s["largest_positive_clique"] == ["Counting", "Jigsaw"]
    assert s["largest_negative_clique"] == ["Counting", "Relative_Depth"]
    assert s["largest_significant_positive_clique"] is None
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Left out" in report and "only one seed" in report


def test_diagonal_option_changes_the_counts(tmp_path):
    path = write_csv(tmp_path / "d.csv", {("Counting", "Counting"): [0.9, 0.8], ("Counting", "Jigsaw"): [0.2, 0.2],
                                          ("Jigsaw", "Counting"): [0.1, 0.1], ("Jigsaw", "Jigsaw"): [0.5, 0.5]})
    off = analyze([str(path)], tmp_path / "a", print_table=False, make_plots=False)["d"]
    on = analyze([str(path)], tmp_path / "b", print_table=False, make_plots=False, include_diagonal=True)["d"]
    assert off["transferability"]["Counting"]["N"] == 1 and on["transferability"]["Counting"]["N"] == 2
    assert on["transferability"]["Counting"]["pos"] == pytest.approx((1 - math.exp(-1)) / 2 * 1.05)


@needs_released
def test_cli_analyze(tmp_path, capsys):
    csv = next(p for p in RELEASED_CSVS if "-7B-" in p.name)
    assert main(["analyze", f"7B={csv}", "--out", str(tmp_path), "--confidence", "0.95", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "PGF 7B" in out and "donor" in out and "VS" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["7B"]["options"]["confidence"] == 0.95 and (tmp_path / "report.md").exists()


def test_cli_analyze_bad_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["analyze", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "missing column(s) seed, ft_task, task, perfection_gap_factor" in capsys.readouterr().err



def test_cli_analyze_empty_csv_and_out_on_a_file_exit_2_without_traceback(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["analyze", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "empty.csv: cannot read as CSV" in capsys.readouterr().err
    csv = next(p for p in RELEASED_CSVS if "-3B-" in p.name)
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    assert main(["analyze", str(csv), "--out", str(blocker), "--no-plots", "--quiet"]) == 2
    assert "taken: cannot create the output directory" in capsys.readouterr().err

def test_analysis_modules_do_not_import_torch():
    code = ("import sys, vtl.analysis.analysis, vtl.analysis.plots, vtl.analysis.select, vtl.analysis.cli, "
            "vtl.analysis.select_cli; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
