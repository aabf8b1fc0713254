"""Reading transfer measurements into one long DataFrame.

Inputs are `transfer.jsonl` files written by the PGF callback, run directories holding them (searched recursively),
or CSVs in the format the task-transfer paper's authors released (`seed, ft_task, task, perfection_gap_factor`).
Each may be labelled `LABEL=PATH`; the label names a model scale. Bad rows are left out with a note naming the file,
line and field, so the analysis goes as far as the data allows; the notes are returned (and warned) for the report.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vtl.errors import VtlError
from vtl.records import scan_jsonl
from vtl.tasks import TRANSFER_TASKS, VIDEO_TASKS, UnknownTaskError, canonical

CSV_COLUMNS = ("seed", "ft_task", "task", "perfection_gap_factor")
# Columns of the long frame every analysis step reads.
COLUMNS = (
    "label", "model", "source_task", "seed", "epoch", "step", "target", "accuracy", "zero_shot_accuracy", "pgf", "n",
    "arm", "mixture_target", "eval_rows", "vtl_version", "file", "line",
)
RUN_KEYS = ("label", "source_task", "seed", "arm", "mixture_target")
MIXTURE_PREFIX = "mixture:"
_MAX_LISTED = 5  # per-row notes listed before "... and N more"


class AnalysisInputError(VtlError, ValueError):
    """Input that cannot be analysed at all (no usable rows, unreadable file, missing columns)."""


class AnalysisWarning(UserWarning):
    """Part of the input was left out; the message says which and why."""


@dataclass
class Loaded:
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # what was left out, one sentence each
    label_order: list[str] = field(default_factory=list)


def note(notes: list[str], message: str) -> None:
    """Record a left-out item for the report and warn the user now."""
    notes.append(message)
    warnings.warn(message, AnalysisWarning, stacklevel=3)


@contextlib.contextmanager
def print_warnings(prog: str):
    """Within it, AnalysisWarnings print as one plain `prog: warning: ...` line on stderr (for the CLIs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", AnalysisWarning)
        original = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, AnalysisWarning):
                print(f"{prog}: warning: {message}", file=sys.stderr)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = original


def split_label(spec: str) -> tuple[str | None, Path]:
    """`LABEL=PATH` -> (LABEL, PATH); a bare path (even one holding '=') -> (None, PATH)."""
    if "=" in spec and not Path(spec).exists():
        label, path = spec.split("=", 1)
        if not label.strip():
            raise AnalysisInputError(f"{spec!r}: empty label before '='; write LABEL=PATH or just PATH")
        return label.strip(), Path(path)
    return None, Path(spec)


def model_label(model: str) -> str:
    """A short label from a model name or path: `Qwen/Qwen2.5-VL-3B-Instruct` -> `Qwen2.5-VL-3B-Instruct`."""
    text = str(model).rstrip("/")
    return re.split(r"[/\\]", text)[-1] or text


def natural_key(value: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(value)))


def _canonical_or_none(name, cache: dict) -> str | None:
    if name not in cache:
        try:
            cache[name] = canonical(str(name))
        except UnknownTaskError:
            cache[name] = None
    return cache[name]


def _summarise(notes: list[str], head: str, items: list[str]) -> None:
    if not items:
        return
    listed = "; ".join(items[:_MAX_LISTED])
    more = f"; ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    note(notes, f"{head}: {listed}{more}")


