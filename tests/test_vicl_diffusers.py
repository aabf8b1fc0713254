"""Open-weight editors through diffusers: a tiny random Qwen-Image-Edit pipeline, built from configs offline with
vtl's tiny Qwen2.5-VL as its text encoder, saved, loaded by `DiffusersEditor`, and run end to end on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from vtl.components import build
from vtl.vicl.generation.base import Candidate, Generator, side_by_side
from vtl.vicl.generation.diffusers_editors import DiffusersConfigError, DiffusersEditor

Z = 4  # latent channels of the tiny VAE


def build_tiny_pipeline(out_dir, tiny_model_dir, cls_name: str = "QwenImageEditPipeline"):
    import diffusers
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    vae = diffusers.AutoencoderKLQwenImage(base_dim=Z * 6, z_dim=Z, dim_mult=[1, 2, 4], num_res_blocks=1,
                                           temperal_downsample=[False, True], latents_mean=[0.0] * Z,
                                           latents_std=[1.0] * Z)
    transformer = diffusers.QwenImageTransformer2DModel(
        patch_size=2, in_channels=4 * Z, out_channels=Z, num_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=text_encoder.config.text_config.hidden_size, axes_dims_rope=(8, 4, 4))
    pipe = getattr(diffusers, cls_name)(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae,
                                        text_encoder=text_encoder, tokenizer=processor.tokenizer,
                                        processor=processor, transformer=transformer)
    pipe.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def tiny_qwen_edit(tmp_path_factory, tiny_model_dir):
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny_qwen_image_edit"), tiny_model_dir)


IMAGES = [np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8) for i in range(3)]


@pytest.mark.slow
def test_tiny_qwen_image_edit_end_to_end_on_cpu(tiny_qwen_edit, monkeypatch):
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit

    # the pipeline resizes its input to about 1024x1024 before encoding; 32x32 keeps the tiny run to seconds
    monkeypatch.setattr(pipeline_qwenimage_edit, "calculate_dimensions", lambda area, ratio: (96, 32, None))
    spec = {"class_path": "vtl.vicl.generation.diffusers_editors.DiffusersEditor",
            "init_args": {"pipeline": "qwen-image-edit", "model": str(tiny_qwen_edit), "device": "cpu",
                          "dtype": "float32", "steps": 2, "seed": 3}}
    editor = build(spec, Generator, "generator")  # as `vtl vicl infer` builds it from YAML
    assert editor.mode == "side_by_side"  # a single-image pipeline: the recorded fallback
    out = editor.generate("do to image 3 what was done to image 1", IMAGES, 2)
    assert all(isinstance(c, Candidate) for c in out)
    assert out[0].image.dtype == np.uint8 and out[0].image.shape == (16, 16, 3)  # the panel over B_in
    info = out[1].info
    assert info["generator"] == f"diffusers:qwen-image-edit:{tiny_qwen_edit}" and info["seed"] == 4
    assert info["settings"]["multi_image"] == "side_by_side" and info["settings"]["steps"] == 2
    again = editor.generate("do to image 3 what was done to image 1", IMAGES, 1)
    np.testing.assert_array_equal(again[0].image, out[0].image)  # seeded


def test_call_arguments_native_and_side_by_side(monkeypatch):
    monkeypatch.setattr(DiffusersEditor, "_load", lambda self, *a: None)
    plus = DiffusersEditor("qwen-image-edit-plus", device="cpu", true_cfg_scale=4.0)
    args, panels = plus.call_arguments("p", IMAGES)
    assert plus.mode == "native" and panels == 1 and len(args["image"]) == 3
    assert (args["height"], args["width"], args["true_cfg_scale"], args["negative_prompt"]) == (16, 16, 4.0, " ")
    kontext = DiffusersEditor("flux-kontext", device="cpu", guidance_scale=2.5)
    args, panels = kontext.call_arguments("p", IMAGES)
    assert kontext.mode == "side_by_side" and panels == 3 and args["image"].size == (48, 16)
    assert "negative_prompt" not in args and args["guidance_scale"] == 2.5
    assert kontext.model == "black-forest-labs/FLUX.1-Kontext-dev"
    with pytest.raises(DiffusersConfigError, match="side_by_side"):
        DiffusersEditor("flux-kontext", multi_image="native", device="cpu")
    assert side_by_side(IMAGES).shape == (16, 48, 3)


def test_bad_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DiffusersConfigError, match="generator `model:`"):
        DiffusersEditor("qwen-image-edit", model=str(tmp_path / "missing"), device="cpu", dtype="float32")


@pytest.mark.gpu
def test_4bit_qwen_image_edit_on_cuda(tiny_qwen_edit):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA (bitsandbytes 4-bit)")
    editor = DiffusersEditor("qwen-image-edit", model=str(tiny_qwen_edit), device="cuda", dtype="bfloat16",
                             steps=1, load_in_4bit=True)
    out = editor.generate("p", IMAGES, 1)
    assert isinstance(out[0], Candidate)
