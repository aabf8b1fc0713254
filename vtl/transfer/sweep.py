"""`vtl sweep FILE`: run a W&B sweep file's grid on this machine, one run after another, or as a SLURM job array;
resumably either way.

The same file drives `wandb sweep` / `wandb agent` on many machines. Locally each run executes the command a W&B
agent would (`${args}` becomes `--key=value` for every parameter), plus two arguments the agent does not add:
`--trainer.default_root_dir=RUN_DIR` (one directory per run, named after its grid parameters) and, when the run was
interrupted, `--ckpt_path=RUN_DIR/checkpoints/last.ckpt`. A run whose directory holds `fit_complete.json` (written
at the end of any fit by the `RunComplete` callback, or by the PGF callback) is skipped, so rerunning a killed sweep
continues where it stopped. `--launcher slurm` runs the same points in array tasks (`SweepTask`, submitted through
vtl.transfer.slurm's submitit layer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import inspect
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonargparse.typing import PositiveInt

from vtl.checkpointing import EXIT_PREEMPTED
from vtl.errors import VtlError
from vtl.home import PACKAGE_DIR, SWEEPS_DIR, shipped_config_paths
from vtl.locks import RunDirLock
from vtl.records import FIT_COMPLETE, append_jsonl, differing_keys, read_fit_complete, write_json_atomic
from vtl.transfer import fork_server
from vtl.transfer.slurm import LOG_DIR, SlurmOptions, executor, sbatch_script, submit_agents

COMPLETE_MARKER = FIT_COMPLETE
LAST_CKPT = Path("checkpoints") / "last.ckpt"
RUN_LOG = "sweep.log"  # the run's console output, appended across attempts
RUN_INFO = "sweep_run.json"  # parameters and command of the run's latest attempt
STATUS_LOG = "sweep_status.jsonl"  # one line per finished attempt, in the sweep's runs dir
GRID_FILE = "sweep_grid.json"  # the whole grid (every point's name and parameters), for `vtl sweep status`
RUN_DIR_FLAG = "trainer.default_root_dir"
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")
_MACROS = ("env", "interpreter", "program", "args", "args_no_hyphens", "args_no_boolean_flags", "args_json")


class SweepFileError(VtlError, ValueError):
    """A sweep file vtl cannot run; the message names the file and the field to change."""


@dataclass(frozen=True)
class SweepFile:
    path: Path
    name: str  # directory name for its runs: the file's stem
    method: str
    metric: dict[str, Any] | None
    parameters: dict[str, list[Any]]  # key -> values, in file order; a `value:` constant is a one-item list
    grid_keys: tuple[str, ...]  # keys given as `values:`; they name the run directories
    command: list[str]
    program: str | None
    project_root: Path  # where the file's relative config paths live: the parent of its `sweeps/` folder
    slurm: dict[str, Any] | None = None  # the file's `slurm:` mapping (vtl's; `wandb sweep` ignores it)

    @property
    def size(self) -> int:
        n = 1
        for values in self.parameters.values():
            n *= len(values)
        return n


@dataclass(frozen=True)
class SweepRun:
    index: int  # 1-based position in the grid
    name: str
    params: dict[str, Any]
    run_dir: Path

    @property
    def complete(self) -> bool:
        return read_fit_complete(self.run_dir) is not None

    @property
    def resume_ckpt(self) -> Path | None:
        ckpt = self.run_dir / LAST_CKPT
        return ckpt if ckpt.is_file() else None

    @property
    def state(self) -> str:
        return "complete" if self.complete else "resume" if self.resume_ckpt else "new"


@dataclass
class SweepResult:
    launched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)  # (run name, exit status)
    not_started: list[str] = field(default_factory=list)  # left for a later call (`--count`)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


# ---------------------------------------------------------------------------------------------------- sweep files


def find_sweep_file(name: str | os.PathLike) -> Path:
    """A sweep file by path, by path relative to the package, or by name (`demo_tiny`: sweeps/demo_tiny.yaml)."""
    path = Path(name)
    candidates = [path, PACKAGE_DIR / path, SWEEPS_DIR / path, SWEEPS_DIR / f"{path}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml"))) or "none"
    raise SweepFileError(f"sweep file {str(name)!r} not found (looked in ., {PACKAGE_DIR}, {SWEEPS_DIR}); "
                         f"known: {known}")


def load_sweep(path: str | os.PathLike) -> SweepFile:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SweepFileError(f"{path}: cannot read sweep file: {e}") from e
    if not isinstance(raw, dict):
        raise SweepFileError(f"{path}: expected a mapping with `method`, `parameters` and `command`")
    method = raw.get("method")
    if method != "grid":
        raise SweepFileError(
            f"{path}: method: {method!r}; vtl sweep runs `method: grid` files only (run others with `wandb agent`)"
        )
    raw_params = raw.get("parameters")
    if not isinstance(raw_params, dict) or not raw_params:
        raise SweepFileError(f"{path}: `parameters` must be a non-empty mapping of key -> {{values: [...]}}")
    parameters: dict[str, list[Any]] = {}
    grid_keys: list[str] = []
    for key, spec in raw_params.items():
        where = f"{path}: parameters.{key}"
        if not isinstance(spec, dict) or ("values" in spec) == ("value" in spec):
            raise SweepFileError(f"{where}: give exactly one of `values: [...]` or `value: X` (a grid has no ranges)")
        if "value" in spec:
            parameters[key] = [spec["value"]]
            continue
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise SweepFileError(f"{where}.values: expected a non-empty list, got {values!r}")
        if any(isinstance(v, (dict, list)) for v in values):
            raise SweepFileError(f"{where}.values: vtl sweep takes scalar values only (strings, numbers, booleans)")
        parameters[key] = list(values)
        grid_keys.append(key)
    if RUN_DIR_FLAG in parameters:
        raise SweepFileError(f"{path}: parameters.{RUN_DIR_FLAG}: vtl sweep sets it per run; remove it")
    command = raw.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, (str, int, float)) for c in command):
        raise SweepFileError(f"{path}: `command` must be a list of strings, e.g. [${{env}}, vtl, fit, ${{args}}]")
    command = [str(c) for c in command]
    for token in command:
        macro = _macro(token)
        if macro is not None and macro not in _MACROS and not macro.startswith("envvar:"):
            raise SweepFileError(f"{path}: command: unknown macro {token!r}; known: {', '.join(_MACROS)}")
    program = raw.get("program")
    if "${program}" in command and not program:
        raise SweepFileError(f"{path}: command uses ${{program}} but the file has no `program`")
    metric = raw.get("metric")
    if metric is not None and (not isinstance(metric, dict) or not metric.get("name")):
        raise SweepFileError(f"{path}: metric: expected {{name: KEY, goal: maximize|minimize}}, got {metric!r}")
    root = path.resolve().parent.parent if path.resolve().parent.name == "sweeps" else Path.cwd()
    return SweepFile(
        path=path, name=path.stem, method=method, metric=metric, parameters=parameters, grid_keys=tuple(grid_keys),
        command=command, program=program, project_root=root, slurm=raw.get("slurm"),
    )


def _macro(token: str) -> str | None:
    return token[2:-1] if token.startswith("${") and token.endswith("}") else None


def restrict(sweep: SweepFile, overrides: dict[str, list[Any]]) -> SweepFile:
    """The sweep with some parameters' values replaced (`--set KEY=V1,V2`); a new key becomes a constant or grid key."""
    parameters = dict(sweep.parameters)
    grid_keys = list(sweep.grid_keys)
    for key, values in overrides.items():
        if not values:
            raise SweepFileError(f"--set {key}=: give at least one value")
        if key == RUN_DIR_FLAG:
            raise SweepFileError(f"--set {key}: vtl sweep sets it per run (use --runs-dir)")
        parameters[key] = list(values)
        if key not in grid_keys and len(values) > 1:
            grid_keys.append(key)
    return dataclasses.replace(sweep, parameters=parameters, grid_keys=tuple(grid_keys))


