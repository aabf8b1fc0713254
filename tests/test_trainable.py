"""The one trainable-VLM builder: train mode, checkpointing, KV cache, trainable tensors, in both LightningModules."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from vtl.models.loading import ModelLoadError, QuantizationOptions
from vtl.models.lora import LoraOptions
from vtl.models.trainable import build_trainable_vlm, is_gradient_checkpointing
from vtl.models.training import NonFiniteLossError, check_finite_loss

TARGETS = ["Counting", "Jigsaw"]


def _use_cache_values(model) -> set:
    config = model.config
    return {getattr(c, "use_cache", False) for c in (config, config.get_text_config())}


@pytest.mark.parametrize("lora", [LoraOptions(r=4, alpha=8), None], ids=["lora", "full"])
@pytest.mark.parametrize("checkpointing", [True, False], ids=["ckpt", "no-ckpt"])
def test_builder_returns_a_model_ready_to_train(tiny_model_dir, lora, checkpointing):
    model, processor = build_trainable_vlm(str(tiny_model_dir), lora=lora, gradient_checkpointing=checkpointing)
    assert processor is not None
    assert all(m.training for m in model.modules())
    assert is_gradient_checkpointing(model) is checkpointing
    assert _use_cache_values(model) == {False}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and not any(".visual." in f".{n}" for n in trainable)
    assert all("lora_" in n for n in trainable) is (lora is not None)


def test_full_finetuning_can_train_the_vision_tower(tiny_model_dir):
    model, _ = build_trainable_vlm(str(tiny_model_dir), train_vision=True)
    assert any(".visual." in f".{n}" and p.requires_grad for n, p in model.named_parameters())


def test_4bit_without_lora_fails_when_the_module_is_built(tiny_model_dir):
    from vtl.transfer.finetune import TransferFineTuner
    from vtl.vicl.distill.student import StudentDistiller

    for module in (TransferFineTuner, StudentDistiller):
        with pytest.raises(ModelLoadError, match="4-bit weights cannot be fully fine-tuned"):
            module(model=str(tiny_model_dir), quantization=QuantizationOptions(), lora=None)


def test_non_finite_loss_is_one_user_error():
    check_finite_loss(torch.tensor(1.0), step=0, epoch=0, batch_idx=0)
    with pytest.raises(NonFiniteLossError, match=r"student loss is nan at global step 3 \(epoch 1, batch 2\); lower"):
        check_finite_loss(torch.tensor(float("nan")), step=3, epoch=1, batch_idx=2, name="student loss",
                          hint="lower --model.lr")


class TrainModeProbe(Callback):
    """Records, at the first training step, whether every module trains and whether checkpointing is on."""

    def __init__(self):
        self.seen: list[tuple[bool, bool]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if not self.seen:
            model = pl_module.model
            self.seen.append((all(m.training for m in model.modules()), is_gradient_checkpointing(model)))


def _fit(module, datamodule, root) -> TrainModeProbe:
    probe = TrainModeProbe()
    trainer = Trainer(default_root_dir=root, max_steps=1, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, limit_val_batches=0, callbacks=[probe])
    trainer.fit(module, datamodule=datamodule)
    return probe


@pytest.mark.parametrize("lora", [LoraOptions(r=4, alpha=8), None], ids=["lora", "full"])
def test_transfer_module_trains_in_train_mode(tiny_model_dir, synth_dir, tmp_path, lora, one_torch_thread):
    from vtl.transfer.datamodule import TransferDataModule
    from vtl.transfer.finetune import TransferFineTuner

    data = TransferDataModule(source_task="Counting", targets=TARGETS, eval_fraction=0.25, max_train_samples=2,
                              max_eval_samples=2, batch_size=2, eval_batch_size=2)
    module = TransferFineTuner(model=str(tiny_model_dir), lora=lora, gradient_checkpointing=True)
    assert _fit(module, data, tmp_path).seen == [(True, True)]


@pytest.mark.parametrize("lora", [LoraOptions(r=4, alpha=8), None], ids=["lora", "full"])
def test_student_trains_in_train_mode(tiny_model_dir, tmp_path, lora, one_torch_thread):
    from vtl.vicl.distill.student import StudentDistiller
    from vtl.vicl.distill.student_data import BuildOptions, DistillDataModule

    data = DistillDataModule(data_dir=str(tmp_path / "data"), batch_size=2, eval_batch_size=2,
                             build=BuildOptions(pairs=["LightEnh→Shadow"], n_train=2, n_eval=1, image_size=32))
    module = StudentDistiller(model=str(tiny_model_dir), lora=lora, gradient_checkpointing=True, n_samples=0)
    assert _fit(module, data, tmp_path / "run").seen == [(True, True)]


@pytest.mark.slow
def test_builder_4bit_qlora_is_ready_to_train(tiny_model_dir):
    bnb = pytest.importorskip("bitsandbytes")
    model, _ = build_trainable_vlm(str(tiny_model_dir), quantization=QuantizationOptions(compute_dtype="float32"),
                                   lora=LoraOptions(r=4, alpha=8), gradient_checkpointing=True)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    assert all(m.training for m in model.modules()) and is_gradient_checkpointing(model)
    assert _use_cache_values(model) == {False}
