"""Load BLINK-format data from the hub, a local parquet directory, a JSONL/parquet file, or `vtl://synth`.

How a source string is read, in this order:
1. `vtl://…`: an embedded source, built on demand (`resolve_source`).
2. An existing path: a directory is read in the hub's parquet layout, `{root}/{Task}/{split}-*.parquet` (the
   parquet-converter layout `{root}/{Task}/{split}/*.parquet` also works); a `.jsonl` file (or a single `.parquet`
   file) holds rows of any tasks, each naming its task in `sub_task`, with image paths relative to the file.
3. Something that looks like a path (starts with `/`, `.`, `~`, or ends in `.jsonl`/`.parquet`) but does not exist:
   an error. Nothing silently falls through to the network.
4. `owner/name`: a hub dataset id, loaded with `datasets.load_dataset(id, task, split=split)`, one config per task.

`tasks=None` means the 13 transfer tasks; a directory or hub id must then hold all of them. A file with `sub_task`
per row is the exception: with `tasks=None` it yields the transfer tasks it contains, since its rows say their task.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtl.data.sample import BlinkSample
from vtl.data.validate import DataError, check_unique, to_sample
from vtl.home import PLANTED_SUITE, SYNTH_SUITE
from vtl.records import scan_jsonl
from vtl.tasks import REGISTRY, TRANSFER_TASKS, Task, UnknownTaskError, get_task, resolve_tasks

log = logging.getLogger("vtl.data")

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_FILE_SUFFIXES = (".jsonl", ".parquet")


@dataclass
class RawRow:
    """One row as stored, with what validation needs to name it and to resolve its image paths."""

    row: dict[str, Any]
    task: Task
    origin: str  # file path or "hub-id:Task/split"
    position: str  # "row 3" / "line 7", for rows without an idx
    base_dir: Path | None

    def to_sample(self, split: str, allow_outside: bool = False) -> BlinkSample:
        return to_sample(self.row, self.task, self.origin, self.position, split, self.base_dir, allow_outside)


def load_source(
    source: str, tasks=None, split: str = "val", skip_bad: bool = False, allow_outside_paths: bool = False,
) -> dict[str, list[BlinkSample]]:
    """{canonical task: samples} in task order (as given, or BLINK's order), rows in stored order.

    Raises DataError on the first bad row; with `skip_bad=True` bad rows are dropped and logged (logger "vtl.data").
    Image paths leading outside the data file's directory are bad rows unless `allow_outside_paths`.
    """
    groups, errors = read_rows(source, tasks, split)
    if errors and not skip_bad:
        raise errors[0]
    out: dict[str, list[BlinkSample]] = {}
    skipped = list(errors)
    for task_name, rows in groups.items():
        samples: list[BlinkSample] = []
        seen: set[str] = set()
        for raw in rows:
            try:
                sample = raw.to_sample(split, allow_outside_paths)
                check_unique(sample, seen)
            except DataError as err:
                if not skip_bad:
                    raise
                skipped.append(err)
                continue
            samples.append(sample)
        out[task_name] = samples
    if skipped:
        where = ", ".join(f"{e.idx}" for e in skipped)
        log.warning("skipped %d bad row(s) of %s: %s", len(skipped), source, where)
        for err in skipped:
            log.info("skipped: %s", err)
    return out


def resolve_source(source: str) -> str:
    """A source as the readers take it: `vtl://synth` becomes the built synthetic suite directory."""
    if not source.startswith("vtl://"):
        return source
    if source == PLANTED_SUITE:
        from vtl.data.planted import planted_suite_dir

        return str(planted_suite_dir())
    if source != SYNTH_SUITE:
        raise DataError(source, None, None, "unknown embedded source",
                        f"use {SYNTH_SUITE}, {PLANTED_SUITE} or a path or hub id")
    from vtl.data.synth import synth_suite_dir

    return str(synth_suite_dir())


def read_rows(
    source: str, tasks=None, split: str = "val", *, missing: list[str] | None = None
) -> tuple[dict[str, list[RawRow]], list[DataError]]:
    """Raw rows per task plus row-level read errors (bad JSON line, unknown task); source-level problems raise.

    With a `missing` list, a directory lacking some tasks is read as far as it goes: the absent tasks are appended
    to `missing` instead of raising (unless it holds none of them).
    """
    source = str(source)
    wanted = None if tasks is None else resolve_tasks(tasks)
    if source.startswith("vtl://"):
        source = resolve_source(source)
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_parquet_dir(path, wanted or list(TRANSFER_TASKS), split, missing), []
    if path.is_file():
        if path.suffix not in _FILE_SUFFIXES:
            raise DataError(str(path), None, None, "unsupported file type", "give a .jsonl or .parquet file or a dir")
        return _read_task_tagged_file(path, wanted)
    if source.startswith(("/", ".", "~")) or source.endswith(_FILE_SUFFIXES) or not _HUB_ID.fullmatch(source):
        raise DataError(source, None, None, "no such file or directory", "give an existing path or a hub id owner/name")
    return _read_hub(source, wanted or list(TRANSFER_TASKS), split), []


def _task_files(root: Path, task: str, split: str) -> list[Path]:
    return sorted((root / task).glob(f"{split}-*.parquet")) or sorted((root / task / split).glob("*.parquet"))


def _read_parquet_dir(root: Path, tasks: list[str], split: str, missing: list[str] | None = None
                      ) -> dict[str, list[RawRow]]:
    _check_task_folders(root)
    groups: dict[str, list[RawRow]] = {}
    absent = [name for name in tasks if not _task_files(root, name, split)]
    if missing is not None and len(absent) < len(tasks):
        missing.extend(absent)
        tasks = [name for name in tasks if name not in absent]
    for name in tasks:
        files = _task_files(root, name, split)
        if not files:
            raise DataError(
                str(root / name), None, None, f"no {split!r} parquet for task {name}",
                f"expected {root / name / f'{split}-00000-of-00001.parquet'}; to load some tasks only, name them "
                f"(--tasks in vtl data check / vtl eval, --data.targets in vtl fit)",
            )
        task = REGISTRY[name]
        groups[name] = [
            RawRow(row, task, str(file), f"row {i}", file.parent)
            for file in files
            for i, row in enumerate(_parquet_rows(file))
        ]
    return groups


def _check_task_folders(root: Path) -> None:
    """A folder of parquet files whose name is no task is a mistake (a typo, a task of another benchmark): say so
    rather than leave its rows out in silence."""
    import difflib

    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name in REGISTRY or not any(folder.rglob("*.parquet")):
            continue
        close = difflib.get_close_matches(folder.name, list(REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(
            str(folder), None, None, "folder holds parquet files but is not a BLINK task",
            f"{hint}rename it to a task name (e.g. {next(iter(REGISTRY))}) or move it out of {root}",
        )


def _parquet_rows(file: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(file).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(str(file), None, None, f"unreadable parquet: {exc}", "rewrite the file") from None


def _read_task_tagged_file(file: Path, wanted: list[str] | None) -> tuple[dict[str, list[RawRow]], list[DataError]]:
    """A JSONL (or single parquet) file whose rows name their own task in `sub_task`."""
    origin = str(file)
    if file.suffix == ".parquet":
        rows = [(f"row {i}", r) for i, r in enumerate(_parquet_rows(file))]
        errors: list[DataError] = []
    else:
        rows, errors = _jsonl_rows(file)
    keep = set(wanted or TRANSFER_TASKS)
    groups: dict[str, list[RawRow]] = {name: [] for name in (wanted or [])}
    for position, row in rows:
        label = repr(str(row["idx"])) if row.get("idx") not in (None, "") else f"at {position} (no idx)"
        sub_task = row.get("sub_task")
        if sub_task in (None, ""):
            errors.append(DataError(origin, label, "sub_task", "missing", "name the row's task, e.g. 'Counting'"))
            continue
        try:
            task = get_task(str(sub_task))
        except UnknownTaskError as exc:
            errors.append(DataError(origin, label, "sub_task", str(exc), "use one of the task names above"))
            continue
        if task.name in keep:
            groups.setdefault(task.name, []).append(RawRow(row, task, origin, position, file.parent))
    missing = [name for name, rows_ in groups.items() if not rows_]
    if missing:
        raise DataError(origin, None, "sub_task", f"no rows for task(s) {', '.join(missing)}", "check --tasks")
    if not groups and not errors:
        raise DataError(origin, None, None, "no rows of the transfer tasks", "check the file and its sub_task values")
    order = wanted or [t for t in TRANSFER_TASKS if t in groups]
    return {name: groups[name] for name in order}, errors


def _jsonl_rows(file: Path) -> tuple[list[tuple[str, dict]], list[DataError]]:
    """(position, row) of a user's JSONL file, and its bad lines as errors (the last line is no torn write here)."""
    rows: list[tuple[str, dict]] = []
    errors: list[DataError] = []
    for line in scan_jsonl(file, torn_tail="report"):
        if line.record is None:
            fix = "fix the line" if line.error.startswith("invalid JSON") else "one object a line"
            errors.append(DataError(str(file), f"at line {line.number}", None, line.error, fix))
        else:
            rows.append((f"line {line.number}", line.record))
    return rows, errors


def _read_hub(hub_id: str, tasks: list[str], split: str) -> dict[str, list[RawRow]]:
    import datasets

    groups: dict[str, list[RawRow]] = {}
    for name in tasks:
        origin = f"{hub_id}:{name}/{split}"
        try:
            ds = datasets.load_dataset(hub_id, name, split=split)
        except Exception as exc:  # network, auth, unknown config: all end here, with the source named
            raise DataError(
                origin, None, None, f"could not load from the hub: {type(exc).__name__}: {exc}",
                "check the dataset id, split and network (HF_HUB_OFFLINE), or pass a local directory",
            ) from None
        # Undecoded {"bytes", "path"} structs: a corrupt image then fails in validation, named by row and field,
        # rather than inside `datasets` while iterating.
        for column, feature in ds.features.items():
            if isinstance(feature, datasets.Image):
                ds = ds.cast_column(column, datasets.Image(decode=False))
        task = REGISTRY[name]
        groups[name] = [RawRow(dict(row), task, origin, f"row {i}", None) for i, row in enumerate(ds)]
    return groups
