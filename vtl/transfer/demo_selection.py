"""The planted demo's PGF-guided selection check: does a mixture chosen from the transfer matrix train a target
better than a random mixture of the same size?

For each planted target whose group partners were run as sources, `vtl select` (vtl.analysis.select) builds the pgf
mixture (donors with mean PGF above the threshold, weighted by PGF) and the random mixture (as many other tasks,
equally weighted) at one budget, from the matrix the grid just measured. Both are fine-tuned with the grid's config
and seeds through the sweep runner, and the target's accuracy after the last epoch is compared seed by seed.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd

from vtl.data.planted import PlantedWorld
from vtl.transfer import sweep as sw

# One target in each planted group: Spatial_Relation reads the tint (donors AS, MV, OL), Visual_Similarity the colour
# cast (donor JG); a random draw from the other 12 tasks mostly reads cues that tell it nothing.
SELECTION_TARGETS = ("Spatial_Relation", "Visual_Similarity")
# Donors need mean PGF above this. Off-diagonal cells of unrelated tasks sit within about +-0.2 of 0 (48 questions
# per target), so a lower threshold lets noise in as donors and makes the pgf arm partly random.
SELECTION_THRESHOLD = 0.3
SELECTION_ARMS = ("pgf", "random")
SELECTION_DIR = "selection"


def selection_targets(world: PlantedWorld, sources: list[str]) -> list[str]:
    """The selection targets whose planted donors (the other members of their group) were all run as sources."""
    out = []
    for target in SELECTION_TARGETS:
        group = next((g for g in world.groups.values() if target in g), [])
        donors = [t for t in group if t != target]
        if donors and set(donors) <= set(sources):
            out.append(target)
    return out


def write_mixtures(label: dict, targets: list[str], out: Path, budget: int) -> dict[str, dict[str, Path]]:
    """target -> arm -> spec path, from the label's mean PGF matrix (what `vtl select --matrix summary.json` reads);
    the random arm's draw is seed 0, and each arm is then fine-tuned with every seed of the grid. A target without a
    donor above the threshold is left out, with the reason printed."""
    from vtl.analysis.select import SelectionError, mixture_specs, write_specs

    matrix = pd.DataFrame.from_dict(label["pgf_matrix"], orient="index").astype(float)
    paths = {}
    for target in targets:
        try:
            specs = mixture_specs(matrix, target, threshold=SELECTION_THRESHOLD, budget=budget, seed=0,
                                  arms=SELECTION_ARMS)
        except SelectionError as e:
            print(f"  selection for {target} left out: {e}")
            continue
        written = write_specs(specs, out / "mixtures")
        paths[target] = {arm: written[arm] for arm in SELECTION_ARMS}
    return paths


def selection_sweep(grid: sw.SweepFile, mixtures: dict[str, dict[str, Path]], targets: list[str]) -> sw.SweepFile:
    """The grid's sweep with the source task replaced by the mixtures, scored on the selection targets only."""
    params = {k: v for k, v in grid.parameters.items() if k != "data.source_task"}
    spec_paths = [str(p.resolve()) for arms in mixtures.values() for p in arms.values()]
    parameters = {"data.mixture": spec_paths, "seed_everything": params.pop("seed_everything"),
                  "data.targets": [",".join(targets)], **params}
    keys = ("data.mixture", "seed_everything", *(k for k in grid.grid_keys if k in params))
    return replace(grid, name=SELECTION_DIR, parameters=parameters, grid_keys=keys)


def selection_results(runs: list[sw.SweepRun], mixtures: dict[str, dict[str, Path]]) -> dict:
    """target -> {arm: {"components": {task: rows}, "accuracy": {seed: acc}}, "wins", "seeds"} from the runs'
    transfer.jsonl (the last epoch's record of the target)."""
    arm_of = {str(p.resolve()): (target, arm) for target, arms in mixtures.items() for arm, p in arms.items()}
    out: dict[str, dict] = {}
    for target, arms in mixtures.items():
        out[target] = {arm: {"components": {c["task"]: c["n"] for c in json.loads(p.read_text())["components"]},
                             "accuracy": {}} for arm, p in arms.items()}
    for run in runs:
        target, arm = arm_of[str(run.params["data.mixture"])]
        records = [json.loads(line) for line in (run.run_dir / "transfer.jsonl").read_text().splitlines() if line]
        last = [r for r in records if r["target"] == target]
        if last:
            out[target][arm]["accuracy"][str(run.params["seed_everything"])] = last[-1]["accuracy"]
    for result in out.values():
        pgf, rnd = result["pgf"]["accuracy"], result["random"]["accuracy"]
        seeds = sorted(set(pgf) & set(rnd), key=lambda s: (len(s), s))
        result["seeds"] = len(seeds)
        result["wins"] = sum(pgf[s] > rnd[s] for s in seeds)
    return out


def selection_lines(results: dict, budget: int) -> list[str]:
    """What each arm trained on and the target's accuracy per seed, in 80 columns."""
    from vtl.tasks import abbrev

    if not results:
        return []
    show = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [""] + textwrap.wrap(
        f"PGF-guided selection (vtl select --threshold {SELECTION_THRESHOLD:g}; {budget} training rows per "
        "mixture, half a task's, to keep the demo near its time budget; the grid's seeds)", 78,
        initial_indent="  ", subsequent_indent="    ")
    for target, result in results.items():
        mix = "; ".join(f"{arm} = " + ", ".join(f"{abbrev(t)} {n}" for t, n in result[arm]["components"].items())
                        for arm in SELECTION_ARMS)
        lines += textwrap.wrap(f"{target}: {mix}", 78, initial_indent="    ", subsequent_indent="      ")
        pgf, rnd = result["pgf"]["accuracy"], result["random"]["accuracy"]
        for seed in sorted(set(pgf) | set(rnd), key=lambda s: (len(s), s)):
            p, r = pgf.get(seed), rnd.get(seed)
            verdict = "" if p is None or r is None else ("pgf wins" if p > r else "random wins" if r > p else "tie")
            lines.append(f"      seed {seed}: pgf {show(p)}, random {show(r)}  {verdict}".rstrip())
        lines.append(f"      selection beats random on {result['wins']}/{result['seeds']} seed(s)")
    return lines
