"""`vtl sweep FILE --launcher slurm`: the grid as one SLURM job array, through submitit, preemption-safe.

Each array task runs N grid points (`points_per_task`) one after another, exactly as `vtl sweep` runs them on one
machine (`_run_one`: the W&B agent's command, the run dir, `--ckpt_path` when a checkpoint is there), skipping points
already done. The task is submitit-checkpointable: on the time-limit signal (SIGUSR2, `signal_delay_s` before the
end) submitit calls `SweepTask.checkpoint`, which passes SIGUSR1 to the running fit (vtl.checkpointing.StepCheckpoint:
it saves at the next step boundary and exits 75), waits for it, and has submitit requeue the same task. On
preemption SLURM signals the fit itself (SIGTERM), which saves the same way, and requeues the job when the partition
says so. A requeued task, or a rerun of `vtl sweep`, skips finished points and resumes the interrupted one, so the
records equal an uninterrupted run's. A failed point is retried `retries` times (each retry resumes from its last
checkpoint) before the task reports it.

The same launcher starts W&B agents for an existing sweep id (`--wandb_sweep ENTITY/PROJECT/ID --agents N`).

Resources come from the sweep file's `slurm:` mapping (keys of `SlurmOptions`), then from `--slurm.KEY` flags. State
lives in the run dirs (`vtl sweep status RUNS_DIR`); submitit's logs and pickles in RUNS_DIR/slurm/.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vtl.checkpointing import EXIT_PREEMPTED
from vtl.errors import VtlError
from vtl.transfer.slurm_options import SlurmOptions
from vtl.transfer.sweep import (
    SweepFile,
    SweepRun,
    _append_status,
    _run_one,
    clock,
    expand_grid,
    load_sweep,
    restrict,
)

LOG_DIR = "slurm"  # submitit's folder inside the runs dir: %j is the job id


# ---------------------------------------------------------------------------------------------------- one task


class SweepTask:
    """One array task: some grid points of a sweep, run in order; submitit-checkpointable (see the module doc)."""

    def __init__(self, sweep_path: str, overrides: dict[str, list[Any]], runs_dir: str, names: list[str],
                 retries: int = 2):
        self.sweep_path = sweep_path
        self.overrides = overrides
        self.runs_dir = runs_dir
        self.names = names
        self.retries = retries
        self._fit: subprocess.Popen | None = None

    def __call__(self) -> dict[str, Any]:
        sweep = restrict(load_sweep(self.sweep_path), self.overrides)
        runs = [r for r in expand_grid(sweep, self.runs_dir) if r.name in self.names]
        result: dict[str, Any] = {"done": [], "failed": [], "preempted": []}
        for run in runs:
            state = self._run_point(sweep, run)
            result[state].append(run.name)
            if state == "preempted":
                break  # the job is going away; its requeued attempt continues here
        if result["failed"]:
            raise RuntimeError(f"grid points failed after {self.retries} retries: {', '.join(result['failed'])}; "
                               f"see each run dir's sweep.log under {self.runs_dir}")
        return result

    def _run_point(self, sweep: SweepFile, run: SweepRun) -> str:
        for _ in range(self.retries + 1):
            if run.complete:
                return "done"
            print(f"vtl sweep task: {run.name}: {'resuming' if run.resume_ckpt else 'starting'}", flush=True)
            t0 = time.monotonic()
            try:
                rc = _run_one(sweep, run, quiet=True, batch=self._remember)
            except BaseException:  # submitit ends a timed-out task (SystemExit) once its fit has stopped
                if self._fit is not None and self._fit.returncode is not None:
                    _append_status(run, self._fit.returncode, time.monotonic() - t0)
                raise
            self._fit = None
            _append_status(run, rc, time.monotonic() - t0)
            print(f"vtl sweep task: {run.name}: exit {rc} after {clock(time.monotonic() - t0)}", flush=True)
            if rc == EXIT_PREEMPTED:
                return "preempted"
        return "done" if run.complete else "failed"

    def _remember(self, proc: subprocess.Popen) -> None:
        self._fit = proc

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit's time-limit hook: the running fit is told to save at its next step boundary and stop (this
        process, exiting, waits for it), and this same task is requeued: it skips what is done, resumes the rest."""
        import submitit

        fit = self._fit
        if fit is not None and fit.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(fit.pid, signal.SIGUSR1)
        return submitit.helpers.DelayedSubmission(
            SweepTask(self.sweep_path, self.overrides, self.runs_dir, self.names, self.retries))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fit": None}  # pickled by submitit; a process is not


