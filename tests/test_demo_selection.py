"""The planted demo's selection check: which targets it can test, its sweep, and its verdict from the runs' records."""

from __future__ import annotations

import json
from pathlib import Path

from vtl.data.planted import planted_world
from vtl.tasks import TRANSFER_TASKS
from vtl.transfer import sweep as sw
from vtl.transfer.demo_runs import PLANTED_SWEEP, demo_sweep
from vtl.transfer.demo_selection import (
    SELECTION_TARGETS,
    selection_lines,
    selection_results,
    selection_sweep,
    selection_targets,
    write_mixtures,
)


def _label() -> dict:
    """A matrix where the tint group helps Spatial_Relation, Jigsaw helps Visual_Similarity and the rest is noise."""
    matrix = {s: {t: (1.0 if s == t else 0.05) for t in TRANSFER_TASKS} for s in TRANSFER_TASKS}
    for donor in ("Art_Style", "Multi-view_Reasoning", "Object_Localization"):
        matrix[donor]["Spatial_Relation"] = 0.9
    matrix["Jigsaw"]["Visual_Similarity"] = 0.8
    return {"sources": list(TRANSFER_TASKS), "pgf_matrix": matrix}


def test_targets_need_their_planted_donors_among_the_sources():
    world = planted_world(1 / 6, 0)
    assert selection_targets(world, list(TRANSFER_TASKS)) == list(SELECTION_TARGETS)
    assert selection_targets(world, ["Art_Style", "Multi-view_Reasoning", "Jigsaw"]) == ["Visual_Similarity"]
    assert selection_targets(world, ["Counting"]) == []


def test_mixtures_come_from_the_matrix_and_the_sweep_runs_each_with_every_seed(tmp_path):
    mixtures = write_mixtures(_label(), list(SELECTION_TARGETS), tmp_path, budget=120)
    pgf = json.loads(mixtures["Spatial_Relation"]["pgf"].read_text())
    assert {c["task"] for c in pgf["components"]} == {"Art_Style", "Multi-view_Reasoning", "Object_Localization"}
    assert sum(c["n"] for c in pgf["components"]) == 120  # noise at 0.05 is under the threshold: no donor
    vs = json.loads(mixtures["Visual_Similarity"]["random"].read_text())
    assert len(vs["components"]) == 1 and vs["components"][0]["task"] != "Visual_Similarity"
    grid = demo_sweep(None, None, [], PLANTED_SWEEP)
    sweep = selection_sweep(grid, mixtures, list(SELECTION_TARGETS))
    runs = sw.expand_grid(sweep, tmp_path)
    assert len(runs) == 4 * len(grid.parameters["seed_everything"])
    assert "data.source_task" not in sweep.parameters
    assert runs[0].name == "mixture=Spatial_Relation_pgf__seed_everything=0"
    command = sw.build_command(sweep, runs[0])
    assert f"--data.mixture={mixtures['Spatial_Relation']['pgf'].resolve()}" in command
    assert "--data.targets=Spatial_Relation,Visual_Similarity" in command


def test_a_target_without_a_donor_is_left_out(tmp_path, capsys):
    label = _label()
    label["pgf_matrix"]["Jigsaw"]["Visual_Similarity"] = 0.1
    assert list(write_mixtures(label, list(SELECTION_TARGETS), tmp_path, budget=120)) == ["Spatial_Relation"]
    assert "selection for Visual_Similarity left out: no donor" in capsys.readouterr().out


def _run(tmp: Path, spec: Path, seed: int, accuracy: float) -> sw.SweepRun:
    run_dir = tmp / f"{spec.stem}_{seed}"
    run_dir.mkdir()
    records = [{"target": "Visual_Similarity", "epoch": e, "accuracy": a} for e, a in ((0, 0.5), (1, accuracy))]
    records.append({"target": "Spatial_Relation", "epoch": 1, "accuracy": 0.1})
    (run_dir / "transfer.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return sw.SweepRun(index=seed, name=run_dir.name, params={"data.mixture": str(spec.resolve()),
                                                              "seed_everything": seed}, run_dir=run_dir)


def test_the_verdict_compares_the_last_epoch_of_the_target_seed_by_seed(tmp_path):
    mixtures = write_mixtures(_label(), ["Visual_Similarity"], tmp_path, budget=120)
    arms = mixtures["Visual_Similarity"]
    runs = [_run(tmp_path, arms["pgf"], 0, 0.98), _run(tmp_path, arms["random"], 0, 0.5),
            _run(tmp_path, arms["pgf"], 1, 0.6), _run(tmp_path, arms["random"], 1, 0.7)]
    result = selection_results(runs, mixtures)["Visual_Similarity"]
    assert result["pgf"]["accuracy"] == {"0": 0.98, "1": 0.6}
    assert result["pgf"]["components"] == {"Jigsaw": 120}
    assert result["wins"] == 1 and result["seeds"] == 2
    lines = selection_lines({"Visual_Similarity": result}, 120)
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    assert "seed 0: pgf 0.980, random 0.500  pgf wins" in text and "seed 1: pgf 0.600, random 0.700  random wins" \
        in text and "selection beats random on 1/2 seed(s)" in text


def test_an_interrupted_selection_stops_the_demo_with_the_signal_status(tmp_path, monkeypatch, capsys):
    """Ctrl-C during the selection fits: no traceback, exit status 130, and the rerun resumes (the runner's job)."""
    from vtl.transfer import demo_planted

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_planted, "run_parallel", interrupted)
    grid = demo_sweep(None, None, [], PLANTED_SWEEP)
    status = demo_planted.run_selection(planted_world(1 / 6, 0), _label(), grid, tmp_path, jobs=2, verbose=False,
                                        started=0.0)
    assert status == 130
    assert "run `vtl demo` again to resume" in capsys.readouterr().err
