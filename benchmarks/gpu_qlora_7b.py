"""QLoRA throughput, memory and MFU at the real Qwen2.5-VL-7B shape on one GPU (H100/H200 class), before and after
the throughput options, in one run with no network.

    timeout 1500 .venv/bin/python benchmarks/gpu_qlora_7b.py [--steps 10] [--batch-size 4] [--out DIR]
        [--configs before,after,after_b8] [--eval-questions 32]

1. Builds a random-init Qwen2.5-VL with Qwen2.5-VL-7B-Instruct's published shape (numbers below; no weights) in bf16
   on the GPU and saves it to local disk with the tiny model's tokenizer/processor (token ids fit the 7B vocab).
2. Loads it back through vtl's own path: TransferFineTuner -> load_model(4-bit NF4, double quant, bf16 compute,
   vision tower unquantized) -> prepare_quantized_model -> LoRA r=8 alpha=16 on the language model, gradient
   checkpointing.
3. For each configuration runs `--steps` optimizer steps with Lightning (bf16-mixed) on BLINK-like multi-image
   questions (2-4 random images of 224-448 px each) and prints tokens/s (after warmup), peak GPU memory and MFU
   (6 x parameters x tokens/s over the GPU's dense bf16 peak, `--peak-tflops`):
     before    gradient checkpointing on, shuffled batches, plain HF kernels (what the shipped 7B config runs)
     after     no checkpointing, length-grouped batches, Liger kernels (--model.liger; skipped with a note when the
               liger-kernel package is absent)
     after_b8  as after at twice the micro-batch
4. Evaluation at the same shape: one scoring pass over `--eval-questions` questions without and with the
   vision-feature cache + length-sorted batches (the merge does not apply to a 4-bit base), after a cache-filling
   zero-shot pass; prints seconds and the ratio.
Ratios print against `before` measured in the same run. Exits 0 with a message when CUDA is absent.
`--shape tiny --allow-cpu` runs the same flow at toy size on CPU (Liger is skipped there).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Qwen2.5-VL-7B-Instruct config.json (text decoder + vision tower).
SHAPE_7B = {
    "text": {
        "hidden_size": 3584,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "intermediate_size": 18944,
        "vocab_size": 152064,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    "vision": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
}
# For a dry run of this script on CPU: the same flow at toy size.
SHAPE_TINY = {
    "text": {**SHAPE_7B["text"], "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 4096,
             "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]}},
    "vision": {**SHAPE_7B["vision"], "depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2,
               "out_hidden_size": 128, "fullatt_block_indexes": [1]},
}


def log(msg: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:7.1f}s] {msg}", flush=True)


def build_checkpoint(out: Path, shape: dict, device: str, start: float) -> int:
    """Random-init model at `shape`, saved in bf16 with the tiny processor. Returns the parameter count."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from vtl.models.tiny import tiny_model_dir

    tiny = tiny_model_dir()
    raw = json.loads((tiny / "config.json").read_text())
    raw["text_config"].update(shape["text"])
    raw["text_config"]["layer_types"] = ["full_attention"] * shape["text"]["num_hidden_layers"]
    raw["vision_config"].update(shape["vision"])
    raw["dtype"] = "bfloat16"
    config = Qwen2_5_VLConfig.from_dict(raw)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"random-init model built: {n_params / 1e9:.2f} B parameters", start)
    model.save_pretrained(out, max_shard_size="4GB")
    AutoProcessor.from_pretrained(tiny).save_pretrained(out)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    log(f"saved bf16 checkpoint to {out}", start)
    return n_params


def blink_like_samples(n: int, image_size: int, seed: int = 0):
    """Multi-image multiple-choice questions shaped like BLINK's (2-4 images, 2-4 lettered options)."""
    import numpy as np
    from PIL import Image

    from vtl.data.sample import BlinkSample

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        n_images = int(rng.integers(2, 5))
        n_choices = 2 + i % 3
        choices = [f"image {k + 1}" for k in range(n_choices)]
        options = "\n".join(f"({'ABCD'[k]}) {c}" for k, c in enumerate(choices))
        question = "Which image is most similar to the reference image in style and content?"
        sizes = rng.integers(image_size // 2, image_size + 1, (n_images, 2))
        images = [Image.fromarray(rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8)) for h, w in sizes]
        samples.append(BlinkSample(
            idx=f"bench_{i}", sub_task="Visual_Similarity", question=question,
            prompt=f"{question}\nSelect from the following choices.\n{options}", choices=choices,
            answer=f"({'ABCD'[i % n_choices]})", images=images, origin="benchmark",
        ))
    return samples


