"""Reading inputs: released CSVs, transfer.jsonl runs, labels, bad input and epoch choice."""

import json
import math
import warnings

import pytest
from transfer_data import RELEASED_CSVS, SHARED_RELEASED, write_csv, write_run

from vtl.analysis.io import AnalysisInputError, AnalysisWarning, load_inputs, order_labels, select_epoch
from vtl.analysis.matrix import pgf_matrices

CT, JG, RD = "Counting", "Jigsaw", "Relative_Depth"


@pytest.mark.skipif(not RELEASED_CSVS, reason="tests/data/task-transfer-pgf is absent")
def test_released_csv_reads_as_is_with_label():
    path = next(p for p in RELEASED_CSVS if "3B" in p.name)
    loaded = load_inputs([f"3B={path}"])
    frame = loaded.frame
    assert loaded.notes == [] and set(frame["label"]) == {"3B"}
    assert len(frame) == 676 and frame["seed"].nunique() == 4
    m = pgf_matrices(frame)["3B"]
    assert m.mean.shape == (13, 13) and m.seeds == ["initial", "seed_0", "seed_1", "seed_2"]


def test_label_defaults_to_file_stem_and_scales_sort_by_size(tmp_path):
    a = write_csv(tmp_path / "qwen-32B.csv", {(CT, JG): [0.1]})
    b = write_csv(tmp_path / "qwen-3B.csv", {(CT, JG): [0.2]})
    loaded = load_inputs([str(a), str(b)])
    assert loaded.label_order == ["qwen-3B", "qwen-32B"]
    assert order_labels(["big", "small"]) == ["big", "small"]


def test_csv_missing_columns_is_named_and_other_inputs_go_on(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("seed,ft_task,perfection_gap_factor\ninitial,Counting,0.1\n")
    good = write_csv(tmp_path / "good.csv", {(CT, JG): [0.1, 0.2]})
    with pytest.warns(AnalysisWarning, match=r"bad.csv: missing column\(s\) task"):
        loaded = load_inputs([str(bad), str(good)])
    assert set(loaded.frame["label"]) == {"good"}
    with pytest.raises(AnalysisInputError, match="missing column"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_inputs([str(bad)])


def test_unknown_task_and_bad_value_rows_are_left_out_with_line_and_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("seed,ft_task,task,perfection_gap_factor\n"
                    "initial,Counting,Jigsaw,0.1\n"
                    "initial,Countng,Jigsaw,0.2\n"
                    "initial,CT,RD,oops\n")
    with pytest.warns(AnalysisWarning) as record:
        loaded = load_inputs([str(path)])
    text = " ".join(str(w.message) for w in record)
    assert "line 3 column ft_task 'Countng'" in text
    assert "line 4 column perfection_gap_factor 'oops'" in text
    assert len(loaded.frame) == 1 and loaded.frame.iloc[0]["target"] == JG


def test_missing_path_and_empty_dir_give_clear_errors(tmp_path):
    with pytest.raises(AnalysisInputError, match="no such file"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_inputs([str(tmp_path / "nope.csv")])
    with pytest.raises(AnalysisInputError, match="holds no transfer.jsonl .* and no .csv"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_inputs([str(tmp_path)])


def _runs(root):
    for seed in (0, 1):
        write_run(root / f"ct{seed}", model="vtl://tiny-qwen2.5-vl", source=CT, seed=seed, epochs={
            0: {CT: (0.6, 0.5), JG: (0.5, 0.5)},
            1: {CT: (0.9, 0.5), JG: (0.4, 0.5)},
            2: {CT: (0.7, 0.5), JG: (0.75, 0.5)},
        })
    return root


def test_run_dirs_are_searched_recursively_and_labelled_by_model(tmp_path):
    loaded = load_inputs([str(_runs(tmp_path / "runs"))])
    assert set(loaded.frame["label"]) == {"tiny-qwen2.5-vl"}
    assert len(loaded.frame) == 12 and sorted(loaded.frame["epoch"].unique()) == [0, 1, 2]


def test_epoch_last_and_best_by_source_accuracy(tmp_path):
    frame = load_inputs([f"T={_runs(tmp_path / 'runs')}"]).frame
    last = select_epoch(frame, "last")
    assert set(last["epoch"]) == {2}
    assert last[last["target"] == JG]["pgf"].iloc[0] == pytest.approx(0.5)
    best = select_epoch(frame, "best")  # best Counting accuracy 0.9 at epoch 1
    assert set(best["epoch"]) == {1}
    assert best[best["target"] == JG]["pgf"].iloc[0] == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="epoch"):
        select_epoch(frame, "first")


def test_bad_jsonl_lines_and_null_pgf_are_reported(tmp_path):
    path = tmp_path / "run" / "transfer.jsonl"
    path.parent.mkdir()
    good = {"model": "m", "source_task": CT, "seed": 0, "epoch": 0, "step": 1, "target": JG, "accuracy": 0.5,
            "zero_shot_accuracy": 0.4, "pgf": 1 / 6, "n": 10}
    ceiling = {**good, "target": RD, "zero_shot_accuracy": 1.0, "accuracy": 1.0, "pgf": None}
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps({**good, "target": "Nope"}),
                               json.dumps({**good, "seed": None}), json.dumps(ceiling),
                               json.dumps({k: v for k, v in good.items() if k != "source_task"})]))
    with pytest.warns(AnalysisWarning) as record:
        frame = load_inputs([str(path)]).frame
    text = " ".join(str(w.message) for w in record)
    assert "line 2" in text and "line 3 field target 'Nope'" in text and "line 6 field source_task" in text
    assert "PGF undefined" in text and "line 5" in text and "seed is null" in text
    assert len(frame) == 3 and math.isnan(frame[frame["target"] == RD]["pgf"].iloc[0])
    assert frame["seed"].tolist() == ["0", "none", "0"]


def test_repeated_records_keep_the_last(tmp_path):
    a = write_csv(tmp_path / "a.csv", {(CT, JG): [0.1]})
    b = write_csv(tmp_path / "b.csv", {(CT, JG): [0.3]})
    with pytest.warns(AnalysisWarning, match="repeated"):
        frame = load_inputs([f"X={a}", f"X={b}"]).frame
    assert frame["pgf"].tolist() == [0.3]


def test_a_folder_of_csvs_reads_each_file_as_its_own_scale(tmp_path):
    write_csv(tmp_path / "m-3B.csv", {(CT, JG): [0.1]})
    write_csv(tmp_path / "m-7B.csv", {(CT, JG): [0.2]})
    assert load_inputs(tmp_path).label_order == ["m-3B", "m-7B"]
    with pytest.raises(AnalysisInputError, match="label each file"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_inputs([f"X={tmp_path}"])


@pytest.mark.skipif(not SHARED_RELEASED.is_dir(), reason="../shared/paper-data is not beside this checkout")
def test_test_copies_match_the_shared_released_csvs():
    shared = sorted(SHARED_RELEASED.glob("*.csv"))
    assert [p.name for p in shared] == [p.name for p in RELEASED_CSVS]
    for original, copy in zip(shared, RELEASED_CSVS, strict=True):
        assert original.read_bytes() == copy.read_bytes(), f"{copy} differs from {original}"
