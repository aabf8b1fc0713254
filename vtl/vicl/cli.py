"""`vtl vicl …`: the T2T-VICL steps, each in its own module exposing `add_arguments(parser)` and `run(args)`.

`vtl.cli` dispatches a module that defines STEPS (name -> (module, help)) one level further down."""

from __future__ import annotations

STEPS: dict[str, tuple[str, str]] = {
    "pairs": ("vtl.vicl.pairs", "write cross-task tuples (A_in, A_out, B_in, B_out) for ordered low-level task pairs"),
    "corpus": ("vtl.vicl.corpus", "teacher descriptions, one JSON line per tuple (resumable)"),
    "filter": ("vtl.vicl.diversity", "diversity filter: embed, cluster per pair, keep one per cluster"),
    "describe": ("vtl.vicl.describe", "student descriptions for eval tuples (resumable)"),
    "infer": ("vtl.vicl.infer", "steered generation: baseline vs. described, K candidates, metrics (resumable)"),
    "report": ("vtl.vicl.report", "per-pair baseline -> ours tables, tiers and example figure"),
    "run": ("vtl.vicl.pipeline", "the whole offline chain on the embedded default (pairs .. report)"),
}