CONFIGS = {
    "before": {"gradient_checkpointing": True, "liger": False, "grouped": False, "batch": 1},
    "after": {"gradient_checkpointing": False, "liger": True, "grouped": True, "batch": 1},
    "after_b8": {"gradient_checkpointing": False, "liger": True, "grouped": True, "batch": 2},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="steps left out of tokens/s")
    parser.add_argument("--batch-size", type=int, default=4, help="micro-batch of `before` and `after`")
    parser.add_argument("--image-size", type=int, default=448, help="largest image side; 448 px = 256 tokens")
    parser.add_argument("--shape", choices=("7b", "tiny"), default="7b")
    parser.add_argument("--configs", default="before,after,after_b8", help=f"a comma list of {', '.join(CONFIGS)}")
    parser.add_argument("--eval-questions", type=int, default=32, help="0 skips the evaluation measurement")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    parser.add_argument("--allow-cpu", action="store_true", help="dry run without CUDA (use with --shape tiny)")
    parser.add_argument("--out", default=None, help="where to write the random checkpoint (default: a temp dir)")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_qlora_7b: no CUDA device here; this benchmark needs an H100/H200-class GPU. Nothing run.")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import importlib.util

    on_gpu = torch.cuda.is_available()
    device = "cuda" if on_gpu else "cpu"
    start = time.perf_counter()
    if on_gpu:
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        print(f"device: {torch.cuda.get_device_name(0)}, {total:.0f} GiB")
    shape = SHAPE_7B if args.shape == "7b" else SHAPE_TINY
    have_liger = on_gpu and importlib.util.find_spec("liger_kernel") is not None
    tmp = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vtl-7b-"))
    results = {}
    try:
        n_params = build_checkpoint(tmp, shape, device, start)
        for name in args.configs.split(","):
            config = dict(CONFIGS[name])
            if config["liger"] and not have_liger:
                print(f"{name}: liger-kernel not installed (or no CUDA): measured without Liger")
                config["liger"] = False
            results[name] = train_once(tmp, args, config, on_gpu, start)
            gc_cuda(on_gpu)
        if args.eval_questions:
            results["eval"] = eval_once(tmp, args, on_gpu, start)
        print("---- result ----")
        print(f"shape: {args.shape} ({n_params / 1e9:.2f} B parameters); questions of 2-4 images up to "
              f"{args.image_size}px; {args.steps} steps ({args.steps - args.warmup} timed) per configuration")
        ref = results.get("before")
        for name, r in results.items():
            if name == "eval":
                continue
            mfu = 6 * n_params * r["tokens_per_s"] / (args.peak_tflops * 1e12)
            ratio = f"  {r['tokens_per_s'] / ref['tokens_per_s']:.2f}x before" if ref else ""
            print(f"{name:9s} {r['label']}: tokens/s {r['tokens_per_s']:.0f} ({r['tokens_per_step']:.0f} tokens/step), "
                  f"peak {r['peak_gib']:.2f} GiB, MFU {mfu:.1%}{ratio}, losses finite {r['finite']}")
        if "eval" in results:
            e = results["eval"]
            print(f"eval: plain {e['plain']:.2f} s, cache+sort {e['fast']:.2f} s (filling pass {e['fill']:.2f} s), "
                  f"max |d logprob| {e['diff']:.1e}, changed {e['changed']}")
            print(f"eval ratio {e['plain'] / e['fast']:.2f}")
        if ref and len(results) > 1:
            best = max((r for n, r in results.items() if n != "eval"), key=lambda r: r["tokens_per_s"])
            print(f"ratio {best['tokens_per_s'] / ref['tokens_per_s']:.2f}")
        log("done", start)
    finally:
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def gc_cuda(on_gpu: bool) -> None:
    import gc

    import torch

    gc.collect()
    if on_gpu:
        torch.cuda.empty_cache()


