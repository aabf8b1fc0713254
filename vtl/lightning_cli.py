"""`vtl fit | validate | test`: LightningCLI over any LightningModule / LightningDataModule named by class_path.

Every artifact of a run lands in `trainer.default_root_dir` (the run dir): the CLI points every logger's save_dir
there, puts checkpoints in `<run dir>/checkpoints` unless a ModelCheckpoint names its own dirpath, and saves the
resolved config (secrets removed) as `<run dir>/config.yaml`. Resume with `--ckpt_path last`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from vtl.errors import EXIT_USER_ERROR, UsageError, VtlError, explain_parse_error, one_line, user_cause
from vtl.home import shipped_config_paths
from vtl.locks import RunDirLock
from vtl.records import guard_run_settings
from vtl.transfer.wandb_logging import agent_run_dir

CONFIG_FILE = "config.yaml"
RUN_SETTINGS = "run_settings.json"  # a fit's identity (`run_identity()` of its module and data module)
# What a fit leaves in its run dir: while none of it is there, the dir holds no results and other settings may take it.
_FIT_OUTPUTS = ("checkpoints", "adapter", "transfer.jsonl", "fit_complete.json")
# Anchored at the end of a key so settings such as `max_new_tokens` are kept.
_SECRET_KEY = re.compile(r"(^|_)(api_?key|token|secret|password|credentials?)$", re.IGNORECASE)
# Loggers whose files go under save_dir/name/version: with name and version empty their log dir is the run dir.
_FLAT_LOGGERS = ("CSVLogger", "TensorBoardLogger", "ResumableCSVLogger")
# Lightning's CSVLogger deletes metrics.csv when it starts; this subclass (same arguments) keeps it across resumes.
_CSV_LOGGERS = ("lightning.pytorch.loggers.CSVLogger", "lightning.pytorch.loggers.csv_logs.CSVLogger")
RESUMABLE_CSV_LOGGER = "vtl.transfer.csv_logging.ResumableCSVLogger"


class RunDirConfig(SaveConfigCallback):
    """Save the resolved config as `<run dir>/config.yaml` on rank zero, without secrets; a resume overwrites it."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        if trainer.is_global_zero:
            root = Path(trainer.default_root_dir)
            root.mkdir(parents=True, exist_ok=True)
            text = self.parser.dump(self.config, skip_none=False)
            clean = _scrub(yaml.safe_load(text))
            (root / self.config_filename).write_text(yaml.safe_dump(clean, sort_keys=False))
        self.already_saved = True