def read_released_csv(path: Path, label: str | None, notes: list[str]) -> pd.DataFrame:
    """The authors' released per-seed PGF CSV (no epochs, no accuracies)."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnalysisInputError(f"{path}: cannot read as CSV ({exc})") from exc
    missing = [c for c in CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise AnalysisInputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(raw.columns) or 'none'}; the released "
            f"format has columns {', '.join(CSV_COLUMNS)}"
        )
    cache: dict = {}
    rows, bad_task, bad_value = [], [], []
    for i, rec in enumerate(raw.to_dict("records")):
        line = i + 2  # header is line 1
        src, tgt = _canonical_or_none(rec["ft_task"], cache), _canonical_or_none(rec["task"], cache)
        if src is None or tgt is None:
            col, val = ("ft_task", rec["ft_task"]) if src is None else ("task", rec["task"])
            bad_task.append(f"line {line} column {col} {val!r}")
            continue
        value = pd.to_numeric(rec["perfection_gap_factor"], errors="coerce")
        if value is None or not math.isfinite(value):
            bad_value.append(f"line {line} column perfection_gap_factor {rec['perfection_gap_factor']!r}")
            continue
        seed = str(rec["seed"]).strip()
        if not seed:
            bad_value.append(f"line {line} column seed is empty")
            continue
        rows.append({"source_task": src, "seed": seed, "target": tgt, "pgf": float(value), "line": line})
    _summarise(notes, f"{path}: rows with unknown task names left out (valid: {', '.join(TRANSFER_TASKS)})", bad_task)
    _summarise(notes, f"{path}: rows with a missing or non-numeric value left out", bad_value)
    frame = pd.DataFrame(rows, columns=["source_task", "seed", "target", "pgf", "line"])
    frame["model"] = path.stem
    frame["label"] = label or path.stem
    frame["file"] = str(path)
    return frame


def _number(value) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def read_transfer_jsonl(path: Path, label: str | None, notes: list[str]) -> pd.DataFrame:
    """One `transfer.jsonl` of the PGF callback: a line per (epoch, target)."""
    cache: dict = {}
    rows, bad_json, bad_field, bad_task, undefined, unseeded = [], [], [], [], [], []
    try:
        lines = list(scan_jsonl(path))  # a torn last line (a run writing right now) is left out
    except OSError as exc:
        raise AnalysisInputError(f"{path}: cannot read ({exc})") from exc
    for line in lines:
        line_no, rec = line.number, line.record
        if rec is None:
            bad_json.append(f"line {line_no} ({line.error})")
            continue
        absent = [k for k in ("source_task", "target") if rec.get(k) is None]
        if absent:
            bad_field.append(f"line {line_no} field {', '.join(absent)}")
            continue
        source = str(rec["source_task"])
        mixture = source.startswith(MIXTURE_PREFIX)
        if not mixture:
            source = _canonical_or_none(source, cache)
        target = _canonical_or_none(rec["target"], cache)
        mixture_target = rec.get("mixture_target")
        if mixture_target is not None:
            mixture_target = _canonical_or_none(mixture_target, cache)
        if source is None or target is None or (rec.get("mixture_target") is not None and mixture_target is None):
            col = "source_task" if source is None else "target" if target is None else "mixture_target"
            bad_task.append(f"line {line_no} field {col} {rec.get(col)!r}")
            continue
        value = _number(rec.get("pgf"))
        if math.isnan(value):
            undefined.append(f"line {line_no} ({source} -> {target})")
        if rec.get("seed") is None:
            unseeded.append(f"line {line_no}")
        rows.append({
            "model": str(rec.get("model") or ""),
            "source_task": source,
            "seed": "none" if rec.get("seed") is None else str(rec["seed"]),
            "epoch": _number(rec.get("epoch")),
            "step": _number(rec.get("step")),
            "target": target,
            "accuracy": _number(rec.get("accuracy")),
            "zero_shot_accuracy": _number(rec.get("zero_shot_accuracy")),
            "pgf": value,
            "n": _number(rec.get("n")),
            "arm": rec.get("arm"),
            "mixture_target": mixture_target,
            "eval_rows": rec.get("eval_rows"),  # provenance (report.html): digest of the rows scored, vtl's version
            "vtl_version": rec.get("vtl_version"),
            "line": line_no,
        })
    _summarise(notes, f"{path}: lines that are not JSON objects left out", bad_json)
    _summarise(notes, f"{path}: lines missing a required field left out", bad_field)
    _summarise(notes, f"{path}: lines with unknown task names left out (valid: {', '.join(TRANSFER_TASKS)})", bad_task)
    _summarise(notes, f"{path}: seed is null (the run set no seed_everything), counted as seed 'none'", unseeded)
    _summarise(notes, f"{path}: PGF undefined (null: zero-shot accuracy at the ceiling), cell left empty", undefined)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["label"] = label if label else frame["model"].map(lambda m: model_label(m) if m else path.parent.name)
    frame["file"] = str(path)
    return frame


def _files_of(path: Path, label: str | None) -> list[Path]:
    if path.is_dir():
        found = sorted(path.rglob("transfer.jsonl"))
        if found:
            return found
        csvs = sorted(path.glob("*.csv"))  # a folder of released CSVs, one model scale each
        if len(csvs) > 1 and label:
            raise AnalysisInputError(f"{label}={path}: a label names one model scale, but the directory holds "
                                     f"{len(csvs)} CSVs; label each file instead (LABEL=FILE.csv)")
        if not csvs:
            raise AnalysisInputError(f"{path}: directory holds no transfer.jsonl (searched recursively) and no .csv")
        return csvs
    if not path.exists():
        raise AnalysisInputError(f"{path}: no such file or directory")
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise AnalysisInputError(
            f"{path}: unsupported input; give a run directory, a transfer.jsonl or a released-format .csv"
        )
    return [path]


def load_inputs(inputs: list[str] | str, notes: list[str] | None = None) -> Loaded:
    """Every input (optionally `LABEL=PATH`) -> one long frame with COLUMNS; unusable inputs become notes.

    Raises AnalysisInputError only when nothing usable is left.
    """
    notes = [] if notes is None else notes
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = [str(i) for i in inputs]
    if not inputs:
        raise AnalysisInputError("no inputs given; pass run directories, transfer.jsonl files or released CSVs")
    frames, failures = [], []
    for spec in inputs:
        try:
            label, path = split_label(spec)
            for file in _files_of(path, label):
                reader = read_released_csv if file.suffix.lower() == ".csv" else read_transfer_jsonl
                before = len(notes)
                part = reader(file, label, notes)
                if part.empty:
                    # Why it is empty is in the reader's notes; the final error repeats it rather than "empty".
                    why = [n.removeprefix(f"{file}: ") for n in notes[before:]] or ["the file holds no records"]
                    failures.append(f"{file}: no usable rows ({'; '.join(why)})")
                    note(notes, f"{file}: no usable rows; input left out")
                frames.append(part)
        except AnalysisInputError as exc:
            failures.append(str(exc))
            note(notes, f"input left out: {exc}")
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise AnalysisInputError("nothing to analyse: " + (" | ".join(failures) or "every input was empty"))
    frame = pd.concat(frames, ignore_index=True)
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = None if col in ("arm", "mixture_target", "eval_rows", "vtl_version") else math.nan
    frame = frame[list(COLUMNS)]
    labels = list(dict.fromkeys(frame["label"]))
    frame = _drop_duplicates(frame, notes)
    return Loaded(frame=frame, notes=notes, label_order=order_labels(labels))


def _drop_duplicates(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    # A record is (run, epoch, target); a rerun or two inputs with the same label may repeat one: keep the last read.
    keys = [*RUN_KEYS, "epoch", "target"]
    dup = frame.fillna({"epoch": -1, "arm": "", "mixture_target": ""}).duplicated(keys, keep="last")
    if dup.any():
        first = frame[dup].iloc[0]
        note(notes, f"{int(dup.sum())} repeated (label, source, seed, epoch, target) records; the last read is kept "
                    f"(first repeat: {first['file']} line {first['line']})")
        frame = frame[~dup].reset_index(drop=True)
    return frame


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")


def order_labels(labels: list[str]) -> list[str]:
    """Model scales smallest first when every label names a size (`3B`, `qwen2.5-vl-32B-instruct`); else as given."""
    sizes = [_SIZE.search(lbl) for lbl in labels]
    if labels and all(sizes):
        by_size = sorted(zip((float(m.group(1)) for m in sizes), labels, strict=True), key=lambda t: t[0])
        return [lbl for _, lbl in by_size]
    return list(labels)


def task_order(names) -> list[str]:
    """The transfer tasks in TRANSFER_TASKS order, any other image task present (e.g. IQ_Test), then the VSI-Bench
    video families present in the benchmark's order."""
    present = set(names)
    others = sorted(present - set(TRANSFER_TASKS) - set(VIDEO_TASKS))
    return [t for t in TRANSFER_TASKS if t in present] + others + [t for t in VIDEO_TASKS if t in present]


