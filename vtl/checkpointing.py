"""What a checkpoint carries so that a fit resumed from it continues bit for bit, and when checkpoints are taken.

A resumed fit reproduces the uninterrupted one when three things come back exactly: the trainable tensors and
optimizer (Lightning's checkpoint), every global RNG (dropout draws from them), and the position in the training
order. The order of epoch e is a function of (seed, e) alone (`EpochShuffle`, `LengthGroupedSampler`), so the
position is just "how many rows of epoch e are trained": the data module records it and the resumed epoch skips
them. Lightning's own route (a `state_dict` on the DataLoader) is not used: its states are lost when
`configure_optimizers` reads `trainer.estimated_stepping_batches`, as every vtl module does (Lightning issue 20550),
and its prefetched batch would count as trained.

- `ResumableRNG`: a LightningModule mixin; the global RNG states go into every checkpoint and are put back when
  training (re)starts.
- `ResumableOrder`: a LightningDataModule mixin; `resume_sampler(sampler)` wraps the training sampler so that the
  epoch a checkpoint was taken in continues where it stopped.
- `StepCheckpoint`: a callback writing `checkpoints/last.ckpt` atomically every N optimizer steps inside an epoch,
  and at the next step boundary after SIGUSR1 (SLURM's `--signal`) or SIGTERM (preemption), after which the fit exits
  with `EXIT_PREEMPTED` for its launcher to requeue.

Determinism: on CPU a fit gives the same numbers for the same thread count (any count; intra-op threads split work
the same way each run). On CUDA, bit-exact resume also needs `torch.use_deterministic_algorithms(True)` and
`CUBLAS_WORKSPACE_CONFIG=:4096:8` (Lightning's `--trainer.deterministic true` sets the first); some kernels (atomics in
scatter/index_add backward, flash attention's backward) have no deterministic version and then raise.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import Sampler

from vtl.errors import VtlError
from vtl.models.training import collect_rng_states, restore_rng_states

RNG_STATES = "vtl_rng_states"  # checkpoint key of the global RNG states at the moment the checkpoint was taken
TRAIN_POSITION = "train_position"  # data module state key: {"epoch", "batches", "samples"} trained of that epoch
EXIT_PREEMPTED = 75  # sysexits' EX_TEMPFAIL: stopped on purpose, a rerun (with --ckpt_path last) continues
LAST_NAME = "last.ckpt"


class Preempted(VtlError):
    """The fit stopped on a preemption signal after saving its checkpoint; `vtl fit` exits with EXIT_PREEMPTED."""


# ---------------------------------------------------------------------------------------------------- RNG states


class ResumableRNG:
    """LightningModule mixin: the global RNG states in every checkpoint, restored when training (re)starts.

    Restored in `on_train_start`, after everything that runs between loading the checkpoint and the first batch
    (optimizer setup, sanity checks, the zero-shot baseline), so the next batch draws exactly what the uninterrupted
    run drew. A subclass overriding these hooks calls super()."""

    _resume_rng: dict[str, Any] | None = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[RNG_STATES] = collect_rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._resume_rng = checkpoint.get(RNG_STATES)

    def on_train_start(self) -> None:
        if self._resume_rng is not None:
            restore_rng_states(self._resume_rng)
            self._resume_rng = None


# ---------------------------------------------------------------------------------------------------- data order


class SkipTrained(Sampler[int]):
    """Another sampler's order, less the first `skip` indices of epoch `epoch`: the rest of an interrupted epoch.

    Every other epoch passes through unchanged; `set_epoch` is forwarded (Lightning calls it before each epoch)."""

    def __init__(self, sampler: Sampler[int], *, epoch: int, skip: int):
        self.sampler = sampler
        self.resume_epoch = epoch
        self.skip = skip
        self.epoch = getattr(sampler, "epoch", 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        order = iter(self.sampler)
        return itertools.islice(order, self.skip, None) if self.epoch == self.resume_epoch else order

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


class EpochShuffle(Sampler[int]):
    """A shuffled order per epoch drawn from `seed + epoch` (as torch's DistributedSampler draws it), never from the
    global RNG: Lightning calls `set_epoch` before each epoch, so epoch e has the same order in a resumed fit.

    `generator`, reseeded each epoch too, is the DataLoader's: the base seed every DataLoader iterator draws (for its
    workers) then comes from it, not from the global RNG that dropout draws from.
    """

    def __init__(self, n: int, seed: int = 0):
        self.n = n
        self.seed = seed
        self.epoch = 0
        self.generator = torch.Generator().manual_seed(seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.generator.manual_seed(self.seed + epoch + (1 << 32))

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


def own_generator() -> torch.Generator:
    """A DataLoader generator of its own: creating an iterator then never draws from the global torch RNG."""
    return torch.Generator().manual_seed(global_seed())


def global_seed() -> int:
    """The seed of `seed_everything` (Lightning's PL_GLOBAL_SEED), 0 when none was set; DistributedSampler's too."""
    return int(os.environ.get("PL_GLOBAL_SEED") or 0)



class ResumableOrder:
    """LightningDataModule mixin: checkpoints record how far into its epoch the training order is.

    `state_dict` (Lightning saves it with every checkpoint) holds the epoch and the rows of it already trained when
    a checkpoint is taken mid-epoch; `resume_sampler` applies it to the resumed fit's training sampler. The
    subclass's `batch_size` is the training batch size."""

    _resume_position: dict[str, int] | None = None

    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "trainer", None)
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return {}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if not 0 < done < trainer.num_training_batches:
            return {}  # at an epoch boundary: the next epoch starts from its beginning
        return {TRAIN_POSITION: {"epoch": trainer.current_epoch, "batches": done, "samples": done * self.batch_size}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_position = state_dict.get(TRAIN_POSITION)

    def resume_sampler(self, sampler: Sampler[int]) -> Sampler[int]:
        """`sampler`, or (when a mid-epoch checkpoint was restored) `sampler` less the rows its epoch trained."""
        position = self._resume_position
        if not position:
            return sampler
        # Lightning's warning that the loader is not resumable does not apply: the sampler does the resuming.
        warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch.*")
        return SkipTrained(sampler, epoch=int(position["epoch"]), skip=int(position["samples"]))


# ---------------------------------------------------------------------------------------------------- when to save


class StepCheckpoint(Callback):
    """`checkpoints/last.ckpt` at step boundaries inside an epoch: every N optimizer steps, and on preemption.

    Works beside Lightning's ModelCheckpoint, which keeps the epoch checkpoints and writes last.ckpt after each
    validation; this callback writes the same file between validations, atomically (a kill while writing leaves the
    previous one). It never saves at an epoch's last batch: Lightning resumes such a checkpoint in the next epoch,
    skipping the validation in between.

    On SIGUSR1 or SIGTERM the fit finishes the step in flight, saves, and stops with EXIT_PREEMPTED. A signal during
    an epoch's last batch or its validation stops the fit at the next validation batch without a save: the resumed
    fit repeats the steps since the newest checkpoint and the validation. This handler takes the place of Lightning's
    SLURM requeue handler, which saves wherever the signal lands (not at a step boundary); requeueing is the
    launcher's job (`vtl sweep --launcher slurm`).
    """

    def __init__(self, every_n_train_steps: int | None = None, signals: list[str] | None = None):
        """
        Args:
            every_n_train_steps: save every N optimizer steps (null: on preemption only).
            signals: the signals that mean "save and stop" (default SIGUSR1 and SIGTERM; [] for none).
        """
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps must be >= 1 or null, got {every_n_train_steps}")
        names = ["SIGUSR1", "SIGTERM"] if signals is None else list(signals)
        try:
            self.signals = [signal.Signals[name] for name in names]
        except KeyError as err:
            raise ValueError(f"StepCheckpoint signals: unknown signal {err.args[0]!r} (e.g. SIGUSR1)") from None
        self.every_n_train_steps = every_n_train_steps
        self.received: signal.Signals | None = None
        self._saved_step = -1
        self._flush_logs = False  # a save happened: write the loggers' rows at the next hook
        self._stop_at_boundary = False  # preempted and saved: stop at the next hook
        self._previous: dict[signal.Signals, Any] = {}

    # ---- signals ---------------------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Before Lightning's signal connector: it then leaves SIGUSR1 to this handler and chains SIGTERM after it.
        if stage != "fit" or threading.current_thread() is not threading.main_thread():
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.received is None:
            rank_zero_info(f"vtl: {signal.Signals(signum).name} received: saving at the next step boundary, then "
                           "stopping")
        self.received = signal.Signals(signum)

    # ---- saving ----------------------------------------------------------------------------------------------
    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step == self._saved_step or step == 0:
            return  # mid-accumulation (no optimizer step since the last save), or no step yet
        if batch_idx + 1 >= trainer.num_training_batches:
            return  # the epoch's last batch: Lightning would resume it in the next epoch, skipping this validation
        every = self.every_n_train_steps
        if self.received is not None or (every and step % every == 0):
            self.save(trainer)
            self._stop_at_boundary = self.received is not None

    # Lightning logs a step's metrics after its on_train_batch_end, so after the checkpoint of that step: the next
    # hook puts that row on disk (a resumed fit does not log it again) and only then stops a preempted fit.
    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._after_save(trainer)

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.received is not None and trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._stop(trainer, f"during validation at step {trainer.global_step} (no new checkpoint: the "
                                "validation and the steps since the last checkpoint are run again)")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.received is not None:  # the epoch's checkpoint (ModelCheckpoint's) is saved by now
            self._stop(trainer, f"after epoch {trainer.current_epoch}")

    def _after_save(self, trainer: Trainer) -> None:
        if self._flush_logs:
            self._flush_logs = False
            for logger in trainer.loggers:
                logger.save()
        if self._stop_at_boundary:
            self._stop(trainer, f"at step {trainer.global_step} (checkpoint saved)")

    def save(self, trainer: Trainer) -> Path:
        path = checkpoint_dir(trainer) / LAST_NAME
        tmp = path.with_name(f"{LAST_NAME}.tmp-{os.getpid()}")
        for callback in trainer.checkpoint_callbacks:  # theirs too: ModelCheckpoint overwrites it, not last-v1.ckpt
            if isinstance(callback, ModelCheckpoint) and callback.save_last and callback.dirpath \
                    and Path(callback.dirpath) == path.parent:
                callback.last_model_path = str(path)
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, path)
        trainer.strategy.barrier("StepCheckpoint.save")
        self._saved_step = trainer.global_step
        self._flush_logs = True
        return path

    def _stop(self, trainer: Trainer, where: str) -> None:
        name = self.received.name if self.received is not None else "signal"
        raise Preempted(f"{name}: stopped {where}; rerun with --ckpt_path last (the same vtl sweep) to continue "
                        f"from {checkpoint_dir(trainer) / LAST_NAME}")

    def state_dict(self) -> dict[str, Any]:
        return {"every_n_train_steps": self.every_n_train_steps}


def checkpoint_dir(trainer: Trainer) -> Path:
    """Where ModelCheckpoint writes (its dirpath), so that both callbacks' last.ckpt is one file."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath:
            return Path(callback.dirpath)
    return Path(trainer.default_root_dir) / "checkpoints"
