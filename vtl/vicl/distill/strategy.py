"""Multi-GPU strategies for full fine-tuning of a student (e.g. Qwen3-VL-4B): Lightning FSDP or DeepSpeed ZeRO-3.

`DecoderFSDPStrategy` is Lightning's `FSDPStrategy` with its wrapping policy named in YAML: layers are wrapped (and
optionally activation-checkpointed) by class name, so one config serves Qwen2.5-VL and Qwen3-VL without importing
their classes. DeepSpeed ZeRO-3 is Lightning's own `DeepSpeedStrategy` (configs/strategy/deepspeed_zero3.yaml).

`gather_full_state_dict` collects a sharded model's full weights on rank zero; every rank must call it.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import torch
from lightning.pytorch.strategies import FSDPStrategy

# Transformer blocks of the Qwen-VL families: the language decoder layers and the vision blocks.
QWEN_VL_LAYERS = (
    "Qwen2_5_VLDecoderLayer", "Qwen2_5_VLVisionBlock",
    "Qwen3VLTextDecoderLayer", "Qwen3VLVisionBlock",
    "Qwen2DecoderLayer", "Qwen3DecoderLayer",
)


def _named(names: frozenset[str], module: torch.nn.Module) -> bool:
    return type(module).__name__ in names


def layer_name_policy(names: list[str] | tuple[str, ...]):
    """An FSDP auto-wrap policy wrapping every module whose class name is in `names`."""
    from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy

    return functools.partial(lambda_auto_wrap_policy, lambda_fn=functools.partial(_named, frozenset(names)))


class DecoderFSDPStrategy(FSDPStrategy):
    """FSDP that shards (and, with `activation_checkpointing`, recomputes) the model's transformer layers."""

    def __init__(
        self,
        wrap_layers: list[str] = list(QWEN_VL_LAYERS),  # noqa: B006 - shown as the default in configs
        activation_checkpointing: bool = True,
        sharding_strategy: Literal["FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "NO_SHARD"] = "FULL_SHARD",
        cpu_offload: bool = False,
        state_dict_type: Literal["full", "sharded"] = "sharded",
        **kwargs: Any,
    ):
        """
        Args:
            wrap_layers: class names of the modules that become FSDP units.
            activation_checkpointing: recompute those layers' activations in backward.
            sharding_strategy: torch FSDP sharding strategy.
            cpu_offload: keep parameters on the CPU between uses.
            state_dict_type: how Lightning checkpoints are written ("sharded": one file per rank).
            kwargs: passed to Lightning's FSDPStrategy.
        """
        if not wrap_layers:
            raise ValueError("trainer.strategy.init_args.wrap_layers must name at least one layer class")
        policy = layer_name_policy(wrap_layers)
        super().__init__(auto_wrap_policy=policy,
                         activation_checkpointing_policy=policy if activation_checkpointing else None,
                         sharding_strategy=sharding_strategy, cpu_offload=cpu_offload,
                         state_dict_type=state_dict_type, **kwargs)


def _strip(key: str, attr: str) -> str | None:
    for wrapper in ("module.", "_forward_module."):  # DeepSpeed engine and Lightning's module wrapper
        if key.startswith(wrapper):
            key = key[len(wrapper):]
    return key[len(attr):] if key.startswith(attr) else None


def gather_full_state_dict(strategy, attr: str = "model.") -> dict[str, torch.Tensor] | None:
    """The full (unsharded) state dict of the LightningModule's `attr` submodule on rank zero (keys relative to
    it), None on other ranks; None everywhere when the strategy does not shard. A collective: call on every rank."""
    root = strategy.model  # the wrapped LightningModule (FSDP root or DeepSpeed engine)
    if isinstance(strategy, FSDPStrategy):
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
        with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT, config):
            state = root.state_dict()
    elif getattr(strategy, "zero_stage_3", False):
        # needs "stage3_gather_16bit_weights_on_model_save": true (configs/strategy/deepspeed_zero3.yaml sets it)
        state = root._zero3_consolidated_16bit_state_dict() or {}
    else:
        return None
    if strategy.global_rank != 0:
        return None
    out = {}
    for key, value in state.items():
        inner = _strip(key, attr)
        if inner is not None:
            out[inner] = value
    return out