def make_module(checkpoint: Path, args, on_gpu: bool, **options):
    from vtl.models.loading import QuantizationOptions
    from vtl.models.lora import LoraOptions
    from vtl.transfer.finetune import TransferFineTuner

    return TransferFineTuner(
        model=str(checkpoint),
        quantization=QuantizationOptions(compute_dtype="bfloat16" if on_gpu else "float32"),
        lora=LoraOptions(r=8, alpha=16, dropout=0.05, target_modules="language"),
        lr=2e-4, warmup_steps=1,
        max_pixels=args.image_size * args.image_size, min_pixels=(args.image_size // 2) ** 2,
        **options,
    )


def train_once(checkpoint: Path, args, config: dict, on_gpu: bool, start: float) -> dict:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch import Callback
    from torch.utils.data import DataLoader

    from vtl.models.lengths import prompt_lengths
    from vtl.transfer.samplers import LengthGroupedSampler

    batch = args.batch_size * config["batch"]
    label = (f"batch {batch}, checkpointing {'on' if config['gradient_checkpointing'] else 'off'}, "
             f"{'length-grouped' if config['grouped'] else 'shuffled'}, liger {'on' if config['liger'] else 'off'}")
    log(f"training: {label}", start)
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    module = make_module(checkpoint, args, on_gpu, gradient_checkpointing=config["gradient_checkpointing"],
                         liger=config["liger"])
    samples = blink_like_samples(batch * (args.steps + 1) * 4, args.image_size)

    class Meter(Callback):
        def __init__(self):
            self.rows = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if on_gpu:
                torch.cuda.synchronize()
            self._t = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if on_gpu:
                torch.cuda.synchronize()
            tokens = int(batch["attention_mask"].sum())
            loss = float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)
            self.rows.append((time.perf_counter() - self._t, tokens, loss))
            log(f"step {batch_idx}: {tokens} tokens, {self.rows[-1][0]:.2f} s, loss {loss:.3f}", start)

    meter = Meter()
    trainer = pl.Trainer(
        accelerator="gpu" if on_gpu else "cpu", devices=1, precision="bf16-mixed" if on_gpu else "32-true",
        max_steps=args.steps, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=str(checkpoint / "run"), callbacks=[meter],
    )
    module.configure_model()  # the sampler's prompt lengths need the processor
    sampler = LengthGroupedSampler(prompt_lengths(module.processor, samples), batch) if config["grouped"] else None
    loader = DataLoader(samples, batch_size=batch, shuffle=sampler is None, sampler=sampler, collate_fn=list,
                        generator=torch.Generator().manual_seed(0))
    trainer.fit(module, train_dataloaders=loader)
    timed = meter.rows[args.warmup:] or meter.rows
    seconds = sum(r[0] for r in timed)
    tokens = sum(r[1] for r in timed)
    result = {
        "label": label, "tokens_per_s": tokens / seconds, "tokens_per_step": tokens / len(timed),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else float("nan"),
        "finite": all(r[2] == r[2] and abs(r[2]) != float("inf") for r in meter.rows),
    }
    del module, trainer
    return result


def eval_once(checkpoint: Path, args, on_gpu: bool, start: float) -> dict:
    import torch

    from vtl.models.scoring import score_multiple_choice
    from vtl.models.vision_cache import VisionFeatureCache

    log(f"evaluation: {args.eval_questions} questions, plain vs vision cache + length order", start)
    module = make_module(checkpoint, args, on_gpu)
    module.configure_model()
    model, processor = module.model, module.processor
    model.eval()
    samples = blink_like_samples(args.eval_questions, args.image_size, seed=1)

    def timed(**kw):
        if on_gpu:
            torch.cuda.synchronize()
        t = time.perf_counter()
        preds = score_multiple_choice(model, processor, samples, batch_size=8, **kw)
        if on_gpu:
            torch.cuda.synchronize()
        return time.perf_counter() - t, preds

    timed()  # warm-up
    plain, reference = timed()
    cache = VisionFeatureCache.for_model(model, "bench", 64 << 30)
    with model.disable_adapter():
        fill, _ = timed(order="length", vision_cache=cache)
    fast, preds = timed(order="length", vision_cache=cache)
    diff = max(abs(a - b) for p, q in zip(preds, reference, strict=True)
               for a, b in zip(p.option_logprobs.values(), q.option_logprobs.values(), strict=True))
    changed = sum(p.pred_letter != q.pred_letter for p, q in zip(preds, reference, strict=True))
    return {"plain": plain, "fast": fast, "fill": fill, "diff": diff, "changed": changed}


if __name__ == "__main__":
    sys.exit(main())
