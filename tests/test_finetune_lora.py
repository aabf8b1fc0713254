"""LoRA targeting, the k-bit preparation (no blanket fp32 upcast), the 4-bit QLoRA path on CPU, the LR schedule."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer

from vtl.models.loading import QuantizationOptions, load_model
from vtl.models.lora import LoraOptions, apply_lora, prepare_quantized_model
from vtl.models.training import warmup_cosine
from vtl.transfer.datamodule import TransferDataModule
from vtl.transfer.finetune import TransferFineTuner


def _trainable(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def test_language_targets_leave_vision_and_base_frozen(tiny_model_dir):
    model, _ = load_model(str(tiny_model_dir), dtype=torch.bfloat16)
    prepare_quantized_model(model, gradient_checkpointing=True)
    peft_model = apply_lora(model, LoraOptions(r=4, alpha=8))
    names = _trainable(peft_model)
    assert names and all("lora_" in n and "language_model.layers" in n for n in names)
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        assert any(f".{proj}.lora_A" in n for n in names), proj
    # no blanket upcast: frozen weights keep the load dtype; adapters are fp32
    params = dict(peft_model.named_parameters())
    assert params["base_model.model.model.language_model.embed_tokens.weight"].dtype == torch.bfloat16
    assert all(params[n].dtype == torch.float32 for n in names)
    assert peft_model.base_model.model.is_gradient_checkpointing
    assert peft_model.base_model.model.config.get_text_config().use_cache is False


def test_language_plus_vision_targets_vision_blocks(tiny_model_dir):
    model, _ = load_model(str(tiny_model_dir), dtype=torch.float32)
    prepare_quantized_model(model, gradient_checkpointing=False)
    names = _trainable(apply_lora(model, LoraOptions(target_modules="language+vision")))
    assert any("visual.blocks" in n and ".attn.qkv.lora_A" in n for n in names)
    assert any("language_model.layers" in n for n in names)


def test_explicit_targets_and_bad_options(tiny_model_dir):
    model, _ = load_model(str(tiny_model_dir), dtype=torch.float32)
    prepare_quantized_model(model, gradient_checkpointing=False)
    names = _trainable(apply_lora(model, LoraOptions(target_modules=["q_proj", "v_proj"])))
    assert names and all(".q_proj." in n or ".v_proj." in n for n in names)
    assert not any("visual" in n for n in names)  # the vision tower names its projection attn.qkv
    with pytest.raises(ValueError, match="lora.r"):
        LoraOptions(r=0)
    with pytest.raises(ValueError, match="target_modules"):
        apply_lora(load_model(str(tiny_model_dir))[0], LoraOptions(target_modules=["no_such_module"]))


def test_warmup_then_cosine_schedule():
    f = warmup_cosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    values = [f(s) for s in range(15)]
    assert values[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert values[4] == pytest.approx(1.0)
    assert values[9] == pytest.approx(0.1 + 0.9 * 0.5)
    assert values[14] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(values[4:], values[5:], strict=False))


@pytest.mark.slow
def test_qlora_4bit_trains_on_cpu(tiny_model_dir, synth_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    module = TransferFineTuner(
        model="vtl://tiny-qwen2.5-vl",
        quantization=QuantizationOptions(compute_dtype="float32"),
        lora=LoraOptions(r=4, alpha=8, dropout=0.0),
        gradient_checkpointing=True,
        lr=1e-2,
    )
    data = TransferDataModule(source_task="Counting", targets="Counting", eval_fraction=0.25, max_train_samples=8,
                              max_eval_samples=2, batch_size=4)
    trainer = Trainer(default_root_dir=tmp_path, max_steps=3, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0, num_sanity_val_steps=0, log_every_n_steps=1)
    module.configure_model()
    before = {n: p.detach().clone() for n, p in module.model.named_parameters() if p.requires_grad}
    trainer.fit(module, datamodule=data)
    linears = [m for m in module.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linears, "no 4-bit layers: quantization was not applied"
    assert not any("visual" in n for n, m in module.model.named_modules() if isinstance(m, bnb.nn.Linear4bit))
    loss = trainer.callback_metrics["train/loss"]
    assert torch.isfinite(loss)
    after = dict(module.model.named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before), "adapters did not move"
    assert trainer.global_step == 3
