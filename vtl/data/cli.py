"""`vtl data synth` writes the synthetic suite; `vtl data check` validates a source and prints its counts."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{synth,check}")
    synth = sub.add_parser("synth", help="write the synthetic 13-task suite in the hub's parquet layout (split val)")
    synth.add_argument("--out", required=True, help="output directory ({out}/{Task}/val-00000-of-00001.parquet)")
    synth.add_argument("--n-per-task", type=int, default=48, help="rows per task (default 48)")
    synth.add_argument("--seed", type=int, default=0, help="random seed; same seed, same rows (default 0)")
    synth.add_argument("--image-size", type=int, default=64, help="image side in pixels, at least 32 (default 64)")
    check = sub.add_parser("check", help="validate a BLINK-format source; exit 2 with row-level errors if bad")
    check.add_argument("source", help="hub id (owner/name), parquet directory, .jsonl/.parquet file or vtl://synth")
    check.add_argument("--tasks", nargs="+", default=None, help="task names or abbreviations, or all (default: the 13)")
    check.add_argument("--split", default="val", help="split to read: val or test (default val)")


def run(args: argparse.Namespace) -> int:
    return _synth(args) if args.action == "synth" else _check(args)


def _synth(args: argparse.Namespace) -> int:
    from vtl.data.synth import write_suite
    from vtl.tasks import TRANSFER_TASKS

    try:
        out = write_suite(args.out, n_per_task=args.n_per_task, seed=args.seed, image_size=args.image_size)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n, px = args.n_per_task, args.image_size
    print(f"wrote {len(TRANSFER_TASKS)} tasks x {n} rows ({px}px, seed {args.seed}) to {out}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from vtl.data.validate import check_source

    tasks = None if args.tasks is None else ",".join(args.tasks)  # resolve_tasks reads commas and "all"
    try:
        report = check_source(args.source, tasks=tasks, split=args.split)
    except ValueError as exc:  # an unknown --tasks name
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report.counts:
        print(report.table())
    if report.ok:
        print(f"ok: {args.source} ({args.split})")
        return 0
    print(f"{len(report.errors)} error(s) in {args.source}:", file=sys.stderr)
    for err in report.errors:
        print(f"  {err}", file=sys.stderr)
    return 2
