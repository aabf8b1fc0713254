"""A CSVLogger whose `metrics.csv` survives resumes and reruns: history is kept, rows of a discarded attempt dropped.

Lightning's CSVLogger deletes `metrics.csv` when it starts, so a resumed fit keeps only the epochs after its
checkpoint and a rerun of a finished run loses the file. This one reads the existing rows when it starts (a torn or
malformed row left by a kill is dropped, never fed back to the CSV writer), drops those the new attempt is about to
log again (from the first step it logs on: they belong to an attempt that did not reach its checkpoint; a
checkpoint, at an epoch's end or mid-epoch, lies between two logged steps) and rewrites the whole file atomically on
each save. `vtl fit` uses it in place of Lightning's CSVLogger.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class ResumableCSVLogger(CSVLogger):
    """CSVLogger (same arguments) that keeps the history of `metrics.csv` across resumes and reruns."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment


class _KeepingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:  # Lightning deletes metrics.csv here; read it instead
        self.history = read_metrics_csv(Path(self.metrics_file_path))
        self._new_attempt = True

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        if self._new_attempt:
            self._new_attempt = False
            first = step if step is not None else metrics_dict.get("step")
            self.history = [row for row in self.history if not _step(row) >= float(first if first is not None
                                                                                     else "inf")]
        super().log_metrics(metrics_dict, step)

    def save(self) -> None:
        if not self.metrics:
            return
        self.history.extend(self.metrics)
        self.metrics = []
        keys = sorted(set().union(*self.history))
        self.metrics_keys = keys
        path = Path(self.metrics_file_path)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)


def read_metrics_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.csv, without a torn last row or rows whose field count does not match the header."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        text = fh.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # a row cut short by a kill
    reader = csv.DictReader(text.splitlines())
    return [row for row in reader if None not in row and None not in row.values()]


def _step(row: dict[str, Any]) -> float:
    try:
        return float(row.get("step", ""))
    except ValueError:
        return float("inf")  # a row with no step cannot be placed before the resume point
