"""`vtl demo`: the whole transfer study offline on a CPU, on a world whose answer is known.

By default it builds the planted-transfer world (`vtl://planted`, vtl.data.planted) and the tiny Qwen2.5-VL after its
neutral warm-up, runs `sweeps/demo_planted.yaml` (13 sources x 3 seeds, two fits at a time) through the `vtl sweep`
runner, runs `vtl analyze`, fine-tunes on the mixtures `vtl select` builds for two planted targets and on random
mixtures of the same size, and prints the planted structure next to what was recovered. `--quick` runs the
pipeline check instead: the random tiny model on the synthetic suite, `sweeps/demo_tiny.yaml`, one seed. Rerunning
resumes: finished fits are skipped. Neither says anything about how Qwen2.5-VL transfers.
"""

from __future__ import annotations

import time
from pathlib import Path

from jsonargparse.typing import PositiveInt

from vtl.errors import make_output_dir
from vtl.transfer import sweep as sw
from vtl.transfer.demo_runs import DEMO_SWEEP, analyze_runs, demo_sweep, elapsed, finish, report_run, run_grid

DISCLAIMER = (
    "Note: a tiny random model on synthetic data shows the pipeline end to end; these numbers are not findings about "
    "Qwen2.5-VL. Run sweeps/transfer_grid.yaml for the real study."
)


def demo(*, out: str = "runs/demo", sources: str | None = None, max_epochs: PositiveInt | None = None,
         set: list[str] | None = None, verbose: bool = False, quick: bool = False,  # noqa: A002 (users know --set)
         jobs: PositiveInt = 2) -> int:
    """The transfer study on a planted-transfer world: grid, analysis, selection vs random, planted vs recovered.

    Args:
        out: Run dirs go to OUT/<run>, the analysis to OUT/analysis.
        sources: Comma-separated source tasks (names or abbreviations); default: all 13.
        max_epochs: Epochs per fit (default: the sweep file's).
        set: Override a sweep parameter, KEY=V1[,V2...], as in `vtl sweep --set`; repeatable.
        verbose: Stream every fit's output (default: only to RUN/sweep.log).
        quick: Pipeline check only: the random tiny model on the synthetic suite, 13 fits, one seed.
        jobs: Planted demo: fits run at a time.
    """
    make_output_dir(out, "--out")  # before any fit starts
    if not quick:
        from vtl.transfer.demo_planted import run_planted

        return run_planted(out=out, sources=sources, max_epochs=max_epochs, sets=set or [], verbose=verbose,
                           jobs=jobs)
    started = time.monotonic()
    root = Path(out)
    sweep = demo_sweep(sources, max_epochs, set or [])
    n = sweep.size
    print(f"vtl demo: {n} fine-tuning runs of the tiny model on the synthetic suite, then the transfer analysis")
    print(f"[1/3] embedded default (tiny Qwen2.5-VL, synthetic 13-task suite) {elapsed(started)}")
    _build_embedded()

    print(f"[2/3] transfer grid: {sw.find_sweep_file(DEMO_SWEEP)} -> {root}/<run> {elapsed(started)}")
    runs = sw.expand_grid(sweep, root)
    complete, result = run_grid(lambda: sw.run_sweep(sweep, runs, quiet=not verbose, on_done=report_run), runs)
    if result is None:
        return complete

    analysis = root / "analysis"
    print(f"[3/3] transfer analysis of {len(complete)} run(s) -> {analysis} {elapsed(started)}")
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
    print(f"explorer: {(analysis / 'report.html').resolve().as_uri()}  (or: vtl report open {analysis})")
    return finish(started, result, DISCLAIMER)


def _build_embedded() -> None:
    from vtl.data.synth import synth_suite_dir
    from vtl.models.tiny import tiny_model_dir

    for what, build in (("tiny model", tiny_model_dir), ("synthetic suite", synth_suite_dir)):
        t0 = time.monotonic()
        path = build()
        print(f"  {what}: {path} ({time.monotonic() - t0:.1f}s)")