def _scrub(obj: Any) -> Any:
    """Drop values of secret-looking keys (API keys, tokens): they come from the environment, never from files."""
    if isinstance(obj, dict):
        return {k: ("<from environment>" if _SECRET_KEY.search(str(k)) and v else _scrub(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


class VtlCLI(LightningCLI):
    def init_parser(self, **kwargs: Any):
        return super().init_parser(**{**kwargs, "exit_on_error": False})

    def parse_arguments(self, parser, args) -> None:
        try:
            super().parse_arguments(parser, args)
        except SystemExit:
            raise
        except Exception as err:  # noqa: BLE001 (argparse.ArgumentError and jsonargparse's)
            if user_cause(err) is not None:
                raise
            sub = getattr(parser, "_subcommands_action", None)
            command = args[0] if args and sub is not None else None
            target = sub._name_parser_map.get(command, parser) if command else parser
            raise UsageError(explain_parse_error(target, str(err))) from err

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        # Under `wandb agent` each run gets its own dir; the sweep passes only grid parameters, not a run dir.
        root = agent_run_dir() or str(trainer.default_root_dir or os.getcwd())
        trainer.default_root_dir = root
        loggers = trainer.logger
        if loggers is None or isinstance(loggers, bool):
            return
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            args = getattr(logger, "init_args", None)
            if args is None:
                continue
            if logger.class_path in _CSV_LOGGERS:
                logger.class_path = RESUMABLE_CSV_LOGGER
            if "save_dir" in args:
                args.save_dir = root
            if logger.class_path.rsplit(".", 1)[-1] in _FLAT_LOGGERS:
                if args.get("name") == "lightning_logs":
                    args.name = ""
                if args.get("version") is None:
                    args.version = ""

    def _run_subcommand(self, subcommand: str) -> None:
        """A fit holds its run dir's lock (`.vtl.lock`) while it runs; DDP ranks other than 0 leave it to rank 0."""
        if subcommand != "fit" or not _is_launching_rank():
            return super()._run_subcommand(subcommand)
        with RunDirLock(self.trainer.default_root_dir, "vtl fit"):
            guard_fit_identity(self.trainer.default_root_dir, self.model, self.datamodule)
            return super()._run_subcommand(subcommand)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        _check_accelerator(self.config[self.subcommand] if self.subcommand else self.config)
        trainer = super().instantiate_trainer(**kwargs)
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        return trainer


def fit_identity(model: Any, datamodule: Any) -> dict[str, Any]:
    """What makes a run dir one experiment: the `run_identity()` of the module and of the data module (those that
    define one), prefixed `model.` and `data.`."""
    identity: dict[str, Any] = {}
    for prefix, part in (("model", model), ("data", datamodule)):
        own = getattr(part, "run_identity", None)
        if callable(own):
            identity.update({f"{prefix}.{k}": v for k, v in own().items()})
    return identity


def guard_fit_identity(run_dir: str | Path, model: Any, datamodule: Any) -> None:
    """Refuse a fit into a run dir that holds the results of a fit with other settings (its transfer log, adapter and
    checkpoints would be mixed with or overwritten by this one's); record this fit's settings otherwise. A dir that
    holds no results yet (e.g. a fit that failed before its first checkpoint) takes the new settings."""
    identity = fit_identity(model, datamodule)
    if not identity:
        return
    root = Path(run_dir)
    settings = root / RUN_SETTINGS
    if settings.is_file() and not any((root / name).exists() for name in _FIT_OUTPUTS):
        settings.unlink()
    guard_run_settings(settings, identity, what="a fit", hint="set another --trainer.default_root_dir, or the same "
                       f"settings to rerun or resume (--ckpt_path last); delete {RUN_SETTINGS} to reuse the dir")


def _check_accelerator(config) -> None:
    """A GPU config (e.g. the 7B QLoRA one) on a machine without CUDA: one line, not Lightning's traceback."""
    accelerator = str(config.trainer.get("accelerator") or "auto")
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    if torch.cuda.is_available():
        return
    files = [str(f) for f in (config.get("config") or [])]
    where = f"{files[-1]}: " if files else ""
    raise AcceleratorError(
        f"{where}trainer.accelerator={accelerator} but this machine has no CUDA GPU; run it on a GPU machine, set "
        "--trainer.accelerator=cpu (very slow for a large model), or try configs/transfer/tiny.yaml on CPU"
    )


class AcceleratorError(VtlError):
    """The config asks for hardware this machine lacks."""


def _is_launching_rank() -> bool:
    """False in the processes a launcher (Lightning's DDP, torchrun) started for ranks other than 0."""
    return all(os.environ.get(var, "0") == "0" for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


# vtl's LightningModules and data modules, imported so that `--model`/`--data` list them and take bare class names
# (`--data.help TransferDataModule`); a class_path outside vtl still works.
_VTL_MODULES = ("vtl.transfer.finetune", "vtl.transfer.datamodule", "vtl.vicl.distill.student",
                "vtl.vicl.distill.student_data")


def build_cli(argv: list[str], run: bool = True) -> VtlCLI:
    from vtl.components import configure_parsing, wants_help

    configure_parsing(help=wants_help(argv))
    for module in _VTL_MODULES:
        importlib.import_module(module)
    return VtlCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=RunDirConfig,
        save_config_kwargs={"overwrite": True},
        args=argv,
        run=run,
    )


def run_lightning_cli(argv: list[str], debug: bool = False) -> int:
    """Run `fit|validate|test …`. A user error (a VtlError, or a flag or config key that does not parse) prints one
    line on stderr and returns 2 (1 for a non-finite loss, 75 for a fit stopped by a preemption signal after saving
    its checkpoint); anything else is a bug and keeps its traceback."""
    from vtl.checkpointing import EXIT_PREEMPTED, Preempted
    from vtl.transfer.finetune import NonFiniteLossError

    # CSVLogger warns that a non-empty run dir "will be deleted"; it appends, and resuming into the run dir is the plan.
    warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
    # Expected here: argv comes from `vtl`, and the module collates batches itself (not the data module).
    warnings.filterwarnings("ignore", message=r".*LightningCLI's args parameter.*")
    warnings.filterwarnings("ignore", message=r".*overridden `(on_before_batch_transfer|transfer_batch_to_device)`.*")
    try:
        build_cli(shipped_config_paths(list(argv)))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except Exception as err:  # noqa: BLE001 (re-raised unless it is a user error)
        cause = user_cause(err)
        if cause is None:
            raise
        if debug:
            traceback.print_exc()
        if isinstance(cause, Preempted):
            print(f"vtl {argv[0]}: preempted: {one_line(str(cause))}", file=sys.stderr)
            return EXIT_PREEMPTED
        print(f"vtl {argv[0]}: error: {one_line(str(cause))}", file=sys.stderr)
        return 1 if isinstance(cause, NonFiniteLossError) else EXIT_USER_ERROR
    return 0
