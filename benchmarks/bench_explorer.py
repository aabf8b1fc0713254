"""report.html of a full study stays light: size and load time in a headless browser, against the issue's limits.

A made-up full grid (13 sources x 3 scales x 4 seeds, 13 epochs of curves per pair: 26,364 transfer records, the
helper tests/transfer_data.py writes) goes through `vtl analyze` (no PNGs); the page is then opened in Debian's
chromium through playwright, several times. Printed: records, analysis time, page size against 5 MB, and the median
time from navigation to the page having drawn everything (body[data-ready]) against 2 s, with the page's own render
time. Reference in the same run: the same browser opening summary.json's size of plain text, so the ratio says what
the page's drawing adds to reading the file.

    python benchmarks/bench_explorer.py
    python benchmarks/bench_explorer.py --epochs 20 --repeats 9
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from transfer_data import write_planted_study  # noqa: E402

from vtl.analysis.analysis import analyze  # noqa: E402
from vtl.analysis.explorer import REPORT_FILE  # noqa: E402

SIZE_LIMIT_MB, LOAD_LIMIT_S = 5.0, 2.0


def open_times(path: Path, repeats: int, ready: str | None) -> tuple[list[float], list[int]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    times, renders = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeats):
            page = browser.new_page()  # a fresh page each time: nothing parsed or drawn is reused
            started = time.perf_counter()
            page.goto(path.resolve().as_uri())
            if ready:
                page.wait_for_selector(ready, timeout=60_000)
                renders.append(int(page.get_attribute("body", "data-render-ms")))
            times.append(time.perf_counter() - started)
            page.close()
        browser.close()
    return times, renders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=13)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = write_planted_study(root / "runs", labels=("3B", "7B", "32B"), seeds=args.seeds, epochs=args.epochs)
        n = sum(1 for f in (root / "runs").rglob("transfer.jsonl") for _ in f.open())
        started = time.perf_counter()
        analyze(inputs, root / "out", print_table=False, make_plots=False)
        analysis_s = time.perf_counter() - started
        page = root / "out" / REPORT_FILE
        size_mb = page.stat().st_size / 2**20
        plain = root / "plain.txt"
        plain.write_text((root / "out" / "summary.json").read_text())
        times, renders = open_times(page, args.repeats, "body[data-ready='1']")
        ref, _ = open_times(plain, args.repeats, None)
    load = statistics.median(times)
    print(f"grid: 13 sources x 3 scales x {args.seeds} seeds x {args.epochs} epochs = {n} records; "
          f"vtl analyze (no PNGs) {analysis_s:.1f} s")
    print(f"report.html: {size_mb:.2f} MB (limit {SIZE_LIMIT_MB:.0f} MB: {size_mb / SIZE_LIMIT_MB:.2f} of it)")
    print(f"open to drawn, median of {args.repeats}: {load:.3f} s (limit {LOAD_LIMIT_S:.0f} s: "
          f"{load / LOAD_LIMIT_S:.2f} of it); the page's own render {statistics.median(renders)} ms")
    print(f"reference, the same browser opening summary.json as plain text: {statistics.median(ref):.3f} s "
          f"(ratio {load / statistics.median(ref):.1f}x)")
    if size_mb >= SIZE_LIMIT_MB or load >= LOAD_LIMIT_S:
        raise SystemExit("over the limit")


if __name__ == "__main__":
    main()
