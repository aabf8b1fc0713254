"""Full fine-tuning of the student under FSDP on every visible GPU, then the export gathered on rank zero.

    .venv/bin/python benchmarks/gpu_student_fsdp.py [--steps 4] [--out DIR]

Trains the tiny offline Qwen2.5-VL (language model + merger, vision blocks frozen, `train_merger: true`) on the
offline analytic corpus with `vtl.vicl.distill.strategy.DecoderFSDPStrategy` (one FSDP unit per decoder layer and vision
block, activation checkpointing, norm gradient clipping through the FSDP root), exports the student, reloads the
export without FSDP and prints, against the untrained base in the same run: the fraction of merger and language
tensors that changed (expected 1.0 for both), the fraction of vision-block tensors that changed (expected 0.0) and
the number of exported tensors over the base's (expected 1.0). Exits 0 with a message when CUDA is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured")
        return 0
    from lightning.pytorch import Trainer, seed_everything

    from vtl.models.families import family_of
    from vtl.models.loading import load_model
    from vtl.models.tiny import tiny_model_dir
    from vtl.models.trainable import trains_in_full_finetuning
    from vtl.vicl.distill.strategy import DecoderFSDPStrategy
    from vtl.vicl.distill.student import EXPORT_DIR, StudentDistiller
    from vtl.vicl.distill.student_data import BuildOptions, DistillDataModule

    out = Path(args.out or tempfile.mkdtemp(prefix="vtl-fsdp-"))
    seed_everything(0)
    base_dir = str(tiny_model_dir())
    data = DistillDataModule(data_dir=str(out / "data"), build=BuildOptions(pairs=["Deblur→Dehaze"], n_train=16,
                                                                            n_eval=4, image_size=64), batch_size=2)
    module = StudentDistiller(model=base_dir, lora=None, train_merger=True, lr=1e-3, n_samples=0)
    trainer = Trainer(accelerator="gpu", devices=torch.cuda.device_count(),
                      strategy=DecoderFSDPStrategy(wrap_layers=["Qwen2_5_VLDecoderLayer", "Qwen2_5_VLVisionBlock"]),
                      precision="bf16-mixed", max_steps=args.steps, gradient_clip_val=1.0, logger=False,
                      enable_checkpointing=False, default_root_dir=str(out), limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    if not trainer.is_global_zero:
        return 0
    base, _ = load_model(base_dir, dtype=torch.float32)
    trained, _ = load_model(str(out / EXPORT_DIR), dtype=torch.float32)
    family = family_of(base)
    before = dict(base.named_parameters())
    after = dict(trained.named_parameters())
    groups: dict[str, list[bool]] = {"merger": [], "language": [], "vision blocks": []}
    for name, param in before.items():
        changed = not torch.equal(param, after[name])
        if family.is_projector(name):
            groups["merger"].append(changed)
        elif trains_in_full_finetuning(name, family):
            groups["language"].append(changed)
        else:
            groups["vision blocks"].append(changed)
    for group, flags in groups.items():
        print(f"{group}: changed tensors / tensors = {sum(flags) / max(1, len(flags)):.2f} ({len(flags)} tensors)")
    print(f"exported tensors / base tensors = {len(after) / len(before):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
