"""$VTL_HOME, build-once directories and the `vtl://` names of the embedded default.

Configs name the embedded default `vtl://tiny-qwen2.5-vl` and `vtl://synth`; the packages that own them
(`vtl.models.tiny`, `vtl.data.synth`) build them once under $VTL_HOME (default ~/.cache/vtl) so every run of a grid,
the demo and the tests share them. This module is a leaf: it imports nothing from vtl.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

# Shipped inside the package, so a wheel install finds them from any directory.
PACKAGE_DIR = Path(__file__).resolve().parent
CONFIGS_DIR = PACKAGE_DIR / "configs"
SWEEPS_DIR = PACKAGE_DIR / "sweeps"

TINY_MODEL = "vtl://tiny-qwen2.5-vl"
SYNTH_SUITE = "vtl://synth"
# The demo's planted-transfer world and the tiny model warmed up on its neutral task (vtl.data.planted).
PLANTED_SUITE = "vtl://planted"
TINY_NEUTRAL_MODEL = "vtl://tiny-qwen2.5-vl-neutral"


def vtl_home() -> Path:
    return Path(os.environ.get("VTL_HOME", Path.home() / ".cache" / "vtl"))


def build_once(target: Path, build: Callable[[Path], object]) -> Path:
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
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def shipped_config_paths(argv: list[str]) -> list[str]:
    """`--config configs/…` that is not a file here names the copy shipped in the package, so the README's commands
    work from any directory."""
    out = list(argv)
    for i, token in enumerate(out):
        j, value = (i + 1, out[i + 1] if i + 1 < len(out) else "") if token == "--config" else (i, token[9:])
        if not (token == "--config" or token.startswith("--config=")) or not value:
            continue
        path = Path(value)
        if not path.is_absolute() and not path.exists() and (PACKAGE_DIR / path).is_file():
            out[j] = str(PACKAGE_DIR / path) if j != i else f"--config={PACKAGE_DIR / path}"
    return out
