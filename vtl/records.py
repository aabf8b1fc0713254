"""Append-only JSONL files that survive being killed at any moment.

Each record is one line written with a single `write` of the whole line, flushed and fsync'd before the next item
starts, so a kill leaves at most one partial last line. `open_for_append` cuts such a partial line off before the
run continues; readers skip it. A bad line anywhere else is a real error and names the file and line number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vtl.errors import VtlError


class RecordError(VtlError, ValueError):
    pass


def iter_jsonl(path: str | Path, *, allow_partial_tail: bool = True) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file in order. A last line without its newline (a write cut short) is skipped."""
    path = Path(path)
    with path.open("rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for number, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{number}: not valid JSON ({exc.msg}); fix or delete that line") from None
        if not isinstance(record, dict):
            raise RecordError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
        yield record
    if tail.strip() and not allow_partial_tail:
        raise RecordError(f"{path}:{len(lines)}: last line is incomplete (no newline); delete it and rerun")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


def repair_tail(path: Path) -> int:
    """Cut a partial last line (left by a kill mid-write) off `path`; returns the number of bytes removed."""
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # walk back to the last newline in chunks
        pos, keep = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = pos + idx + 1
                break
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


class JsonlAppender:
    """Appends one record per call, durably (flush + fsync), after repairing a partial tail. Use as a context."""

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self._file = None

    def __enter__(self) -> JsonlAppender:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        self._file.write(line)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def done_keys(path: str | Path, key: str) -> set[Any]:
    """The values of `key` already recorded in `path` (empty when the file does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return set()
    return {r[key] for r in iter_jsonl(path) if key in r}
