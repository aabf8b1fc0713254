"""`vtl model …`: model utilities (`vtl model tiny --out DIR`)."""

from __future__ import annotations

from pathlib import Path

from vtl.errors import VtlError


def tiny(*, out: Path, seed: int = 0) -> int:
    """Write the tiny random-init Qwen2.5-VL (model, tokenizer, processor, chat template).

    Args:
        out: Output directory (created; must be empty if it exists).
        seed: Weight initialization seed.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VtlError(f"--out {out} exists and is not an empty directory; choose a new path")
    from vtl.models.tiny import write_tiny_model

    path = write_tiny_model(out, seed=seed)
    print(f"wrote tiny Qwen2.5-VL to {path}")
    return 0
