"""`vtl analyze` across model families: labels grouped by family, scales compared within a family, and the
structure (personas, cliques) compared across families."""

from __future__ import annotations

import json

import pytest
from transfer_data import write_csv

from vtl.analysis.analysis import analyze
from vtl.analysis.families import family_of_name

TASKS = ["Counting", "Jigsaw", "Relative_Depth", "Art_Style"]


@pytest.mark.parametrize(("name", "family"), [
    ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"),
    ("qwen2.5-vl-3B-instruct", "qwen2.5-vl"),
    ("Qwen/Qwen3-VL-4B-Instruct", "qwen3-vl"),
    ("/tmp/vtl/tiny-qwen3-vl", "qwen3-vl"),
    ("OpenGVLab/InternVL3-8B-hf", "internvl"),
    ("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava-onevision"),
    ("3B", "unknown"),
])
def test_family_of_a_model_name(name, family):
    assert family_of_name(name) == family


def _matrix(jigsaw_row: float) -> dict:
    """Counting gives +0.3 to every target, Jigsaw `jigsaw_row`; every other transfer is 0. Two seeds."""
    cells = {}
    for s in TASKS:
        for t in TASKS:
            v = 0.3 if s == "Counting" else jigsaw_row if s == "Jigsaw" else 0.0
            cells[(s, t)] = [v, v + 0.01 * (v != 0)]
    return cells


def test_structure_compared_across_families(tmp_path):
    specs = {"InternVL3-8B": 0.1, "Qwen2.5-VL-7B": -0.3, "Qwen3-VL-4B": -0.3, "Qwen2.5-VL-3B": -0.3}
    inputs = [f"{label}={write_csv(tmp_path / f'{label}.csv', _matrix(v))}" for label, v in specs.items()]
    out = tmp_path / "out"
    summary = analyze(inputs, out, print_table=False, make_plots=False)
    # grouped by family (in order of their smallest scale), smallest scale first within a family
    assert list(summary) == ["Qwen2.5-VL-3B", "Qwen2.5-VL-7B", "Qwen3-VL-4B", "InternVL3-8B"]
    assert [s["family"] for s in summary.values()] == ["qwen2.5-vl", "qwen2.5-vl", "qwen3-vl", "internvl"]
    s = summary["Qwen3-VL-4B"]
    assert s["personas"]["donor"] == ["Counting"] and s["personas"]["pirate"] == ["Jigsaw"]
    assert summary["InternVL3-8B"]["personas"]["donor"] == ["Counting", "Jigsaw"]
    families = s["families"]
    assert list(families["per_family"]) == ["qwen2.5-vl", "qwen3-vl", "internvl"]
    assert families["per_family"]["qwen2.5-vl"]["labels"] == ["Qwen2.5-VL-3B", "Qwen2.5-VL-7B"]
    assert s["personas_across_families"]["donor"] == ["Counting"]
    assert s["personas_across_families"]["pirate"] == []  # InternVL's Jigsaw helps
    assert summary["Qwen2.5-VL-7B"]["personas_across_scales"]["pirate"] == ["Jigsaw"]
    assert summary["Qwen2.5-VL-7B"]["scale_trend"]["family"] == "qwen2.5-vl"
    assert json.loads((out / "summary.json").read_text()) == summary
    report = (out / "report.md").read_text()
    assert "## Across model scales: qwen2.5-vl" in report and "## Across model scales: qwen3-vl" not in report
    assert "## Across model families" in report
    assert "- donor: in every family: **Counting (CT)**" in report
