"""Scoring with the LoRA adapter merged into the base weights, where that is exact (plain PyTorch, no Lightning).

A merged adapter costs one matmul per layer instead of three; the numbers stay those of the unmerged model within
float rounding only when the base is in full precision (fp32/fp64). A 4-bit base cannot hold W + BA, and a bf16 or
fp16 base rounds it, so those are left unmerged. Unmerging does not restore W bit for bit (W + BA - BA != W in
floating point), so the base weights are copied before the merge and copied back after: a fit, its zero-shot
baseline and a resumed run see exactly the weights they would have seen without the merge.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

FULL_PRECISION = (torch.float32, torch.float64)


def _tuner_layers(model: nn.Module) -> list[nn.Module]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def merge_refusal(model: nn.Module) -> str | None:
    """Why merging the adapter of `model` for scoring would not be exact (or not apply), or None."""
    if not hasattr(model, "merge_adapter"):
        return "the model has no peft adapter"
    base = model.get_base_model()
    if getattr(base, "is_quantized", False) or getattr(base, "hf_quantizer", None) is not None:
        return "the base weights are quantized (4-bit cannot hold a merged adapter)"
    layers = _tuner_layers(model)
    if not layers:
        return "the model has no adapter layers"
    if any(layer.disable_adapters for layer in layers):
        return "the adapter is disabled"
    if any(layer.merged for layer in layers):
        return "the adapter is merged already"
    dtypes = {layer.get_base_layer().weight.dtype for layer in layers}
    if not dtypes <= set(FULL_PRECISION):
        return f"the base weights are in {', '.join(sorted(str(d) for d in dtypes))}, not full precision"
    return None


@contextmanager
def merged_adapter(model: nn.Module) -> Iterator[bool]:
    """Merge the adapter for the block when exact (yields True), else leave the model as it is (yields False); the
    base weights are bit-for-bit the same afterwards."""
    if merge_refusal(model) is not None:
        yield False
        return
    saved = []
    for layer in _tuner_layers(model):
        for param in layer.get_base_layer().parameters(recurse=False):
            saved.append((param, param.detach().to("cpu", copy=True)))
    model.merge_adapter()
    try:
        yield True
    finally:
        model.unmerge_adapter()
        with torch.no_grad():
            for param, copy in saved:
                param.copy_(copy)


def merged_for_inference(model: nn.Module) -> tuple[nn.Module, bool]:
    """The model with its adapter folded into the base for good, when that is exact, else the model unchanged.

    For a model that is only scored and then dropped (`vtl eval`): no copy of the base, no unmerge. Returns the
    model to use and whether it was merged.
    """
    if merge_refusal(model) is not None:
        return model, False
    return model.merge_and_unload(), True
