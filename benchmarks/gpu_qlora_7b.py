"""QLoRA throughput and memory at the real Qwen2.5-VL-7B shape on one GPU (H100/H200 class), with no network.

    .venv/bin/python benchmarks/gpu_qlora_7b.py [--steps 10] [--batch-size 2] [--image-size 448] [--out DIR]

1. Builds a random-init Qwen2.5-VL with Qwen2.5-VL-7B-Instruct's published shape (numbers below; no weights) in bf16
   on the GPU and saves it to local disk with the tiny model's tokenizer/processor (token ids fit the 7B vocab).
2. Loads it back through vtl's own path: TransferFineTuner -> load_model(4-bit NF4, double quant, bf16 compute,
   vision tower unquantized) -> prepare_quantized_model -> LoRA r=8 alpha=16 on the language model, gradient
   checkpointing.
3. Runs `--steps` optimizer steps with Lightning (bf16-mixed) on BLINK-like multi-image questions (2-4 random images
   each), and prints tokens/s (after warmup) and peak GPU memory.
Exits 0 with a message when CUDA is absent. `--shape tiny --allow-cpu` runs the same flow at toy size on CPU.
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
        n_images = 2 + i % 3
        n_choices = 2 + i % 3
        choices = [f"image {k + 1}" for k in range(n_choices)]
        options = "\n".join(f"({'ABCD'[k]}) {c}" for k, c in enumerate(choices))
        question = "Which image is most similar to the reference image in style and content?"
        images = [Image.fromarray(rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8))
                  for _ in range(n_images)]
        samples.append(BlinkSample(
            idx=f"bench_{i}", sub_task="Visual_Similarity", question=question,
            prompt=f"{question}\nSelect from the following choices.\n{options}", choices=choices,
            answer=f"({'ABCD'[i % n_choices]})", images=images, origin="benchmark",
        ))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="steps left out of tokens/s")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=448, help="square images; 448 px = 256 tokens each")
    parser.add_argument("--shape", choices=("7b", "tiny"), default="7b")
    parser.add_argument("--allow-cpu", action="store_true", help="dry run without CUDA (use with --shape tiny)")
    parser.add_argument("--out", default=None, help="where to write the random checkpoint (default: a temp dir)")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_qlora_7b: no CUDA device here; this benchmark needs an H100/H200-class GPU. Nothing run.")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import lightning.pytorch as pl
    from lightning.pytorch import Callback
    from torch.utils.data import DataLoader

    from vtl.models.loading import QuantizationOptions
    from vtl.models.lora import LoraOptions
    from vtl.transfer.finetune import TransferFineTuner

    on_gpu = torch.cuda.is_available()
    device = "cuda" if on_gpu else "cpu"
    start = time.perf_counter()
    if on_gpu:
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        print(f"device: {torch.cuda.get_device_name(0)}, {total:.0f} GiB")
    shape = SHAPE_7B if args.shape == "7b" else SHAPE_TINY
    tmp = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vtl-7b-"))
    try:
        build_checkpoint(tmp, shape, device, start)
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        module = TransferFineTuner(
            model=str(tmp),
            quantization=QuantizationOptions(compute_dtype="bfloat16" if on_gpu else "float32"),
            lora=LoraOptions(r=8, alpha=16, dropout=0.05, target_modules="language"),
            gradient_checkpointing=True,
            lr=2e-4,
            warmup_steps=1,
            max_pixels=args.image_size * args.image_size,
            min_pixels=args.image_size * args.image_size // 4,
        )
        samples = blink_like_samples(args.batch_size * (args.steps + 1), args.image_size)
        loader = DataLoader(samples, batch_size=args.batch_size, shuffle=False, collate_fn=list)

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
            default_root_dir=str(tmp / "run"), callbacks=[meter],
        )
        log("loading 4-bit through vtl (TransferFineTuner.configure_model) and training", start)
        trainer.fit(module, train_dataloaders=loader)
        timed = meter.rows[args.warmup:] or meter.rows
        seconds = sum(r[0] for r in timed)
        tokens = sum(r[1] for r in timed)
        trainable = sum(p.numel() for p in module.model.parameters() if p.requires_grad)
        print("---- result ----")
        print(f"shape: {args.shape}; batch {args.batch_size} questions x 2-4 images of {args.image_size}px; "
              f"{len(meter.rows)} steps ({len(timed)} timed)")
        print(f"trainable (LoRA) parameters: {trainable / 1e6:.1f} M")
        print(f"tokens/s: {tokens / seconds:.0f}  ({tokens / len(timed):.0f} tokens/step, "
              f"{seconds / len(timed):.2f} s/step)")
        if on_gpu:
            print(f"peak GPU memory: allocated {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, "
                  f"reserved {torch.cuda.max_memory_reserved() / 2**30:.2f} GiB")
        print(f"all losses finite: {all(r[2] == r[2] and abs(r[2]) != float('inf') for r in meter.rows)}")
        log("done", start)
    finally:
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
