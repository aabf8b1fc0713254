"""A sweep's tiny fits forked from the preloaded server vs fresh `python -m vtl.cli` processes, in one run.

    .venv/bin/python benchmarks/bench_fork_server.py [--points 4] [--epochs 1]

Runs the same `vtl sweep` (POINTS source tasks of configs/transfer/tiny.yaml, one thread each) twice into fresh runs
dirs under one $VTL_HOME (the tiny model, the synthetic suite and the zero-shot cache built before either is timed):
with the fork server (the default) and with VTL_FORK_SERVER=0. Prints each sweep's wall time, seconds per run, the
ratio, and whether the two sweeps' transfer.jsonl and adapters are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["Counting", "Jigsaw", "Art_Style", "Relative_Depth", "Spatial_Relation", "Visual_Similarity"]


def sweep_file(path: Path, points: int, epochs: int) -> Path:
    path.write_text(json.dumps({
        "method": "grid",
        "parameters": {
            "data.source_task": {"values": TASKS[:points]}, "trainer.max_epochs": {"value": epochs},
            "data.max_train_samples": {"value": 8}, "data.max_eval_samples": {"value": 4},
            "data.targets": {"value": "Counting,Jigsaw"}, "trainer.enable_progress_bar": {"value": False},
        },
        "command": ["${env}", "vtl", "fit", "--config", str(ROOT / "configs/transfer/tiny.yaml"), "${args}"],
    }))
    return path


def run(sweep: Path, runs: Path, env: dict[str, str]) -> float:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vtl.cli", "sweep", str(sweep), "--quiet", "--runs_dir", str(runs)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"sweep failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.monotonic() - t0


def records(runs: Path) -> dict[str, bytes]:
    files = [*runs.glob("*/transfer.jsonl"), *runs.glob("*/adapter/adapter_model.safetensors")]
    return {str(p.relative_to(runs)): p.read_bytes() for p in sorted(files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-fork-"))
    env = {**os.environ, "VTL_HOME": str(base / "home"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    sweep = sweep_file(base / "grid.yaml", args.points, args.epochs)
    print(f"warming $VTL_HOME ({base / 'home'}): tiny model, synthetic suite, zero-shot cache ...", flush=True)
    run(sweep, base / "warm", {**env, "VTL_FORK_SERVER": "0"})
    forked = run(sweep, base / "forked", {**env, "VTL_FORK_SERVER": "1"})
    fresh = run(sweep, base / "fresh", {**env, "VTL_FORK_SERVER": "0"})
    same = records(base / "forked") == records(base / "fresh")
    n = args.points
    print(f"{n} tiny fits ({args.epochs} epoch{'s' if args.epochs != 1 else ''}, 1 thread), one after another:")
    print(f"  fork server   {forked:6.1f} s  ({forked / n:5.2f} s a run, server start-up included)")
    print(f"  fresh process {fresh:6.1f} s  ({fresh / n:5.2f} s a run)")
    print(f"  fresh / forked = {fresh / forked:.2f}x; records byte-identical: {same}")


if __name__ == "__main__":
    main()
