"""The fine-tuning LightningModule: (Q)LoRA or full fine-tuning of a Qwen2.5-VL on multiple-choice questions.

A thin Lightning layer over plain pieces: `load_model` (vtl.models.loading), `apply_lora`/`prepare_quantized_model`
(vtl.models.lora), `ChatCollator` (vtl.data.collate) and `score_multiple_choice` (vtl.models.scoring). Training
batches arrive as lists of `BlinkSample` and are collated here, where the processor lives; validation batches stay
lists and are scored, so `validation_step` returns predictions for the cross-task PGF callback.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info

from vtl.embedded import TINY_MODEL
from vtl.models.loading import QuantizationOptions
from vtl.models.lora import LoraOptions

ScoringMode = Literal["likelihood", "generate"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class TransferFineTuner(LightningModule):
    def __init__(
        self,
        model: str = TINY_MODEL,
        quantization: QuantizationOptions | None = None,
        lora: LoraOptions | None = LoraOptions(),  # noqa: B008 (a frozen-by-convention default, as LightningCLI shows it)
        gradient_checkpointing: bool = False,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.0,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        scoring: ScoringMode = "likelihood",
        eval_batch_size: int = 8,
        max_new_tokens: int = 16,
        train_vision: bool = False,
        attn_implementation: str | None = None,
    ):
        """
        Args:
            model: a local checkpoint dir, a hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct) or vtl://tiny-qwen2.5-vl.
            quantization: 4-bit weights through bitsandbytes (QLoRA); null keeps full precision.
            lora: LoRA adapter options; null means full fine-tuning (the language model; see train_vision).
            gradient_checkpointing: recompute activations in backward to save memory.
            lr: peak AdamW learning rate.
            weight_decay: AdamW weight decay, applied to matrices only (not biases or norms).
            warmup_steps: optimizer steps of linear warmup before the cosine decay.
            min_lr_ratio: the cosine decays to lr * min_lr_ratio at the last step.
            min_pixels: image resize budget (lower bound, pixels); null keeps the checkpoint's.
            max_pixels: image resize budget (upper bound, pixels); null keeps the checkpoint's.
            scoring: validation scoring: option likelihood or BLINK's generate-and-parse.
            eval_batch_size: questions per scoring forward pass.
            max_new_tokens: generation budget of the "generate" scoring mode.
            train_vision: full fine-tuning only: also train the vision tower (frozen by default).
            attn_implementation: passed to from_pretrained (e.g. sdpa, flash_attention_2); null = default.
        """
        super().__init__()
        if not model.startswith("vtl://"):
            from vtl.models.loading import resolve_model_source

            resolve_model_source(model)  # a missing local path fails here, before any data loads
        if lr <= 0:
            raise ValueError(f"--model.lr must be > 0, got {lr}")
        if warmup_steps < 0:
            raise ValueError(f"--model.warmup_steps must be >= 0, got {warmup_steps}")
        if quantization is not None and lora is None:
            raise ValueError("4-bit weights cannot be fully fine-tuned: set --model.lora (QLoRA) or drop quantization")
        self.save_hyperparameters()
        self.model_name = model
        self.quantization = quantization
        self.lora = lora
        self.scoring = scoring
        self.model = None
        self.processor = None
        self._collator = None
        # Checkpoints hold only the trainable tensors (the adapter for LoRA); the frozen base reloads from `model`.
        self.strict_loading = False

    # ---- model -------------------------------------------------------------------------------------------------
    def configure_model(self) -> None:
        if self.model is not None:
            return
        from vtl.data.collate import ChatCollator
        from vtl.models.loading import load_model
        from vtl.models.lora import apply_lora, disable_kv_cache, prepare_quantized_model

        device = self._target_device()
        on_gpu = device.type == "cuda"
        # LoRA keeps the frozen base in bf16 on GPU; full fine-tuning keeps fp32 master weights (autocast computes).
        dtype = torch.bfloat16 if on_gpu and self.lora is not None else torch.float32
        hp = self.hparams
        model, processor = load_model(
            self.model_name,
            quantization=self.quantization,
            dtype=dtype,
            min_pixels=hp.min_pixels,
            max_pixels=hp.max_pixels,
            device_map={"": str(device)} if on_gpu else None,
            attn_implementation=hp.attn_implementation,
        )
        if self.lora is not None:
            prepare_quantized_model(model, hp.gradient_checkpointing)
            model = apply_lora(model, self.lora)
        else:
            _unfreeze_for_full_finetuning(model, train_vision=hp.train_vision)
            if hp.gradient_checkpointing:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            disable_kv_cache(model)
        model.train()  # from_pretrained returns eval mode; Lightning keeps submodule modes as they are
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rank_zero_info(f"vtl: {self.model_name}: {trainable:,} trainable parameters")
        self.model = model
        self.processor = processor
        self._collator = ChatCollator(processor, train=True, padding_side="right")

    def _target_device(self) -> torch.device:
        trainer = self._trainer
        if trainer is not None:
            return trainer.strategy.root_device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    @property
    def has_adapter(self) -> bool:
        return self.lora is not None

    def zero_shot_context(self):
        """The base model: the adapter disabled (LoRA); a no-op for full fine-tuning (call before training)."""
        if self.has_adapter:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def cache_identity(self) -> dict[str, Any]:
        """What determines zero-shot accuracy on the model side (with the scoring mode: the baseline cache key)."""
        hp = self.hparams
        return {
            "model": self.model_name,
            "quantization": None if self.quantization is None else asdict(self.quantization),
            "min_pixels": hp.min_pixels,
            "max_pixels": hp.max_pixels,
            "max_new_tokens": hp.max_new_tokens if self.scoring == "generate" else None,
        }

    def score(self, samples: list, *, progress: bool = False) -> list:
        """Score multiple-choice samples with the module's scoring mode (eval mode, no grad)."""
        from vtl.models.scoring import score_multiple_choice

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return score_multiple_choice(
                    self.model, self.processor, samples, mode=self.scoring,
                    batch_size=self.hparams.eval_batch_size, max_new_tokens=self.hparams.max_new_tokens,
                    progress=progress,
                )
        finally:
            self.model.train(was_training)

    # ---- steps -------------------------------------------------------------------------------------------------
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, list):  # BlinkSample lists: the scorer moves its own tensors
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer.training and isinstance(batch, list):
            from vtl.data.collate import blink_example

            return dict(self._collator([blink_example(s) for s in batch]))
        return batch

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._answer_loss(batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at global step {self.global_step} (epoch {self.current_epoch}, "
                f"batch {batch_idx}); lower --model.lr, raise --model.warmup_steps, or check the data"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def _answer_loss(self, batch: dict) -> torch.Tensor:
        """Cross-entropy on the answer tokens only (labels are -100 elsewhere), computed in fp32."""
        labels = batch["labels"]
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = self.model(**inputs, use_cache=False).logits  # [b, s, vocab]
        targets = labels[:, 1:]
        mask = targets != -100
        if not mask.any():
            raise ValueError("a training batch has no answer tokens to learn (every label is masked)")
        picked = logits[:, :-1][mask].float()  # [n_answer_tokens, vocab]: only positions that predict the answer
        return F.cross_entropy(picked, targets[mask])

    def validation_step(self, batch: list, batch_idx: int, dataloader_idx: int = 0) -> list:
        return self.score(batch)

    def test_step(self, batch: list, batch_idx: int, dataloader_idx: int = 0) -> list:
        return self.score(batch)

    # ---- optimisation ------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        decay, no_decay = [], []
        for param in self.model.parameters():
            if param.requires_grad:
                (decay if param.ndim >= 2 else no_decay).append(param)
        if not decay and not no_decay:
            raise ValueError("no trainable parameters: check --model.lora.target_modules")
        groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=hp.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = warmup_cosine(hp.warmup_steps, total, hp.min_lr_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- checkpoints -------------------------------------------------------------------------------------------
    def _trainable_keys(self) -> set[str]:
        return {f"model.{name}" for name, p in self.model.named_parameters() if p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.has_adapter:
            keep = self._trainable_keys()
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
            if self.trainer.is_global_zero:
                self.save_adapter(Path(self.trainer.default_root_dir) / "adapter")

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.model is None:
            return
        missing = sorted(self._trainable_keys() - set(checkpoint["state_dict"]))
        if missing:
            raise KeyError(
                f"checkpoint lacks {len(missing)} trainable tensors of this model (e.g. {missing[0]}); it was written "
                "with different --model.lora / --model.model settings"
            )

    def save_adapter(self, directory: str | Path) -> Path:
        """Write the LoRA adapter in peft's format (adapter_config.json + adapter_model.safetensors), atomically."""
        directory = Path(directory)
        tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(str(tmp), safe_serialization=True)
        if self.processor is not None:
            self.processor.save_pretrained(str(tmp))
        old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
        return directory


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """LR multiplier: linear warmup from 0 to 1 over `warmup_steps`, then cosine down to `min_ratio` at the end."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _unfreeze_for_full_finetuning(model: torch.nn.Module, *, train_vision: bool) -> None:
    for name, param in model.named_parameters():
        param.requires_grad_(train_vision or ".visual." not in f".{name}")
