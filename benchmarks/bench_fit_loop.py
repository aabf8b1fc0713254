"""The fit loop's cost against a bare loop: N optimizer steps through `vtl fit`'s module and Trainer (PGF callback
off) and through a plain PyTorch loop over the same model construction and the same batches, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fit_loop.py [--model tiny|mid|both] [--steps 20]
        [--mid-steps 8] [--batch-size 4] [--threads 1] [--repeat 3]

Both loops build the model with vtl.models.trainable.build_trainable_vlm (transformers + peft LoRA on the language
model, as `vtl fit` does) from the same seed, use the same AdamW + warm-up/cosine schedule, and see the same training
rows in the same order (the bare loop replays the row lists the Trainer's loader produced, collating each step as a
DataLoader's collate_fn would). Timed: from the first step's start to the last step's end (model loading and
Lightning's setup excluded), and the median step-to-step interval. Printed per model: both, and the ratios
`fit / bare`, best of `--repeat` alternating runs. The last lines are `ratio <model> wall <x> median_step <y>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fit_loop(model_name: str, train_dir: Path, eval_dir: Path, *, steps: int, batch_size: int, root: Path):
    """Trainer.fit of TransferFineTuner for `steps` steps, no validation, no callback; step times and the rows."""
    from lightning.pytorch import Callback, Trainer, seed_everything

    from vtl.transfer.datamodule import TransferDataModule
    from vtl.transfer.finetune import TransferFineTuner

    class Clock(Callback):
        def __init__(self):
            self.starts, self.ends, self.rows = [], [], []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.starts.append(time.perf_counter())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.ends.append(time.perf_counter())

    clock = Clock()
    seed_everything(0, verbose=False)
    module = TransferFineTuner(model=model_name, warmup_steps=2, vision_cache_gib=None)
    data = TransferDataModule(source_task="Counting", targets="Counting", train_source=str(train_dir),
                              eval_source=str(eval_dir), train_split="val", batch_size=batch_size)
    original = module.on_before_batch_transfer

    def recording(batch, dataloader_idx):  # the row lists, before collation, for the bare loop to replay
        if module.trainer.training and isinstance(batch, list):
            clock.rows.append(batch)
        return original(batch, dataloader_idx)

    module.on_before_batch_transfer = recording
    trainer = Trainer(accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, default_root_dir=root, callbacks=[clock])
    trainer.fit(module, datamodule=data)
    return clock.starts, clock.ends, clock.rows


def bare_loop(model_name: str, rows: list, *, steps: int):
    """The same steps as a plain loop: collate, forward + loss, backward, optimizer and schedule step."""
    import torch

    from vtl.models.chat import ChatCollator, blink_example
    from vtl.models.lora import LoraOptions
    from vtl.models.trainable import build_trainable_vlm
    from vtl.models.training import adamw_warmup_cosine, assistant_loss

    torch.manual_seed(0)
    model, processor = build_trainable_vlm(model_name, device=torch.device("cpu"), quantization=None,
                                           lora=LoraOptions(), gradient_checkpointing=False, train_vision=False,
                                           min_pixels=None, max_pixels=None, attn_implementation=None)
    model.train()
    collator = ChatCollator(processor, train=True, padding_side="right")
    opt = adamw_warmup_cosine(model, lr=2e-4, weight_decay=0.0, warmup_steps=2, total_steps=steps)
    optimizer, scheduler = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    starts, ends = [], []
    for batch_rows in rows[:steps]:
        starts.append(time.perf_counter())
        batch = dict(collator([blink_example(s, "vtl") for s in batch_rows]))
        loss = assistant_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        ends.append(time.perf_counter())
    return starts, ends


def summary(starts: list[float], ends: list[float]) -> tuple[float, float]:
    """(first start to last end, median step-to-step interval; the last step counts its own length)."""
    intervals = [b - a for a, b in zip(starts, starts[1:], strict=False)] + [ends[-1] - starts[-1]]
    return ends[-1] - starts[0], statistics.median(intervals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("tiny", "mid", "both"), default="both")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps of the tiny model")
    parser.add_argument("--mid-steps", type=int, default=8, help="optimizer steps of the mid-size model")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of both loops; the best counts")
    args = parser.parse_args(argv)

    import torch
    from bench_eval_limit import mid_checkpoint, write_source

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        names = ["tiny", "mid"] if args.model == "both" else [args.model]
        for name in names:
            steps = args.steps if name == "tiny" else args.mid_steps
            train_dir = write_source(tmp / f"train_{name}", 1, steps * args.batch_size, 1, tasks=["Counting"])
            eval_dir = write_source(tmp / f"eval_{name}", 1, 2, 2, tasks=["Counting"])
            model_name = "vtl://tiny-qwen2.5-vl" if name == "tiny" else str(mid_checkpoint(tmp / "mid"))
            fit_runs, bare_runs = [], []
            for i in range(args.repeat):  # alternating, so that load from other processes hits both alike
                f_starts, f_ends, rows = fit_loop(model_name, train_dir, eval_dir, steps=steps,
                                                  batch_size=args.batch_size, root=tmp / f"run_{name}_{i}")
                fit_runs.append(summary(f_starts, f_ends))
                bare_runs.append(summary(*bare_loop(model_name, rows, steps=steps)))
            (fw, fm), (bw, bm) = min(fit_runs), min(bare_runs)
            print(f"{name} model, {steps} steps of batch {args.batch_size}:")
            print(f"  vtl fit    {fw:8.2f} s   median step {fm * 1e3:8.1f} ms")
            print(f"  bare loop  {bw:8.2f} s   median step {bm * 1e3:8.1f} ms")
            print(f"ratio {name} wall {fw / bw:.3f} median_step {fm / bm:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
