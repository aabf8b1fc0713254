"""`vtl demo`: the whole transfer study offline on a CPU, on a world whose answer is known.

By default it builds the planted-transfer world (`vtl://planted`, vtl.data.planted) and the tiny Qwen2.5-VL after its
neutral warm-up, runs `sweeps/demo_planted.yaml` (13 sources x 3 seeds, two fits at a time) through the `vtl sweep`
runner, runs `vtl analyze`, and prints the planted structure next to what the analysis recovered. `--quick` runs the
pipeline check instead: the random tiny model on the synthetic suite, `sweeps/demo_tiny.yaml`, one seed. Rerunning
resumes: finished fits are skipped. Neither says anything about how Qwen2.5-VL transfers.
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
# With 3 seeds the smallest one-sided Wilcoxon p-value is 1/8, so the planted demo tests edges at confidence 0.85:
# an edge whose sign holds in every seed is significant.
PLANTED_CONFIDENCE = 0.85
DISCLAIMER = (
    "Note: a tiny random model on synthetic data shows the pipeline end to end; these numbers are not findings about "
    "Qwen2.5-VL. Run sweeps/transfer_grid.yaml for the real study."
)


def demo(*, out: str = "runs/demo", sources: str | None = None, max_epochs: int | None = None,
         set: list[str] | None = None, verbose: bool = False, quick: bool = False,  # noqa: A002 (users know --set)
         jobs: int = 2) -> int:
    """The transfer study on a planted-transfer world, then the analysis and planted vs recovered structure.

    Args:
        out: Run dirs go to OUT/<run>, the analysis to OUT/analysis.
        sources: Comma-separated source tasks (names or abbreviations); default: all 13.
        max_epochs: Epochs per fit (default: the sweep file's).
        set: Override a sweep parameter, KEY=V1[,V2...], as in `vtl sweep --set`; repeatable.
        verbose: Stream every fit's output (default: only to RUN/sweep.log).
        quick: Pipeline check only: the random tiny model on the synthetic suite, 13 fits, one seed.
        jobs: Planted demo: fits run at a time.
    """
    if not quick:
        from vtl.transfer.demo_planted import run_planted

        return run_planted(out=out, sources=sources, max_epochs=max_epochs, sets=set or [], verbose=verbose,
                           jobs=jobs)
    started = time.monotonic()
    root = Path(out)
    sweep = _demo_sweep(sources, max_epochs, set or [])
    n = sweep.size
    print(f"vtl demo: {n} fine-tuning runs of the tiny model on the synthetic suite, then the transfer analysis")
    print(f"[1/3] embedded default (tiny Qwen2.5-VL, synthetic 13-task suite) {_elapsed(started)}")
    _build_embedded()

    print(f"[2/3] transfer grid: {sw.find_sweep_file(DEMO_SWEEP)} -> {root}/<run> {_elapsed(started)}")
    runs = sw.expand_grid(sweep, root)
    complete, result = run_grid(lambda: sw.run_sweep(sweep, runs, quiet=not verbose, on_done=_report_run), runs)
    if result is None:
        return complete

    analysis = root / "analysis"
    print(f"[3/3] transfer analysis of {len(complete)} run(s) -> {analysis} {_elapsed(started)}")
    summary = analyze_runs(complete, analysis)
    if summary is None:
        return 1
    print()
    for label, part in summary.items():
        files = part.get("files", {})
        for kind in ("heatmap", "graph", "curves"):
            if kind in files:
                print(f"{kind:>8}: {analysis / files[kind]}  ({label})")
    print(f"  report: {analysis / 'report.md'}")
    print(f" summary: {analysis / 'summary.json'}")
    return finish(started, result, DISCLAIMER)


def finish(started: float, result: sw.SweepResult, note: str) -> int:
    """The closing lines (what the numbers are not, time, failed runs) and the exit status."""
    print(note)
    failed = f"; {len(result.failed)} run(s) failed (rerun `vtl demo` to retry)" if result.failed else ""
    print(f"vtl demo: done in {_elapsed(started, bare=True)}{failed}")
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


def analyze_runs(complete: list[sw.SweepRun], analysis: Path, confidence: float = 0.9) -> dict | None:
    """`vtl analyze` of the finished runs (table printed); None, with the reason on stderr, when it fails."""
    from vtl.analysis.analysis import analyze
    from vtl.analysis.io import print_warnings

    try:
        with print_warnings("vtl demo"):
            return analyze([str(r.run_dir) for r in complete], analysis, print_table=True, confidence=confidence)
    except ValueError as e:  # the runs' records cannot be analysed (AnalysisInputError names file and row)
        print(f"vtl demo: analysis failed: {e}", file=sys.stderr)
        return None


def _demo_sweep(sources: str | None, max_epochs: int | None, sets: list[str], name: str = DEMO_SWEEP) -> sw.SweepFile:
    from vtl.tasks import resolve_tasks

    overrides = sw.parse_set(sets)
    if sources:
        overrides["data.source_task"] = resolve_tasks(sources)
    if max_epochs is not None:
        if max_epochs < 1:
            raise VtlError(f"--max-epochs {max_epochs}: give at least 1")
        overrides["trainer.max_epochs"] = [max_epochs]
    return sw.restrict(sw.load_sweep(sw.find_sweep_file(name)), overrides)


def _build_embedded() -> None:
    from vtl.data.synth import synth_suite_dir
    from vtl.models.tiny import tiny_model_dir

    for what, build in (("tiny model", tiny_model_dir), ("synthetic suite", synth_suite_dir)):
        t0 = time.monotonic()
        path = build()
        print(f"  {what}: {path} ({time.monotonic() - t0:.1f}s)")


def _report_run(run: sw.SweepRun) -> str:
    """One line of what a finished fit measured, from its fit_complete.json."""
    try:
        metrics = (read_fit_complete(run.run_dir) or {}).get("metrics", {})
        return (f"mean positive PGF {metrics['transfer/mean_positive_pgf']:+.3f}, targets up/down "
                f"{int(metrics['transfer/n_positive'])}/{int(metrics['transfer/n_negative'])}")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _elapsed(started: float, bare: bool = False) -> str:
    text = sw.clock(time.monotonic() - started)
    return text if bare else f"({text})"
