"""`vtl vicl run` end to end on a reduced size, the infer configs, and the CLI wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtl.vicl.infer import InferConfig
from vtl.vicl.scoring.results import read_results

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "vicl").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_infer_configs_parse(path):
    config = InferConfig.from_yaml(path)
    from vtl.components import check
    from vtl.vicl.generation.base import Generator
    from vtl.vicl.scoring.judge import JudgeBackend

    check(config.generator, Generator, "generator")  # against the constructor, nothing built
    if config.judge is not None:
        check(config.judge, JudgeBackend, "judge")
    assert f"vtl vicl infer --config configs/vicl/{path.name}" in path.read_text().splitlines()[0]


@pytest.mark.slow
def test_offline_chain_end_to_end_and_resume(tmp_path):
    from vtl.vicl.pipeline import run_pipeline

    out = tmp_path / "vicl"
    kwargs = {"pairs": ["Deblur→Dehaze", "Denoise→LightEnh"], "n_train": 2, "n_eval": 1, "epochs": 1, "k": 2,
              "progress": False}
    summary = run_pipeline(out, **kwargs)
    records = read_results(out / "infer" / "results.jsonl")
    assert sorted((r["pair"], r["arm"]) for r in records) == sorted(
        (p, a) for p in ("Deblur→Dehaze", "Denoise→LightEnh") for a in ("baseline", "ours", "teacher"))
    assert all(r["status"] == "ok" and r["psnr"] is not None for r in records)
    # the tiny judge's answers are unparseable: every item is a counted judge failure, shown in the report
    assert summary["n_judged"] == 0 and summary["n_judge_failed"] == len(records)
    text = (out / "infer" / "report.md").read_text()
    assert "No judge answer could be parsed" in text and "Upper bound" in text
    assert (out / "infer" / "examples.png").is_file() and (out / "student" / "student" / "student.json").is_file()
    assert set(summary["pairs"]) == {"Deblur→Dehaze", "Denoise→LightEnh"}
    # a rerun finds every step done and appends nothing
    run_pipeline(out, **kwargs)
    assert len(read_results(out / "infer" / "results.jsonl")) == len(records)
    assert json.loads((out / "infer" / "summary.json").read_text())["n_records"] == len(records)
    # a rerun asking for another student does not silently reuse the one already fitted
    with pytest.raises(ValueError, match="fitted with other --epochs"):
        run_pipeline(out, **{**kwargs, "epochs": 2})
