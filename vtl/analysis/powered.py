"""Tests of mu(i->j) with power: they use every run's per-question scores as well as its seed.

The paper's one-sided Wilcoxon over 3-4 seeds cannot give a p-value below 1/8-1/16, so at alpha 0.05 nothing is ever
significant. Every run also scores each evaluation question (questions.jsonl: the fine-tuned and the zero-shot score
of every question, paired), and that is where the evidence is. Write d[s, q] = (fine-tuned score - zero-shot score)
/ (U - zero-shot mean + eps) for seed s and question q of a cell: its mean over questions is seed s's PGF, its mean
over both is the cell's mu. The same questions are asked of every seed, so seeds and questions are crossed.

- "crossed" (the default powered test): the crossed random-effects model d = mu + a_seed + b_question + e. Its
  two-way ANOVA mean squares give Var(mu_hat) = s2_a / S + s2_b / Q + s2_e / (S Q) (negative components set to 0),
  a t statistic with Satterthwaite's degrees of freedom, a two-sided p-value and a t interval. Simulated nulls
  (tests/test_powered.py) reject at 0.04-0.09 for alpha 0.05, with or without a seed effect.
- "bootstrap": the hierarchical bootstrap (draw S seeds with replacement; per target, Q questions with replacement,
  once for all sources and seeds), percentile interval and two-sided p-value min(1, 2 min(#{mu* <= 0} + 1,
  #{mu* >= 0} + 1) / (B + 1)). It counts the question noise twice (once inside each seed's mean, once in the seed
  draw), so it is conservative: it rejects at about 0.01-0.03 for alpha 0.05 when seeds differ by question noise only.

Both adjust the p-values of each label's off-diagonal cells by Benjamini-Hochberg (false discovery rate at alpha;
scipy's `false_discovery_control`); a cell is significant when its adjusted p-value is below alpha, in the direction
of its mean.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from scipy.stats import t as student_t

from vtl.analysis.io import MIXTURE_PREFIX, note
from vtl.records import scan_jsonl
from vtl.tasks import canonical

DEFAULT_REPLICATES = 9999  # the smallest p-value, 2/(B+1), then passes BH's first step at alpha 0.05 over 156 cells
QUESTIONS_FILE = "questions.jsonl"  # beside transfer.jsonl: one line per (epoch, target), written by CrossTaskPGF
CORRECTION = "Benjamini-Hochberg over the off-diagonal cells of each label"
POWERED_TESTS = ("crossed", "bootstrap")


@dataclass
class Questions:
    """One label's per-question scores at the analysed epoch: per target, the question ids and per run
    {(source, seed): (fine-tuned scores, zero-shot scores)} in that question order, with the target's U and eps."""

    targets: dict[str, dict]  # target -> {"ids": [...], "upper": U, "eps": e, "runs": {(source, seed): (ft, zs)}}

    def seeds(self) -> list[str]:
        return sorted({seed for t in self.targets.values() for _, seed in t["runs"]}, key=str)


@dataclass
class CellTests:
    """Per cell (source rows x target columns): interval, raw and adjusted p-values, significance."""

    lo: pd.DataFrame
    hi: pd.DataFrame
    p: pd.DataFrame  # two-sided p-value
    p_adjusted: pd.DataFrame  # Benjamini-Hochberg over the off-diagonal cells
    significant: pd.DataFrame  # adjusted p < alpha (object: True/False, None where untested)
    replicates: int  # bootstrap replicates; 0 for the crossed t-test
    alpha: float
    method: str  # "crossed" or "bootstrap"


