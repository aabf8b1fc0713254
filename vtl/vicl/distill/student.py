"""The student distillation LightningModule: a small Qwen2.5-VL learns to write the teacher's description from
(A_in, A_out, B_in) alone, with cross-entropy on the assistant span (the prompt and images carry no loss).

Thin over plain pieces: `build_trainable_vlm` (the builder the transfer study uses too), `ChatCollator`. Logs
`train/loss` and `val/loss`; after each validation epoch it generates descriptions for a few validation examples
and appends them to `<run dir>/samples.jsonl` (rank zero). At the end of training the student is exported to
`<run dir>/student` (the LoRA adapter, or the full model, plus the processor and student.json) for
`vtl vicl describe`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info

from vtl.checkpointing import ResumableRNG
from vtl.faults import fault_point
from vtl.home import TINY_MODEL
from vtl.models.loading import QuantizationOptions
from vtl.models.lora import LoraOptions
from vtl.models.trainable import check_trainable_options
from vtl.models.training import (
    adamw_warmup_cosine,
    assistant_loss,
    check_finite_loss,
    check_trainable_present,
    keep_trainable,
    save_pretrained_atomic,
    total_training_steps,
)
from vtl.records import append_jsonl

EXPORT_DIR = "student"
EXPORT_META = "student.json"
SAMPLES_LOG = "samples.jsonl"


class StudentDistiller(ResumableRNG, LightningModule):
    def __init__(
        self,
        model: str = TINY_MODEL,
        quantization: QuantizationOptions | None = None,
        lora: LoraOptions | None = LoraOptions(),  # noqa: B008 (shown as the default by LightningCLI)
        gradient_checkpointing: bool = False,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.0,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        n_samples: int = 2,
        max_new_tokens: int = 128,
        attn_implementation: str | None = None,
        train_merger: bool = False,
        warmup_ratio: float | None = None,
    ):
        """
        Args:
            model: the student: a local checkpoint dir, a hub id (e.g. Qwen/Qwen2.5-VL-3B-Instruct,
                Qwen/Qwen3-VL-4B-Instruct) or vtl://tiny-qwen2.5-vl (any vtl://tiny-<family>).
            quantization: 4-bit weights through bitsandbytes (QLoRA); null keeps full precision.
            lora: LoRA adapter options; null means full fine-tuning of the language model.
            gradient_checkpointing: recompute activations in backward to save memory.
            lr: peak AdamW learning rate.
            weight_decay: AdamW weight decay on matrices.
            warmup_steps: optimizer steps of linear warmup before the cosine decay.
            min_lr_ratio: the cosine decays to lr * min_lr_ratio at the last step.
            min_pixels: image resize budget (lower bound, pixels); null keeps the checkpoint's.
            max_pixels: image resize budget (upper bound, pixels); null keeps the checkpoint's.
            n_samples: validation examples whose generated description is logged each validation epoch.
            max_new_tokens: generation budget for those samples.
            attn_implementation: passed to from_pretrained (e.g. sdpa, flash_attention_2); null = default.
            train_merger: full fine-tuning also trains the vision-language merger (the projector after the vision
                tower; Qwen3-VL's deepstack mergers too); the vision blocks stay frozen either way.
            warmup_ratio: warmup as a fraction of all optimizer steps (e.g. 0.03); overrides warmup_steps.
        """
        super().__init__()
        if not model.startswith("vtl://"):
            from vtl.models.loading import resolve_model_source

            resolve_model_source(model)  # a missing local path fails before any data is built
        if lr <= 0:
            raise ValueError(f"--model.lr must be > 0, got {lr}")
        check_trainable_options(quantization, lora)
        if n_samples < 0:
            raise ValueError(f"--model.n_samples must be >= 0, got {n_samples}")
        if train_merger and lora is not None:
            raise ValueError("--model.train_merger applies to full fine-tuning: set --model.lora null")
        if warmup_ratio is not None and not 0 <= warmup_ratio < 1:
            raise ValueError(f"--model.warmup_ratio must be in [0, 1), got {warmup_ratio}")
        self.save_hyperparameters()
        self.model_name = model
        self.quantization = quantization
        self.lora = lora
        self.model = None
        self.processor = None
        self._collator = None
        self._val_examples: list = []
        self.strict_loading = False  # checkpoints hold only trainable tensors; the base reloads from `model`

    # ---- model -------------------------------------------------------------------------------------------------
    def configure_model(self) -> None:
        if self.model is not None:
            return
        from vtl.models.chat import ChatCollator
        from vtl.models.trainable import build_trainable_vlm

        device = self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")
        hp = self.hparams
        model, processor = build_trainable_vlm(
            self.model_name, device=device, quantization=self.quantization, lora=self.lora,
            gradient_checkpointing=hp.gradient_checkpointing, train_merger=hp.train_merger, min_pixels=hp.min_pixels,
            max_pixels=hp.max_pixels, attn_implementation=hp.attn_implementation,
        )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rank_zero_info(f"vtl: student {self.model_name}: {trainable:,} trainable parameters")
        self.model, self.processor = model, processor
        self._collator = ChatCollator(processor, train=True, padding_side="right")

    # ---- steps -------------------------------------------------------------------------------------------------
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, list):  # ChatExamples -> tensors, here where the processor lives
            if not self.trainer.training and len(self._val_examples) < self.hparams.n_samples:
                self._val_examples.extend(batch[: self.hparams.n_samples - len(self._val_examples)])
            return dict(self._collator(batch))
        return batch

    def description_loss(self, batch: dict) -> torch.Tensor:
        """Token-mean cross-entropy over the assistant span (labels are -100 elsewhere), in fp32."""
        return assistant_loss(self.model, batch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.description_loss(batch)
        check_finite_loss(loss, step=self.global_step, epoch=self.current_epoch, batch_idx=batch_idx,
                          name="student loss", hint="lower --model.lr or raise --model.warmup_steps")
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        fault_point("train_step")

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.description_loss(batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_examples = []

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self._val_examples or not self.trainer.is_global_zero:
            return
        texts = self.generate_descriptions(self._val_examples)
        append_jsonl(Path(self.trainer.default_root_dir) / SAMPLES_LOG, *(
            {"epoch": self.current_epoch, "step": self.global_step, "generated": text, "teacher": example.answer}
            for example, text in zip(self._val_examples, texts, strict=True)))
        rank_zero_info(f"vtl: sample (epoch {self.current_epoch}): {texts[0][:200]!r}")
        for logger in self.loggers:  # W&B shows the samples as a table
            log_text = getattr(logger, "log_text", None)
            if callable(log_text):
                log_text(key="val/samples", columns=["epoch", "generated", "teacher"],
                         data=[[self.current_epoch, t, e.answer] for e, t in zip(self._val_examples, texts,
                                                                                 strict=True)])

    def generate_descriptions(self, examples: list) -> list[str]:
        """Greedy descriptions for ChatExamples (their answers are ignored)."""
        from vtl.vicl.teaching.prompts import clean_description
        from vtl.vicl.teaching.teachers import generate_texts

        was_training = self.model.training
        self.model.eval()
        try:
            texts = generate_texts(self.model, self.processor, examples, max_new_tokens=self.hparams.max_new_tokens)
        finally:
            self.model.train(was_training)
        return [clean_description(t) for t in texts]

    # ---- optimisation ------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        total = total_training_steps(self.trainer)
        warmup = hp.warmup_steps if hp.warmup_ratio is None else round(hp.warmup_ratio * total)
        return adamw_warmup_cosine(
            self.model, lr=hp.lr, weight_decay=hp.weight_decay, warmup_steps=warmup, total_steps=total,
            min_lr_ratio=hp.min_lr_ratio,
        )

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by norm through the FSDP root under FSDP (Lightning's FSDP precision refuses norm clipping there)."""
        from lightning.pytorch.strategies import FSDPStrategy

        strategy = self.trainer.strategy
        if gradient_clip_val and isinstance(strategy, FSDPStrategy) and gradient_clip_algorithm in (None, "norm"):
            strategy.model.clip_grad_norm_(gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val,
                            gradient_clip_algorithm=gradient_clip_algorithm)

    # ---- checkpoints and export --------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)  # the RNG states: a resumed fit continues the same dropout stream
        checkpoint["state_dict"] = keep_trainable(checkpoint["state_dict"], self.model)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.model is not None:
            check_trainable_present(checkpoint["state_dict"], self.model)
        super().on_load_checkpoint(checkpoint)

    def on_train_end(self) -> None:
        from vtl.vicl.distill.strategy import gather_full_state_dict

        state = gather_full_state_dict(self.trainer.strategy)  # sharded strategies: every rank takes part
        if self.trainer.is_global_zero:
            self.export(Path(self.trainer.default_root_dir) / EXPORT_DIR, state_dict=state)

    def export(self, directory: str | Path, state_dict: dict | None = None) -> Path:
        """Write the student for `vtl vicl describe`: adapter or full weights, processor, student.json (atomic).
        `state_dict`: the full weights when the model is sharded (FSDP, DeepSpeed ZeRO-3)."""
        meta = {"base_model": self.model_name, "lora": self.lora is not None,
                "quantization": None if self.quantization is None else asdict(self.quantization),
                "max_new_tokens": self.hparams.max_new_tokens}
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if getattr(datamodule, "prompt_source", None) is not None:
            meta["prompt"] = datamodule.prompt_source.text  # `vtl vicl describe` asks with the trained prompt
            meta["prompt_version"] = datamodule.prompt_source.version
        return save_pretrained_atomic(self.model, self.processor, directory,
                                      extra={EXPORT_META: json.dumps(meta, indent=2) + "\n"}, state_dict=state_dict)
