"""Time the whole `vtl demo` (fresh $VTL_HOME and run dir by default) against its 10-minute budget on 2 CPU cores.

    python benchmarks/bench_demo.py [--keep-home DIR] [--out DIR] [-- extra `vtl demo` arguments, e.g. --quick]

Prints wall time, CPU time of all child processes, the machine's load, the share of the time spent in fits, the
ratios to the budget and, for the planted demo, the fraction of planted edges the analysis recovered. The planted demo
runs two fits at a time, so on an otherwise idle 2-core machine its wall time is about CPU / 2 (the quick demo runs
one fit at a time: wall <= CPU); on a shared machine CPU time is the figure to trust.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vtl.records import read_jsonl

BUDGET_S = 600.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-home", default=None, help="use (and keep) this VTL_HOME instead of a fresh one")
    parser.add_argument("--out", default=None, help="demo output dir (default: a fresh temp dir)")
    parser.add_argument("demo_args", nargs="*", help="passed to `vtl demo` (after --)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vtl-bench-demo-") as tmp:
        home = Path(args.keep_home or Path(tmp) / "vtl_home")
        out = Path(args.out or Path(tmp) / "demo")
        env = {**os.environ, "VTL_HOME": str(home), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "vtl.cli", "demo", "--out", str(out), *args.demo_args]
        print(f"$ VTL_HOME={home} {' '.join(command[2:])}  (cpus: {os.cpu_count()}, load {_load()})", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        rc = subprocess.call(command, env=env)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        fits = _fit_seconds(out)
        comparison = out / "analysis" / "planted_vs_recovered.json"
        recovered = json.loads(comparison.read_text()) if comparison.is_file() else None

    print("\n--- bench_demo ---")
    print(f"exit status        {rc}")
    print(f"wall time          {wall:7.1f} s   ({wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget)")
    print(f"CPU time (all)     {cpu:7.1f} s   ({cpu / BUDGET_S:.2f} x the budget; CPU / wall = {cpu / wall:.2f})")
    if fits:
        print(f"fits               {len(fits)} runs, {sum(fits):.1f} s wall ({sum(fits) / wall:.0%} of the demo), "
              f"{sum(fits) / len(fits):.1f} s per fit")
    print(f"idle 2-core wall   {cpu / 2:7.1f} s   (CPU / 2: the least wall time on 2 free cores; builds run on one)")
    print(f"load average now   {_load()}  (a shared machine inflates wall time, not CPU time)")
    if recovered is not None:
        pos, neg = recovered["positive_edges"], recovered["negative_edges"]
        clique = recovered["largest_positive_clique"]
        share = recovered.get("planted_edges_recovered") or 0.0
        print(f"planted edges      {share:.0%} recovered (positive {pos['recovered']}/"
              f"{pos['planted']}, negative {neg['recovered']}/{neg['planted']}; not planted: {pos['extra']} positive, "
              f"{neg['extra']} negative)")
        print(f"largest clique     {'matches' if clique['matches'] else 'differs from'} the planted group "
              f"({clique['agree']}/{len(clique['planted'])})")
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        for name, e in (("positive", pos), ("negative", neg)):
            if "precision" in e:
                print(f"significant {name[:3]}    precision {fmt(e['precision'])}, recall {fmt(e['recall'])} "
                      f"({e.get('test') or 'test not recorded'})")
        for cue, g in (recovered.get("groups") or {}).items():
            print(f"group {cue:<12} {'exact' if g['exact'] else 'differs'} as a significant clique "
                  f"({g['agree']}/{len(g['planted'])}, {len(g['extra'])} extra)")
        for target, result in (recovered.get("selection") or {}).items():
            print(f"selection          {target}: pgf beats random on {result['wins']}/{result['seeds']} seed(s)")
        diagonal = recovered.get("diagonal_pgf") or {}
        if diagonal:
            print(f"diagonal PGF       min {fmt(diagonal.get('min'))}, median {fmt(diagonal.get('median'))}; below "
                  f"{diagonal.get('goal')}: {', '.join(diagonal.get('below_goal') or []) or 'none'}")
    return rc


def _fit_seconds(out: Path) -> list[float]:
    # runs skipped as already finished carry no time
    return [r["seconds"] for r in read_jsonl(out / "sweep_status.jsonl", missing_ok=True)
            if isinstance(r.get("seconds"), int | float)]


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
