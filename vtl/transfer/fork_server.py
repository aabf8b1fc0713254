"""A sweep's fits forked from a preloaded server: each `vtl fit|validate|test` run of `vtl sweep` (and `vtl demo`)
skips the seconds of imports (torch, Lightning, transformers, peft, vtl) that a fresh interpreter pays.

The server is multiprocessing's forkserver: a fresh interpreter started once per sweep, which imports PRELOAD and
forks one child per run. The child is what `python -m vtl.cli ARGS` would be: its own session (so the sweep signals
its process group), the run's environment and working directory, stdout and stderr appended to the run's log, the
intra-op thread count of the run's OMP_NUM_THREADS (OpenMP read the server's when torch was imported), killed if the
server dies with its sweep; its exit status is the command's. A tiny fit's records are byte-identical either way
(tests/test_fork_server.py). `VTL_FORK_SERVER=0` turns it off (every run is then a fresh `python -m vtl.cli`).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import runpy
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

# multiprocessing re-runs the sweep's main module in each child (`python -m vtl.cli` names vtl.cli, preloaded), and
# runpy warns about it on the sweep's terminal; the server imports this module, so its children inherit the filter.
warnings.filterwarnings("ignore", message=r".*found in sys\.modules after import of package.*", category=RuntimeWarning)
COMMANDS = ("fit", "validate", "test")
PRELOAD = ["vtl.transfer.fork_server", "torch", "lightning.pytorch", "transformers", "peft", "vtl.cli",
           "vtl.lightning_cli", "vtl.checkpointing", "vtl.transfer.finetune", "vtl.transfer.datamodule",
           "vtl.transfer.cross_task", "vtl.transfer.csv_logging", "vtl.transfer.run_complete", "vtl.models.trainable",
           "vtl.models.loading"]
_context: multiprocessing.context.BaseContext | None = None
_lock = threading.Lock()


def enabled() -> bool:
    """Whether runs are forked at all: on Linux, unless VTL_FORK_SERVER=0."""
    return os.environ.get("VTL_FORK_SERVER", "1") != "0" and sys.platform.startswith("linux")


def forkable(command: list[str]) -> bool:
    """Whether a sweep command runs in a forked child: `vtl fit|validate|test ...`, unless VTL_FORK_SERVER=0."""
    return enabled() and len(command) > 1 and command[0] == "vtl" and command[1] in COMMANDS


class ForkedRun:
    """A forked run, with the part of Popen's interface the sweep runner uses (pid, poll, wait, returncode)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, args: list[str]):
        self._process = process
        self.args = args
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode


def start(command: list[str], env: dict[str, str], log: Path) -> ForkedRun:
    """Run `vtl ARGS` (command = ["vtl", *ARGS]) in a child of the fork server, its output appended to `log`."""
    with _lock:
        process = _server().Process(target=_child, args=(command[1:], dict(env), os.getcwd(), str(log)),
                                    daemon=False)
        process.start()
    return ForkedRun(process, command)


def start_early() -> None:
    """Start the server now, so that its imports (several seconds) overlap what the caller does before its first
    run (`vtl demo` builds its world and model first) instead of delaying that run. No-op with VTL_FORK_SERVER=0."""
    if not enabled():
        return
    with _lock:
        _server()
        multiprocessing.forkserver.ensure_running()  # hands the server its preload list and returns


def _server() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _context = context
        atexit.register(_stop_server)
    return _context


def _stop_server() -> None:
    """Stop and reap the server as the sweep exits, so it does not outlive it and the CPU time of every forked run
    counts among the sweep's children (getrusage RUSAGE_CHILDREN, what benchmarks/bench_demo.py reads); `_stop` is
    the standard library's own shutdown of the server, used by its tests."""
    with contextlib.suppress(AttributeError, OSError, ChildProcessError):
        multiprocessing.forkserver._forkserver._stop()


def _child(argv: list[str], env: dict[str, str], cwd: str, log: str) -> None:
    # multiprocessing hands each child the sweep's end of the server's liveness pipe; held here, it would keep the
    # server (and so this run, through _die_with_server) alive after the sweep is SIGKILLed
    with contextlib.suppress(AttributeError, OSError, TypeError):
        os.close(multiprocessing.forkserver._forkserver._forkserver_alive_fd)
    os.setsid()
    _die_with_server()
    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    import torch

    if env.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    sys.argv = ["vtl", *argv]
    try:  # exactly what `python -m vtl.cli ARGS` runs (its exit status is the SystemExit multiprocessing reports)
        runpy.run_module("vtl.cli", run_name="__main__")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _die_with_server() -> None:
    """SIGKILL when the fork server goes (it goes with its sweep): no fit outlives the sweep that started it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
