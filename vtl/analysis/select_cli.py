"""`vtl select`: PGF-guided training-data mixtures (pgf, random and direct arms) for a target task."""

from __future__ import annotations

import json
from typing import Literal

from jsonargparse.typing import PositiveInt

from vtl.analysis.io import print_warnings
from vtl.analysis.select import ARMS, load_matrix, mixture_specs, write_specs


def select(*, matrix: str, target: str, out: str, threshold: float = 0.0, budget: PositiveInt | None = None,
           seed: int = 0,
           label: str | None = None, epoch: Literal["last", "best"] = "last", arms: str = ",".join(ARMS)) -> int:
    """PGF-guided training-data mixture for a target task (pgf, random and direct arms at one budget).

    Args:
        matrix: summary.json of `vtl analyze`, or what it reads: a run dir, transfer.jsonl or released CSV
            (optionally LABEL=PATH).
        target: Target task (name or abbreviation, e.g. Counting or CT).
        out: Directory for {target}_{arm}.json.
        threshold: Donors need mean PGF(source->target) above this.
        budget: Training samples per arm (default: the target's train split, i.e. its BLINK val size minus the
            default eval half).
        seed: Seed of the random arm's draw and of the mixture.
        label: Which label (model scale) of --matrix to use, if it has several.
        epoch: Epoch per run when --matrix holds runs.
        arms: Comma-separated subset of direct,random,pgf.
    """
    with print_warnings("vtl select"):
        # SelectionError is a VtlError: `vtl` prints it as one line and exits 2
        label, pgf_matrix = load_matrix(matrix, label, epoch)
        chosen = tuple(a.strip() for a in arms.split(",") if a.strip())
        specs = mixture_specs(pgf_matrix, target, threshold=threshold, budget=budget, seed=seed, arms=chosen)
    paths = write_specs(specs, out)
    print(f"mixtures for {next(iter(specs.values()))['target']} from the PGF matrix of {label}:")
    for arm, spec in specs.items():
        print(f"{paths[arm]}")
        print(json.dumps(spec, indent=2))
    return 0
