"""`vtl analyze INPUT... --out DIR`: transfer analysis of runs or released PGF CSVs."""

from __future__ import annotations

from typing import Literal

from jsonargparse.typing import NonNegativeFloat, OpenUnitInterval, PositiveInt

from vtl.analysis.io import parse_upper, print_warnings
from vtl.errors import VtlError


def analyze(inputs: list[str], *, out: str, epoch: Literal["last", "best"] = "last", include_diagonal: bool = False,
            confidence: OpenUnitInterval = 0.9, top_k: PositiveInt = 3, no_plots: bool = False, quiet: bool = False,
            upper: str | None = None, eps: NonNegativeFloat | None = None, html: bool = True) -> int:
    """Transfer analysis of runs or released PGF CSVs: summary.json, report.md, report.html and PNGs.

    Args:
        inputs: Run dirs, transfer.jsonl files or released-format CSVs, each optionally LABEL=PATH (e.g. 3B=a.csv).
        out: Output directory for summary.json, report.md, report.html and PNGs.
        epoch: Which epoch counts for a run: the last, or the best by source-task accuracy.
        include_diagonal: Count mu(i->i) in transferability and malleability (excluded by default).
        confidence: Confidence level of the per-edge Wilcoxon test (0.9 means alpha 0.1).
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

    if not 0 < confidence < 1:
        raise VtlError(f"--confidence must lie in (0, 1), got {confidence}")
    if top_k < 1:
        raise VtlError(f"--top-k must be >= 1, got {top_k}")
    with print_warnings("vtl analyze"):
        ceilings = None if upper is None else parse_upper(upper)
        run_analysis(inputs, out, epoch=epoch, include_diagonal=include_diagonal, confidence=confidence,
                     print_table=not quiet, top_k=top_k, make_plots=not no_plots, upper=ceilings,
                     eps=eps, html=html)  # AnalysisInputError: a VtlError
    return 0