def load_questions(chosen: pd.DataFrame, label: str, notes: list[str]) -> Questions | None:
    """The per-question scores behind one label's cells at the epoch each run was analysed at, read from the
    questions.jsonl beside each run's transfer.jsonl; None when no run of the label has them (a note says so)."""
    rows = chosen[(chosen["label"] == label) & ~chosen["source_task"].astype(str).str.startswith(MIXTURE_PREFIX)]
    runs = rows.drop_duplicates(["file", "source_task", "seed"])
    targets: dict[str, dict] = {}
    missing, mismatched, bad = [], [], []
    for run in runs.itertuples():
        path = Path(str(run.file)).with_name(QUESTIONS_FILE)
        if not path.is_file():
            missing.append(str(path.parent))
            continue
        epoch = None if math.isnan(run.epoch) else int(run.epoch)
        for line in scan_jsonl(path):
            rec = line.record
            if rec is None:
                bad.append(f"{path} line {line.number} ({line.error})")
                continue
            if rec.get("epoch") != epoch:
                continue
            try:
                target, ids, score, zero_shot, upper, eps = _question_line(rec)
            except KeyError as exc:
                bad.append(f"{path} line {line.number} (field {exc} missing)")
                continue
            except (TypeError, ValueError) as exc:
                bad.append(f"{path} line {line.number} ({exc})")
                continue
            entry = targets.setdefault(target, {"ids": ids, "upper": upper, "eps": eps, "runs": {}})
            if ids != entry["ids"]:
                mismatched.append(f"{path} ({target})")
                continue
            entry["runs"][(run.source_task, str(run.seed))] = (score, zero_shot)
    if missing:
        note(notes, f"[{label}] {len(missing)} run(s) have no {QUESTIONS_FILE} (written by vtl from this version "
                    f"on): the powered test leaves them out, e.g. {missing[0]}")
    if bad:
        note(notes, f"[{label}] {len(bad)} per-question record(s) left out of the powered test, e.g. {bad[0]}")
    if mismatched:
        note(notes, f"[{label}] {len(mismatched)} per-question record(s) score other questions than the label's "
                    f"first run; left out of the bootstrap, e.g. {mismatched[0]}")
    return Questions(targets) if targets else None


def _runs(t: dict, source: str, seeds: list[str]) -> np.ndarray | None:
    """d[q, s] of one cell (questions x the seeds that measured it), or None when no seed did."""
    cols = []
    for seed in seeds:
        run = t["runs"].get((source, seed))
        if run is not None:
            ft, zs = (np.asarray(v, float) for v in run)
            cols.append((ft - zs) / (t["upper"] - zs.mean() + t["eps"]))
    return np.stack(cols, axis=1) if cols else None


def crossed_t(d: np.ndarray) -> tuple[float, float, float]:
    """(mu_hat, standard error, degrees of freedom) of the crossed random-effects model for d[q, s]."""
    n_q, n_s = d.shape
    mu = float(d.mean())
    if n_s == 1:  # one seed: a paired test over the questions only
        return mu, float(d.std(ddof=1) / math.sqrt(n_q)) if n_q > 1 else math.nan, n_q - 1.0
    seed_means, question_means = d.mean(axis=0), d.mean(axis=1)
    ms_seed = n_q * float(((seed_means - mu) ** 2).sum()) / (n_s - 1)
    ms_question = n_s * float(((question_means - mu) ** 2).sum()) / (n_q - 1)
    resid = d - seed_means[None, :] - question_means[:, None] + mu
    df_e = (n_s - 1) * (n_q - 1)
    ms_e = float((resid ** 2).sum()) / df_e
    # Var(mu_hat) as a combination of mean squares; a component estimated below 0 is 0 and leaves the sum.
    coef = {"seed": float(ms_seed > ms_e), "question": float(ms_question > ms_e)}
    coef["e"] = 1 - coef["seed"] - coef["question"]
    parts = {"seed": (ms_seed, n_s - 1), "question": (ms_question, n_q - 1), "e": (ms_e, df_e)}
    var = sum(coef[k] * ms for k, (ms, _) in parts.items()) / (n_s * n_q)
    if var <= 0:
        return mu, 0.0, math.inf
    den = sum((coef[k] * ms) ** 2 / df for k, (ms, df) in parts.items()) / (n_s * n_q) ** 2
    return mu, math.sqrt(var), var ** 2 / den if den > 0 else math.inf


def crossed_cells(q: Questions, sources: list[str], targets: list[str], *, confidence: float = 0.95) -> CellTests:
    """The crossed random-effects t-test of every cell of one label (see the module docstring)."""
    seeds = q.seeds()
    shape = (len(sources), len(targets))
    lo, hi, p = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for j, target in enumerate(targets):
        t = q.targets.get(target)
        for i, source in enumerate(sources):
            d = None if t is None else _runs(t, source, seeds)
            if d is None or d.size < 2:
                continue
            mu, se, df = crossed_t(d)
            if math.isnan(se):
                continue
            if se == 0:
                p[i, j] = 1.0 if mu == 0 else 0.0
                lo[i, j] = hi[i, j] = mu
                continue
            half = float(student_t.ppf(1 - (1 - confidence) / 2, df)) * se
            lo[i, j], hi[i, j] = mu - half, mu + half
            p[i, j] = float(2 * student_t.sf(abs(mu) / se, df))
    return _cell_tests(lo, hi, p, sources, targets, confidence, method="crossed", replicates=0)


