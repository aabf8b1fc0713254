"""`vtl model …`: model utilities (`vtl model tiny --out DIR`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    tiny = sub.add_parser("tiny", help="write the tiny random-init Qwen2.5-VL (model, tokenizer, processor)")
    tiny.add_argument("--out", required=True, type=Path, help="output directory (created; must be empty if it exists)")
    tiny.add_argument("--seed", type=int, default=0, help="weight initialization seed (default 0)")


def run(args: argparse.Namespace) -> int:
    if args.action == "tiny":
        out: Path = args.out
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            print(f"error: --out {out} exists and is not an empty directory; choose a new path", file=sys.stderr)
            return 2
        from vtl.models.tiny import write_tiny_model

        path = write_tiny_model(out, seed=args.seed)
        print(f"wrote tiny Qwen2.5-VL to {path}")
        return 0
    raise AssertionError(args.action)
