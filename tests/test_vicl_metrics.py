"""PSNR/SSIM against scikit-image and best-of-K selection."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from vicl_helpers import add_noise, clean_image

from vtl.vicl.lowlevel.metrics import PSNR_CAP, psnr, select_best, ssim


def test_psnr_ssim_match_skimage_on_known_images():
    gt = clean_image(0)
    noisy = add_noise(gt, seed=1, sigma=10)
    assert psnr(noisy, gt) == pytest.approx(peak_signal_noise_ratio(gt, noisy, data_range=255))
    assert ssim(noisy, gt) == pytest.approx(structural_similarity(gt, noisy, data_range=255, channel_axis=-1))
    # a known value: a constant offset of 10 gives MSE 100 -> 10*log10(255^2/100)
    shifted = np.clip(gt.astype(int) + 10, 0, 255).astype(np.uint8)
    exact = 10 * np.log10(255**2 / np.mean((shifted.astype(float) - gt) ** 2))
    assert psnr(shifted, gt) == pytest.approx(exact)
    assert psnr(gt, gt) == PSNR_CAP and ssim(gt, gt) == pytest.approx(1.0)


def test_candidate_is_resized_bicubic_to_ground_truth_size():
    gt = clean_image(0, size=48)
    big = np.asarray(Image.fromarray(gt).resize((96, 96), Image.Resampling.BICUBIC))
    back = np.asarray(Image.fromarray(big).resize((48, 48), Image.Resampling.BICUBIC))
    assert psnr(big, gt) == pytest.approx(peak_signal_noise_ratio(gt, back, data_range=255))
    assert ssim(big, gt) == pytest.approx(structural_similarity(gt, back, data_range=255, channel_axis=-1))


def test_select_best_picks_max_psnr_and_skips_failures():
    gt = clean_image(3)
    cands = [add_noise(gt, seed=0, sigma=30), None, add_noise(gt, seed=0, sigma=5), add_noise(gt, seed=0, sigma=15)]
    best, scores = select_best(cands, gt)
    assert best == 2
    assert scores[1] is None and scores[2] == max(s for s in scores if s is not None)
    assert select_best([None, None], gt) == (None, [None, None])
    assert select_best([gt, gt.copy()], gt)[0] == 0  # ties keep the first
