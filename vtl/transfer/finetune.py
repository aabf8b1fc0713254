"""The fine-tuning LightningModule: (Q)LoRA or full fine-tuning of a Qwen2.5-VL on multiple-choice questions.

A thin Lightning layer over plain pieces: `build_trainable_vlm` (vtl.models.trainable), `ChatCollator`
(vtl.models.chat) and `score_multiple_choice` (vtl.models.scoring). Training batches arrive as lists of
`BlinkSample` and are collated here, where the processor lives; validation batches stay lists and are scored, so
`validation_step` returns predictions for the cross-task PGF callback.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info

from vtl.checkpointing import ResumableRNG
from vtl.faults import fault_point
from vtl.home import TINY_MODEL
from vtl.models.harness import PromptPreset, get_preset
from vtl.models.loading import QuantizationOptions
from vtl.models.lora import LoraOptions
from vtl.models.parsing import AnswerRule
from vtl.models.trainable import check_trainable_options
from vtl.models.training import (
    NonFiniteLossError,
    adamw_warmup_cosine,
    assistant_loss,
    check_finite_loss,
    check_trainable_present,
    keep_trainable,
    recover_export,
    save_pretrained_atomic,
    total_training_steps,
)

__all__ = ["NonFiniteLossError", "ScoringMode", "TransferFineTuner"]

ScoringMode = Literal["likelihood", "generate"]
ADAPTER_DIR = "adapter"  # the run dir's peft export, rewritten at every checkpoint


class TransferFineTuner(ResumableRNG, LightningModule):
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
        max_new_tokens: int | None = None,
        train_vision: bool = False,
        attn_implementation: str | None = None,
        prompt_preset: PromptPreset = "vtl",
        answer_rule: AnswerRule | None = None,
        vision_cache_gib: float | None = 4.0,
        merge_for_eval: bool = True,
        eval_order: Literal["given", "length"] = "length",
        liger: bool = False,
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
            max_new_tokens: generation budget of the "generate" scoring mode; null: the prompt preset's (vtl 16,
                lmms-eval 1024, vlmevalkit 2048).
            train_vision: full fine-tuning only: also train the vision tower (frozen by default).
            attn_implementation: passed to from_pretrained (e.g. sdpa, flash_attention_2); null = default.
            prompt_preset: how a question is posed, in training and scoring: vtl (BLINK's prompt), lmms-eval or
                vlmevalkit (their BLINK / multiple-choice prompts).
            answer_rule: how the "generate" mode reads an answer: blink, lmms-eval or vlmevalkit; null: the
                preset's (vtl -> blink).
            vision_cache_gib: keep evaluation images' vision features in CPU RAM, up to this many GiB, and reuse them
                in the zero-shot pass and every epoch (exact; skipped when the vision tower trains or has an
                adapter); null turns it off.
            merge_for_eval: score with the LoRA adapter merged into the base where that is exact (full-precision,
                unquantized base); the base weights are restored bit for bit after.
            eval_order: batch the questions of `score` (the zero-shot pass) longest prompt first ("length") or as
                given; predictions come back in the given order either way.
            liger: Liger kernels for Qwen2.5-VL training (RMSNorm, SwiGLU, mRoPE, fused linear cross-entropy); needs
                CUDA and the liger-kernel package (pip install vtl[gpu]).
        """
        super().__init__()
        if not model.startswith("vtl://"):
            from vtl.models.loading import resolve_model_source

            resolve_model_source(model)  # a missing local path fails here, before any data loads
        if lr <= 0:
            raise ValueError(f"--model.lr must be > 0, got {lr}")
        if warmup_steps < 0:
            raise ValueError(f"--model.warmup_steps must be >= 0, got {warmup_steps}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"--model.max_new_tokens must be >= 1, got {max_new_tokens}")
        preset = get_preset(prompt_preset)
        self.prompt_preset = prompt_preset
        self.answer_rule = answer_rule or preset.answer_rule
        self.max_new_tokens = max_new_tokens or preset.max_new_tokens
        check_trainable_options(quantization, lora)
        self.save_hyperparameters()
        self.model_name = model
        self.quantization = quantization
        self.lora = lora
        self.scoring = scoring
        if liger:
            from vtl.models.liger import check_liger

            check_liger()
        if vision_cache_gib is not None and vision_cache_gib < 0:
            raise ValueError(f"--model.vision_cache_gib must be >= 0 or null, got {vision_cache_gib}")
        self.model = None
        self.processor = None
        self._collator = None
        self.vision_cache = None
        self._merged = contextlib.ExitStack()
        self._epoch_merged = False
        self._exported_at: int | None = None  # the global step of the last adapter export
        # Checkpoints hold only the trainable tensors (the adapter for LoRA); the frozen base reloads from `model`.
        self.strict_loading = False

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.has_adapter and self.trainer.is_global_zero:
            recover_export(Path(self.trainer.default_root_dir) / ADAPTER_DIR)  # a kill inside the last export

    # ---- model -------------------------------------------------------------------------------------------------
    def configure_model(self) -> None:
        if self.model is not None:
            return
        from vtl.models.chat import ChatCollator
        from vtl.models.trainable import build_trainable_vlm

        hp = self.hparams
        model, processor = build_trainable_vlm(
            self.model_name, device=self._target_device(), quantization=self.quantization, lora=self.lora,
            gradient_checkpointing=hp.gradient_checkpointing, train_vision=hp.train_vision,
            min_pixels=hp.min_pixels, max_pixels=hp.max_pixels, attn_implementation=hp.attn_implementation,
        )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rank_zero_info(f"vtl: {self.model_name}: {trainable:,} trainable parameters")
        self.model = model
        self.processor = processor
        self._collator = ChatCollator(processor, train=True, padding_side="right")
        if hp.liger:
            from vtl.models.liger import apply_liger

            apply_liger(self.model, self._target_device())
        self.vision_cache = self._make_vision_cache()

    def _make_vision_cache(self):
        from vtl.models.vision_cache import VisionCacheRefused, VisionFeatureCache

        gib = self.hparams.vision_cache_gib
        if gib is None or self.scoring != "likelihood":
            return None
        try:
            key = json.dumps(self.cache_identity(), sort_keys=True, default=str)
            return VisionFeatureCache.for_model(self.model, key, int(gib * 2**30))
        except VisionCacheRefused as err:
            rank_zero_info(f"vtl: {err}; evaluation recomputes vision features")
            return None

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
            "max_new_tokens": self.max_new_tokens if self.scoring == "generate" else None,
            "prompt_preset": self.prompt_preset,
            "answer_rule": self.answer_rule if self.scoring == "generate" else None,
        }

    def run_identity(self) -> dict[str, Any]:
        """What makes two fits one experiment on the model side (`vtl fit` refuses a run dir made with others): the
        zero-shot identity, the checkpoint's family, the adapter and what trains, the scoring mode."""
        return {
            **self.cache_identity(),
            "family": _checkpoint_type(self.model_name),
            "lora": None if self.lora is None else asdict(self.lora),
            "train_vision": self.hparams.train_vision,
            "scoring": self.scoring,
        }

    def score(self, samples: list, *, progress: bool = False) -> list:
        """Score samples (eval mode, no grad): multiple choice with the module's scoring mode; numerical video
        questions by generation, number parsing and MRA."""
        from vtl.models.merged_eval import merged_adapter
        from vtl.models.scoring import score_multiple_choice, score_numerical

        hp = self.hparams
        # Validation merges once for its whole epoch; a call outside it merges for itself.
        merge = merged_adapter(self.model) if hp.merge_for_eval and not self._epoch_merged else contextlib.nullcontext()
        with torch.no_grad(), merge:  # score_multiple_choice / score_numerical put the model in eval mode
            if samples and getattr(samples[0], "numerical", False):  # VSI-Bench counting, distances, sizes
                return score_numerical(
                    self.model, self.processor, samples, batch_size=hp.eval_batch_size,
                    number_rule=samples[0].number_rule, progress=progress,
                )
            return score_multiple_choice(
                self.model, self.processor, samples, mode=self.scoring,
                batch_size=hp.eval_batch_size, max_new_tokens=self.max_new_tokens,
                progress=progress, prompt_preset=self.prompt_preset, answer_rule=self.answer_rule,
                order=hp.eval_order, vision_cache=self.vision_cache,
            )

    def prompt_lengths(self, samples: list) -> list[int]:
        """Prompt tokens per sample, for the data module's length-sorted evaluation batches."""
        from vtl.models.lengths import prompt_lengths

        return prompt_lengths(self.processor, samples, self.prompt_preset)

    # ---- steps -------------------------------------------------------------------------------------------------
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, list):  # BlinkSample lists: the scorer moves its own tensors
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer.training and isinstance(batch, list):
            from vtl.models.chat import blink_example

            examples = [blink_example(s, self.prompt_preset) for s in batch]
            # a row's stored-image hashes, text and answer fix its processor output: made once, reused every epoch
            keys = None if any(not s.image_sha256 for s in batch) else [
                (s.sub_task, s.idx, s.image_sha256, s.prompt, s.answer, self.prompt_preset) for s in batch]
            return dict(self._collator(examples, keys))
        return batch

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._answer_loss(batch)
        check_finite_loss(loss, step=self.global_step, epoch=self.current_epoch, batch_idx=batch_idx)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        fault_point("train_step")

    def _answer_loss(self, batch: dict) -> torch.Tensor:
        """Cross-entropy on the answer tokens only (labels are -100 elsewhere), computed in fp32."""
        if self.hparams.liger:  # fused LM head + cross-entropy: the logits are never materialised
            from vtl.models.liger import liger_loss

            return liger_loss(self.model, batch)
        return assistant_loss(self.model, batch)

    def on_validation_epoch_start(self) -> None:
        # One merge for the whole validation epoch (scoring a batch inside it finds the adapter merged already).
        self._merged = contextlib.ExitStack()
        if self.hparams.merge_for_eval and self.model is not None:
            from vtl.models.merged_eval import merged_adapter

            self._epoch_merged = self._merged.enter_context(merged_adapter(self.model))

    def on_validation_epoch_end(self) -> None:
        # Before checkpoints are written (ModelCheckpoint saves in on_validation_end): the base is itself again.
        self._merged.close()
        self._epoch_merged = False

    def validation_step(self, batch: list, batch_idx: int, dataloader_idx: int = 0) -> list:
        return self.score(batch)

    def test_step(self, batch: list, batch_idx: int, dataloader_idx: int = 0) -> list:
        return self.score(batch)

    # ---- optimisation ------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        return adamw_warmup_cosine(
            self.model, lr=hp.lr, weight_decay=hp.weight_decay, warmup_steps=hp.warmup_steps,
            total_steps=total_training_steps(self.trainer), min_lr_ratio=hp.min_lr_ratio,
        )

    # ---- checkpoints -------------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)  # the RNG states: a resumed fit continues the same dropout stream
        for logger in self.trainer.loggers:  # the log on disk covers at least what the checkpoint covers
            logger.save()
        if self.has_adapter:
            checkpoint["state_dict"] = keep_trainable(checkpoint["state_dict"], self.model)
            # One export per save point: `last.ckpt` and the epoch checkpoint of the same step share it.
            if self.trainer.is_global_zero and self._exported_at != self.trainer.global_step:
                self.save_adapter(Path(self.trainer.default_root_dir) / ADAPTER_DIR)
                self._exported_at = self.trainer.global_step

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.model is not None:
            check_trainable_present(checkpoint["state_dict"], self.model)
        super().on_load_checkpoint(checkpoint)

    def save_adapter(self, directory: str | Path) -> Path:
        """Write the LoRA adapter in peft's format (adapter_config.json + adapter_model.safetensors), atomically."""
        return save_pretrained_atomic(self.model, self.processor, directory)


def _checkpoint_type(model: str) -> str | None:
    """The `model_type` of a local checkpoint dir (embedded tiny models included); None for a hub id, which names
    its architecture itself (reading it would fetch)."""
    from vtl.models.loading import resolve_model_source

    config = Path(resolve_model_source(model)) / "config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text(encoding="utf-8")).get("model_type")
