"""`vtl analyze INPUT... --out DIR`: transfer analysis of runs or released PGF CSVs."""

from __future__ import annotations

from typing import Literal

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, OpenUnitInterval, PositiveInt

from vtl.analysis.io import parse_upper, print_warnings
from vtl.analysis.powered import DEFAULT_REPLICATES
from vtl.errors import VtlError


def analyze(inputs: list[str], *, out: str, epoch: Literal["last", "best"] = "last", include_diagonal: bool = False,
            test: Literal["wilcoxon", "crossed", "bootstrap"] = "wilcoxon", confidence: OpenUnitInterval | None = None,
            replicates: PositiveInt = DEFAULT_REPLICATES, bootstrap_seed: NonNegativeInt = 0, top_k: PositiveInt = 3,
            no_plots: bool = False, quiet: bool = False, upper: str | None = None,
            eps: NonNegativeFloat | None = None, html: bool = True) -> int:
    """Transfer analysis of runs or released PGF CSVs: summary.json, report.md, report.html and PNGs.

    Args:
        inputs: Run dirs, transfer.jsonl files or released-format CSVs, each optionally LABEL=PATH (e.g. 3B=a.csv).
        out: Output directory for summary.json, report.md, report.html and PNGs.
        epoch: Which epoch counts for a run: the last, or the best by source-task accuracy.
        include_diagonal: Count mu(i->i) in transferability and malleability (excluded by default).
        test: What flags an edge as significant. wilcoxon: the paper's one-sided Wilcoxon signed-rank test of each
            direction across seeds (with 3-4 seeds its p-value cannot fall below 1/8-1/16). crossed: a t-test of
            the crossed seeds x questions random-effects model on each run's per-question scores (questions.jsonl),
            with power from the questions. bootstrap: a hierarchical bootstrap over the same (conservative). Both
            give each cell an interval and adjust by Benjamini-Hochberg over the 156 off-diagonal cells.
        confidence: Confidence level of the test (1 - alpha); default 0.9 for wilcoxon (the paper's), 0.95 for
            crossed and bootstrap.
        replicates: Bootstrap replicates (the smallest p-value is 2/(replicates+1)).
        bootstrap_seed: Seed of the bootstrap's draws (the same seed gives the same intervals and p-values).
        top_k: Tasks listed per persona.
        no_plots: Skip the PNGs.
        quiet: Do not print the terminal table.
        upper: Recompute PGF from the logged accuracies with this ceiling U_j: a number, TASK=VALUE pairs
            (Counting=0.95,RD=0.99) or a JSON file {task: value}. A ceiling at or below a zero-shot accuracy is an
            error naming the task.
        eps: Recompute PGF from the logged accuracies with this epsilon in the denominator.
        html: Write report.html, the interactive explorer: one self-contained file that opens offline from file://
            (heatmaps per scale with the numbers behind each cell, the clique graph, scores, personas, curves over
            epochs, the scale trend). On by default; --html false skips it. Open it with `vtl report open OUT`.
    """
    from vtl.analysis.analysis import analyze as run_analysis

    if confidence is not None and not 0 < confidence < 1:
        raise VtlError(f"--confidence must lie in (0, 1), got {confidence}")
    if top_k < 1:
        raise VtlError(f"--top-k must be >= 1, got {top_k}")
    with print_warnings("vtl analyze"):
        ceilings = None if upper is None else parse_upper(upper)
        run_analysis(inputs, out, epoch=epoch, include_diagonal=include_diagonal, confidence=confidence,
                     print_table=not quiet, top_k=top_k, make_plots=not no_plots, upper=ceilings,
                     eps=eps, html=html, test=test, replicates=replicates,
                     bootstrap_seed=bootstrap_seed)  # AnalysisInputError: a VtlError
    return 0
