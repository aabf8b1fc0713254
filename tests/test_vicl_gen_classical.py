"""The offline classical generator: prompt reading, K candidates, and the cross-task effect of a description."""

from __future__ import annotations

import numpy as np
import pytest
from vicl_helpers import LIGHT_TEXT, NOISE_TEXT, add_noise, clean_image, darken

from vtl.components import build
from vtl.errors import VtlError
from vtl.vicl.generation.base import Candidate, Generator
from vtl.vicl.generation.classical import OPERATORS, ClassicalGenerator, rank_operators_by_example
from vtl.vicl.generation.prompts import VICL_INSTRUCTION, build_prompt, split_prompt
from vtl.vicl.lowlevel.metrics import psnr, select_best


def test_prompt_round_trip():
    assert build_prompt(None) == VICL_INSTRUCTION == build_prompt("  ")
    assert split_prompt(build_prompt("Some text.")) == (VICL_INSTRUCTION, "Some text.")
    assert split_prompt(VICL_INSTRUCTION) == (VICL_INSTRUCTION, None)


def test_every_operator_keeps_shape_and_dtype():
    img = clean_image(0, size=32)
    for op in OPERATORS:
        out = op.apply(img, (op.low + op.high) / 2, img)
        assert out.shape == img.shape and out.dtype == np.uint8, op.name


def test_example_ranking_finds_the_example_operator():
    a = clean_image(0)
    assert rank_operators_by_example(add_noise(a, seed=2), a)[0][0] == "tv_denoise"


@pytest.mark.parametrize(
    ("degrade_a", "degrade_b", "text", "expected"),
    [(darken, add_noise, NOISE_TEXT, "tv_denoise"), (add_noise, darken, LIGHT_TEXT, "gamma_enhance")],
)
def test_right_description_beats_fixed_instruction(degrade_a, degrade_b, text, expected):
    a, b = clean_image(0), clean_image(1)
    images = [degrade_a(a), a, degrade_b(b)]
    gen = ClassicalGenerator()
    baseline = gen.generate(build_prompt(None), images, k=4)
    ours = gen.generate(build_prompt(text), images, k=4)
    assert len(baseline) == len(ours) == 4 and all(isinstance(c, Candidate) for c in baseline + ours)
    assert ours[0].info["operator"] == expected and ours[0].info["chosen_by"] == "description"
    assert baseline[0].info["operator"] != expected and baseline[0].info["chosen_by"] == "example"
    assert len({c.info["param"] for c in ours}) == 4  # K parameter variants
    best_base = max(psnr(c.image, b) for c in baseline)
    best_ours = max(psnr(c.image, b) for c in ours)
    assert best_ours > best_base + 3.0
    assert select_best([c.image for c in ours], b)[1][select_best([c.image for c in ours], b)[0]] == best_ours


def test_generator_by_class_path_and_errors():
    spec = {"class_path": "vtl.vicl.generation.classical.ClassicalGenerator"}
    assert build(spec, Generator, "generator").name == "classical"
    with pytest.raises(VtlError, match="class_path"):
        build({"backend": "dalle"}, Generator, "generator")
    with pytest.raises(VtlError, match="nope"):
        build({"class_path": "vtl.vicl.generation.classical.ClassicalGenerator", "init_args": {"nope": 1}}, Generator,
              "generator")
    for path in ("nosuch_pkg.gen.Gen", "vtl.vicl.generation.classical.NoSuchClass", "vtl.vicl.lowlevel.metrics.psnr"):
        with pytest.raises(VtlError, match="generator"):
            build({"class_path": path}, Generator, "generator")
    with pytest.raises(ValueError, match="3 images"):
        ClassicalGenerator().generate(VICL_INSTRUCTION, [clean_image(0)], 2)


def test_deconvolution_sharpens_a_gaussian_blur():
    from scipy import ndimage

    from vtl.vicl.generation.classical import OPERATORS_BY_NAME

    sharp = clean_image(0, size=64)
    blurred = np.stack([ndimage.gaussian_filter(sharp[:, :, c].astype(float), 2.0) for c in range(3)], axis=2)
    blurred = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
    restored = OPERATORS_BY_NAME["deconvolution"].apply(blurred, 1.4, blurred)
    assert psnr(restored, sharp) > psnr(blurred, sharp) + 0.3  # its borders must not ring (zero padding did)