# ---------------------------------------------------------------------------------------------------- submitting


def chunks(runs: list[SweepRun], size: int) -> list[list[str]]:
    names = [r.name for r in runs]
    return [names[i:i + size] for i in range(0, len(names), size)]


def executor(folder: Path, options: SlurmOptions, name: str, cluster: str | None = None):
    """submitit's executor: SLURM, or (cluster "local") its LocalExecutor, one process per task on this machine."""
    import submitit

    if (cluster or options.executor) == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=options.time_min, signal_delay_s=options.signal_delay_s)
        return ex
    ex = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=max(3, options.retries + 1))
    ex.update_parameters(**{k.removeprefix("slurm_"): v for k, v in options.executor_parameters(name).items()})
    return ex


def sbatch_script(folder: Path, options: SlurmOptions, name: str, array_size: int) -> str:
    """The sbatch script submitit writes for an array of `array_size` tasks (what `--dry_run` prints); needs no
    cluster (submitit's SlurmExecutor looks for srun)."""
    from submitit.slurm import slurm

    parameters = {k.removeprefix("slurm_"): v for k, v in options.executor_parameters(name).items()}
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return slurm._make_sbatch_string(command=command, folder=str(folder),
                                     map_count=array_size if array_size > 1 else None, **parameters)


def submit_sweep(sweep: SweepFile, overrides: dict[str, list[Any]], parent: Path, options: SlurmOptions, *,
                 dry_run: bool = False, say=print) -> list:
    """Submit the pending grid points as one array (returns submitit's jobs; none on a dry run)."""
    options.check()
    runs = expand_grid(sweep, parent)
    pending = [r for r in runs if not r.complete]
    groups = chunks(pending, options.points_per_task)
    folder = parent / LOG_DIR / "%j"
    say(f"sweep {sweep.name}: {len(runs)} points, {len(runs) - len(pending)} complete, {len(pending)} to run in "
        f"{len(groups)} array task{'s' if len(groups) != 1 else ''} of up to {options.points_per_task}")
    if dry_run:
        say(sbatch_script(folder, options, sweep.name, len(groups)))
        for i, names in enumerate(groups):
            say(f"# task {i}: {', '.join(names)}")
        return []
    if not groups:
        return []
    ex = executor(folder, options, sweep.name)
    tasks = [SweepTask(str(sweep.path.resolve()), overrides, str(parent.resolve()), names, options.retries)
             for names in groups]
    jobs = ex.submit_array(tasks) if hasattr(ex, "submit_array") else [ex.submit(t) for t in tasks]
    ids = sorted({j.job_id.split("_")[0] for j in jobs})
    say(f"submitted {len(jobs)} task{'s' if len(jobs) != 1 else ''} (job {', '.join(ids)}); logs in "
        f"{parent / LOG_DIR}; progress: vtl sweep status {parent}")
    return jobs


def submit_agents(sweep_id: str, agents: int, count: int | None, parent: Path, options: SlurmOptions, *,
                  dry_run: bool = False, say=print) -> list:
    """N SLURM jobs, each a `wandb agent [--count K] SWEEP_ID` (for grids driven from W&B)."""
    import submitit

    options.check()
    if agents < 1:
        raise VtlError(f"--agents {agents}: give a positive number of agents")
    command = ["wandb", "agent", *(["--count", str(count)] if count else []), sweep_id]
    folder = parent / LOG_DIR / "%j"
    say(f"W&B sweep {sweep_id}: {agents} agent job{'s' if agents != 1 else ''}: {' '.join(command)}")
    if dry_run:
        say(sbatch_script(folder, options, "wandb-agent", agents))
        return []
    ex = executor(folder, options, "wandb-agent")
    function = submitit.helpers.CommandFunction(command, verbose=True)
    jobs = ex.submit_array([function] * agents)
    say(f"submitted {len(jobs)} agent jobs; logs in {parent / LOG_DIR}")
    return jobs
