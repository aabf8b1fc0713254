"""`vtl fit | validate | test`: LightningCLI over any LightningModule / LightningDataModule named by class_path.

Every artifact of a run lands in `trainer.default_root_dir` (the run dir): the CLI points every logger's save_dir
there, puts checkpoints in `<run dir>/checkpoints` unless a ModelCheckpoint names its own dirpath, and saves the
resolved config (secrets removed) as `<run dir>/config.yaml`. Resume with `--ckpt_path last`.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from vtl.tasks import UnknownTaskError
from vtl.transfer.wandb_logging import agent_run_dir

CONFIG_FILE = "config.yaml"
# Anchored at the end of a key so settings such as `max_new_tokens` are kept.
_SECRET_KEY = re.compile(r"(^|_)(api_?key|token|secret|password|credentials?)$", re.IGNORECASE)
# Loggers whose files go under save_dir/name/version: with name and version empty their log dir is the run dir.
_FLAT_LOGGERS = ("CSVLogger", "TensorBoardLogger")


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
            if "save_dir" in args:
                args.save_dir = root
            if logger.class_path.rsplit(".", 1)[-1] in _FLAT_LOGGERS:
                if args.get("name") == "lightning_logs":
                    args.name = ""
                if args.get("version") is None:
                    args.version = ""

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        return trainer


def build_cli(argv: list[str], run: bool = True) -> VtlCLI:
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


def run_lightning_cli(argv: list[str]) -> int:
    """Run `fit|validate|test …`; user errors print one clear line and return non-zero instead of a traceback."""
    from vtl.transfer.finetune import NonFiniteLossError

    # CSVLogger warns that a non-empty run dir "will be deleted"; it appends, and resuming into the run dir is the plan.
    warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
    # Expected here: argv comes from `vtl`, and the module collates batches itself (not the data module).
    warnings.filterwarnings("ignore", message=r".*LightningCLI's args parameter.*")
    warnings.filterwarnings("ignore", message=r".*overridden `(on_before_batch_transfer|transfer_batch_to_device)`.*")
    try:
        build_cli(list(argv))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except Exception as err:  # noqa: BLE001 (re-raised unless it is a user error raised by vtl itself)
        cause = user_error(err)
        if cause is None:
            raise
        print(f"vtl {argv[0]}: error: {cause}", file=sys.stderr)
        return 1 if isinstance(cause, NonFiniteLossError) else 2
    return 0


def user_error(err: BaseException) -> BaseException | None:
    """The root cause of `err` when it is a bad-input error raised in vtl's own code (jsonargparse wraps those raised
    while instantiating classes), else None: a bug elsewhere keeps its traceback."""
    from vtl.transfer.finetune import NonFiniteLossError

    package = str(Path(__file__).resolve().parent)
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    for exc in reversed(chain):  # innermost first
        if isinstance(exc, NonFiniteLossError | UnknownTaskError):
            return exc
        if isinstance(exc, ValueError | FileNotFoundError | KeyError) and exc.__traceback__ is not None:
            frames = [f for f, _ in _walk_tb(exc.__traceback__)]
            if frames and frames[-1].f_code.co_filename.startswith(package):
                return exc
    return None


def _walk_tb(tb):
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
