"""Small hand-made transfer inputs for the analysis tests (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# The authors' released CSVs: copies in tests/data (so a clone without ../shared tests them too) and the originals.
RELEASED = Path(__file__).resolve().parent / "data" / "task-transfer-pgf"
RELEASED_CSVS = sorted(RELEASED.glob("*.csv"))
SHARED_RELEASED = Path(__file__).resolve().parents[1] / ".." / "shared" / "paper-data" / "task-transfer-pgf"


def long_frame(cells: dict[tuple[str, str], list[float]], label: str = "L", model: str = "m") -> pd.DataFrame:
    """{(source, target): [pgf per seed]} -> the long frame io.load_inputs returns (seeds s0, s1, ...)."""
    from vtl.analysis.io import COLUMNS

    rows = []
    for (src, tgt), values in cells.items():
        for i, v in enumerate(values):
            rows.append({"label": label, "model": model, "source_task": src, "seed": f"s{i}", "target": tgt,
                         "pgf": v, "epoch": float("nan"), "arm": None, "mixture_target": None, "file": "mem",
                         "line": 0})
    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = float("nan")
    return frame[list(COLUMNS)]


def write_csv(path: Path, cells: dict[tuple[str, str], list[float]]) -> Path:
    rows = [{"seed": "initial" if i == 0 else f"seed_{i - 1}", "ft_task": s, "task": t, "perfection_gap_factor": v}
            for (s, t), values in cells.items() for i, v in enumerate(values)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_run(run_dir: Path, *, model: str, source: str, seed: int, epochs: dict[int, dict[str, tuple[float, float]]],
              arm: str | None = None, mixture_target: str | None = None) -> Path:
    """A run dir with transfer.jsonl; epochs = {epoch: {target: (accuracy, zero_shot_accuracy)}}."""
    from vtl.analysis.pgf import pgf

    run_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for epoch, targets in epochs.items():
        for target, (acc, zs) in targets.items():
            rec = {"model": model, "source_task": source, "seed": seed, "epoch": epoch, "step": 10 * (epoch + 1),
                   "target": target, "accuracy": acc, "zero_shot_accuracy": zs, "pgf": pgf(acc, zs), "n": 20}
            if arm is not None:
                rec.update(arm=arm, mixture_target=mixture_target)
            lines.append(json.dumps(rec))
    path = run_dir / "transfer.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


PLANTED_GROUP = ("Art_Style", "Multi-view_Reasoning", "Object_Localization", "Spatial_Relation")
ANTAGONISTS = ("Relative_Depth", "Relative_Reflectance")


def write_planted_study(root: Path, *, labels: tuple[str, ...] = ("3B", "7B"), seeds: int = 3, epochs: int = 3,
                        sources: tuple[str, ...] | None = None, eval_rows: bool = True,
                        questions: int | None = None) -> list[str]:
    """Run dirs of a small made-up study: the PLANTED_GROUP helps itself, the ANTAGONISTS hurt each other, every
    source learns its own task, the rest moves by a little seeded noise; larger labels transfer more. Returns the
    `LABEL=DIR` inputs of `vtl analyze`. With `questions=Q` every accuracy is a count out of Q questions and each run
    also gets the questions.jsonl the PGF callback writes (per-question scores, fine-tuned and zero-shot, paired)."""
    import numpy as np

    from vtl.tasks import TRANSFER_TASKS

    tasks = TRANSFER_TASKS
    sources = sources or tasks
    rng = np.random.default_rng(0)
    inputs = []
    for k, label in enumerate(labels):
        scale = 1 + 0.5 * k
        for source in sources:
            for seed in range(seeds):
                per_epoch = {}
                for epoch in range(epochs):
                    grow = (epoch + 1) / epochs
                    targets = {}
                    for target in tasks:
                        zs = 0.5
                        if target == source:
                            acc = zs + 0.45 * grow
                        elif source in PLANTED_GROUP and target in PLANTED_GROUP:
                            acc = zs + min(0.45, 0.2 * scale * grow + 0.02 * seed)
                        elif {source, target} == set(ANTAGONISTS):
                            acc = zs - 0.15 * grow - 0.01 * seed
                        else:
                            acc = zs + float(rng.normal(0, 0.01))
                        if questions:
                            acc = round(acc * questions) / questions
                        targets[target] = (round(acc, 6), zs)
                    per_epoch[epoch] = targets
                run = root / label / f"{source}__seed{seed}"
                write_run(run, model=f"org/model-{label}", source=source, seed=seed, epochs=per_epoch)
                if questions:
                    write_questions(run, source=source, seed=seed, epochs=per_epoch, n=questions, rng=rng)
                if eval_rows:  # what the PGF callback records: the digest of the rows scored, vtl's version
                    path = run / "transfer.jsonl"
                    recs = [json.loads(line) for line in path.read_text().splitlines()]
                    for rec in recs:
                        rec.update(eval_rows=f"rows-{rec['target'][:6]}", vtl_version="0.1.0")
                    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
        inputs.append(f"{label}={root / label}")
    return inputs


def write_questions(run_dir: Path, *, source: str, seed: int, epochs: dict[int, dict[str, tuple[float, float]]],
                    n: int, rng) -> Path:
    """questions.jsonl for write_run's epochs: n questions per target whose zero-shot scores give the zero-shot
    accuracy (the same questions right for every run) and fine-tuned scores the accuracy, random questions changed."""
    lines = []
    for epoch, targets in epochs.items():
        for target, (acc, zs) in targets.items():
            base = [1.0 if q < round(zs * n) else 0.0 for q in range(n)]
            score = list(base)
            gain = round(acc * n) - round(zs * n)
            pool = [q for q in range(n) if base[q] == (0.0 if gain > 0 else 1.0)]
            for q in rng.choice(pool, size=abs(gain), replace=False) if gain else []:
                score[int(q)] = 1.0 - score[int(q)]
            lines.append(json.dumps({"source_task": source, "seed": seed, "epoch": epoch, "target": target,
                                     "idx": [f"{target}_{q}" for q in range(n)], "score": score, "zero_shot": base,
                                     "upper": 1.0, "eps": 0.0}))
    path = run_dir / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
