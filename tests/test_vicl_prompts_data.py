"""Prompts as data (teacher prompt from text), and `vtl vicl report` over several generators' runs."""

from __future__ import annotations

import json

import pytest

from vtl.errors import VtlError


def test_teacher_prompt_from_text():
    from vtl.vicl.teaching.prompts import PROMPT_VERSION, TEACHER_PROMPT
    from vtl.vicl.teaching.teachers import Teacher

    teacher = Teacher()
    teacher._set_prompt(None)
    assert (teacher.prompt, teacher.prompt_version) == (TEACHER_PROMPT, PROMPT_VERSION)
    teacher._set_prompt("Describe both tasks implicitly, in three sentences.")
    assert teacher.prompt_version.startswith(PROMPT_VERSION + "+") and teacher.prompt_sha


def _run(path, deltas):
    """A results.jsonl with one tuple per pair: baseline at 10/0.5/5, ours shifted by `deltas`."""
    path.mkdir(parents=True)
    lines = []
    for i, (pair, (dp, ds, dv)) in enumerate(deltas.items()):
        for arm, (p, s, v) in (("baseline", (10, 0.5, 5)), ("ours", (10 + dp, 0.5 + ds, 5 + dv))):
            lines.append({"key": f"t{i}|{arm}", "tuple_id": f"t{i}", "arm": arm, "pair": pair, "status": "ok",
                          "psnr": p, "ssim": s, "generator": path.name, "output": None,
                          "viescore": {"ok": True, "variant": "paper", "score": v, "O": v, "judge": "hand"}})
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_report_over_two_generators(tmp_path, capsys):
    from vtl.vicl.scoring.report import report

    _run(tmp_path / "gemini", {"Deblur→Dehaze": (1, 0.1, 1), "Dehaze→Derain": (-1, -0.1, 1)})
    _run(tmp_path / "seedream", {"Deblur→Dehaze": (1, -0.1, 1), "Dehaze→Derain": (1, 0.1, 1)})
    assert report([f"g={tmp_path / 'gemini'}", f"s={tmp_path / 'seedream'}"], out=tmp_path / "both") == 0
    combined = json.loads((tmp_path / "both" / "tiers.json").read_text())
    assert combined["tiers"] == {"top": 1, "second": 1, "none": 0}
    assert combined["pairs"]["Dehaze→Derain"]["runs"]["s"]["tier"] == "top"  # top for Seedream alone
    assert (tmp_path / "gemini" / "report.md").is_file() and "rule: both-generators" in capsys.readouterr().out
    report([str(tmp_path / "gemini"), str(tmp_path / "seedream")], out=tmp_path / "each", tier_rule="single-run")
    each = json.loads((tmp_path / "each" / "tiers.json").read_text())
    assert each["tiers"]["seedream"]["top"] == 2
    with pytest.raises(VtlError, match="--out"):
        report([str(tmp_path / "gemini"), str(tmp_path / "seedream")])
