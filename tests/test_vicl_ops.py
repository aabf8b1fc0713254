"""Low-level task registry, clean images and the 12 operators: shapes, ranges, determinism, intended direction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from vtl.vicl.lowlevel.degrade import OPERATORS, make_pair
from vtl.vicl.lowlevel.images import SKIMAGE_EVAL, SKIMAGE_TRAIN, clean_image
from vtl.vicl.lowlevel.tasks import (
    LABELS,
    LOW_LEVEL_TASKS,
    REPORTED_SCENARIOS,
    SECOND_TIER,
    TOP_TIER,
    pair_label,
    parse_pair,
    resolve_pairs,
)
from vtl.vicl.teaching.analytic import image_stats, luma

SIZE = 64


def test_registry_matches_the_paper():
    assert len(LOW_LEVEL_TASKS) == 12 and list(LABELS) == list(LOW_LEVEL_TASKS)
    assert len(REPORTED_SCENARIOS) == 21 and len(set(REPORTED_SCENARIOS)) == 21
    assert len(TOP_TIER) == 12 and len(SECOND_TIER) == 9 and not TOP_TIER & SECOND_TIER
    assert pair_label(*REPORTED_SCENARIOS[0]) == "Deblur→Dehaze"
    assert pair_label(*REPORTED_SCENARIOS[-1]) == "Shadow→Derain"
    assert ("reflection_removal", "dehazing") in TOP_TIER and ("dehazing", "deraining") in SECOND_TIER


def test_parse_pair_accepts_labels_ids_and_arrows():
    assert parse_pair("Deblur→Dehaze") == ("deblurring", "dehazing")
    assert parse_pair("deblurring->dehazing") == ("deblurring", "dehazing")
    assert parse_pair("lightenh -> Shadow") == ("low_light_enhancement", "shadow_removal")
    assert parse_pair("low-light-enhancement->reflection_removal") == ("low_light_enhancement", "reflection_removal")
    for a, b in REPORTED_SCENARIOS:
        assert parse_pair(pair_label(a, b)) == (a, b)
    with pytest.raises(ValueError, match="unknown low-level task 'Sharpen'"):
        parse_pair("Sharpen→Dehaze")
    with pytest.raises(ValueError, match="no arrow"):
        parse_pair("Deblur Dehaze")
    with pytest.raises(ValueError, match="same task twice"):
        resolve_pairs(["Deblur→deblurring"])
    assert len(resolve_pairs(["all"])) == 132 and resolve_pairs(None) == list(REPORTED_SCENARIOS)


def test_clean_images_are_deterministic_and_splits_use_disjoint_sources():
    a = clean_image("train", 3, seed=1, size=SIZE)
    assert a.pixels.shape == (SIZE, SIZE, 3) and a.pixels.dtype == np.uint8
    assert np.array_equal(a.pixels, clean_image("train", 3, seed=1, size=SIZE).pixels)
    assert not np.array_equal(a.pixels, clean_image("train", 4, seed=1, size=SIZE).pixels)
    assert not set(SKIMAGE_TRAIN) & set(SKIMAGE_EVAL)
    train_ids = {clean_image("train", i, seed=0, size=32).id for i in range(40)}
    eval_ids = {clean_image("eval", i, seed=0, size=32).id for i in range(40)}
    assert not train_ids & eval_ids
    for split, names in (("train", SKIMAGE_EVAL), ("eval", SKIMAGE_TRAIN)):
        photo_sources = {cid.split(":")[1] for cid in (clean_image(split, i, seed=0, size=32).id for i in range(40))
                         if cid.startswith("skimage:")}
        assert photo_sources and not photo_sources & set(names)


@pytest.fixture(scope="module")
def scene():
    # a procedural scene (it has depth) and a photo crop
    images = [clean_image("train", i, seed=0, size=SIZE) for i in range(30)]
    return next(c for c in images if c.depth is not None), next(c for c in images if c.depth is None)


@pytest.mark.parametrize("task", LOW_LEVEL_TASKS)
def test_operator_shapes_ranges_and_determinism(task, scene):
    for clean in scene:
        pair = make_pair(task, clean.pixels, seed=7, depth=clean.depth)
        for image in (pair.input, pair.output):
            assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert not np.array_equal(pair.input, pair.output)
        again = make_pair(task, clean.pixels, seed=7, depth=clean.depth)
        assert np.array_equal(pair.input, again.input) and np.array_equal(pair.output, again.output)
        if task != "colorization":  # grayscale has no randomness to seed
            other = make_pair(task, clean.pixels, seed=8, depth=clean.depth)
            assert not np.array_equal(pair.input, other.input) or not np.array_equal(pair.output, other.output)
        if task == "style_transfer":
            assert np.array_equal(pair.input, clean.pixels)  # the input is the clean image, the output stylized
        else:
            assert np.array_equal(pair.output, clean.pixels)  # restoration: the output is the clean image


def _direction_holds(task: str, inp: np.ndarray, out: np.ndarray) -> bool:
    """Whether input -> output moves the way the task means (output is the target)."""
    b, a = image_stats(inp), image_stats(out)
    diff = np.abs(out.astype(float) - inp.astype(float)).max(axis=-1)
    if task == "deblurring":
        return a.sharpness > 2 * b.sharpness
    if task == "dehazing":
        return b.brightness > a.brightness and b.saturation < a.saturation and b.contrast < a.contrast * 1.5
    if task == "demoireing":
        spectrum = np.abs(np.fft.fft2(luma(inp) - luma(out)))
        spectrum[0, 0] = 0
        return spectrum.max() > 20 * spectrum.mean()  # the removed residual is a narrow-band pattern
    if task == "denoising":
        return b.noise > 2 * a.noise
    if task == "deraining":
        brighter = (luma(inp) - luma(out)) > 0.05
        return brighter.mean() < 0.5 and (luma(inp) >= luma(out) - 1e-6).mean() > 0.95  # sparse, only brightening
    if task == "reflection_removal":
        return diff.mean() > 10 and (diff > 8).mean() > 0.5  # a global overlaid layer
    if task == "shadow_removal":
        changed = diff > 20
        return 0.01 < changed.mean() < 0.7 and luma(inp)[changed].mean() < luma(out)[changed].mean()
    if task == "colorization":
        return b.saturation < 0.01 and a.saturation > b.saturation
    if task == "harmonization":
        changed = diff > 20
        return 0.01 < changed.mean() < 0.7 and (diff < 2).mean() > 0.3  # one region re-toned, the rest identical
    if task == "inpainting":
        hole = (inp == 255).all(axis=-1) & (diff > 0)
        return hole.mean() > 0.01 and (diff[~hole] == 0).all()
    if task == "low_light_enhancement":
        return a.brightness > 2 * b.brightness
    if task == "style_transfer":
        return a.colours < b.colours / 3 and ndimage.laplace(luma(out)).var() > ndimage.laplace(luma(inp)).var()
    raise AssertionError(task)


@pytest.mark.parametrize("task", LOW_LEVEL_TASKS)
def test_operator_changes_the_image_in_the_intended_direction(task):
    held = 0
    for i in range(6):
        clean = clean_image("eval" if i % 2 else "train", i, seed=2, size=SIZE)
        pair = make_pair(task, clean.pixels, seed=i, depth=clean.depth)
        held += _direction_holds(task, pair.input, pair.output)
    assert held == 6, f"{task}: direction held on {held}/6 images"


def test_make_pair_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        make_pair("denoising", np.zeros((8, 8, 3), np.float32), seed=0)
    with pytest.raises(ValueError, match="unknown low-level task"):
        make_pair("sharpening", np.zeros((8, 8, 3), np.uint8), seed=0)
    assert set(OPERATORS) == set(LOW_LEVEL_TASKS)
