"""LoRA adapters through peft, and the k-bit training preparation we use instead of peft's.

Plain PyTorch/peft: shared by the fine-tuning module and the T2T-VICL student distillation module. Which modules are
"language" and "vision" is the model family's knowledge (`vtl.models.families`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vtl.models.families import Family, family_of

Targets = Literal["language", "language+vision"]


@dataclass
class LoraOptions:
    """LoRA hyper-parameters.

    Args:
        r: rank of the low-rank update.
        alpha: scaling numerator (the update is scaled by alpha / r).
        dropout: dropout on the LoRA input.
        target_modules: "language" (every linear layer of the language model's decoder blocks), "language+vision"
            (also the vision encoder's blocks), or explicit module names/suffixes as peft takes them (kept off the
            vision side unless a name contains the family's vision module path).
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | Targets = "language"

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"lora.r must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ValueError('lora.target_modules is empty; use "language", "language+vision" or module names')

    def targets_vision(self, family: Family) -> bool:
        if self.target_modules == "language+vision":
            return True
        if isinstance(self.target_modules, list):
            return any(family.mentions_vision(t) for t in self.target_modules)
        return False

    def peft_target(self, family: Family) -> str | list[str]:
        if isinstance(self.target_modules, list):
            return list(self.target_modules)
        return family.lora_target(vision=self.target_modules == "language+vision")


def apply_lora(model: nn.Module, options: LoraOptions, *, adapter_name: str = "default"):
    """Wrap `model` in a PeftModel with LoRA on the chosen modules; every base weight is frozen.

    The vision side (and everything else outside the targets) stays frozen and adapter-free unless the targets name
    it. LoRA weights are created in fp32 (peft's adapter autocast) so optimizer updates keep full precision under bf16.
    """
    from peft import LoraConfig, get_peft_model

    family = family_of(model)
    vision = options.targets_vision(family)
    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=options.peft_target(family),
        exclude_modules=None if vision else family.exclude_vision(),
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        peft_model = get_peft_model(model, config, adapter_name=adapter_name, autocast_adapter_dtype=True)
    except ValueError as err:
        raise ValueError(f"LoRA target_modules {options.target_modules!r} matched no module: {err}") from err
    return peft_model


def prepare_quantized_model(model: nn.Module, gradient_checkpointing: bool) -> nn.Module:
    """Make a (possibly 4-bit) model ready for adapter training, without peft's blanket fp32 upcast.

    `peft.prepare_model_for_kbit_training` casts every non-quantized weight to fp32, which on a 7B-32B model with a
    full-precision vision tower and embeddings costs gigabytes for nothing. What we do instead:
    - freeze every base weight (adapters added afterwards are the only trainable tensors);
    - keep norms, embeddings, lm_head and the vision tower in their load dtype: Qwen-family RMSNorm already
      computes its variance in fp32, and the loss upcasts logits to fp32 itself, so nothing there needs fp32 weights;
    - upcast only LayerNorm-type norms held in fp16 (the one dtype where their statistics overflow);
    - with gradient checkpointing: non-reentrant checkpointing, and input embeddings that require grad so gradients
      reach adapters inside checkpointed blocks whose base weights are all frozen;
    - disable the KV cache for training (it conflicts with checkpointing and wastes memory).
    """
    for param in model.parameters():
        param.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, nn.LayerNorm | nn.GroupNorm) and module.weight is not None:
            if module.weight.dtype == torch.float16:
                module.float()
    disable_kv_cache(model)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def disable_kv_cache(model: nn.Module) -> None:
    """Training needs no KV cache (transformers v5 keeps `use_cache` on the text config of VLMs)."""
    config = getattr(model, "config", None)
    if config is None:
        return
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for cfg in {id(c): c for c in (config, text)}.values():
        if "use_cache" in cfg.to_dict() or hasattr(cfg, "use_cache"):
            cfg.use_cache = False


def trainable_parameter_count(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as stored elements."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
