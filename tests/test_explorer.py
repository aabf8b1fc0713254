"""report.html, the transfer explorer `vtl analyze` writes: one self-contained file whose inlined numbers are the
summary's, with provenance; `--html false` skips it; the demo's planted table is added in place; `vtl report open`
prints the address and never launches a browser without a display. The page itself is driven in a real browser in
test_explorer_browser.py."""

from __future__ import annotations

import json
import re

import pytest
from transfer_data import RELEASED_CSVS, write_planted_study

from vtl.analysis.analysis import analyze
from vtl.analysis.explorer import REPORT_FILE, add_section, read_payload
from vtl.cli import main


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    inputs = write_planted_study(root / "runs")
    summary = analyze(inputs, root / "out", confidence=0.8, print_table=False, make_plots=False)
    return root / "out", summary


def test_inlined_numbers_are_the_summary(study):
    out, summary = study
    payload = read_payload(out / REPORT_FILE)
    assert [b["id"] for b in payload["blocks"]] == ["3B", "7B"]
    for b in payload["blocks"]:
        label = summary[b["label"]]
        assert b["sources"] == label["sources"] and b["targets"] == label["targets"]
        for i, s in enumerate(b["sources"]):
            for j, t in enumerate(b["targets"]):
                assert b["mu"][i][j] == label["pgf_matrix"][s][t]  # exact: the page shows the summary's numbers
                assert b["n"][i][j] == 3
        assert {frozenset((e["a"], e["b"])) for e in b["edges"]} == {frozenset(e["tasks"]) for e in label["edges"]}
        assert b["largest"]["positive"] == label["largest_positive_clique"]
        assert b["personas"] == label["personas"]
    i, j = payload["blocks"][0]["sources"].index("Art_Style"), payload["blocks"][0]["targets"].index("Spatial_Relation")
    cell = {k: payload["blocks"][0][k][i][j] for k in ("acc", "zs", "dacc", "p", "sig")}
    assert cell["zs"] == 0.5 and cell["dacc"] == pytest.approx(cell["acc"] - 0.5)
    assert cell["p"] == pytest.approx(0.125) and cell["sig"] is True  # 3 seeds all up: Wilcoxon's smallest p
    curve = payload["curves"]["3B"]["Art_Style"]["Spatial_Relation"]
    assert curve["epochs"] == [0, 1, 2] and sorted(curve["seeds"]) == ["0", "1", "2"]
    assert curve["mean"][-1] == pytest.approx(label_pgf(summary, "3B", "Art_Style", "Spatial_Relation"), abs=1e-5)
    (trend,) = payload["trend"].values()  # one family, two scales: the table and its test
    assert list(trend["rows"]) == ["3B", "7B"] and trend["test"]["larger"] == "7B"


def label_pgf(summary, label, s, t):
    return summary[label]["pgf_matrix"][s][t]


def test_page_is_self_contained_with_provenance(study):
    out, _ = study
    page = (out / REPORT_FILE).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page fetches nothing"
    assert "default-src 'none'" in page  # and the browser is told to refuse any fetch
    payload = read_payload(out / REPORT_FILE)
    prov = payload["provenance"]
    assert prov["vtl_version"] and prov["options"]["confidence"] == 0.8
    info = prov["labels"]["3B"]
    assert info["runs"] == 39 and info["seeds"] == ["0", "1", "2"] and info["vtl_versions"] == ["0.1.0"]
    assert all(len(d) == 1 for d in info["eval_rows"].values()) and len(info["eval_rows"]) == 13


def test_script_ending_text_cannot_break_the_page(study, tmp_path):
    out, _ = study
    page = tmp_path / REPORT_FILE
    page.write_text((out / REPORT_FILE).read_text())
    add_section(page, "planted", {"note": "</script><script>alert(1)</script>"})
    assert "</script><script>alert" not in page.read_text()
    assert read_payload(page)["planted"]["note"].startswith("</script>")


def test_released_csvs_get_a_page_and_html_false_skips_it(tmp_path, capsys):
    inputs = [f"{c.stem.split('-')[2]}={c}" for c in RELEASED_CSVS]
    assert main(["analyze", *inputs, "--out", str(tmp_path / "a"), "--no_plots"]) == 0
    assert f"file://{(tmp_path / 'a' / REPORT_FILE).resolve()}" in capsys.readouterr().out
    payload = read_payload(tmp_path / "a" / REPORT_FILE)
    assert [b["id"] for b in payload["blocks"]] == ["3B", "7B", "32B"]
    assert payload["curves"] == {}  # released CSVs hold the last epoch only
    assert main(["analyze", *inputs, "--out", str(tmp_path / "b"), "--no_plots", "--quiet", "--html", "false"]) == 0
    assert not (tmp_path / "b" / REPORT_FILE).exists() and (tmp_path / "b" / "summary.json").exists()


def test_report_open_prints_the_address_and_refuses_other_files(study, tmp_path, capsys, monkeypatch):
    out, _ = study
    launched = []
    monkeypatch.setattr("webbrowser.open", lambda uri: launched.append(uri))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["report", "open", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (out / REPORT_FILE).resolve().as_uri()
    assert launched == []  # headless: the address only
    monkeypatch.setenv("DISPLAY", ":0")
    assert main(["report", "open", str(out / REPORT_FILE)]) == 0
    assert launched == [(out / REPORT_FILE).resolve().as_uri()]
    (tmp_path / "x.html").write_text("<html></html>")
    for bad in (tmp_path / "x.html", tmp_path / "missing"):
        assert main(["report", "open", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "not a vtl report.html" in err[0] and "no such file" in err[1]


def test_summary_json_is_unchanged_by_the_page(study):
    out, summary = study
    assert json.loads((out / "summary.json").read_text()) == summary
