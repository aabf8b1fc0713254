"""report.html driven in a real headless Chromium (Debian's `chromium` through playwright's driver; nothing is
downloaded): it loads from file:// with no console error and no request but its own file; the heatmap has 13 x 13
cells holding summary.json's numbers; hovering a cell shows its mu and n; switching scale, value and diagonal change
the cells; the clique graph shows the planted group's edges; a task's row and column light up on click; the curves
follow a clicked pair; the demo's planted table shows. A full 13 x 3 x 4 grid with 13 epochs of curves stays under
5 MB (its load time is printed; benchmarks/bench_explorer.py holds it to 2 s)."""

from __future__ import annotations

import os
import shutil
import time
from itertools import combinations

import pytest
from transfer_data import ANTAGONISTS, PLANTED_GROUP, write_planted_study

from vtl.analysis.analysis import analyze
from vtl.analysis.explorer import REPORT_FILE, add_section

INSTALL = ("install Debian's chromium and the playwright driver: `apt-get install chromium` and "
           "`pip install playwright` (scripts/setup_env.sh does both)")


def chromium_path() -> str:
    for name in (os.environ.get("VTL_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    pytest.fail(f"no Chromium on PATH: {INSTALL}", pytrace=False)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed: {INSTALL}", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Page:
    """A page with every console message, page error and request recorded."""

    def __init__(self, browser, path):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        started = time.perf_counter()
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        self.load_s = time.perf_counter() - started
        self.url = path.resolve().as_uri()

    def cells(self) -> dict[tuple[str, str], dict]:
        return {(c["s"], c["t"]): c for c in self.page.eval_on_selector_all("rect.cell", """els => els.map(e => ({
            s: e.dataset.source, t: e.dataset.target, mu: e.dataset.mu, value: e.dataset.value,
            cls: e.getAttribute('class'), fill: e.getAttribute('fill')}))""")}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_study")
    summary = analyze(write_planted_study(root / "runs"), root / "out", confidence=0.8, print_table=False,
                      make_plots=False)
    return root / "out" / REPORT_FILE, summary


@pytest.fixture(scope="module")
def page(browser, study):
    p = Page(browser, study[0])
    yield p
    p.page.close()


def test_loads_offline_without_errors(page):
    assert page.errors == []
    assert page.requests == [page.url]  # nothing but the file itself: no CDN, no font, no favicon


def test_heatmap_cells_hold_the_summary_numbers(page, study):
    summary = study[1]
    cells = page.cells()
    assert len(cells) == 13 * 13
    for (s, t), c in cells.items():
        assert float(c["mu"]) == summary["3B"]["pgf_matrix"][s][t]


def test_hover_shows_mu_and_n(page, study):
    summary = study[1]
    page.page.hover("rect.cell[data-source='Art_Style'][data-target='Spatial_Relation']")
    text = page.page.inner_text("#tooltip")
    mu = summary["3B"]["pgf_matrix"]["Art_Style"]["Spatial_Relation"]
    assert "Art_Style → Spatial_Relation" in text
    assert f"μ = +{mu:.4f}" in text and "n = 3 seed(s)" in text
    assert "fine-tuned" in text and "zero-shot 0.500" in text
    assert "Wilcoxon" in text and "significant" in text
    page.page.mouse.move(5, 5)
    assert page.page.is_hidden("#tooltip")


def test_switching_scale_mode_and_diagonal_changes_the_cells(page, study):
    summary = study[1]
    before = page.cells()
    page.page.select_option("#block-select", label=page.page.inner_text("#block-select option:nth-child(2)"))
    after = page.cells()
    assert page.page.get_attribute("#heatmap-svg", "data-block") == "7B"
    assert all(float(c["mu"]) == summary["7B"]["pgf_matrix"][s][t] for (s, t), c in after.items())
    assert any(after[k]["mu"] != before[k]["mu"] for k in after)
    page.page.select_option("#mode-select", "dacc")
    dacc = page.cells()
    assert page.page.get_attribute("#heatmap-svg", "data-mode") == "dacc"
    key = ("Art_Style", "Spatial_Relation")
    assert float(dacc[key]["value"]) != float(dacc[key]["mu"])  # accuracy points, not PGF
    page.page.select_option("#mode-select", "pgf")
    page.page.uncheck("#diagonal-toggle")
    assert sum("diag-off" in c["cls"] for c in page.cells().values()) == 13
    page.page.check("#diagonal-toggle")
    assert not any("diag-off" in c["cls"] for c in page.cells().values())
    page.page.select_option("#block-select", index=0)
    assert page.errors == []


def test_graph_shows_the_planted_group_and_highlights_a_task(page):
    edges = page.page.eval_on_selector_all("line.edge", "els => els.map(e => [e.dataset.a, e.dataset.b, "
                                           "e.dataset.sign])")
    positive = {frozenset((a, b)) for a, b, sign in edges if sign == "positive"}
    negative = {frozenset((a, b)) for a, b, sign in edges if sign == "negative"}
    assert {frozenset(p) for p in combinations(PLANTED_GROUP, 2)} <= positive
    assert frozenset(ANTAGONISTS) in negative
    nodes = page.page.eval_on_selector_all("circle.node.in-positive", "els => els.map(e => e.dataset.task)")
    assert sorted(nodes) == sorted(PLANTED_GROUP)
    page.page.hover("circle.node[data-task='Art_Style']")
    dimmed = page.page.eval_on_selector_all("line.edge.dim", "els => els.map(e => [e.dataset.a, e.dataset.b])")
    assert dimmed and all("Art_Style" not in pair for pair in dimmed)
    assert "Art_Style" in page.page.inner_text("#graph-info")
    page.page.click("circle.node[data-task='Art_Style']")
    lit = [k for k, c in page.cells().items() if " hl" in f" {c['cls']}"]
    assert len(lit) == 25 and all("Art_Style" in k for k in lit)  # its row and column
    assert page.page.get_attribute("#scores-table tr[data-task='Art_Style']", "class") == "focus"
    page.page.click("circle.node[data-task='Art_Style']")  # again: cleared
    assert not any(" hl" in f" {c['cls']}" for c in page.cells().values())
    page.page.check("#significant-only")
    flags = page.page.eval_on_selector_all("line.edge", "els => els.map(e => e.dataset.significant)")
    assert flags and set(flags) == {"true"} and len(flags) < len(edges)
    page.page.uncheck("#significant-only")


def test_curves_follow_a_clicked_pair(page):
    page.page.click("rect.cell[data-source='Spatial_Relation'][data-target='Object_Localization']")
    svg = page.page.locator("#curve-svg")
    assert svg.get_attribute("data-source") == "Spatial_Relation"
    assert svg.get_attribute("data-target") == "Object_Localization"
    assert page.page.locator("#curve-svg polyline.seed-line").count() == 3
    assert page.page.locator("#curve-svg polyline.mean-line").count() == 1
    assert page.page.locator("#persona-table tr[data-persona]").count() == 4
    assert "3B" in page.page.inner_text("#trend") and "7B" in page.page.inner_text("#trend")
    assert page.errors == []


def test_planted_table_shows_when_the_demo_adds_it(browser, study, tmp_path):
    path = tmp_path / REPORT_FILE
    path.write_text(study[0].read_text())
    add_section(path, "planted", {
        "largest_positive_clique": {"planted": list(PLANTED_GROUP), "recovered": list(PLANTED_GROUP), "matches": True,
                                    "agree": 4},
        "positive_edges": {"planted": 6, "recovered": 6, "extra": 0, "significant": 6, "missed": [], "extra_edges": []},
    })
    p = Page(browser, path)
    assert p.page.is_visible("#planted-table")
    assert "largest positive clique" in p.page.inner_text("#planted-table")
    assert p.errors == []


def test_a_full_grid_page_stays_light(browser, tmp_path):
    """13 sources x 3 scales x 4 seeds, 13 epochs of curves: the size the issue sets, and the load time printed."""
    inputs = write_planted_study(tmp_path / "runs", labels=("3B", "7B", "32B"), seeds=4, epochs=13)
    analyze(inputs, tmp_path / "out", print_table=False, make_plots=False)
    path = tmp_path / "out" / REPORT_FILE
    size_mb = path.stat().st_size / 2**20
    p = Page(browser, path)
    print(f"full grid report.html: {size_mb:.2f} MB, opened in {p.load_s:.2f} s")
    assert size_mb < 5
    assert len(p.cells()) == 169 and p.errors == []