def select_epoch(frame: pd.DataFrame, epoch: str = "last", notes: list[str] | None = None) -> pd.DataFrame:
    """One epoch per run: the last, or the one with the best accuracy on the run's own source (or mixture) task."""
    if epoch not in ("last", "best"):
        raise ValueError(f"epoch must be 'last' or 'best', got {epoch!r}")
    notes = [] if notes is None else notes
    if frame["epoch"].isna().all():
        return frame.copy()
    keys = list(RUN_KEYS)
    work = frame.fillna({"epoch": -1, "arm": "", "mixture_target": ""})
    chosen = work.groupby(keys, sort=False)["epoch"].transform("max")
    if epoch == "best":
        own = work["mixture_target"].where(work["mixture_target"] != "", work["source_task"])
        scored = work[(work["target"] == own) & work["accuracy"].notna()]
        if scored.empty:
            note(notes, "epoch='best' needs the source task's own accuracy in the records; none found, so the last "
                        "epoch is used")
        else:
            # earliest epoch reaching the best accuracy, as a checkpoint callback keeps the first best
            best = scored.sort_values("epoch").sort_values("accuracy", ascending=False, kind="stable")
            best = best.drop_duplicates(keys).set_index(keys)["epoch"]
            idx = pd.MultiIndex.from_frame(work[keys])
            picked = best.reindex(idx).to_numpy()
            missing = pd.isna(picked)
            if missing.any():
                runs = work.loc[missing, keys].drop_duplicates()
                note(notes, f"{len(runs)} run(s) have no accuracy on their own source task; their last epoch is used")
            chosen = pd.Series(picked, index=work.index).where(~missing, chosen)
    return frame[work["epoch"] == chosen].reset_index(drop=True)


