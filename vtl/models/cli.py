"""`vtl model …`: model utilities (`vtl model tiny --out DIR [--family F]`)."""

from __future__ import annotations

from pathlib import Path

from vtl.errors import VtlError, make_output_dir
from vtl.models.families import FamilyName


def tiny(*, out: Path, seed: int = 0, family: FamilyName = "qwen2.5-vl") -> int:
    """Write a tiny random-init VLM of one family (model, tokenizer, processor, chat template).

    Args:
        out: Output directory (created; must be empty if it exists).
        seed: Weight initialization seed.
        family: Architecture to write: qwen2.5-vl, qwen3-vl, internvl or llava-onevision.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VtlError(f"--out {out} exists and is not an empty directory; choose a new path")
    make_output_dir(out, "--out")
    from vtl.models.tiny import write_tiny_model

    path = write_tiny_model(out, seed=seed, family=family)
    print(f"wrote tiny {family} to {path}")
    return 0
