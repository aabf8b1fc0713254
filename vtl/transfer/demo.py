"""`vtl demo`: the whole transfer study on the embedded default, offline on a CPU in minutes.

Builds the tiny random Qwen2.5-VL and the synthetic 13-task suite if absent, runs `sweeps/demo_tiny.yaml` (one fit
per source task) through the `vtl sweep` runner, then `vtl analyze` on the finished runs. Rerunning resumes: finished
fits are skipped. The numbers come from a tiny random model: they show the pipeline works, not how Qwen2.5-VL
transfers.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from vtl.errors import VtlError
from vtl.records import read_fit_complete
from vtl.transfer import sweep as sw

DEMO_SWEEP = "demo_tiny"
DISCLAIMER = (
    "Note: a tiny random model on synthetic data shows the pipeline end to end; these numbers are not findings about "
    "Qwen2.5-VL. Run sweeps/transfer_grid.yaml for the real study."
)


def demo(*, out: str = "runs/demo", sources: str | None = None, max_epochs: int | None = None,
         set: list[str] | None = None, verbose: bool = False) -> int:  # noqa: A002 (the flag users know: --set)
    """The whole transfer study on the embedded default (tiny model, synthetic suite), then the analysis.

    Args:
        out: Run dirs go to OUT/<run>, the analysis to OUT/analysis.
        sources: Comma-separated source tasks (names or abbreviations); default: all 13.
        max_epochs: Epochs per fit (default: the sweep file's).
        set: Override a sweep parameter, KEY=V1[,V2...], as in `vtl sweep --set`; repeatable.
        verbose: Stream every fit's output (default: only to RUN/sweep.log).
    """
    started = time.monotonic()
    root = Path(out)
    sweep = _demo_sweep(sources, max_epochs, set or [])
    n = sweep.size
    print(f"vtl demo: {n} fine-tuning runs of the tiny model on the synthetic suite, then the transfer analysis")
    print(f"[1/3] embedded default (tiny Qwen2.5-VL, synthetic 13-task suite) {_elapsed(started)}")
    _build_embedded()

    print(f"[2/3] transfer grid: {sw.find_sweep_file(DEMO_SWEEP)} -> {root}/<run> {_elapsed(started)}")
    runs = sw.expand_grid(sweep, root)
    try:
        result = sw.run_sweep(sweep, runs, quiet=not verbose, on_done=_report_run)
    except KeyboardInterrupt:
        print("\nvtl demo: interrupted; run `vtl demo` again to resume (finished fits are kept)", file=sys.stderr)
        return 130
    complete = [r for r in runs if r.complete]
    if not complete:
        print("vtl demo: no fit finished; see the sweep.log of each run above", file=sys.stderr)
        return 1

    analysis = root / "analysis"
    print(f"[3/3] transfer analysis of {len(complete)} run(s) -> {analysis} {_elapsed(started)}")
    from vtl.analysis.analysis import analyze
    from vtl.analysis.io import print_warnings

    try:
        with print_warnings("vtl demo"):
            summary = analyze([str(r.run_dir) for r in complete], analysis, print_table=True)
    except ValueError as e:  # the runs' records cannot be analysed (AnalysisInputError names file and row)
        print(f"vtl demo: analysis failed: {e}", file=sys.stderr)
        return 1
    print()
    for label, part in summary.items():
        files = part.get("files", {})
        for kind in ("heatmap", "graph", "curves"):
            if kind in files:
                print(f"{kind:>8}: {analysis / files[kind]}  ({label})")
    print(f"  report: {analysis / 'report.md'}")
    print(f" summary: {analysis / 'summary.json'}")
    print(DISCLAIMER)
    failed = f"; {len(result.failed)} run(s) failed (rerun `vtl demo` to retry)" if result.failed else ""
    print(f"vtl demo: done in {_elapsed(started, bare=True)}{failed}")
    return result.exit_code


def _demo_sweep(sources: str | None, max_epochs: int | None, sets: list[str]) -> sw.SweepFile:
    from vtl.tasks import resolve_tasks

    overrides = sw.parse_set(sets)
    if sources:
        overrides["data.source_task"] = resolve_tasks(sources)
    if max_epochs is not None:
        if max_epochs < 1:
            raise VtlError(f"--max-epochs {max_epochs}: give at least 1")
        overrides["trainer.max_epochs"] = [max_epochs]
    return sw.restrict(sw.load_sweep(sw.find_sweep_file(DEMO_SWEEP)), overrides)


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