def recompute_pgf(frame: pd.DataFrame, upper, eps: float, notes: list[str]) -> pd.DataFrame:
    """PGF again from the logged accuracies, with ceiling(s) `upper` (a number or {task: U_j}) and `eps`.

    Rows without both accuracies (released CSVs hold PGF only) keep their PGF, with a note. A ceiling at or below a
    row's zero-shot accuracy is an error naming the task.
    """
    from vtl.analysis.pgf import CeilingError, check_ceilings, pgf, resolve_ceilings

    if eps < 0:
        raise AnalysisInputError(f"--eps must be >= 0, got {eps}")
    frame = frame.copy()
    has_acc = frame["accuracy"].notna() & frame["zero_shot_accuracy"].notna()
    if not has_acc.all():
        files = sorted(set(frame.loc[~has_acc, "file"]))
        note(notes, f"{int((~has_acc).sum())} row(s) hold no accuracies (e.g. released CSVs: {', '.join(files[:3])}); "
                    "their PGF is used as given, not recomputed with --upper/--eps")
    part = frame[has_acc]
    try:
        ceilings = resolve_ceilings(upper, task_order(part["target"].unique()), flag="--upper")
        for target, rows in part.groupby("target"):
            worst = rows["zero_shot_accuracy"].max()  # the highest baseline is the one a ceiling must clear
            check_ceilings(ceilings, {target: float(worst)}, flag="--upper")
    except CeilingError as err:
        raise AnalysisInputError(str(err)) from None
    values = [pgf(a, z, ceilings[t], eps) for a, z, t in
              zip(part["accuracy"], part["zero_shot_accuracy"], part["target"], strict=True)]
    frame.loc[has_acc, "pgf"] = [math.nan if v is None else v for v in values]
    return frame


def parse_upper(text: str):
    """`--upper`: a number, `TASK=VALUE,TASK=VALUE`, or a JSON file holding a number or a {task: value} object."""
    text = str(text).strip()
    try:
        return float(text)
    except ValueError:
        pass
    path = Path(text)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            value = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise AnalysisInputError(f"--upper {text}: cannot read a JSON number or object ({exc})") from None
        if isinstance(value, dict | int | float) and not isinstance(value, bool):
            return value
        raise AnalysisInputError(f"--upper {text}: expected a number or a {{task: ceiling}} object")
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise AnalysisInputError(f"--upper {text!r}: write a number, TASK=VALUE pairs (Counting=0.95,RD=0.99) or "
                                     "a JSON file")
    return out
