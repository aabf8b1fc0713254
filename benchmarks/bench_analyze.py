"""Time `vtl analyze` on the three released Qwen2.5-VL PGF CSVs (3B, 7B, 32B), plots included.

    .venv/bin/python benchmarks/bench_analyze.py [--repeat 3] [--csv-dir tests/data/task-transfer-pgf]

Prints the best-of-N wall time of the whole analysis (summary.json, report.md, 6 PNGs), of the analysis without
plots, and of reading the CSVs alone (the reference), with their ratios; the target is "a few seconds".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--csv-dir", type=Path, default=REPO / "tests" / "data" / "task-transfer-pgf")
    args = parser.parse_args(argv)
    csvs = sorted(args.csv_dir.glob("*.csv"))
    if len(csvs) != 3:
        print(f"expected the three released CSVs in {args.csv_dir}, found {len(csvs)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    import pandas as pd

    from vtl.analysis.analysis import analyze

    import_s = time.perf_counter() - start
    inputs = [str(p) for p in csvs]
    with tempfile.TemporaryDirectory() as tmp:
        read_s = best_of(args.repeat, lambda: [pd.read_csv(p) for p in csvs])
        bare_s = best_of(args.repeat, lambda: analyze(inputs, Path(tmp) / "bare", print_table=False,
                                                      make_plots=False))
        full_s = best_of(args.repeat, lambda: analyze(inputs, Path(tmp) / "full", print_table=False))
        pngs = len(list((Path(tmp) / "full").glob("*.png")))
    print(f"imports (pandas, scipy, networkx, matplotlib): {import_s:.2f} s")
    print(f"read 3 CSVs (reference):                      {read_s * 1000:.1f} ms")
    print(f"analyze 3 CSVs, no plots:                     {bare_s:.2f} s  ({bare_s / read_s:.0f}x reference)")
    print(f"analyze 3 CSVs, plots included ({pngs} PNGs):     {full_s:.2f} s  ({full_s / read_s:.0f}x reference, "
          f"plots {full_s / bare_s:.1f}x no-plots)")
    print(f"whole command incl. imports:                  {import_s + full_s:.2f} s (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
