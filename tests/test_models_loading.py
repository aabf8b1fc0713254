"""The tiny offline Qwen2.5-VL and the one loader: Auto-class round trip, pixel budget, 4-bit on CPU, clear errors."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vtl.models.loading import ModelLoadError, QuantizationOptions, load_model
from vtl.models.tiny import SPECIAL_TOKENS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_tiny_checkpoint_loads_through_auto_classes_offline(tiny_model_dir):
    from transformers import (
        AutoModelForImageTextToText,
        AutoProcessor,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    assert isinstance(processor, Qwen2_5_VLProcessor)
    n_params = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= n_params <= 5_000_000
    text, vision = model.config.text_config, model.config.vision_config
    head_dim = text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    assert vision.out_hidden_size == text.hidden_size
    assert processor.chat_template


def test_tiny_tokenizer_has_qwen_special_tokens_and_sensible_pieces(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    for special in SPECIAL_TOKENS:
        assert tok.convert_ids_to_tokens(tok.convert_tokens_to_ids(special)) == special
        assert tok.encode(special, add_special_tokens=False) == [tok.convert_tokens_to_ids(special)]
    # Like Qwen's real tokenizer: "(A)" -> "(A", ")" so options differ in exactly one token.
    options = [tok.encode(f"({c})", add_special_tokens=False) for c in "ABCD"]
    assert all(len(o) == 2 for o in options) and len({o[0] for o in options}) == 4
    assert len({o[1] for o in options}) == 1
    text = "How many red circles are there? Select from the following choices.\n(A) 3\n(B) 12"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2  # common words merge into whole tokens
    assert all(len(tok.encode(str(d), add_special_tokens=False)) == 1 for d in range(10))


def test_chat_template_matches_qwen_layout(tiny):
    _, processor = tiny
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_vtl_name_and_pixel_budget(tiny_model_dir):
    model, processor = load_model("vtl://tiny-qwen2.5-vl", min_pixels=28 * 28, max_pixels=28 * 28 * 4)
    assert model.training is False
    image = Image.new("RGB", (300, 200), "white")
    batch = processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[image], return_tensors="pt")
    t, h, w = batch["image_grid_thw"][0].tolist()
    assert t * h * w * 14 * 14 <= 28 * 28 * 4  # resized inside the budget
    default = load_model(str(tiny_model_dir))[1]
    big = default(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[image], return_tensors="pt")
    assert big["image_grid_thw"][0].prod() > batch["image_grid_thw"][0].prod()


def test_forward_runs_with_images(tiny):
    model, processor = tiny
    text = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n"
    batch = processor(text=[text], images=[Image.new("RGB", (64, 64))], return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(logits).all()


def test_4bit_on_cpu_keeps_vision_in_full_precision(tiny_model_dir):
    import bitsandbytes as bnb

    q = QuantizationOptions(compute_dtype="float32")
    model, processor = load_model(str(tiny_model_dir), quantization=q)
    kinds = {name: type(m) for name, m in model.named_modules()}
    lm_linear = [n for n, k in kinds.items() if "language_model.layers" in n and issubclass(k, torch.nn.Linear)]
    assert lm_linear and all(issubclass(kinds[n], bnb.nn.Linear4bit) for n in lm_linear)
    vis_linear = [n for n, k in kinds.items() if ".visual." in n and issubclass(k, torch.nn.Linear)]
    assert vis_linear and not any(issubclass(kinds[n], bnb.nn.Linear4bit) for n in vis_linear)
    assert not issubclass(kinds["lm_head"], bnb.nn.Linear4bit)
    text = "<|vision_start|><|image_pad|><|vision_end|>hi"
    batch = processor(text=[text], images=[Image.new("RGB", (64, 64))], return_tensors="pt")
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()

    all_q, _ = load_model(
        str(tiny_model_dir), quantization=QuantizationOptions(compute_dtype="float32", quantize_vision=True)
    )
    assert isinstance(all_q.model.visual.blocks[0].mlp.up_proj, bnb.nn.Linear4bit)


def test_bad_model_names_get_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(tmp_path))
    with pytest.raises(ModelLoadError, match="embedded model"):
        load_model("vtl://other")
    with pytest.raises(ModelLoadError, match="could not load model"):
        load_model("nobody-xyz/not-a-model")  # hub id under HF_HUB_OFFLINE: clear error, not a hub traceback
    with pytest.raises(ValueError, match="bits"):
        QuantizationOptions(bits=8)


def test_cli_writes_tiny_model(tmp_path, capsys):
    from vtl.cli import main

    out = tmp_path / "tiny"
    assert main(["model", "tiny", "--out", str(out), "--seed", "1"]) == 0
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert main(["model", "tiny", "--out", str(out)]) == 2
    assert "not an empty directory" in capsys.readouterr().err
