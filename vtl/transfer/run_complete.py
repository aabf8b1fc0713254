"""RunComplete: marks any finished fit with `<run dir>/fit_complete.json`, so `vtl sweep` can tell it is done.

The transfer study's PGF callback writes the same marker (with its `val/` and `transfer/` metrics); this callback
gives every other fit (e.g. a T2T-VICL student distillation) the marker too. With both on one trainer the two
summaries are merged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from vtl.records import clear_fit_complete, write_fit_complete


def fit_summary(trainer: Trainer, metric_prefixes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """What a finished fit reached: epochs, step, time, and its scalar callback metrics (those under the prefixes)."""
    metrics = {}
    for key, value in trainer.callback_metrics.items():
        if metric_prefixes is not None and not key.startswith(metric_prefixes):
            continue
        try:
            metrics[key] = float(value)
        except (TypeError, ValueError, RuntimeError):  # a non-scalar tensor
            continue
    return {
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "metrics": metrics,
    }


def mark_fit_complete(trainer: Trainer, metric_prefixes: tuple[str, ...] | None = None) -> Path | None:
    """Write the marker for a fit that ended normally (rank zero); an interrupted fit is left unmarked."""
    if not trainer.is_global_zero or trainer.interrupted:
        return None
    return write_fit_complete(trainer.default_root_dir, fit_summary(trainer, metric_prefixes))


def unmark_fit_complete(trainer: Trainer) -> None:
    if trainer.is_global_zero:
        clear_fit_complete(trainer.default_root_dir)


class RunComplete(Callback):
    def __init__(self, metric_prefixes: list[str] | None = None):
        """
        Args:
            metric_prefixes: keep only callback metrics whose names start with one of these (e.g. [val/]) in the
                marker's summary; null keeps every scalar metric.
        """
        self.metric_prefixes = tuple(metric_prefixes) if metric_prefixes is not None else None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        unmark_fit_complete(trainer)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        mark_fit_complete(trainer, self.metric_prefixes)
