"""The one owner of vtl's append-only JSONL files and of the settings file that guards a run directory.

Writing: each record is one line, written with a single `write` of the whole line (or of a group of lines, see
`JsonlAppender.extend`) and flushed + fsync'd before the next item starts, so a kill leaves at most one partial
last line.

The torn-last-line rule, the same for every reader and writer: a last line without its newline is a record only if
it parses as a JSON object (a write cut short never does: its closing brace is missing); otherwise it is the remains
of an interrupted write. Readers skip it, and an appender cuts it off before appending. A bad line anywhere else is
a real error: `RecordError` names the file and line (`FILE: line N: ...`).

Resume: `done_keys` says which keys a file already holds; `rewrite_jsonl` keeps only the records that match a
predicate (temp file + fsync + rename), e.g. to drop the rows of an attempt that is being redone.

Run guard: `guard_run_settings` writes a run directory's settings file on first use and refuses a rerun made with
other settings, naming the keys that differ. `fit_complete.json` marks a finished fit (`write_fit_complete`,
`read_fit_complete`): `vtl sweep` skips runs that hold it.

Plain Python (no torch): the torch-free analysis package reads through this module too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vtl.errors import VtlError

Record = dict[str, Any]


class RecordError(VtlError, ValueError):
    """A JSONL file with a bad line that is not the torn last line of an interrupted write."""


class RunSettingsError(VtlError, ValueError):
    """A run directory (or record file) that was made with other settings than the ones given now."""


# ---------------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Line:
    """One non-blank line of a JSONL file: its record, or why it is not one."""

    number: int  # 1-based line number in the file
    record: Record | None
    error: str | None  # "invalid JSON (...)" or "not a JSON object (...)"; None for a record
    torn: bool = False  # the unparsable last line of an interrupted write

    def where(self, path: str | Path) -> str:
        return f"{path}: line {self.number}"


def _parse(number: int, raw: bytes, last_without_newline: bool) -> Line:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        return Line(number, None, f"invalid JSON ({message})", torn=last_without_newline)
    if not isinstance(value, dict):
        return Line(number, None, f"not a JSON object (a {type(value).__name__})", torn=last_without_newline)
    return Line(number, value, None)


def scan_jsonl(path: str | Path, *, torn_tail: Literal["skip", "report"] = "skip") -> Iterator[Line]:
    """Every non-blank line of `path` in order, good or bad, for readers that report bad lines themselves.

    `torn_tail="skip"` leaves out the torn last line of an interrupted write (files vtl appends to);
    `"report"` yields it like any other bad line (files a user wrote, where a last line is never a torn write).
    """
    path = Path(path)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            line = _parse(number, raw, last_without_newline=not raw.endswith(b"\n"))
            if line.torn and torn_tail == "skip":
                continue
            yield line


def numbered_records(path: str | Path) -> Iterator[tuple[int, Record]]:
    """(line number, record) of a vtl-written JSONL file; a bad line other than a torn last one is a RecordError."""
    for line in scan_jsonl(path):
        if line.record is None:
            raise RecordError(f"{line.where(path)}: {line.error}; fix or delete that line")
        yield line.number, line.record


def iter_jsonl(path: str | Path) -> Iterator[Record]:
    """Records of a vtl-written JSONL file in order (see `numbered_records`)."""
    for _, record in numbered_records(path):
        yield record


def read_jsonl(path: str | Path, *, missing_ok: bool = False) -> list[Record]:
    """All records of `path`; with `missing_ok`, a file that does not exist yet reads as no records."""
    if missing_ok and not Path(path).exists():
        return []
    return list(iter_jsonl(path))


def _fields_of(keys: list[str]) -> Callable[[Mapping[str, Any]], str]:
    return lambda record: ", ".join(f"{k}={record.get(k)!r}" for k in keys)


def done_keys(
    path: str | Path,
    key: str | Callable[[Record], Hashable],
    *,
    where: Callable[[Record], bool] | None = None,
    same: Mapping[str, Any] | None = None,
    who: Callable[[Mapping[str, Any]], str] | None = None,
    hint: str = "write to another output",
) -> set[Any]:
    """The keys already recorded in `path` (empty when it does not exist yet): resume skips them.

    Args:
        path: the JSONL file.
        key: a field name (records without it are ignored) or a function of the record.
        where: only records for which this is true count as done (e.g. not those with status "error").
        same: fields every record must have with these values (the producer: model, prompt version...); a record
            with other values is a RunSettingsError naming the line and the producers, so two never mix.
        who: names the producer of a record (or of `same`) in that error; default: the `same` fields as k=v.
        hint: what the user should do instead, appended to that error.
    """
    path = Path(path)
    if not path.exists():
        return set()
    done: set[Any] = set()
    for number, record in numbered_records(path):
        if same:
            changed = differing_keys(dict(same), record, keys=same)
            if changed:
                name = who or _fields_of(changed)
                raise RunSettingsError(f"{path}: line {number} was written by {name(record)}, not {name(same)}; "
                                       f"{hint}")
        if where is not None and not where(record):
            continue
        if callable(key):
            done.add(key(record))
        elif key in record:
            done.add(record[key])
    return done


# ---------------------------------------------------------------------------------------------------- writing


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def repair_tail(path: str | Path) -> int:
    """Apply the torn-last-line rule before appending: a last line without its newline is completed with one if it
    is a record, else cut off. Returns the number of bytes removed (0 when nothing was cut)."""
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        pos, keep = size, 0  # walk back to the last newline in chunks
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            index = f.read(step).rfind(b"\n")
            if index >= 0:
                keep = pos + index + 1
                break
        f.seek(keep)
        tail = f.read()
        if _parse(0, tail, last_without_newline=True).record is not None:
            f.seek(size)
            f.write(b"\n")
            removed = 0
        else:
            f.truncate(keep)
            removed = size - keep
        f.flush()
        os.fsync(f.fileno())
        return removed


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


class JsonlAppender:
    """Appends records durably (one write per record, flush + fsync) after repairing a torn tail. Use as a context.

    `fsync=False` still writes one line per call but leaves durability to the OS (for files that can be rebuilt,
    where a kill costs at most a line that the torn-line rule then drops).
    """

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self._file = None

    def __enter__(self) -> JsonlAppender:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: Mapping[str, Any]) -> None:
        self._write(_line(record))

    def extend(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append a group of records in one write (e.g. every target of one epoch): a kill leaves whole groups and
        at most a torn last line."""
        text = "".join(_line(r) for r in records)
        if text:
            self._write(text)

    def _write(self, text: str) -> None:
        if self._file is None:
            raise RuntimeError("JsonlAppender is used outside its `with` block")
        self._file.write(text)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def append_jsonl(path: str | Path, *records: Mapping[str, Any]) -> None:
    """Append `records` to `path` in one durable write (for writers that add a line now and then)."""
    with JsonlAppender(path) as sink:
        sink.extend(records)


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Replace `path` with `records` atomically (temp file in the same directory, fsync, rename); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(_line(record))
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return n


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return True
        f.seek(size - 1)
        return f.read(1) == b"\n"


