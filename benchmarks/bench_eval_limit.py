"""How far an evaluation epoch is from its limit: the forward passes alone, on the same batches, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_eval_limit.py [--model mid|tiny|both] [--per-target 8]
        [--targets 13] [--repeat 3] [--batch-size 8] [--threads 1]

The limit of likelihood scoring is one prefill per question over its (cached) vision features and its text, plus
one cached pass over the option tokens. For each model this prints, best of `--repeat`, wall and process CPU:

- `forward only`: exactly those forward passes (vtl.models.scoring.likelihood_forward) over the batches the
  validation loop makes, collated, looked up in the vision cache and moved to the device before the clock starts;
  adapter merged, as in validation. No Lightning, no callback, no bookkeeping.
- `validation epoch`: `Trainer.validate` of TransferFineTuner with the CrossTaskPGF callback over every target
  (the zero-shot pass, which fills the vision cache, runs before and is not timed): what a fit pays per epoch.
- `vtl eval path`: `score_multiple_choice` over each target as `vtl eval` calls it (length order, merged adapter;
  no cache, as vtl eval sees each image once) and the same with the cache the epoch has filled.

and the ratios `eval_epoch / forward_only`. The mid-size model is bench_eval.py's (vision/language cost close to the
7B's), saved as a local checkpoint so that the fit module loads it as it loads any model; `tiny` is
vtl://tiny-qwen2.5-vl. Questions: the task's image count (1-4) of 224-448 px JPEGs and 2-4 options each.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def write_source(root: Path, n_targets: int, per_target: int, seed: int, tasks=None) -> Path:
    """bench_eval's questions as a BLINK-layout parquet source (smooth random images, JPEG, so files stay small)."""
    import numpy as np
    from PIL import Image

    from vtl.data.synth import write_task_rows
    from vtl.tasks import TRANSFER_TASKS, get_task

    rng = random.Random(seed)
    for task in tasks or TRANSFER_TASKS[:n_targets]:
        rows = []
        for i in range(per_target):
            images = {}
            for k in range(get_task(task).n_images):  # BLINK's image count for the task (1-4)
                w, h = rng.randint(224, 448), rng.randint(224, 448)
                coarse = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 255, (h // 16 + 1, w // 16 + 1, 3))
                img = Image.fromarray(coarse.astype("uint8")).resize((w, h), Image.BILINEAR)
                buf = io.BytesIO()
                img.save(buf, format="JPEG", quality=90)
                images[f"image_{k + 1}"] = {"bytes": buf.getvalue(), "path": None}
            n = rng.randint(2, 4)
            choices = [f"option {c} " + "word " * rng.randint(0, 6) for c in range(n)]
            options = "\n".join(f"({'ABCD'[c]}) {text}" for c, text in enumerate(choices))
            question = "What does the image show? " + "detail " * rng.randint(0, 40)
            rows.append({"idx": f"{root.name}_{task}_{i}", "question": question, "sub_task": task, **images,
                         "choices": choices, "answer": f"({'ABCD'[rng.randrange(n)]})",
                         "prompt": f"{question}\nSelect from the following choices.\n{options}", "explanation": ""})
        write_task_rows(root, task, rows)
    return root


def mid_checkpoint(path: Path) -> Path:
    """bench_eval.py's mid-size random Qwen2.5-VL with the tiny checkpoint's tokenizer and the 7B's pixel budget."""
    import torch
    from bench_eval import mid_config
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vtl.models.loading import load_processor
    from vtl.models.tiny import tiny_model_dir

    processor = load_processor(str(tiny_model_dir()), min_pixels=3136, max_pixels=401408)
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(mid_config(len(processor.tokenizer))).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def best(fn, repeat: int) -> tuple[float, float]:
    """Best wall time of `repeat` calls, with the process CPU time of that call."""
    out = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out = min(out, (wall, cpu))
    return out


def measure(model_name: str, eval_dir: Path, train_dir: Path, targets: list[str], *, batch_size: int, repeat: int,
            root: Path):
    import torch
    from lightning.pytorch import Trainer

    from vtl.models.chat import ChatCollator
    from vtl.models.merged_eval import merged_adapter
    from vtl.models.scoring import likelihood_forward, likelihood_inputs, score_multiple_choice
    from vtl.transfer.cross_task import CrossTaskPGF
    from vtl.transfer.datamodule import TransferDataModule
    from vtl.transfer.finetune import TransferFineTuner

    module = TransferFineTuner(model=model_name, eval_batch_size=batch_size, vision_cache_gib=8.0)
    data = TransferDataModule(source_task="Counting", targets=",".join(targets), train_source=str(train_dir),
                              eval_source=str(eval_dir), train_split="val", batch_size=batch_size,
                              eval_batch_size=batch_size)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                      callbacks=[CrossTaskPGF()])
    trainer.validate(module, datamodule=data, verbose=False)  # the zero-shot pass fills the cache; warm-up
    # lora_B = 0 after init; a trained-looking adapter costs the same forward passes, merged or not
    epoch = best(lambda: trainer.validate(module, datamodule=data, verbose=False), repeat)

    model, processor = module.model, module.processor
    collator = ChatCollator(processor, train=False, padding_side="left")
    batches = [batch for loader in trainer.val_dataloaders for batch in loader]
    with torch.no_grad(), merged_adapter(model):
        model.eval()
        prepared = [likelihood_inputs(model, processor, collator, b, module.prompt_preset, module.vision_cache)
                    for b in batches]
        forward = best(lambda: [likelihood_forward(model, p) for p in prepared], repeat)
        by_target = data.eval_samples
        plain = best(lambda: [score_multiple_choice(model, processor, rows, batch_size=batch_size, order="length")
                              for rows in by_target.values()], repeat)
        cached = best(lambda: [score_multiple_choice(model, processor, rows, batch_size=batch_size, order="length",
                                                     vision_cache=module.vision_cache)
                               for rows in by_target.values()], repeat)
    n = sum(len(b) for b in batches)
    return n, len(batches), {"forward only": forward, "validation epoch": epoch, "vtl eval path": plain,
                             "vtl eval path, cached": cached}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("mid", "tiny", "both"), default="both")
    parser.add_argument("--targets", type=int, default=13)
    parser.add_argument("--per-target", type=int, default=8, help="questions per target")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from vtl.tasks import TRANSFER_TASKS

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        eval_dir = write_source(tmp / "eval", args.targets, args.per_target, args.seed)
        train_dir = write_source(tmp / "train", 1, 4, args.seed + 1, tasks=["Counting"])
        models = {"mid": lambda: str(mid_checkpoint(tmp / "mid")), "tiny": lambda: "vtl://tiny-qwen2.5-vl"}
        names = ["tiny", "mid"] if args.model == "both" else [args.model]
        for name in names:
            targets = list(TRANSFER_TASKS[: args.targets])
            n, n_batches, times = measure(models[name](), eval_dir, train_dir, targets, batch_size=args.batch_size,
                                          repeat=args.repeat, root=tmp / f"run_{name}")
            print(f"{name} model: {n} questions in {n_batches} batches of up to {args.batch_size}")
            limit = times["forward only"]
            for label, (wall, cpu) in times.items():
                print(f"  {label:24s} {wall:8.2f} s (cpu {cpu:8.2f} s)   / forward only {wall / limit[0]:5.2f}x "
                      f"(cpu {cpu / limit[1]:5.2f}x)")
            print(f"ratio {name} eval_epoch/forward_only {times['validation epoch'][0] / limit[0]:.2f} "
                  f"(cpu {times['validation epoch'][1] / limit[1]:.2f})")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
