"""Training pieces shared by the LightningModules (transfer fine-tuning, student distillation); plain PyTorch."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
import random
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vtl.errors import VtlError
from vtl.faults import fault_point


class NonFiniteLossError(VtlError, FloatingPointError):
    """The training loss became NaN or infinite."""


def check_finite_loss(loss: torch.Tensor, *, step: int, epoch: int, batch_idx: int, name: str = "training loss",
                      hint: str = "lower --model.lr, raise --model.warmup_steps, or check the data") -> None:
    """Stop training with a NonFiniteLossError that says where, once the loss is NaN or infinite."""
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"{name} is {loss.item()} at global step {step} (epoch {epoch}, batch {batch_idx}); {hint}"
        )


def total_training_steps(trainer) -> int:
    """The optimizer steps the fit will take (the cosine schedule's length); a VtlError when the fit is unbounded."""
    total = trainer.estimated_stepping_batches
    if not math.isfinite(total):
        raise VtlError(f"the fit has no end (--trainer.max_epochs {trainer.max_epochs}, --trainer.max_steps "
                       f"{trainer.max_steps}) so the learning-rate schedule has no length; give --trainer.max_epochs N "
                       "or --trainer.max_steps N with N >= 1")
    return int(total)


def assistant_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Token-mean cross-entropy over the assistant span only (labels are -100 elsewhere), computed in fp32.

    Logits are made only at the positions where some row predicts an assistant token (`logits_to_keep`): over the
    whole prompt, the vocabulary projection is the largest matmul of a small model's step."""
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    targets = labels[:, 1:]  # position t predicts token t + 1
    mask = targets != -100
    if not mask.any():
        raise ValueError("a batch has no assistant tokens to learn (every label is masked)")
    if _takes_logits_to_keep(model):
        keep = mask.any(dim=0).nonzero().squeeze(1)
        logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits  # [b, len(keep), vocab]
        targets, mask = targets[:, keep], mask[:, keep]
    else:
        logits = model(**inputs, use_cache=False).logits[:, :-1]  # [b, s - 1, vocab]
    return F.cross_entropy(logits[mask].float(), targets[mask])


def _takes_logits_to_keep(model: torch.nn.Module) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _forward_takes_logits_to_keep(type(base))


@functools.cache
def _forward_takes_logits_to_keep(cls: type) -> bool:  # once per model class, not once per training step
    return "logits_to_keep" in inspect.signature(cls.forward).parameters


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """LR multiplier: linear warmup from 0 to 1 over `warmup_steps`, then cosine down to `min_ratio` at the end."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def adamw_warmup_cosine(
    model: torch.nn.Module, *, lr: float, weight_decay: float, warmup_steps: int, total_steps: int,
    min_lr_ratio: float = 0.0,
) -> dict:
    """AdamW over the trainable parameters (no decay on biases and norms) with a per-step warmup + cosine schedule,
    in the dict form Lightning's `configure_optimizers` returns."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    if not decay and not no_decay:
        raise ValueError("no trainable parameters: check --model.lora.target_modules")
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)
    schedule = warmup_cosine(warmup_steps, max(1, total_steps), min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def trainable_keys(model: torch.nn.Module, prefix: str = "model.") -> set[str]:
    return {f"{prefix}{name}" for name, p in model.named_parameters() if p.requires_grad}


def keep_trainable(state_dict: dict, model: torch.nn.Module, prefix: str = "model.") -> dict:
    """Only the trainable tensors of a checkpoint's state dict: a LoRA checkpoint need not carry the frozen base."""
    keep = trainable_keys(model, prefix)
    return {k: v for k, v in state_dict.items() if k in keep}


def check_trainable_present(state_dict: dict, model: torch.nn.Module, prefix: str = "model.") -> None:
    missing = sorted(trainable_keys(model, prefix) - set(state_dict))
    if missing:
        raise KeyError(
            f"checkpoint lacks {len(missing)} trainable tensors of this model (e.g. {missing[0]}); it was written "
            "with different --model.lora / --model.model settings"
        )


def collect_rng_states() -> dict[str, Any]:
    """Every global RNG a fit draws from (python, numpy, torch CPU, each CUDA device), for a checkpoint; only
    tensors, ints, floats and strings, so `torch.load(weights_only=True)` reads it back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch.cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back the global RNG states `collect_rng_states` took (CUDA only where the checkpoint has them)."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "torch.cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch.cuda"])


@contextlib.contextmanager
def rng_neutral(seed: int | None = None) -> Iterator[None]:
    """Run a block (e.g. building a model) without moving the global RNGs: their states are restored afterwards.
    With `seed`, torch draws inside the block from that seed, so the block itself is reproducible."""
    states = collect_rng_states()
    try:
        if seed is not None:
            torch.manual_seed(seed)
        yield
    finally:
        restore_rng_states(states)


def recover_export(directory: str | Path) -> list[Path]:
    """Clean up after an export `save_pretrained_atomic` did not finish (a kill): `NAME.tmp-PID` (half written) is
    deleted; `NAME.old-PID` (the previous export, moved aside) is put back when `NAME` is missing, else deleted.
    Call it only while holding the run dir (its lock): a live export of another process would look the same.
    Returns the paths removed or renamed."""
    directory = Path(directory)
    parent = directory.parent
    if not parent.is_dir():
        return []
    touched: list[Path] = []
    pattern = re.compile(rf"{re.escape(directory.name)}\.(tmp|old)-\d+")
    leftovers = sorted((p for p in parent.iterdir() if pattern.fullmatch(p.name)), key=lambda p: p.stat().st_mtime)
    for path in leftovers:
        if path.name.startswith(f"{directory.name}.old-") and not directory.exists():
            path.rename(directory)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        touched.append(path)
    return touched


def save_pretrained_atomic(model, processor, directory: str | Path, extra: dict[str, str] | None = None,
                           state_dict: dict | None = None) -> Path:
    """`save_pretrained` of model (a peft model writes its adapter) and processor, plus `extra` files, replacing
    `directory` only once everything is written, so a crash never leaves a half-written export. `state_dict`
    replaces the model's own (the gathered weights of a sharded model)."""
    directory = Path(directory)
    recover_export(directory)
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True,
                          **({"state_dict": state_dict} if state_dict is not None else {}))
    if processor is not None:
        processor.save_pretrained(str(tmp))
    for name, text in (extra or {}).items():
        (tmp / name).write_text(text)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    fault_point("adapter_export")
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory
