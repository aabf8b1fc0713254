"""`vtl select`: PGF-guided training-data mixtures (pgf, random and direct arms) for a target task."""

from __future__ import annotations

import argparse
import json
import sys

from vtl.analysis.io import print_warnings
from vtl.analysis.select import ARMS, SelectionError, load_matrix, mixture_specs, write_specs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", required=True,
                        help="summary.json of `vtl analyze`, or what it reads: a run dir, transfer.jsonl or released "
                             "CSV (optionally LABEL=PATH)")
    parser.add_argument("--target", required=True, help="target task (name or abbreviation, e.g. Counting or CT)")
    parser.add_argument("--threshold", type=float, default=0.0,
                        help="donors need mean PGF(source->target) above this (default 0)")
    parser.add_argument("--budget", type=int, default=None,
                        help="training samples per arm (default: the target's train split, i.e. its BLINK val "
                             "size minus the default eval half)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random arm's draw and of the mixture")
    parser.add_argument("--label", default=None, help="which label (model scale) of --matrix to use, if it has several")
    parser.add_argument("--epoch", choices=("last", "best"), default="last",
                        help="epoch per run when --matrix holds runs (default last)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    parser.add_argument("--out", required=True, help="directory for {target}_{arm}.json")


def run(args: argparse.Namespace) -> int:
    with print_warnings("vtl select"):
        try:
            label, matrix = load_matrix(args.matrix, args.label, args.epoch)
            arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
            specs = mixture_specs(matrix, args.target, threshold=args.threshold, budget=args.budget,
                                  seed=args.seed, arms=arms)
        except SelectionError as exc:
            print(f"vtl select: error: {exc}", file=sys.stderr)
            return 2
    paths = write_specs(specs, args.out)
    print(f"mixtures for {next(iter(specs.values()))['target']} from the PGF matrix of {label}:")
    for arm, spec in specs.items():
        print(f"{paths[arm]}")
        print(json.dumps(spec, indent=2))
    return 0
