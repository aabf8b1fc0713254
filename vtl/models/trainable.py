"""The one builder of a trainable VLM of any supported family: load -> (4-bit) -> LoRA or full fine-tuning ->
checkpointing -> train.

Plain PyTorch/transformers, shared by the LightningModules of both studies (transfer fine-tuning, student
distillation), so their training setup cannot drift apart.
"""

from __future__ import annotations

import torch
from torch import nn

from vtl.models.families import Family, family_of
from vtl.models.loading import ModelLoadError, QuantizationOptions, load_model
from vtl.models.lora import LoraOptions, apply_lora, disable_kv_cache, prepare_quantized_model
from vtl.models.training import rng_neutral


def check_trainable_options(quantization: QuantizationOptions | None, lora: LoraOptions | None) -> None:
    """Fail at construction, not at fit time, on options that cannot train together."""
    if quantization is not None and lora is None:
        raise ModelLoadError("4-bit weights cannot be fully fine-tuned: set --model.lora (QLoRA) or drop quantization")


def training_dtype(device: torch.device, lora: LoraOptions | None) -> torch.dtype:
    """LoRA keeps the frozen base in bf16 on GPU; full fine-tuning keeps fp32 master weights (autocast computes)."""
    return torch.bfloat16 if device.type == "cuda" and lora is not None else torch.float32


def trains_in_full_finetuning(name: str, family: Family, *, train_vision: bool = False,
                              train_merger: bool = False) -> bool:
    """Whether parameter `name` trains in full fine-tuning: all but the family's vision side, unless `train_vision`;
    with `train_merger` its projectors into the language model (Qwen's mergers) train too."""
    if train_vision or not family.is_vision(name):
        return True
    return train_merger and family.is_projector(name)


def unfreeze_for_full_finetuning(model: nn.Module, *, train_vision: bool = False, train_merger: bool = False) -> None:
    """Every weight trainable except (unless `train_vision`) the vision side, whose projectors train if
    `train_merger`."""
    family = family_of(model)
    for name, param in model.named_parameters():
        param.requires_grad_(trains_in_full_finetuning(name, family, train_vision=train_vision,
                                                       train_merger=train_merger))


def build_trainable_vlm(
    name_or_path: str,
    *,
    device: torch.device | str = "cpu",
    quantization: QuantizationOptions | None = None,
    lora: LoraOptions | None = None,
    gradient_checkpointing: bool = False,
    train_vision: bool = False,
    train_merger: bool = False,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    attn_implementation: str | None = None,
):
    """A model ready for a training step, and its processor -> (model, processor).

    Args:
        name_or_path: checkpoint dir, hub id or vtl://tiny-<family> (see `load_model`).
        device: where training runs; on CUDA the weights load there directly (`device_map`).
        quantization: 4-bit weights (QLoRA); needs `lora`.
        lora: LoRA adapter options; None fine-tunes every weight of the language model (see `train_vision`).
        gradient_checkpointing: recompute activations in backward (non-reentrant).
        train_vision: full fine-tuning only: also train the vision tower.
        train_merger: full fine-tuning only: train the vision tower's merger (vision blocks stay frozen).
        min_pixels: image resize budget (lower bound) set on the processor.
        max_pixels: image resize budget (upper bound) set on the processor.
        attn_implementation: passed to from_pretrained (e.g. sdpa, flash_attention_2).

    The model is in training mode (`from_pretrained` returns eval mode, and transformers checkpoints and applies
    dropout only when `self.training`), with the KV cache off on the text config where VLMs keep `use_cache`.
    """
    check_trainable_options(quantization, lora)
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    # Loading and LoRA's initialisation draw from an RNG of their own, seeded from the run's seed: the global RNG
    # stream training draws from (dropout) is then the same whatever building consumes (bit-exact resume).
    with rng_neutral(torch.initial_seed()):
        model, processor = load_model(
            name_or_path, quantization=quantization, dtype=training_dtype(device, lora), min_pixels=min_pixels,
            max_pixels=max_pixels, device_map={"": str(device)} if on_gpu else None,
            attn_implementation=attn_implementation,
        )
        if lora is not None:
            prepare_quantized_model(model, gradient_checkpointing)  # freezes the base, cache off, checkpointing
            model = apply_lora(model, lora)
        else:
            unfreeze_for_full_finetuning(model, train_vision=train_vision, train_merger=train_merger)
            if gradient_checkpointing:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            disable_kv_cache(model)
    model.train()
    return model, processor


def is_gradient_checkpointing(model: nn.Module) -> bool:
    """Whether checkpointing is on for the (possibly peft-wrapped) model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return bool(getattr(base, "is_gradient_checkpointing", False))