def rewrite_jsonl(path: str | Path, keep: Callable[[Record], bool]) -> int:
    """Keep only the records of `path` for which `keep` is true, atomically; returns how many were dropped.

    The torn last line (if any) goes too. A file that does not exist is left alone (0 dropped).
    """
    path = Path(path)
    if not path.exists():
        return 0
    records = read_jsonl(path)
    kept = [r for r in records if keep(r)]
    if len(kept) == len(records) and _ends_with_newline(path):
        return 0
    write_jsonl(path, kept)
    return len(records) - len(kept)


# ---------------------------------------------------------------------------------------------------- run guard


def _plain(value: Any) -> Any:
    """`value` as JSON would give it back (tuples become lists, paths strings), so comparisons see what is stored."""
    return json.loads(json.dumps(value, default=str))


def differing_keys(before: Mapping[str, Any], now: Mapping[str, Any], *, keys: Iterable[str] | None = None,
                   skip_none: bool = False) -> list[str]:
    """The keys (of `keys`, default: both mappings') whose values differ between `before` and `now`.

    With `skip_none`, a key unset (None or absent) on either side is not compared.
    """
    names = list(keys) if keys is not None else sorted(set(before) | set(now))
    changed = []
    for k in names:
        a, b = before.get(k), now.get(k)
        if skip_none and (a is None or b is None):
            continue
        if _plain(a) != _plain(b):
            changed.append(k)
    return changed


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` via a temp file and rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: str | Path, value: Any) -> None:
    """Write `value` as indented JSON to `path` atomically (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def guard_run_settings(
    path: str | Path,
    settings: Mapping[str, Any],
    *,
    keys: Iterable[str] | None = None,
    skip_none: bool = False,
    merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    what: str = "a run",
    hint: str = "use another output directory, or the same settings to resume",
    write: bool = True,
) -> dict[str, Any] | None:
    """Refuse a run directory made with other settings; record the settings on first use.

    Args:
        path: the settings file (JSON) inside the run directory.
        settings: this run's settings.
        keys: the settings that must match (default: every key of either side).
        skip_none: a key unset (None or absent) on either side is not compared (e.g. an arm added later).
        merge: `merge(before, now)` gives what is written when the settings match (default: `now`).
        what: what the directory holds, for the message ("tuples", "an infer run").
        hint: what the user should change, for the message.
        write: write the settings file (False: only compare, e.g. until the first step has succeeded).

    Returns:
        The settings recorded before, or None when the directory was not used yet.

    Raises:
        RunSettingsError: naming the directory, the keys that differ and the settings file.
    """
    path = Path(path)
    now = _plain(dict(settings))
    before: dict[str, Any] | None = None
    if path.is_file():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunSettingsError(f"{path}: unreadable settings file ({exc}); delete it or use another directory") \
                from None
        if not isinstance(before, dict):
            raise RunSettingsError(f"{path}: expected a JSON object of settings; delete it or use another directory")
        changed = differing_keys(before, now, keys=keys, skip_none=skip_none)
        if changed:
            detail = "; ".join(f"{k} {before.get(k)!r} then, {now.get(k)!r} now" for k in changed)
            names = ", ".join(changed)
            raise RunSettingsError(f"{path.parent} holds {what} made with a different {names}: {detail} "
                                   f"(settings {names} differ from {path}); {hint}")
    if write:
        write_json_atomic(path, merge(before, now) if (merge is not None and before is not None) else now)
    return before


# ---------------------------------------------------------------------------------------------------- fit marker

FIT_COMPLETE = "fit_complete.json"  # in a fit's run directory once the fit finished (what `vtl sweep` checks)


def read_fit_complete(run_dir: str | Path) -> dict[str, Any] | None:
    """The finished-fit marker of `run_dir` ({"epochs", "global_step", "finished_at", "metrics", ...}), or None
    while the fit has not finished (an unreadable marker reads as {}: the fit finished, its summary is lost)."""
    path = Path(run_dir) / FIT_COMPLETE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def write_fit_complete(run_dir: str | Path, summary: Mapping[str, Any]) -> Path:
    """Mark `run_dir` as a finished fit with `summary`, atomically. A marker already written for the same step (by
    another callback of the same fit) is merged with, metrics included, so the order of the callbacks does not
    matter."""
    path = Path(run_dir) / FIT_COMPLETE
    before = read_fit_complete(run_dir)
    merged = dict(summary)
    if before and before.get("global_step") == summary.get("global_step"):
        merged = {**before, **summary, "metrics": {**before.get("metrics", {}), **summary.get("metrics", {})}}
    write_json_atomic(path, merged)
    return path


def clear_fit_complete(run_dir: str | Path) -> None:
    """A fit in progress is not complete: remove the marker an earlier fit left."""
    (Path(run_dir) / FIT_COMPLETE).unlink(missing_ok=True)
