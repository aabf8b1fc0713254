"""`vtl analyze --upper/--eps` recomputes PGF from logged accuracies; persona p-values and the scale-trend test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from transfer_data import RELEASED_CSVS, write_run

from vtl.analysis.analysis import analyze
from vtl.analysis.io import AnalysisInputError, parse_upper
from vtl.analysis.matrix import PGFMatrices
from vtl.analysis.stats import persona_p_values, scale_trend_test

CT, RD, JG = "Counting", "Relative_Depth", "Jigsaw"
# (source, seed) -> {target: (accuracy, zero-shot accuracy)}
RUNS = {
    (CT, 0): {CT: (0.70, 0.50), RD: (0.40, 0.45), JG: (0.60, 0.55)},
    (CT, 1): {CT: (0.75, 0.50), RD: (0.42, 0.45), JG: (0.58, 0.55)},
    (RD, 0): {CT: (0.55, 0.50), RD: (0.80, 0.45), JG: (0.50, 0.55)},
    (RD, 1): {CT: (0.52, 0.50), RD: (0.85, 0.45), JG: (0.52, 0.55)},
}
UPPER = {CT: 0.9, RD: 0.8, JG: 0.95}


def _runs(root):
    for (source, seed), targets in RUNS.items():
        write_run(root / f"{source}_{seed}", model="m-7B", source=source, seed=seed, epochs={0: targets})
    return root


def test_per_task_ceiling_recomputed_by_analyze_equals_the_formula(tmp_path):
    summary = analyze([str(_runs(tmp_path / "runs"))], tmp_path / "out", upper=UPPER, eps=0.02, print_table=False,
                      make_plots=False)
    (label,) = summary
    per_seed = summary[label]["pgf_per_seed"]
    for (source, seed), targets in RUNS.items():
        for target, (acc, zs) in targets.items():
            expected = (acc - zs) / (UPPER[target] - zs + 0.02)
            assert per_seed[str(seed)][source][target] == pytest.approx(expected, abs=1e-12)
    assert "PGF recomputed from the logged accuracies" in (tmp_path / "out" / "report.md").read_text()
    plain = analyze([str(tmp_path / "runs")], tmp_path / "plain", print_table=False, make_plots=False)
    assert plain[label]["pgf_per_seed"]["0"][CT][RD] == pytest.approx((0.40 - 0.45) / (1 - 0.45))


def test_a_ceiling_at_or_below_zero_shot_is_an_error_naming_the_task(tmp_path):
    with pytest.raises(AnalysisInputError, match="ceiling of Relative_Depth is 0.45 but its zero-shot accuracy"):
        analyze([str(_runs(tmp_path / "runs"))], tmp_path / "out", upper={**UPPER, RD: 0.45}, print_table=False,
                make_plots=False)
    with pytest.raises(AnalysisInputError, match="no ceiling for target"):
        analyze([str(tmp_path / "runs")], tmp_path / "out", upper={CT: 0.9}, print_table=False, make_plots=False)


def test_upper_flag_forms(tmp_path):
    assert parse_upper("0.9") == 0.9
    assert parse_upper("Counting=0.9, RD=0.8") == {"Counting": 0.9, "RD": 0.8}
    (tmp_path / "human.json").write_text(json.dumps(UPPER))
    assert parse_upper(str(tmp_path / "human.json")) == UPPER
    with pytest.raises(AnalysisInputError, match="TASK=VALUE"):
        parse_upper("Counting:0.9")


def test_cli_upper_and_eps(tmp_path, capsys):
    from vtl.cli import main

    runs = str(_runs(tmp_path / "runs"))
    assert main(["analyze", runs, "--out", str(tmp_path / "out"), "--no_plots", "--quiet",
                 "--upper", "Counting=0.9,RD=0.8,JG=0.95", "--eps", "0.02"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    value = next(iter(summary.values()))["pgf_per_seed"]["1"][RD][JG]
    assert value == pytest.approx((0.52 - 0.55) / (0.95 - 0.55 + 0.02))
    capsys.readouterr()
    assert main(["analyze", runs, "--out", str(tmp_path / "o2"), "--upper", "Counting=0.4"]) == 2
    assert "no ceiling for target" in capsys.readouterr().err


def _matrices(label: str, scale: float, seeds: int = 4) -> PGFMatrices:
    tasks = [CT, RD, JG]
    rng = np.random.default_rng(0)
    per_seed = {}
    for s in range(seeds):
        values = rng.uniform(-0.05, 0.05, size=(3, 3)) * scale
        values[0, :] += 0.3 * scale  # Counting donates to every target on every seed
        values[1, :] -= 0.2  # Relative_Depth hurts every target
        per_seed[str(s)] = pd.DataFrame(values, index=tasks, columns=tasks)
    cube = np.stack([f.to_numpy() for f in per_seed.values()])
    frame = lambda a: pd.DataFrame(a, index=tasks, columns=tasks)  # noqa: E731
    std = cube.std(0, ddof=1) if seeds > 1 else np.full((3, 3), np.nan)
    return PGFMatrices(label, frame(cube.mean(0)), frame(std), frame(np.full((3, 3), seeds)),
                       per_seed, list(per_seed), "m")


def test_persona_p_value_is_the_exact_one_sided_wilcoxon_across_seeds():
    p = persona_p_values(_matrices("7B", 1.0), {"donor": [CT], "pirate": [RD], "sponge": [], "sieve": []})
    assert p["donor"][CT] == pytest.approx(1 / 16)  # 4 seeds, all differences positive: the smallest exact p
    assert p["pirate"][RD] == pytest.approx(1 / 16)
    one_seed = persona_p_values(_matrices("7B", 1.0, seeds=1), {"donor": [CT]})
    assert one_seed["donor"][CT] is None


def test_scale_trend_test_compares_per_seed_means_of_smallest_and_largest_scale():
    test = scale_trend_test({"3B": _matrices("3B", 1.0), "32B": _matrices("32B", 2.0)})
    assert test["smaller"] == "3B" and test["larger"] == "32B"
    pos = test["scores"]["mean_positive_transferability"]
    assert pos["n_seeds"] == [4, 4] and pos["larger_scale_mean"] > pos["smaller_scale_mean"]
    assert pos["p_value"] == pytest.approx(1 / 70)  # every 32B seed above every 3B seed: exact U-test p = 1/C(8,4)


@pytest.mark.skipif(not RELEASED_CSVS, reason="tests/data/task-transfer-pgf is absent")
def test_released_csvs_report_persona_p_values_and_the_scale_trend(tmp_path):
    inputs = [f"{lbl}={next(p for p in RELEASED_CSVS if f'-{lbl}-' in p.name)}" for lbl in ("3B", "32B")]
    summary = analyze(inputs, tmp_path, print_table=False, make_plots=False)
    for label in ("3B", "32B"):
        pv = summary[label]["persona_p_values"]
        assert set(pv) == {"donor", "pirate", "sponge", "sieve"}
        assert all(0 < p <= 1 for claims in pv.values() for p in claims.values())
        assert summary[label]["scale_trend_test"]["larger"] == "32B"
    report = (tmp_path / "report.md").read_text()
    assert "Mann-Whitney" in report and "Wilcoxon signed-rank test across seeds of the task's score" in report
