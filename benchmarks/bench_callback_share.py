"""The cross-task PGF callback's share of an epoch's wall time on the tiny config.

    .venv/bin/python benchmarks/bench_callback_share.py [--epochs 2] [--config configs/transfer/tiny.yaml] [FIT_ARGS…]

Runs `vtl fit` in-process in a temporary run dir and prints, per epoch: the whole epoch, the training part, the
13-target validation the callback asks for (scoring every eval set), and the callback's own hooks (metrics, PGF,
logging, transfer.jsonl). The zero-shot baseline runs once per run (or is read from the cache) and is printed apart.
Share = validation (hooks included) / epoch; the training part is the reference measured in the same run.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

from lightning.pytorch import Callback

REPO = Path(__file__).resolve().parents[1]


class EpochClock(Callback):
    def __init__(self):
        self.epochs: list[dict[str, float]] = []
        self._t: dict[str, float] = {}

    def on_train_epoch_start(self, trainer, pl_module):
        self._t = {"start": time.perf_counter(), "cpu_start": time.process_time()}

    def on_validation_start(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._t["val_start"], self._t["cpu_val_start"] = time.perf_counter(), time.process_time()

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._t["val_end"], self._t["cpu_val_end"] = time.perf_counter(), time.process_time()

    def on_train_epoch_end(self, trainer, pl_module):
        t = self._t
        end, cpu_end = time.perf_counter(), time.process_time()
        val = t.get("val_end", end) - t.get("val_start", end)
        cpu_val = t.get("cpu_val_end", cpu_end) - t.get("cpu_val_start", cpu_end)
        self.epochs.append({"epoch": end - t["start"], "validation": val, "train": end - t["start"] - val,
                            "cpu_epoch": cpu_end - t["cpu_start"], "cpu_validation": cpu_val})


def instrument(callback_cls, totals: dict[str, float]) -> None:
    """Accumulate the wall time of the callback's hooks; the zero-shot baseline is kept apart."""
    hooks = ("on_validation_batch_end", "on_validation_epoch_start", "on_validation_epoch_end", "_ensure_zero_shot")
    for name in hooks:
        original = getattr(callback_cls, name)
        key = "zero_shot" if name == "_ensure_zero_shot" else "hooks"

        @functools.wraps(original)
        def timed(self, *args, _original=original, _key=key, **kwargs):
            start = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                totals[_key] = totals.get(_key, 0.0) + time.perf_counter() - start

        setattr(callback_cls, name, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "transfer" / "tiny.yaml"))
    parser.add_argument("--epochs", type=int, default=2)
    args, extra = parser.parse_known_args(argv)  # anything else goes to `vtl fit`, e.g. --model.vision_cache_gib=null

    from vtl.lightning_cli import build_cli
    from vtl.transfer.cross_task import CrossTaskPGF

    totals: dict[str, float] = {}
    instrument(CrossTaskPGF, totals)
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("VTL_HOME", str(Path(tmp) / "vtl_home"))
        cli = build_cli(["--config", args.config, f"--trainer.default_root_dir={tmp}/run",
                         f"--trainer.max_epochs={args.epochs}", "--trainer.enable_progress_bar=false", *extra],
                        run=False)
        cli.trainer.callbacks.append(clock)
        start = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        total = time.perf_counter() - start
    per_epoch_hooks = totals.get("hooks", 0.0) / max(1, len(clock.epochs))
    print(f"config: {args.config}  epochs: {len(clock.epochs)}  fit wall time: {total:.1f} s")
    print(f"zero-shot baseline (once per run; cached across a grid): {totals.get('zero_shot', 0.0):.2f} s")
    print("epoch  wall_s  train_s  validation_s  (of which callback hooks_s)  share")
    for i, e in enumerate(clock.epochs):
        share = e["validation"] / e["epoch"]
        print(f"{i:>5}  {e['epoch']:6.2f}  {e['train']:7.2f}  {e['validation']:12.2f}  {per_epoch_hooks:27.3f}  "
              f"{share:5.1%}")
    epochs = clock.epochs
    wall = sum(e["epoch"] for e in epochs)
    val = sum(e["validation"] for e in epochs)
    train = sum(e["train"] for e in epochs)
    print(f"callback share of epoch wall time: {val / wall:.1%} "
          f"(validation/train ratio {val / train:.2f}; hooks alone {totals.get('hooks', 0.0) / wall:.2%})")
    cpu = sum(e["cpu_epoch"] for e in epochs)
    cpu_val = sum(e["cpu_validation"] for e in epochs)
    print(f"callback share of epoch CPU time: {cpu_val / cpu:.1%} (process time, robust to a loaded machine: "
          f"validation {cpu_val:.2f} s of {cpu:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
