"""The embedded default: the tiny offline Qwen2.5-VL and the synthetic suite, built on first use.

Configs name them `vtl://tiny-qwen2.5-vl` and `vtl://synth`; they are written once under $VTL_HOME
(default ~/.cache/vtl) so every run of a grid, the demo and the tests share them. Nothing here touches the network.
"""

from __future__ import annotations

import os
from pathlib import Path

TINY_MODEL = "vtl://tiny-qwen2.5-vl"
SYNTH_SUITE = "vtl://synth"
# Size of the embedded synthetic suite: per task, split later into train/eval by the data module.
SYNTH_N_PER_TASK = 48
SYNTH_IMAGE_SIZE = 64
SYNTH_SEED = 0


def vtl_home() -> Path:
    return Path(os.environ.get("VTL_HOME", Path.home() / ".cache" / "vtl"))


def _build_once(target: Path, build) -> Path:
    """Build `target` via `build(tmp)` unless it exists; atomic rename: a killed build leaves nothing half-made."""
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    build(tmp)
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


def tiny_model_dir() -> Path:
    from vtl.models.tiny import write_tiny_model

    return _build_once(vtl_home() / "tiny-qwen2.5-vl", lambda d: write_tiny_model(d, seed=0))


def synth_suite_dir() -> Path:
    from vtl.data.synth import write_suite

    return _build_once(
        vtl_home() / f"synth-n{SYNTH_N_PER_TASK}-px{SYNTH_IMAGE_SIZE}-s{SYNTH_SEED}",
        lambda d: write_suite(d, n_per_task=SYNTH_N_PER_TASK, seed=SYNTH_SEED, image_size=SYNTH_IMAGE_SIZE),
    )


def resolve_model(name: str) -> str:
    """A model name as the loader takes it: `vtl://tiny-qwen2.5-vl` becomes the built directory."""
    return str(tiny_model_dir()) if name == TINY_MODEL else name


def resolve_source(source: str) -> str:
    return str(synth_suite_dir()) if source == SYNTH_SUITE else source
