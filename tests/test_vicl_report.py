"""`vtl vicl report`: tiers and paired means on a hand-made results file, the Markdown table and example PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vtl.cli import main
from vtl.vicl.scoring.report import summarize, tier


def _rec(tid, arm, pair, psnr, ssim, vie=None, status="ok", judged=True):
    viescore = None
    if judged:
        viescore = {"ok": vie is not None, "O": vie, "O_mean": vie, "SC": vie, "PQ": vie, "judge": "hand"}
    return {"key": f"{tid}|{arm}", "tuple_id": tid, "arm": arm, "pair": pair, "status": status, "psnr": psnr,
            "ssim": ssim, "viescore": viescore, "generator": "hand", "output": None}


def test_tier_rules():
    assert tier({"psnr": 1.0, "ssim": 0.1, "viescore": -1.0}) == "top"
    assert tier({"psnr": -1.0, "ssim": 0.1, "viescore": 2.0}) == "top"  # 2 of 3 wins over "second"
    assert tier({"psnr": -1.0, "ssim": -0.1, "viescore": 2.0}) == "second"
    assert tier({"psnr": 0.0, "ssim": 0.0, "viescore": 2.0}) == "none"  # nothing got worse: not second tier
    assert tier({"psnr": 1.0, "ssim": -0.1, "viescore": None}) == "none"
    assert tier({"psnr": 1.0, "ssim": 0.1, "viescore": None}) == "top"


def test_summary_on_hand_made_results():
    records = [
        # Deblur→Dehaze: PSNR and SSIM up, VIEScore down -> top (paper: top)
        _rec("a1", "baseline", "Deblur→Dehaze", 20.0, 0.60, 5.0), _rec("a1", "ours", "Deblur→Dehaze", 22.0, 0.70, 4.0),
        _rec("a2", "baseline", "Deblur→Dehaze", 18.0, 0.50, 6.0), _rec("a2", "ours", "Deblur→Dehaze", 19.0, 0.55, 5.0),
        # Dehaze→Derain: VIEScore up, PSNR and SSIM down -> second (paper: second)
        _rec("b1", "baseline", "Dehaze→Derain", 25.0, 0.80, 3.0), _rec("b1", "ours", "Dehaze→Derain", 24.0, 0.70, 6.0),
        # Color→Style: ours failed to generate for b3 (unpaired, left out), judge failed on b2 -> VIEScore n/a
        _rec("b2", "baseline", "Color→Style", 15.0, 0.40, None), _rec("b2", "ours", "Color→Style", 14.0, 0.45, 7.0),
        _rec("b3", "baseline", "Color→Style", 30.0, 0.90, 9.0),
        _rec("b3", "ours", "Color→Style", None, None, status="failed", judged=False),
    ]
    s = summarize(records)
    top, second, color = (s["pairs"][p] for p in ("Deblur→Dehaze", "Dehaze→Derain", "Color→Style"))
    assert top["tier"] == "top" and top["paper_tier"] == "top"
    assert top["baseline"]["psnr"] == 19.0 and top["ours"]["psnr"] == 20.5
    assert top["delta"]["viescore"] == pytest.approx(-1.0)
    assert second["tier"] == "second" and second["paper_tier"] == "second"
    assert color["n_paired"] == 1 and color["n_judged"] == 0
    assert color["baseline"]["psnr"] == 15.0  # b3 is unpaired: not in the mean
    assert color["delta"]["viescore"] is None and color["tier"] == "none"
    assert color["baseline"]["n_judge_failed"] == 1 and color["ours"]["n_generation_failed"] == 1
    assert s["tiers"] == {"top": 1, "second": 1, "none": 1}
    assert s["n_judge_failed"] == 1 and s["n_generation_failed"] == 1


def test_report_command_writes_table_and_figure(tmp_path):
    run = tmp_path / "run"
    (run / "images").mkdir(parents=True)
    imgs = {}
    for key, value in (("a_in", 10), ("a_out", 80), ("b_in", 150), ("b_out", 220)):
        imgs[key] = str(tmp_path / f"{key}.png")
        Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(imgs[key])
    lines = []
    for arm, psnr, vie in (("baseline", 20.0, None), ("ours", 23.0, None)):
        Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(run / "images" / f"t0__{arm}.png")
        rec = _rec("t0", arm, "LightEnh→Derain", psnr, 0.5, vie) | {"images": imgs, "output": f"images/t0__{arm}.png"}
        lines.append(json.dumps(rec))
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["vicl", "report", str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "| LightEnh→Derain | 1 | 1 | 20.00 → 23.00 (+3.00) |" in text
    assert "No judge answer could be parsed" in text and "n/a" in text
    assert (run / "examples.png").stat().st_size > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pairs"]["LightEnh→Derain"]["tier"] == "none"  # PSNR up, SSIM equal, VIEScore n/a


def test_report_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, vtl.vicl.scoring.report, vtl.vicl.infer; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_bad_results_line_names_the_file_and_field(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text(json.dumps({"tuple_id": "t0"}) + "\n")
    assert main(["vicl", "report", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'results.jsonl'}: results line 1: missing field 'arm'" in err
