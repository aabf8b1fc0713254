"""PSNR/SSIM against the ground truth and best-of-K candidate selection (scikit-image; no torch).

As in the paper: data_range 255, and a candidate whose size differs from the ground truth is resized bicubically to
the ground truth's size first. Identical images have infinite PSNR; it is capped at `PSNR_CAP` so means stay finite
and JSON stays standard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0


def as_rgb_uint8(image) -> np.ndarray:
    """A PIL image or an array (HxW, HxWx3, HxWx4; uint8 or float in [0, 1]) as HxWx3 uint8."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f":
            arr = np.clip(np.rint(arr * 255.0), 0, 255)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def match_size(candidate, ground_truth) -> tuple[np.ndarray, np.ndarray]:
    """(candidate, ground truth) as uint8 RGB with the candidate resized bicubic to the ground truth's size."""
    gt = as_rgb_uint8(ground_truth)
    cand = as_rgb_uint8(candidate)
    if cand.shape[:2] != gt.shape[:2]:
        height, width = gt.shape[:2]
        cand = np.asarray(Image.fromarray(cand).resize((width, height), Image.Resampling.BICUBIC))
    return cand, gt


def psnr(candidate, ground_truth) -> float:
    cand, gt = match_size(candidate, ground_truth)
    if np.array_equal(cand, gt):
        return PSNR_CAP
    return min(float(peak_signal_noise_ratio(gt, cand, data_range=255)), PSNR_CAP)


def ssim(candidate, ground_truth) -> float:
    cand, gt = match_size(candidate, ground_truth)
    win = min(7, *gt.shape[:2])
    win -= 1 - win % 2  # skimage needs an odd window no larger than the image
    return float(structural_similarity(gt, cand, data_range=255, channel_axis=-1, win_size=win))


def select_best(candidates: Sequence, ground_truth) -> tuple[int | None, list[float | None]]:
    """Index of the candidate with the highest PSNR against the ground truth, and every candidate's PSNR.

    `None` entries (failed generations) are skipped; the index is None when every candidate failed. Ties keep the
    first candidate, so the choice is deterministic.
    """
    scores = [None if c is None else psnr(c, ground_truth) for c in candidates]
    best = None
    for i, score in enumerate(scores):
        if score is not None and (best is None or score > scores[best]):
            best = i
    return best, scores
