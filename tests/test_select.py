"""PGF-guided data selection: largest-remainder sizes, arms, the pinned spec format, errors and `vtl select`."""

import json

import pandas as pd
import pytest
from transfer_data import RELEASED_CSVS, write_csv

from vtl.analysis.analysis import analyze
from vtl.analysis.select import (
    SPEC_KEYS,
    SelectionError,
    largest_remainder,
    load_matrix,
    mixture_specs,
    read_spec,
    write_specs,
)
from vtl.cli import main
from vtl.tasks import TRANSFER_TASKS

pytestmark = pytest.mark.filterwarnings("ignore::vtl.analysis.io.AnalysisWarning")  # gaps in hand-made matrices
CT, JG, RD, VS, AS = "Counting", "Jigsaw", "Relative_Depth", "Visual_Similarity", "Art_Style"


def test_largest_remainder_sums_exactly_and_breaks_ties_by_weight_then_order():
    assert largest_remainder([0.5, 0.3, 0.2], 10) == [5, 3, 2]
    assert largest_remainder([1 / 3] * 3, 10) == [4, 3, 3]
    assert largest_remainder([0.45, 0.35, 0.2], 7) == [3, 3, 1]  # quotas 3.15, 2.45, 1.4: remainder to .45
    assert largest_remainder([0.6, 0.4], 1) == [1, 0]
    assert sum(largest_remainder([0.123, 0.456, 0.421], 997)) == 997


def _matrix():
    tasks = [AS, CT, JG, RD, VS]
    m = pd.DataFrame(0.0, index=tasks, columns=tasks)
    m.loc[[AS, CT, JG, RD, VS], RD] = [0.3, 0.1, -0.2, 0.9, 0.05]  # RD's own column: diagonal 0.9 is no donor
    return m


def test_pgf_arm_weights_proportional_to_pgf_above_threshold():
    specs = mixture_specs(_matrix(), "RD", threshold=0.08, budget=100, seed=1)
    pgf = specs["pgf"]
    assert tuple(pgf) == SPEC_KEYS and pgf["target"] == RD and pgf["arm"] == "pgf" and pgf["budget"] == 100
    assert [(c["task"], c["n"]) for c in pgf["components"]] == [(AS, 75), (CT, 25)]
    assert [c["weight"] for c in pgf["components"]] == pytest.approx([0.75, 0.25])
    assert specs["direct"]["components"] == [{"task": RD, "weight": 1.0, "n": 100}]


def test_random_arm_same_count_equal_weights_seeded():
    a = mixture_specs(_matrix(), RD, threshold=0.0, budget=11, seed=7)["random"]
    b = mixture_specs(_matrix(), RD, threshold=0.0, budget=11, seed=7)["random"]
    assert a == b and len(a["components"]) == 3  # AS, CT, VS are above 0
    assert all(c["task"] != RD and c["task"] in TRANSFER_TASKS for c in a["components"])
    assert [c["n"] for c in a["components"]] == [4, 4, 3] and sum(c["weight"] for c in a["components"]) == 1
    draws = {tuple(c["task"] for c in mixture_specs(_matrix(), RD, budget=11, seed=s)["random"]["components"])
             for s in range(6)}
    assert len(draws) > 1


def test_budget_defaults_to_the_targets_train_split_and_errors_are_clear():
    assert mixture_specs(_matrix(), RD)["direct"]["budget"] == 62  # 124 val rows, half held out for evaluation
    with pytest.raises(SelectionError, match=r"no donor for Relative_Depth.*highest is \+0.3000 from Art_Style.*"
                                             r"try --threshold below 0.3000"):
        mixture_specs(_matrix(), RD, threshold=0.5)
    with pytest.raises(SelectionError, match="unknown task 'Nope'"):
        mixture_specs(_matrix(), "Nope")
    with pytest.raises(SelectionError, match="no PGF for target Spatial_Relation"):
        mixture_specs(_matrix(), "SR")
    with pytest.raises(SelectionError, match="--threshold must be >= 0"):
        mixture_specs(_matrix(), RD, threshold=-0.1)
    with pytest.raises(SelectionError, match="--budget"):
        mixture_specs(_matrix(), RD, budget=0)


def test_specs_round_trip_through_files(tmp_path):
    paths = write_specs(mixture_specs(_matrix(), RD, budget=50, seed=3), tmp_path)
    assert sorted(p.name for p in paths.values()) == [f"{RD}_direct.json", f"{RD}_pgf.json", f"{RD}_random.json"]
    for path in paths.values():
        spec = read_spec(path)
        assert sum(c["n"] for c in spec["components"]) == 50
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**read_spec(paths["pgf"]), "budget": 51}))
    with pytest.raises(SelectionError, match="broken.json: components' n sum to 50, not budget 51"):
        read_spec(broken)


def _csv(tmp_path):
    cells = {(AS, RD): [0.3, 0.3], (CT, RD): [0.1, 0.1], (JG, RD): [-0.2, -0.1], (RD, RD): [0.9, 0.9],
             (RD, AS): [0.0, 0.1]}
    return write_csv(tmp_path / "m-3B.csv", cells)


def test_matrix_from_input_or_summary_json_agree(tmp_path):
    csv = _csv(tmp_path)
    analyze([f"3B={csv}", f"7B={csv}"], tmp_path / "an", print_table=False, make_plots=False)
    label, from_csv = load_matrix(str(csv))
    assert label == "m-3B"
    with pytest.raises(SelectionError, match="several labels .*--label"):
        load_matrix(str(tmp_path / "an" / "summary.json"))
    label, from_summary = load_matrix(str(tmp_path / "an" / "summary.json"), label="7B")
    assert label == "7B" and from_summary.loc[from_csv.index, RD].tolist() == pytest.approx(from_csv[RD].tolist())
    with pytest.raises(SelectionError, match="--label '70B' not in"):
        load_matrix(str(tmp_path / "an" / "summary.json"), label="70B")


def test_cli_select_writes_and_prints_every_arm(tmp_path, capsys):
    out = tmp_path / "mix"
    assert main(["select", "--matrix", str(_csv(tmp_path)), "--target", "RD", "--budget", "40", "--seed", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for arm in ("direct", "random", "pgf"):
        assert str(out / f"{RD}_{arm}.json") in printed
    comps = json.loads((out / f"{RD}_pgf.json").read_text())["components"]
    assert [(c["task"], c["n"]) for c in comps] == [(AS, 30), (CT, 10)]
    assert [c["weight"] for c in comps] == pytest.approx([0.75, 0.25])
    assert main(["select", "--matrix", str(_csv(tmp_path)), "--target", "RD", "--threshold", "0.5",
                 "--out", str(out)]) == 2
    assert "no donor" in capsys.readouterr().err


@pytest.mark.skipif(not RELEASED_CSVS, reason="tests/data/task-transfer-pgf is absent")
def test_select_on_released_matrix(tmp_path):
    csv = next(p for p in RELEASED_CSVS if "-32B-" in p.name)
    specs = mixture_specs(load_matrix(str(csv))[1], "Visual_Similarity", threshold=0.5, budget=135)
    donors = [c["task"] for c in specs["pgf"]["components"]]
    assert "Visual_Similarity" not in donors and len(donors) == len(specs["random"]["components"]) >= 1
    assert sum(c["n"] for c in specs["pgf"]["components"]) == 135
