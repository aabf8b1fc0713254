"""A run dir is written by one process at a time: `RunDirLock` holds `<dir>/.vtl.lock` (PID, host, command).

The lock file is created complete or not at all (written aside, then hard-linked into place, which fails when a lock
exists). A lock whose process is gone (same host, PID not running, or running but started after the lock was taken:
a reused PID) is stale and taken over; a lock of another host is trusted, and the error says how to remove it.
This module is a leaf: it imports only vtl.errors.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from vtl.errors import VtlError

LOCK_FILE = ".vtl.lock"


def file_lock(path: str | os.PathLike, what: str) -> RunDirLock:
    """The lock of one output file (e.g. a corpus JSONL): `.NAME.lock` beside it."""
    path = Path(path)
    lock = RunDirLock(path.parent, what, name=f".{path.name}.lock")
    lock.target = path
    return lock


class RunDirLockedError(VtlError):
    """Another live process writes this run dir."""


class RunDirLock:
    """`with RunDirLock(run_dir, "vtl fit"):` — refuse to start when a live process holds the dir."""

    def __init__(self, directory: str | os.PathLike, what: str, name: str = LOCK_FILE):
        """
        Args:
            directory: the dir to hold (created if missing).
            what: the command holding it, shown to whoever is refused.
            name: the lock file's name: a dir holding several outputs (JSONL files) locks each by its own name.
        """
        self.directory = Path(directory)
        self.path = self.directory / name
        self.target = self.directory  # what the lock guards, as the refusal names it
        self.what = what
        self.held = False

    def acquire(self) -> RunDirLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "what": self.what,
              "command": " ".join(sys.argv)}
        for _ in range(3):
            if self._create(me):
                self.held = True
                return self
            holder = read_lock(self.path)
            if holder is not None and not _is_stale(holder, self.path):
                raise RunDirLockedError(
                    f"{self.target} is in use by {holder.get('what', 'another vtl process')} (PID "
                    f"{holder.get('pid')} on {holder.get('host')}); wait for it to finish or stop it, or use another "
                    f"dir. If no such process runs, delete {self.path}"
                )
            self.path.unlink(missing_ok=True)  # stale: its process is gone
        raise RunDirLockedError(f"{self.path}: could not take the lock (it keeps changing); retry")

    def _create(self, record: dict[str, Any]) -> bool:
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(record) + "\n")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        holder = read_lock(self.path)
        if holder is not None and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def live_holder(directory: str | os.PathLike, name: str = LOCK_FILE) -> dict[str, Any] | None:
    """The record of the live process holding `directory` (pid, host, what, started), or None when no one does.
    On another host's lock the holder counts as live: its processes cannot be seen from here."""
    path = Path(directory) / name
    holder = read_lock(path)
    return None if holder is None or _is_stale(holder, path) else holder


def read_lock(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: judged by its age
    return record if isinstance(record, dict) else {}


def _is_stale(holder: dict[str, Any], path: Path) -> bool:
    if not holder:  # not written by RunDirLock (it writes whole files): stale once it is old
        try:
            return time.time() - path.stat().st_mtime > 60
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False  # cannot see another machine's processes
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    if pid == os.getpid():
        return True  # left by this very process (an earlier run in it that did not release)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    started = _process_start(pid)
    return started is not None and started > float(holder.get("started", 0)) + 1.0  # the PID was reused


def _process_start(pid: int) -> float | None:
    """When `pid` started (Unix time), from /proc on Linux; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22: start time in clock ticks after boot
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
