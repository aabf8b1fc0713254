"""PGF-guided data selection: mixture specs for a target task (pgf, random and direct arms).

A spec is the JSON the mixture DataModule trains on:
{"target", "arm", "budget", "seed", "threshold", "components": [{"task", "weight", "n"}]}; weights sum to 1 and the
n sum exactly to the budget (largest-remainder rounding). The pgf arm mixes the donors with mean PGF(i->target) above
the threshold in proportion to PGF; the random arm takes as many other tasks, drawn with the seed, equally weighted;
the direct arm is the target alone. All arms share the budget, so they compare at the same number of samples.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pandas as pd

from vtl.analysis.io import AnalysisInputError, load_inputs, select_epoch, split_label
from vtl.analysis.matrix import pgf_matrices
from vtl.errors import VtlError
from vtl.tasks import TRANSFER_TASKS, UnknownTaskError, get_task

ARMS = ("direct", "random", "pgf")
SPEC_KEYS = ("target", "arm", "budget", "seed", "threshold", "components")
# TransferDataModule's default share of a task's rows held out for evaluation.
DEFAULT_EVAL_FRACTION = 0.5


class SelectionError(VtlError, ValueError):
    """A mixture cannot be built from this matrix and these options; the message says what to change."""


def load_matrix(source: str, label: str | None = None, epoch: str = "last") -> tuple[str, pd.DataFrame]:
    """(label, mean PGF matrix) from a summary.json written by `vtl analyze`, or anything `vtl analyze` reads."""
    spec_label, path = split_label(source)
    label = label or spec_label
    if path.suffix.lower() == ".json":
        matrices = _summary_matrices(path)
    else:
        try:
            loaded = load_inputs([source])
        except AnalysisInputError as exc:
            raise SelectionError(f"--matrix {source}: {exc}") from exc
        mats = pgf_matrices(select_epoch(loaded.frame, epoch), loaded.label_order)
        matrices = {lbl: m.mean for lbl, m in mats.items()}
    if not matrices:
        raise SelectionError(f"--matrix {source}: holds no PGF matrix (only mixture runs?)")
    if label is None:
        if len(matrices) > 1:
            raise SelectionError(f"--matrix {source} holds several labels ({', '.join(matrices)}); choose one with "
                                 "--label")
        label = next(iter(matrices))
    if label not in matrices:
        raise SelectionError(f"--label {label!r} not in --matrix {source}; labels there: {', '.join(matrices)}")
    return label, matrices[label]


def _summary_matrices(path: Path) -> dict[str, pd.DataFrame]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SelectionError(f"--matrix {path}: cannot read as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SelectionError(f"--matrix {path}: expected the summary.json of `vtl analyze` (an object per label)")
    out = {}
    for label, entry in data.items():
        if isinstance(entry, dict) and isinstance(entry.get("pgf_matrix"), dict):
            frame = pd.DataFrame.from_dict(entry["pgf_matrix"], orient="index").astype(float)
            out[label] = frame
    if not out and data:
        raise SelectionError(f"--matrix {path}: no label has a 'pgf_matrix'; is this the summary.json of "
                             "`vtl analyze`?")
    return out


def largest_remainder(weights: list[float], budget: int) -> list[int]:
    """Integer counts proportional to weights that sum exactly to budget (ties: larger weight, then earlier)."""
    if budget < 0:
        raise ValueError("budget must be >= 0")
    total = sum(weights)
    quotas = [w / total * budget for w in weights]
    counts = [math.floor(q) for q in quotas]
    left = budget - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), -weights[i], i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def pgf_donors(matrix: pd.DataFrame, target: str, threshold: float) -> list[tuple[str, float]]:
    """(source, mean PGF(source->target)) above threshold, strongest first; the target itself is never a donor."""
    column = matrix[target].drop(labels=[target], errors="ignore").dropna()
    donors = [(str(s), float(v)) for s, v in column.items() if v > threshold]
    return sorted(donors, key=lambda sv: -sv[1])


def _spec(target: str, arm: str, budget: int, seed: int, threshold: float, tasks: list[str],
          weights: list[float]) -> dict:
    total = sum(weights)
    norm = [w / total for w in weights]
    counts = largest_remainder(norm, budget)
    components = [{"task": t, "weight": w, "n": n} for t, w, n in zip(tasks, norm, counts, strict=True)]
    return {"target": target, "arm": arm, "budget": budget, "seed": seed, "threshold": threshold,
            "components": components}


def mixture_specs(matrix: pd.DataFrame, target: str, *, threshold: float = 0.0, budget: int | None = None,
                  seed: int = 0, arms: tuple[str, ...] = ARMS) -> dict[str, dict]:
    """arm -> spec for `target` from a mean PGF matrix (sources as rows, targets as columns).

    budget defaults to the rows direct fine-tuning on the target has: its BLINK val size minus the eval half that
    TransferDataModule holds out by default (eval_fraction 0.5, rounded as vtl.data.split does).
    """
    try:
        target = get_task(target).name
    except UnknownTaskError as exc:
        raise SelectionError(f"--target: {exc}") from exc
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SelectionError(f"unknown arm(s) {', '.join(unknown)}; arms are {', '.join(ARMS)}")
    if not math.isfinite(threshold) or threshold < 0:
        raise SelectionError(f"--threshold must be >= 0 (weights are proportional to PGF), got {threshold}")
    if budget is None:
        val_size = get_task(target).val_size
        budget = val_size - round(DEFAULT_EVAL_FRACTION * val_size)
    budget = int(budget)
    if budget < 1:
        raise SelectionError(f"--budget must be a positive number of samples, got {budget}")
    if target not in matrix.columns:
        raise SelectionError(f"the matrix has no PGF for target {target}; targets there: "
                             f"{', '.join(map(str, matrix.columns))}")
    donors = pgf_donors(matrix, target, threshold)
    specs = {}
    if "pgf" in arms or "random" in arms:
        if not donors:
            column = matrix[target].drop(labels=[target], errors="ignore").dropna()
            best = f"; the highest is {column.max():+.4f} from {column.idxmax()}" if len(column) else ""
            hint = (f"; try --threshold below {max(column.max(), 0.0):.4f}" if len(column) and column.max() > 0
                    else "; no source transfers positively to it, so fine-tune on the target directly")
            raise SelectionError(f"no donor for {target}: no source task has mean PGF(source->{target}) above "
                                 f"threshold {threshold:g}{best}{hint}")
    if "direct" in arms:
        specs["direct"] = _spec(target, "direct", budget, seed, threshold, [target], [1.0])
    if "random" in arms:
        pool = [t for t in TRANSFER_TASKS if t != target]
        chosen = set(random.Random(seed).sample(pool, len(donors)))
        tasks = [t for t in pool if t in chosen]
        specs["random"] = _spec(target, "random", budget, seed, threshold, tasks, [1.0] * len(tasks))
    if "pgf" in arms:
        specs["pgf"] = _spec(target, "pgf", budget, seed, threshold, [d for d, _ in donors], [v for _, v in donors])
    return specs


def write_specs(specs: dict[str, dict], out_dir) -> dict[str, Path]:
    """DIR/{target}_{arm}.json per arm; returns arm -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for arm, spec in specs.items():
        path = out / f"{spec['target']}_{arm}.json"
        path.write_text(json.dumps(spec, indent=2) + "\n")
        paths[arm] = path
    return paths


def read_spec(path) -> dict:
    """Read and check a mixture spec (what the mixture DataModule relies on); errors name the file and field."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SelectionError(f"{path}: cannot read mixture spec ({exc})") from exc
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise SelectionError(f"{path}: mixture spec lacks field(s) {', '.join(missing)}")
    if spec["arm"] not in ARMS:
        raise SelectionError(f"{path}: field arm is {spec['arm']!r}; expected one of {', '.join(ARMS)}")
    comps = spec["components"]
    if not comps or any(not {"task", "weight", "n"} <= set(c) for c in comps):
        raise SelectionError(f"{path}: field components must list objects with task, weight and n")
    if sum(c["n"] for c in comps) != spec["budget"]:
        raise SelectionError(f"{path}: components' n sum to {sum(c['n'] for c in comps)}, not budget {spec['budget']}")
    if not math.isclose(sum(c["weight"] for c in comps), 1.0, abs_tol=1e-9):
        raise SelectionError(f"{path}: components' weights sum to {sum(c['weight'] for c in comps)}, not 1")
    return spec
