"""Liger kernels for Qwen2.5-VL training on CUDA (opt-in: `--model.liger`; fused kernels change numerics slightly).

`liger-kernel`'s Qwen2.5-VL patch replaces RMSNorm, SwiGLU and the multimodal rotary embedding with Triton kernels
and the model's forward with one that fuses the LM head with the cross-entropy, so the [tokens, 152K] logits are
never materialised when labels are given (`liger_loss`). Imported lazily: the CPU path never needs Triton.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from vtl.errors import VtlError


class LigerUnavailableError(VtlError):
    """--model.liger was asked for where it cannot run."""


def check_liger(device: torch.device | str | None = None) -> None:
    """Fail fast, naming the flag, where Liger cannot run: no CUDA (or a non-CUDA `device`), or no liger-kernel."""
    if not torch.cuda.is_available() or (device is not None and torch.device(device).type != "cuda"):
        where = "no CUDA device is available" if device is None else f"this fit runs on {device}"
        raise LigerUnavailableError(f"--model.liger needs a CUDA device (Triton kernels) and {where}: drop it")
    if importlib.util.find_spec("liger_kernel") is None:
        raise LigerUnavailableError(
            "--model.liger needs the liger-kernel package: pip install 'vtl[gpu]' (or liger-kernel), or drop it"
        )


def apply_liger(model: nn.Module, device: torch.device | str) -> None:
    """Patch the (possibly peft-wrapped) Qwen2.5-VL `model` in place with Liger's kernels."""
    check_liger(device)
    from liger_kernel.transformers import apply_liger_kernel_to_qwen2_5_vl

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if type(base).__name__ != "Qwen2_5_VLForConditionalGeneration":
        raise LigerUnavailableError(f"--model.liger patches Qwen2.5-VL only, not {type(base).__name__}")
    apply_liger_kernel_to_qwen2_5_vl(
        rope=True, rms_norm=True, swiglu=True, fused_linear_cross_entropy=True, cross_entropy=False, model=base
    )


def liger_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """The token-mean answer cross-entropy computed inside the patched forward (labels -100 off the answer), the
    quantity `vtl.models.training.assistant_loss` computes from materialised logits."""
    out = model(**batch, use_cache=False)
    if out.loss is None:
        raise VtlError("--model.liger: the patched forward returned no loss; the batch has no labels")
    return out.loss
