"""`vtl sweep status RUNS_DIR`: every grid point of a sweep as pending, running, done or failed.

The state comes from the run dirs' own records, never from a scheduler's queue: `fit_complete.json` (done), a live
holder of the run dir's lock (running; on another host the lock's holder is taken to be alive), the sweep's
`sweep_status.jsonl` (the last attempt's exit status: failed), and otherwise pending, with `last.ckpt` saying that a
rerun resumes rather than starts. The grid itself is `sweep_grid.json`, which `vtl sweep` writes when it starts;
without it the run dirs present are listed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from vtl.errors import VtlError
from vtl.locks import live_holder
from vtl.records import read_fit_complete, read_jsonl
from vtl.transfer.sweep import GRID_FILE, LAST_CKPT, RUN_INFO, RUN_LOG, STATUS_LOG

STATES = ("done", "running", "failed", "pending")


@dataclass(frozen=True)
class PointStatus:
    index: int | None
    name: str
    state: str
    run_dir: str
    attempts: int
    last_exit: int | None
    resumable: bool  # pending or failed with a last.ckpt: a rerun continues from it
    detail: str


def grid_points(runs_dir: Path) -> list[tuple[int | None, str]]:
    """(index, name) of every grid point: from sweep_grid.json, else the run dirs present."""
    grid = runs_dir / GRID_FILE
    if grid.is_file():
        try:
            return [(int(run["index"]), str(run["name"])) for run in json.loads(grid.read_text())["runs"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise VtlError(f"{grid}: not a sweep grid ({exc}); rerun `vtl sweep` to rewrite it") from exc
    names = sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and (p / RUN_INFO).is_file())
    return [(None, name) for name in names]


def point_status(runs_dir: Path, index: int | None, name: str, attempts: list[dict]) -> PointStatus:
    run_dir = runs_dir / name
    last = attempts[-1] if attempts else None
    last_exit = None if last is None else last.get("exit")
    resumable = (run_dir / LAST_CKPT).is_file()
    if read_fit_complete(run_dir) is not None:
        state, detail = "done", ""
    elif (holder := live_holder(run_dir)) is not None:
        state, detail = "running", f"{holder.get('what', 'vtl')} PID {holder.get('pid')} on {holder.get('host')}"
    elif last is not None and last_exit != 0:
        state, detail = "failed", f"exit {last_exit}; log {run_dir / RUN_LOG}"
    else:
        state = "pending"
        detail = "resumes from last.ckpt" if resumable else ("not started" if not run_dir.exists() else "")
    return PointStatus(index, name, state, str(run_dir), len(attempts), last_exit, resumable, detail)


def sweep_status(runs_dir: str | Path) -> list[PointStatus]:
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise VtlError(f"{runs_dir}: no such directory; give a sweep's runs dir (default runs/<sweep file stem>)")
    points = grid_points(runs_dir)
    if not points:
        raise VtlError(f"{runs_dir}: holds no sweep runs ({GRID_FILE} or run dirs with {RUN_INFO}); "
                       "start the sweep with `vtl sweep FILE` first")
    by_name: dict[str, list[dict]] = {}
    for record in read_jsonl(runs_dir / STATUS_LOG, missing_ok=True):
        by_name.setdefault(str(record.get("name")), []).append(record)
    return [point_status(runs_dir, index, name, by_name.get(name, [])) for index, name in points]


def status(runs_dir: str, *, json_lines: bool = False) -> int:
    """List every grid point of a sweep's runs dir as pending, running, done or failed, with its run dir.

    Args:
        runs_dir: The sweep's runs dir (`vtl sweep`'s --runs_dir; default runs/<sweep file stem>).
        json_lines: One JSON object per grid point instead of the table.

    Exit status: 0 when every point is done, 1 otherwise.
    """
    points = sweep_status(runs_dir)
    if json_lines:
        for point in points:
            print(json.dumps(asdict(point)))
    else:
        width = max(len(p.name) for p in points)
        for p in points:
            index = "" if p.index is None else f"{p.index:>4} "
            tries = f"{p.attempts} attempt{'s' if p.attempts != 1 else ''}"
            note = f"  ({tries}{'; ' + p.detail if p.detail else ''})" if p.attempts or p.detail else ""
            print(f"{index}{p.state:<8} {p.name:<{width}}  {p.run_dir}{note}")
        counts = Counter(p.state for p in points)
        print(f"{len(points)} points: " + ", ".join(f"{counts[s]} {s}" for s in STATES))
    return 0 if all(p.state == "done" for p in points) else 1
