"""What both demos (`vtl demo --quick` in vtl.transfer.demo, the planted world in vtl.transfer.demo_planted) share:
their sweep files, running the grid, the analysis, one line per finished fit and the closing lines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from vtl.errors import VtlError
from vtl.records import read_fit_complete
from vtl.transfer import sweep as sw

DEMO_SWEEP = "demo_tiny"
PLANTED_SWEEP = "demo_planted"
# With 3 seeds the smallest one-sided Wilcoxon p-value is 1/8, so the planted demo tests edges with the powered test
# (seeds x questions, vtl.analysis.powered) at alpha 0.05, Benjamini-Hochberg over the 156 off-diagonal cells.
PLANTED_TEST, PLANTED_CONFIDENCE = "crossed", 0.95

def finish(started: float, result: sw.SweepResult, note: str) -> int:
    """The closing lines (what the numbers are not, time, failed runs) and the exit status."""
    print(note)
    failed = f"; {len(result.failed)} run(s) failed (rerun `vtl demo` to retry)" if result.failed else ""
    print(f"vtl demo: done in {elapsed(started, bare=True)}{failed}")
    return result.exit_code


def run_grid(launch, runs: list[sw.SweepRun]):
    """(finished runs, sweep result) after `launch()`; (exit status, None) when interrupted or nothing finished."""
    try:
        result = launch()
    except sw.SweepInterrupted as e:
        print(f"\nvtl demo: {e} received; run `vtl demo` again to resume (finished fits are kept)", file=sys.stderr)
        return 128 + e.signum, None
    except KeyboardInterrupt:
        print("\nvtl demo: interrupted; run `vtl demo` again to resume (finished fits are kept)", file=sys.stderr)
        return 130, None
    complete = [r for r in runs if r.complete]
    if not complete:
        print("vtl demo: no fit finished; see the sweep.log of each run above", file=sys.stderr)
        return 1, None
    return complete, result


def analyze_runs(complete: list[sw.SweepRun], analysis: Path, confidence: float | None = None,
                 test: str = "wilcoxon") -> dict | None:
    """`vtl analyze` of the finished runs (table printed); None, with the reason on stderr, when it fails."""
    from vtl.analysis.analysis import analyze
    from vtl.analysis.io import print_warnings

    try:
        with print_warnings("vtl demo"):
            return analyze([str(r.run_dir) for r in complete], analysis, print_table=True, confidence=confidence,
                           test=test)
    except ValueError as e:  # the runs' records cannot be analysed (AnalysisInputError names file and row)
        print(f"vtl demo: analysis failed: {e}", file=sys.stderr)
        return None


def demo_sweep(sources: str | None, max_epochs: int | None, sets: list[str], name: str = DEMO_SWEEP) -> sw.SweepFile:
    from vtl.tasks import resolve_tasks

    overrides = sw.parse_set(sets)
    keys = list(overrides)
    if sources:
        overrides["data.source_task"] = resolve_tasks(sources)
    if max_epochs is not None:
        if max_epochs < 1:
            raise VtlError(f"--max-epochs {max_epochs}: give at least 1")
        overrides["trainer.max_epochs"] = [max_epochs]
    sweep = sw.restrict(sw.load_sweep(sw.find_sweep_file(name)), overrides)
    sw.check_overrides(sweep, keys)
    return sweep


def report_run(run: sw.SweepRun) -> str:
    """One line of what a finished fit measured, from its fit_complete.json."""
    try:
        metrics = (read_fit_complete(run.run_dir) or {}).get("metrics", {})
        return (f"mean positive PGF {metrics['transfer/mean_positive_pgf']:+.3f}, targets up/down "
                f"{int(metrics['transfer/n_positive'])}/{int(metrics['transfer/n_negative'])}")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def elapsed(started: float, bare: bool = False) -> str:
    text = sw.clock(time.monotonic() - started)
    return text if bare else f"({text})"
