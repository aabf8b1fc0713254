"""The Qwen3-VL student path on CPU: a tiny random Qwen3-VL, full fine-tuning of the language model + mergers
(vision blocks frozen), the export, and `describe` with sampling options."""

from __future__ import annotations

import json

import pytest
import torch

from vtl.models.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer


def write_tiny_qwen3_vl(out):
    """Qwen3-VL at toy size (random weights) with the tiny tokenizer and a 16-px-patch processor."""
    from transformers import GenerationConfig, Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    tokenizer = build_tokenizer()
    ids = {name: SPECIAL_TOKENS.index(f"<|{name}|>") for name in ("image_pad", "video_pad", "vision_start",
                                                                    "vision_end")}
    config = Qwen3VLConfig(
        text_config={"vocab_size": -(-len(tokenizer) // 64) * 64, "hidden_size": 128, "intermediate_size": 256,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
                     "max_position_embeddings": 4096, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 0,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [4, 6, 6],
                                         "mrope_interleaved": True},
                     "tie_word_embeddings": False},
        vision_config={"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "patch_size": 16,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 128,
                       "num_position_embeddings": 64, "deepstack_visual_indexes": [0]},
        image_token_id=ids["image_pad"], video_token_id=ids["video_pad"],
        vision_start_token_id=ids["vision_start"], vision_end_token_id=ids["vision_end"], tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=[2, 0], pad_token_id=0, do_sample=False)
    model.save_pretrained(out)
    images = Qwen2VLImageProcessor(patch_size=16, merge_size=2, min_pixels=64 * 64, max_pixels=128 * 128)
    videos = Qwen3VLVideoProcessor(patch_size=16, merge_size=2)
    Qwen3VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=videos,
                     chat_template=CHAT_TEMPLATE).save_pretrained(out)
    return out


@pytest.mark.slow
def test_qwen3_vl_student_full_finetune_merger_and_sampled_describe(tmp_path, vtl_home):
    from lightning.pytorch import Trainer, seed_everything

    from vtl.vicl.distill.describe import Decoding, describe_tuples, load_student
    from vtl.vicl.distill.student import EXPORT_DIR, StudentDistiller
    from vtl.vicl.distill.student_data import BuildOptions, DistillDataModule

    base = write_tiny_qwen3_vl(tmp_path / "qwen3")
    seed_everything(0)
    data = DistillDataModule(data_dir=str(tmp_path / "data"), prompt="Describe how the two edits differ.",
                             build=BuildOptions(pairs=["Deblur→Dehaze"], n_train=4, n_eval=2, image_size=64),
                             batch_size=2, eval_batch_size=2)
    module = StudentDistiller(model=str(base), lora=None, train_merger=True, lr=1e-3, warmup_ratio=0.03,
                              n_samples=0, max_new_tokens=4)
    trainer = Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                      default_root_dir=str(tmp_path / "run"), gradient_clip_val=1.0, limit_val_batches=0,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=data)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert any(".merger." in n for n in trainable) and any(".deepstack_merger_list." in n for n in trainable)
    assert not any(".visual.blocks." in f".{n}" for n in trainable)

    export = tmp_path / "run" / EXPORT_DIR
    meta = json.loads((export / "student.json").read_text())
    assert meta["prompt"] == "Describe how the two edits differ." and meta["prompt_version"].startswith("t2t-student")
    student = load_student(export, device="cpu")
    out = tmp_path / "descriptions.jsonl"
    written, _ = describe_tuples(student, tmp_path / "data", out, batch_size=2, max_new_tokens=4,
                                 decoding=Decoding(temperature=0.1, top_p=0.001, repetition_penalty=1.05))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == 2 and rows[0]["decoding"]["temperature"] == 0.1
    assert rows[0]["prompt_version"] == meta["prompt_version"]  # the trained prompt, recorded
