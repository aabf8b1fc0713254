"""Fault injection for crash-consistency tests: `VTL_FAULT=<point>[@<n>][:<SIGNAL>]` SIGKILLs the process at a named
point (or sends it SIGNAL instead, e.g. `train_step@3:SIGUSR1`, a preemption notice arriving at a known moment).

Code that writes a run dir calls `fault_point("<name>")` at the moments a crash is worst (between two writes that
belong together). With `VTL_FAULT` unset a call costs one dictionary lookup. `VTL_FAULT=rows_appended@2` kills the
process the second time it reaches `rows_appended`; the count is per process. The points:

- `zero_shot`: after one target of the zero-shot baseline is scored, before the baseline is complete.
- `train_step`: after a training batch's optimizer step.
- `val_batch`: after one validation batch is scored.
- `questions_appended`: after an epoch's per-question records are appended to questions.jsonl, before its rows go
  to transfer.jsonl.
- `rows_appended`: after an epoch's rows are appended to transfer.jsonl, before its checkpoint is saved.
- `adapter_export`: inside the atomic adapter export, after the old export moved aside, before the new one is in place.
- `fit_end`: after the last epoch (its checkpoint saved), before fit_complete.json is written.

This module is a leaf: it imports nothing from vtl.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "VTL_FAULT"
POINTS = ("zero_shot", "train_step", "val_batch", "questions_appended", "rows_appended", "adapter_export", "fit_end")
_reached: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """SIGKILL this process here when VTL_FAULT names this point (and this is its n-th arrival)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    spec, _, signame = spec.partition(":")
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1) or (_reached[name] > int(nth or 1) and not signame):
        os.kill(os.getpid(), signal.Signals[signame] if signame else signal.SIGKILL)
