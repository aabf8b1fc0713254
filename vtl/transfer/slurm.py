"""The SLURM launcher's submitit layer: sbatch resources (`SlurmOptions`), the executor, the sbatch script a dry
run prints, and W&B agents as SLURM jobs. `vtl sweep --launcher slurm` (vtl.transfer.sweep) submits its array tasks
through it. Resources come from the sweep file's `slurm:` mapping, then from `--slurm.KEY` flags; submitit's logs and
pickles go to RUNS_DIR/slurm/. submitit is imported only when a launcher needs it.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vtl.errors import VtlError

LOG_DIR = "slurm"  # submitit's folder inside the runs dir: %j is the job id


@dataclass
class SlurmOptions:
    """Where and how the array runs (sbatch options, through submitit's SlurmExecutor).

    Args:
        partition: sbatch --partition.
        account: sbatch --account.
        qos: sbatch --qos.
        gpus_per_node: GPUs per task.
        cpus_per_task: CPU cores per task.
        mem_gb: memory per task in GB (null: the partition's default).
        time_min: time limit per task in minutes; a task that reaches it is checkpointed and requeued.
        constraint: sbatch --constraint (e.g. a GPU type).
        extra: further sbatch options without "#SBATCH" (e.g. ["--reservation=grid", "--exclude=node7"]).
        setup: shell lines run before each task (e.g. ["module load cuda", "source .venv/bin/activate"]).
        points_per_task: grid points one array task runs, one after another.
        array_parallelism: array tasks running at once.
        retries: how often a failed point is retried (from its last checkpoint) before the task reports it.
        signal_delay_s: seconds before the time limit at which SLURM sends the checkpoint signal (SIGUSR2).
        job_name: the array's name (default: vtl-<sweep file stem>).
        executor: submitit's executor: slurm, or local to try the array on this machine (each task a process).
    """

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gpus_per_node: int = 1
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    time_min: int = 240
    constraint: str | None = None
    extra: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    points_per_task: int = 1
    array_parallelism: int = 256
    retries: int = 2
    signal_delay_s: int = 120
    job_name: str | None = None
    executor: Literal["slurm", "local"] = "slurm"

    @classmethod
    def from_sweep(cls, raw: Any, source: str) -> SlurmOptions:
        """The sweep file's `slurm:` mapping; unknown keys are refused with the known ones."""
        if raw is None:
            return cls()
        known = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(raw, dict) or (unknown := sorted(set(raw) - set(known))):
            what = f"unknown keys {unknown}" if isinstance(raw, dict) else f"expected a mapping, got {raw!r}"
            raise VtlError(f"{source}: slurm: {what}; known: {', '.join(known)}")
        return cls(**raw)

    def merged(self, flags: SlurmOptions | None) -> SlurmOptions:
        """These options with every flag that differs from the default put over them."""
        if flags is None:
            return self
        default = SlurmOptions()
        changed = {f.name: getattr(flags, f.name) for f in dataclasses.fields(self)
                   if getattr(flags, f.name) != getattr(default, f.name)}
        return dataclasses.replace(self, **changed)

    def check(self) -> None:
        for name in ("gpus_per_node", "time_min", "points_per_task", "array_parallelism"):
            if getattr(self, name) < (0 if name == "gpus_per_node" else 1):
                raise VtlError(f"--slurm.{name} {getattr(self, name)}: give a positive number")
        if self.retries < 0 or self.signal_delay_s < 0:
            raise VtlError("--slurm.retries and --slurm.signal_delay_s must be >= 0")

    def executor_parameters(self, name: str) -> dict[str, Any]:
        """submitit SlurmExecutor parameters (its names: slurm_partition, slurm_additional_parameters, ...)."""
        extra: dict[str, Any] = {"requeue": True}  # scontrol requeue (a timed-out task) and preemption need it
        for option in self.extra:
            key, sep, value = option.lstrip("-").partition("=")
            extra[key.replace("-", "_")] = value if sep else True
        params: dict[str, Any] = {
            "slurm_job_name": self.job_name or f"vtl-{name}", "slurm_time": self.time_min,
            "slurm_gpus_per_node": self.gpus_per_node or None, "slurm_ntasks_per_node": 1,
            "slurm_cpus_per_task": self.cpus_per_task, "slurm_mem": f"{self.mem_gb}GB" if self.mem_gb else None,
            "slurm_partition": self.partition, "slurm_account": self.account, "slurm_qos": self.qos,
            "slurm_constraint": self.constraint, "slurm_signal_delay_s": self.signal_delay_s,
            "slurm_array_parallelism": self.array_parallelism, "slurm_setup": list(self.setup),
            "slurm_additional_parameters": extra,
        }
        return {k: v for k, v in params.items() if v not in (None, [], {})}


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
