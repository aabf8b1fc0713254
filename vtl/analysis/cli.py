"""`vtl analyze INPUT... --out DIR`: transfer analysis of runs or released PGF CSVs."""

from __future__ import annotations

import argparse
import sys

from vtl.analysis.io import AnalysisInputError, print_warnings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="run dir, transfer.jsonl or released-format CSV, optionally LABEL=PATH (e.g. 3B=a.csv)")
    parser.add_argument("--out", required=True, help="output directory for summary.json, report.md and PNGs")
    parser.add_argument("--epoch", choices=("last", "best"), default="last",
                        help="which epoch counts for a run: the last, or the best by source-task accuracy")
    parser.add_argument("--include-diagonal", action="store_true",
                        help="count mu(i->i) in transferability and malleability (excluded by default)")
    parser.add_argument("--confidence", type=float, default=0.9,
                        help="confidence level of the per-edge Wilcoxon test (default 0.9, i.e. alpha 0.1)")
    parser.add_argument("--top-k", type=int, default=3, help="tasks listed per persona (default 3)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    parser.add_argument("--quiet", action="store_true", help="do not print the terminal table")


def run(args: argparse.Namespace) -> int:
    from vtl.analysis.analysis import analyze

    if not 0 < args.confidence < 1:
        print(f"vtl analyze: error: --confidence must lie in (0, 1), got {args.confidence}", file=sys.stderr)
        return 2
    if args.top_k < 1:
        print(f"vtl analyze: error: --top-k must be >= 1, got {args.top_k}", file=sys.stderr)
        return 2
    with print_warnings("vtl analyze"):
        try:
            analyze(args.inputs, args.out, epoch=args.epoch, include_diagonal=args.include_diagonal,
                    confidence=args.confidence, print_table=not args.quiet, top_k=args.top_k,
                    make_plots=not args.no_plots)
        except AnalysisInputError as exc:
            print(f"vtl analyze: error: {exc}", file=sys.stderr)
            return 2
    return 0