def parse_set(items: list[str]) -> dict[str, list[Any]]:
    """`KEY=V1,V2` strings -> {KEY: [V1, V2]}, each value read as YAML (`3` is an int, `true` a bool)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key:
            raise SweepFileError(f"--set {item!r}: expected KEY=VALUE[,VALUE...], e.g. data.source_task=Counting,CT")
        out[key] = [yaml.safe_load(v) for v in values.split(",") if v != ""]
    return out


# Top-level keys of `vtl fit|validate|test` besides the model, data and trainer sections.
_FIT_TOP_KEYS = ("seed_everything", "ckpt_path", "optimizer", "lr_scheduler", "trainer", "model", "data")


def check_overrides(sweep: SweepFile, keys: list[str]) -> None:
    """Refuse a `--set` key that the sweep's `vtl fit|validate|test` command has no option for, up front, with the
    closest valid keys (otherwise every run starts and fails, its did-you-mean only in its sweep.log). Model and data
    keys are checked against the constructor of the class the command's --config names; deeper keys (model.lora.r)
    by their first part. Other programs are not checked."""
    command = [t for t in sweep.command if _macro(t) is None]
    tail = command[command.index("vtl") + 1:] if "vtl" in command else []
    if not tail or tail[0] not in ("fit", "validate", "test"):
        return
    config = _command_config(shipped_config_paths(_resolve_config_paths(tail, sweep.project_root)))
    for key in keys:
        section, _, rest = key.partition(".")
        if section not in _FIT_TOP_KEYS:
            _refuse_key(key, list(_FIT_TOP_KEYS))
        if section not in ("model", "data", "trainer") or not rest:
            continue
        parts = rest.split(".")
        parts = parts[1:] if parts[0] == "init_args" and section != "trainer" else parts
        name = parts[0].rstrip("+") if parts else "init_args"
        if section != "trainer" and name in ("class_path", "init_args"):
            continue
        valid = _section_options(section, config)
        if valid is not None and name not in valid and not any(v.startswith(name) for v in valid):
            _refuse_key(key, [f"{section}.{v}" for v in valid])


def _command_config(argv: list[str]) -> dict[str, Any]:
    """The `--config` files of a command, merged section by section (later files win), as plain YAML."""
    merged: dict[str, Any] = {}
    for i, token in enumerate(argv):
        value = argv[i + 1] if token == "--config" and i + 1 < len(argv) else token[9:] if token.startswith(
            "--config=") else None
        if value is None:
            continue
        try:
            loaded = yaml.safe_load(Path(value).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue  # the fit itself names an unreadable config
        for section, body in loaded.items() if isinstance(loaded, dict) else ():
            merged[section] = {**merged[section], **body} if isinstance(body, dict) and isinstance(
                merged.get(section), dict) else body
    return merged


def _section_options(section: str, config: dict[str, Any]) -> list[str] | None:
    """The parameters of the trainer, or of the model/data class the config names; None where that is unknown."""
    if section == "trainer":
        from lightning.pytorch import Trainer

        cls: Any = Trainer
    else:
        class_path = (config.get(section) or {}).get("class_path") if isinstance(config.get(section), dict) else None
        if not class_path:
            return None
        module, _, name = str(class_path).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            return None  # the fit itself names a class it cannot import
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _refuse_key(key: str, valid: list[str]) -> None:
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else f"valid near it: {', '.join(valid[:12])}"
    raise SweepFileError(f"--set {key}: the sweep's command has no such option; {hint}")


# ---------------------------------------------------------------------------------------------------- the grid


def slug(value: Any) -> str:
    """A value as a directory-name part: a path or hub id by its last part (`Qwen/Qwen2.5-VL-7B-Instruct`)."""
    text = str(value).rstrip("/").rsplit("/", 1)[-1]
    text = re.sub(r"\.(json|ya?ml)$", "", text) or str(value)
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
    return re.sub(r"-{2,}", "-", text) or "_"


def run_name(sweep: SweepFile, params: dict[str, Any]) -> str:
    """`source_task=Counting__seed_everything=0`: the grid keys (last dotted part unless ambiguous) and values."""
    if not sweep.grid_keys:
        return "run"
    short = [k.rsplit(".", 1)[-1] for k in sweep.grid_keys]
    parts = []
    for key, name in zip(sweep.grid_keys, short, strict=True):
        label = name if short.count(name) == 1 else key
        parts.append(f"{label}={slug(params[key])}")
    return "__".join(parts)


def expand_grid(sweep: SweepFile, runs_dir: str | os.PathLike) -> list[SweepRun]:
    """Every run of the grid, the first parameter varying slowest (as W&B's grid does)."""
    keys = list(sweep.parameters)
    runs: list[SweepRun] = []
    seen: dict[str, dict[str, Any]] = {}
    for i, combo in enumerate(itertools.product(*(sweep.parameters[k] for k in keys)), start=1):
        params = dict(zip(keys, combo, strict=True))
        name = run_name(sweep, params)
        if name in seen:
            raise SweepFileError(
                f"{sweep.path}: runs {seen[name]} and {params} get the same directory name {name!r}; "
                "make the values differ in letters, digits, '.', '_' or '-'"
            )
        seen[name] = params
        runs.append(SweepRun(index=i, name=name, params=params, run_dir=Path(runs_dir) / name))
    return runs


def sweep_args(params: dict[str, Any]) -> dict[str, list[str]]:
    """The `${args}` family exactly as a W&B agent formats them (`--key=value`, value through str())."""
    return {
        "args": [f"--{k}={v}" for k, v in params.items()],
        "args_no_hyphens": [f"{k}={v}" for k, v in params.items()],
        "args_no_boolean_flags": [
            f"--{k}" if v is True else f"--{k}={v}" for k, v in params.items() if v is not False
        ],
        "args_json": [json.dumps(params)],
    }


def build_command(sweep: SweepFile, run: SweepRun) -> list[str]:
    """The run's command as printed by `--dry-run`: the agent's command, then the run dir (and resume) arguments."""
    expansions = sweep_args(run.params)
    expansions["env"] = []  # the agent's /usr/bin/env only looks the program up on PATH
    expansions["interpreter"] = ["python"]
    expansions["program"] = [str(sweep.program)]
    command: list[str] = []
    for token in sweep.command:
        macro = _macro(token)
        if macro is None or macro.startswith("envvar:"):
            # `${envvar:NAME}` anywhere in a token, left as NAME when unset (as the agent does)
            command.append(_ENVVAR.sub(lambda m: os.environ.get(m.group(1), m.group(1)), token))
        else:
            command.extend(expansions[macro])
    command = _resolve_config_paths(command, sweep.project_root)
    command.append(f"--{RUN_DIR_FLAG}={run.run_dir}")
    ckpt = run.resume_ckpt
    if ckpt is not None:
        command.append(f"--ckpt_path={ckpt}")
    return command


def _resolve_config_paths(command: list[str], root: Path) -> list[str]:
    """Relative `--config` files missing from the cwd are taken from the sweep's project root (the repo checkout)."""
    out = list(command)
    for i, token in enumerate(out):
        if token == "--config" and i + 1 < len(out):
            j, value = i + 1, out[i + 1]
        elif token.startswith("--config="):
            j, value = i, token.split("=", 1)[1]
        else:
            continue
        path = Path(value)
        if not path.is_absolute() and not path.exists() and (root / path).exists():
            out[j] = str(root / path) if j != i else f"--config={root / path}"
    return out


def executable(command: list[str]) -> list[str]:
    """Run `vtl` and `python` with this interpreter, so a sweep uses the environment `vtl sweep` runs in."""
    head = command[0]
    if head == "vtl":
        return [sys.executable, "-m", "vtl.cli", *command[1:]]
    if head in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return list(command)


# ---------------------------------------------------------------------------------------------------- running


def run_sweep(
    sweep: SweepFile,
    runs: list[SweepRun],
    *,
    count: int | None = None,
    dry_run: bool = False,
    quiet: bool = False,
    say: Callable[[str], None] = print,
    on_done: Callable[[SweepRun], str] | None = None,
) -> SweepResult:
    """Run the pending runs one after another; a failed run is reported and the sweep goes on.

    `on_done(run)` may return a note shown on a finished run's line (e.g. what it measured).
    """
    result = SweepResult()
    n = len(runs)
    pending = [r for r in runs if not r.complete]
    say(f"sweep {sweep.name}: {n} runs, {n - len(pending)} complete, {len(pending)} to run")
    if dry_run:
        for run in runs:
            say(f"[{run.index}/{n}] {run.name} ({run.state}){_changed_note(run) if run.complete else ''}")
            say("  " + shlex.join(build_command(sweep, run)))
        return result
    started = time.monotonic()
    durations: list[float] = []
    for run in runs:
        if run.complete:
            result.skipped.append(run.name)
            say(f"[{run.index}/{n}] {run.name}: complete, skipped{_changed_note(run)}")
            continue
        if count is not None and len(result.launched) >= count:
            result.not_started.append(run.name)
            continue
        left = len(pending) - len(result.launched)
        eta = f", about {clock(left * sum(durations) / len(durations))} left" if durations else ""
        action = "resuming" if run.resume_ckpt else "starting"
        say(f"[{run.index}/{n}] {run.name}: {action} (sweep elapsed {clock(time.monotonic() - started)}{eta})")
        t0 = time.monotonic()
        rc = _run_one(sweep, run, quiet=quiet)
        took = time.monotonic() - t0
        durations.append(took)
        result.launched.append(run.name)
        _append_status(run, rc, took)
        if rc == 0 and run.complete:
            note = on_done(run) if on_done is not None else ""
            say(f"[{run.index}/{n}] {run.name}: done in {clock(took)}" + (f": {note}" if note else ""))
        else:
            if rc == 0:  # the command exited cleanly but never marked the run complete
                rc = 3
                say(f"[{run.index}/{n}] {run.name}: exited 0 without writing {run.run_dir / COMPLETE_MARKER}")
            result.failed.append((run.name, rc))
            say(f"[{run.index}/{n}] {run.name}: FAILED (exit {rc}) after {clock(took)}; log: {run.run_dir / RUN_LOG}")
    total = clock(time.monotonic() - started)
    say(
        f"sweep {sweep.name}: {len(result.launched) - len(result.failed)} ran, {len(result.skipped)} already complete, "
        f"{len(result.failed)} failed, {len(result.not_started)} not started (--count) in {total}"
    )
    for name, rc in result.failed:
        say(f"  failed: {name} (exit {rc})")
    if result.failed:
        say("  rerun the same command to retry failed and unfinished runs")
    return result


def changed_params(run: SweepRun) -> dict[str, tuple[Any, Any]]:
    """Parameters outside the run's name (constants such as trainer.max_epochs) that differ from the ones its
    finished attempt recorded in sweep_run.json: {key: (recorded, now)}; empty when nothing is recorded."""
    try:
        recorded = json.loads((run.run_dir / RUN_INFO).read_text())["params"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {key: (recorded.get(key), run.params[key]) for key in differing_keys(recorded, run.params, keys=run.params)}


def _changed_note(run: SweepRun) -> str:
    changed = changed_params(run)
    if not changed:
        return ""
    diff = ", ".join(f"{key}={old!r} (now {new!r})" for key, (old, new) in changed.items())
    return f"; it ran with {diff}: to run the new settings, use another runs dir"


def _run_one(sweep: SweepFile, run: SweepRun, *, quiet: bool,
             batch: Callable[[subprocess.Popen], None] | None = None) -> int:
    """Run one grid point's command; its output goes to RUN_DIR/sweep.log (and the terminal unless quiet).

    A `vtl fit|validate|test` command runs in a child of the preloaded fork server (vtl.transfer.fork_server), any
    other in a fresh process. `batch(proc)` (a SLURM task): a fresh process, no signals forwarded (the scheduler
    signals the fit itself), and the caller is told the fit's process, to signal it on a timeout."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    command = build_command(sweep, run)
    info = {"sweep": str(sweep.path), "name": run.name, "params": run.params, "command": command}
    write_json_atomic(run.run_dir / RUN_INFO, info)
    # W&B (when the command logs there) groups the runs by sweep and names each after its grid values.
    env = {"WANDB_RUN_GROUP": sweep.name, "WANDB_NAME": run.name, **os.environ,
           "PYTHONUNBUFFERED": "1", "VTL_RUN_DIR": str(run.run_dir), "VTL_SWEEP": sweep.name}
    path = run.run_dir / RUN_LOG
    with open(path, "ab") as log:
        log.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n".encode())
        log.flush()
        start = log.tell()
        try:
            if batch is None and fork_server.forkable(command):
                proc = fork_server.start(command, env, path)
            else:
                # Its own process group, so a terminal's Ctrl-C reaches the sweep alone, which forwards it; and
                # killed with the sweep (Linux: the parent-death signal), so no fit keeps writing after it is gone.
                proc = subprocess.Popen(executable(command), stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as e:
            log.write(f"cannot start: {e}\n".encode())
            print(f"cannot start {command[0]!r}: {e}", file=sys.stderr)
            return 127
    if batch is not None:
        batch(proc)
        try:
            return proc.wait()
        finally:  # also when a timed-out task exits (submitit): the fit, signalled, gets time to save
            _stop(proc, grace=BATCH_STOP_GRACE_S)
    with _forward_signals(proc) as received:
        try:
            _follow(path, start, proc, None if quiet else sys.stdout.buffer,
                    ticker=run.name if quiet and sys.stdout.isatty() else None)
        finally:
            _stop(proc)
    if received:
        raise SweepInterrupted(received[0])
    return proc.returncode


def _follow(path: Path, offset: int, proc, out, ticker: str | None) -> None:
    """Until the run ends: copy what it appends to its log to `out`, or (a quiet run on a terminal) show a live
    elapsed-time line for `ticker`."""
    t0 = last_tick = time.monotonic()
    with open(path, "rb") as log:
        log.seek(offset)
        while True:
            done = proc.poll() is not None
            chunk = log.read()
            if chunk and out is not None:
                out.write(chunk)
                out.flush()
            if done:
                break
            if ticker and time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                print(f"\r  running {ticker}: {clock(last_tick - t0)}", end="", flush=True)
            time.sleep(0.05 if chunk else 0.2)
    if ticker:
        print("\r\033[K", end="", flush=True)


class SweepInterrupted(Exception):
    """The sweep got SIGINT or SIGTERM; its running fit was stopped first."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_GRACE_S = 30.0  # how long a fit may take to stop after a forwarded signal before it is killed
BATCH_STOP_GRACE_S = 90.0  # the same in a SLURM task (a big model's step and save; SLURM's signal comes 120 s early)


@contextlib.contextmanager
def _forward_signals(proc: subprocess.Popen):
    """While the block runs, SIGINT/SIGTERM sent to the sweep go to the fit's process group (a second one, or a fit
    still running STOP_GRACE_S later, kills the group). Yields the list of signals received."""
    received: list[int] = []
    timer: list[threading.Timer] = []

    def forward(signum, frame):
        received.append(signum)
        if len(received) > 1:
            _kill_group(proc, signal.SIGKILL)
            return
        _kill_group(proc, signum)
        timer.append(threading.Timer(STOP_GRACE_S, _kill_group, (proc, signal.SIGKILL)))
        timer[0].daemon = True
        timer[0].start()

    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread only
        yield received
        return
    before = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for t in timer:
            t.cancel()


def _kill_group(proc: subprocess.Popen, signum: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """Never leave the fit behind: wait for it, and kill its group if it outlives the sweep's reading loop."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(proc, signal.SIGKILL)
        proc.wait()
    _kill_group(proc, signal.SIGKILL)  # grandchildren left in the group (e.g. DDP ranks)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the sweep dies (Linux PR_SET_PDEATHSIG; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def write_grid(sweep: SweepFile, runs: list[SweepRun], parent: Path) -> None:
    """Record the grid in the runs dir, so its status can list the points not started yet."""
    parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(parent / GRID_FILE, {
        "sweep": str(sweep.path), "name": sweep.name,
        "runs": [{"index": r.index, "name": r.name, "params": r.params} for r in runs],
    })


def _append_status(run: SweepRun, rc: int, seconds: float) -> None:
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "name": run.name, "exit": rc,
        "complete": run.complete, "seconds": round(seconds, 1),
    }
    append_jsonl(run.run_dir.parent / STATUS_LOG, record)


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# ---------------------------------------------------------------------------------------------------- SLURM array


class SweepTask:
    """One task of `vtl sweep --launcher slurm`'s job array: some grid points, run in order as the local sweep runs
    them (`_run_one`), skipping points already done.

    It is submitit-checkpointable: on the time-limit signal (SIGUSR2, `signal_delay_s` before the end) submitit calls
    `checkpoint`, which passes SIGUSR1 to the running fit (vtl.checkpointing.StepCheckpoint: it saves at the next step
    boundary and exits 75) and has submitit requeue this same task. On preemption SLURM signals the fit itself
    (SIGTERM), which saves the same way, and requeues the job. A requeued task, or a rerun of `vtl sweep`, skips the
    finished points and resumes the interrupted one, so the records equal an uninterrupted run's. A failed point is
    retried `retries` times, each retry resuming from its last checkpoint.
    """

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


def chunks(runs: list[SweepRun], size: int) -> list[list[str]]:
    names = [r.name for r in runs]
    return [names[i:i + size] for i in range(0, len(names), size)]


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


# ---------------------------------------------------------------------------------------------------- CLI


def sweep(file: str, *, count: PositiveInt | None = None, dry_run: bool = False, runs_dir: str | None = None,
          set: list[str] | None = None,  # noqa: A002 (the flag users know: --set)
          quiet: bool = False, launcher: Literal["local", "slurm"] = "local", slurm: SlurmOptions | None = None,
          wandb_sweep: str | None = None, agents: PositiveInt = 1) -> int:
    """Run a W&B sweep file's grid here, or as a SLURM job array; resumably (a rerun skips finished points).

    `--launcher local` runs one point after another on this machine; `--launcher slurm` submits them through
    submitit (timed-out and preempted tasks save at a step boundary and are requeued).

    Args:
        file: Sweep YAML: a path, or the name of a shipped sweep file (e.g. demo_tiny; see `vtl config list`).
        count: Start at most N runs (complete runs do not count); with --wandb_sweep, runs per agent.
        dry_run: Print each run's command and state (with --launcher slurm: the sbatch script and each task's
            points); run and submit nothing.
        runs_dir: Parent of the run dirs (default: runs/<sweep file stem>).
        set: Replace a parameter's values, KEY=V1[,V2...], repeatable: --set data.source_task=Counting,Jigsaw
            --set trainer.max_epochs=1.
        quiet: Send each run's output only to RUN_DIR/sweep.log.
        launcher: local: run the grid on this machine; slurm: submit one array task per `--slurm.points_per_task`
            points (preempted and timed-out tasks save at a step boundary and are requeued).
        slurm: sbatch resources and task layout (also from the sweep file's `slurm:` mapping; flags win), e.g.
            --slurm.partition gpu --slurm.time_min 720 --slurm.extra '[--exclude=node7]'.
        wandb_sweep: With --launcher slurm: start --agents SLURM jobs running `wandb agent ENTITY/PROJECT/ID` (the
            id `wandb sweep FILE` printed) instead of vtl's own array; their logs go under the runs dir.
        agents: How many W&B agent jobs to start.

    `vtl sweep status RUNS_DIR` lists every grid point of a sweep's runs dir as pending, running, done or failed.
    """
    if launcher != "slurm" and (wandb_sweep or slurm is not None):
        raise SweepFileError("--wandb_sweep and --slurm.* go with --launcher slurm")
    overrides = parse_set(set or [])
    sweep_file = restrict(load_sweep(find_sweep_file(file)), overrides)
    check_overrides(sweep_file, list(overrides))
    if count is not None and count < 1:
        raise SweepFileError(f"--count {count}: give a positive number of runs")
    parent = Path(runs_dir or Path("runs") / sweep_file.name)
    runs = expand_grid(sweep_file, parent)
    if launcher == "slurm":
        options = SlurmOptions.from_sweep(sweep_file.slurm, f"{sweep_file.path}").merged(slurm)
        if wandb_sweep:
            submit_agents(wandb_sweep, agents, count, parent, options, dry_run=dry_run)
            return 0
        if not dry_run:
            write_grid(sweep_file, runs, parent)
        submit_sweep(sweep_file, overrides, parent, options, dry_run=dry_run)
        return 0
    # One sweep per runs dir at a time (a RunDirLockedError is a user error: one line, exit 2).
    lock = contextlib.nullcontext() if dry_run else RunDirLock(parent, f"vtl sweep {sweep_file.name}")
    try:
        with lock:
            if not dry_run:
                write_grid(sweep_file, runs, parent)
            result = run_sweep(sweep_file, runs, count=count, dry_run=dry_run, quiet=quiet)
    except SweepInterrupted as e:
        print(f"\nvtl sweep: {e} received, the running fit stopped; rerun the same command to resume",
              file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("\nvtl sweep: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return result.exit_code