def _question_line(rec: dict) -> tuple[str, list[str], np.ndarray, np.ndarray, float, float]:
    """(target, ids, scores, zero-shot scores, U, eps) of one questions.jsonl record; the error names the field."""
    if rec.get("zero_shot") is None:
        raise ValueError("field zero_shot is null: the baseline's per-question scores were not kept")
    ids = rec["idx"]
    if not isinstance(ids, list) or not ids:
        raise ValueError("field idx: expected a non-empty list of question ids")
    arrays = []
    for field in ("score", "zero_shot"):
        values = rec[field]
        if not isinstance(values, list) or len(values) != len(ids):
            raise ValueError(f"field {field}: expected a list of {len(ids)} numbers, one per idx")
        arrays.append(np.asarray(values, float))
    return (canonical(str(rec["target"])), [str(i) for i in ids], arrays[0], arrays[1],
            float(rec.get("upper", 1.0)), float(rec.get("eps", 0.0)))


def bootstrap_cells(q: Questions, sources: list[str], targets: list[str], *, confidence: float = 0.95,
                    replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> CellTests:
    """The hierarchical bootstrap of every cell of one label (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seeds = q.seeds()
    draws = rng.integers(0, len(seeds), size=(replicates, len(seeds)))  # seed indices per replicate
    shape = (len(sources), len(targets))
    lo, hi, p = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    tail = (1 - confidence) / 2
    for j, target in enumerate(targets):
        t = q.targets.get(target)
        if t is None:
            continue
        n = len(t["ids"])
        # question weights of each replicate: how often each question was drawn, divided by Q
        weights = rng.multinomial(n, np.full(n, 1 / n), size=replicates) / n
        for i, source in enumerate(sources):
            runs = [t["runs"].get((source, s)) for s in seeds]
            have = np.array([r is not None for r in runs])
            if not have.any():
                continue
            ft = np.stack([np.asarray(r[0] if r else np.zeros(n), float) for r in runs], axis=1)
            zs = np.stack([np.asarray(r[1] if r else np.zeros(n), float) for r in runs], axis=1)
            ft_star, zs_star = weights @ ft, weights @ zs  # (B, S): each seed's means on the replicate's questions
            with np.errstate(divide="ignore", invalid="ignore"):
                mu_seed = (ft_star - zs_star) / (t["upper"] - zs_star + t["eps"])
            mu_seed[:, ~have] = np.nan
            picked = np.take_along_axis(mu_seed, draws, axis=1)  # the replicate's seeds
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a replicate that drew only seeds missing the cell
                mu_star = np.nanmean(picked, axis=1)
            mu_star = mu_star[np.isfinite(mu_star)]
            if not len(mu_star):
                continue
            lo[i, j], hi[i, j] = np.quantile(mu_star, [tail, 1 - tail])
            below, above = np.sum(mu_star <= 0) + 1, np.sum(mu_star >= 0) + 1
            p[i, j] = min(1.0, 2 * min(below, above) / (len(mu_star) + 1))
    return _cell_tests(lo, hi, p, sources, targets, confidence, method="bootstrap", replicates=replicates)


def _cell_tests(lo: np.ndarray, hi: np.ndarray, p: np.ndarray, sources: list[str], targets: list[str],
                confidence: float, method: str, replicates: int) -> CellTests:
    frame = lambda a: pd.DataFrame(a, index=sources, columns=targets)  # noqa: E731
    adjusted = adjust(frame(p))
    alpha = 1 - confidence
    flag = lambda v: None if math.isnan(v) else bool(v < alpha)  # noqa: E731
    significant = adjusted.astype(object).apply(lambda col: col.map(flag))
    return CellTests(frame(lo), frame(hi), frame(p), adjusted, significant, replicates, alpha, method)


def adjust(p: pd.DataFrame) -> pd.DataFrame:
    """Benjamini-Hochberg adjusted p-values of the off-diagonal cells (the diagonal, a task on itself, is not a
    transfer claim: it keeps its raw p-value and is not counted)."""
    out = p.copy()
    cells = [(s, t) for s in p.index for t in p.columns if s != t and not math.isnan(p.at[s, t])]
    if cells:
        adjusted = false_discovery_control([p.at[s, t] for s, t in cells], method="bh")
        for (s, t), v in zip(cells, adjusted, strict=True):
            out.at[s, t] = float(v)
    return out


def directed_p(tests: CellTests, mean: pd.DataFrame) -> pd.DataFrame:
    """The adjusted p-value of each cell as evidence for the sign of its mean (1 where the mean is 0 or missing):
    what the edge table takes in place of the seed-level Wilcoxon p-values."""
    out = tests.p_adjusted.copy()
    for s in out.index:
        for t in out.columns:
            m = mean.at[s, t] if s in mean.index and t in mean.columns else math.nan
            if math.isnan(m) or m == 0:
                out.at[s, t] = math.nan if math.isnan(m) else 1.0
    return out
