"""The 12 low-level tasks as operators that turn a clean image into a task's (input, output) pair.

Restoration tasks degrade the clean image into the input and keep it as the output (blur kernels, haze over a depth
map, moiré gratings, Gaussian noise, rain streaks, a blended reflection layer, cast shadows, darkening with noise,
holes, colour-shifted composites, grayscale). Style transfer keeps the clean image as input and stylizes the output.
Each operator takes (clean uint8 [h, w, 3], numpy Generator, optional depth) and is deterministic for the generator's
seed; `make_pair(task, clean, seed)` is the entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vtl.vicl.lowlevel.tasks import LOW_LEVEL_TASKS, task_id

Operator = Callable[[np.ndarray, np.random.Generator, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class TaskPair:
    task: str
    input: np.ndarray  # [h, w, 3] uint8
    output: np.ndarray  # [h, w, 3] uint8


def to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of a float [h, w, 3] image."""
    return image @ np.array([0.299, 0.587, 0.114], np.float32)


def _per_channel(image: np.ndarray, fn) -> np.ndarray:
    return np.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1)


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalized straight-line kernel (motion blur / rain streak shape)."""
    size = length if length % 2 else length + 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    t = np.linspace(-c, c, 4 * size)
    rad = np.deg2rad(angle_deg)
    ys = np.clip(np.round(c - t * np.sin(rad)).astype(int), 0, size - 1)
    xs = np.clip(np.round(c + t * np.cos(rad)).astype(int), 0, size - 1)
    kernel[ys, xs] = 1.0
    return kernel / kernel.sum()


def _soft_mask(rng: np.random.Generator, shape: tuple[int, int], kind: str, softness: float) -> np.ndarray:
    """A random region in [0, 1]: an ellipse or polygon, edges softened by a Gaussian of `softness` pixels."""
    from skimage.draw import ellipse, polygon

    h, w = shape
    mask = np.zeros(shape, np.float32)
    if kind == "ellipse":
        rr, cc = ellipse(rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w, rng.uniform(0.15, 0.35) * h,
                         rng.uniform(0.15, 0.35) * w, shape=shape, rotation=rng.uniform(0, np.pi))
    else:
        n = int(rng.integers(4, 7))
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(0.2, 0.45, n) * min(h, w)
        rr, cc = polygon(cy + radii * np.sin(angles), cx + radii * np.cos(angles), shape=shape)
    mask[rr, cc] = 1.0
    return ndimage.gaussian_filter(mask, softness) if softness > 0 else mask


def _default_depth(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Ground-plane depth when none is known: the top of the frame is far, the bottom near, with gentle variation."""
    h, w = shape
    rows = np.linspace(1.0, 0.1, h, dtype=np.float32)[:, None]
    wobble = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), max(h, w) / 10)
    wobble /= np.abs(wobble).max() + 1e-8
    return np.clip(rows + 0.15 * wobble, 0.0, 1.0)


# --- operators: (clean, rng, depth) -> (input, output) ------------------------------------------------------------


def deblurring(clean, rng, depth=None):
    img = to_float(clean)
    if rng.random() < 0.5:
        blurred = _per_channel(img, lambda ch: ndimage.gaussian_filter(ch, rng.uniform(1.5, 3.0)))
    else:
        kernel = _line_kernel(int(rng.integers(7, 15)), rng.uniform(0, 180))
        blurred = _per_channel(img, lambda ch: ndimage.convolve(ch, kernel, mode="reflect"))
    return to_uint8(blurred), clean


def dehazing(clean, rng, depth=None):
    img = to_float(clean)
    d = _default_depth(img.shape[:2], rng) if depth is None else depth.astype(np.float32)
    transmission = np.exp(-rng.uniform(1.2, 2.5) * d)[..., None]  # t = e^(-beta d)
    airlight = rng.uniform(0.8, 0.98) * np.array([1.0, 1.0, 1.0]) - rng.uniform(0, 0.05, 3)
    hazy = img * transmission + airlight * (1 - transmission)  # atmospheric scattering model
    return to_uint8(hazy), clean


def demoireing(clean, rng, depth=None):
    img = to_float(clean)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f1 = rng.uniform(0.25, 0.4)
    angle1 = rng.uniform(0, np.pi)
    f2, angle2 = f1 * rng.uniform(0.9, 0.97), angle1 + rng.uniform(0.05, 0.2)  # near-identical gratings beat
    g1 = np.sin(2 * np.pi * f1 * (xx * np.cos(angle1) + yy * np.sin(angle1)))
    g2 = np.sin(2 * np.pi * f2 * (xx * np.cos(angle2) + yy * np.sin(angle2)))
    pattern = g1 * g2
    phases = rng.uniform(0, 2 * np.pi, 3)
    tint = np.stack([np.cos(phases[c] + 0.8 * pattern) for c in range(3)], axis=-1)  # rainbow-coloured bands
    moire = img + rng.uniform(0.12, 0.22) * (0.6 * pattern[..., None] + 0.4 * tint)
    return to_uint8(moire), clean


def denoising(clean, rng, depth=None):
    img = to_float(clean)
    sigma = rng.uniform(15, 40) / 255
    noisy = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    return to_uint8(noisy), clean


def deraining(clean, rng, depth=None):
    img = to_float(clean)
    h, w = img.shape[:2]
    drops = (rng.random((h, w)) < rng.uniform(0.004, 0.012)).astype(np.float32)
    drops *= rng.uniform(0.6, 1.0, (h, w)).astype(np.float32)
    length = int(max(5, rng.uniform(0.08, 0.18) * h))
    kernel = _line_kernel(length, 90 + rng.uniform(-20, 20)) * length  # near-vertical streaks, unit brightness
    streaks = np.clip(ndimage.convolve(drops, kernel, mode="wrap"), 0, 1)
    streaks = ndimage.gaussian_filter(streaks, 0.5)[..., None] * rng.uniform(0.6, 0.9)
    rainy = 1 - (1 - img) * (1 - streaks)  # screen blend: streaks only brighten
    return to_uint8(rainy * 0.95 + 0.05 * rng.uniform(0.7, 0.9)), clean


def reflection_removal(clean, rng, depth=None):
    img = to_float(clean)
    h, w = img.shape[:2]
    layer = np.stack([ndimage.gaussian_filter(rng.random((h, w)).astype(np.float32), max(h, w) / 12)
                      for _ in range(3)], axis=-1)
    layer = (layer - layer.min()) / (layer.max() - layer.min() + 1e-8)
    from skimage.draw import disk, rectangle

    for _ in range(int(rng.integers(2, 5))):  # shapes of the reflected scene, ghost-soft
        colour = rng.uniform(0.4, 1.0, 3)
        if rng.random() < 0.5:
            rr, cc = disk((rng.uniform(0, h), rng.uniform(0, w)), rng.uniform(0.1, 0.3) * h, shape=(h, w))
        else:
            y, x = rng.uniform(0, h * 0.7), rng.uniform(0, w * 0.7)
            rr, cc = rectangle((y, x), (y + rng.uniform(0.1, 0.3) * h, x + rng.uniform(0.1, 0.3) * w), shape=(h, w))
        layer[rr, cc] = colour
    layer = _per_channel(layer, lambda ch: ndimage.gaussian_filter(ch, rng.uniform(1.5, 3.5)))
    alpha = rng.uniform(0.25, 0.45)
    blended = img * (1 - 0.5 * alpha) + alpha * layer
    return to_uint8(blended), clean


def shadow_removal(clean, rng, depth=None):
    img = to_float(clean)
    mask = _soft_mask(rng, img.shape[:2], "polygon", softness=rng.uniform(1.0, 3.0))[..., None]
    strength = rng.uniform(0.45, 0.7)
    cast = np.array([0.92, 0.96, 1.05], np.float32)  # shadows lit by skylight are slightly blue
    shadowed = img * (1 - strength * mask) * (1 - mask + mask * cast)
    return to_uint8(shadowed), clean


def colorization(clean, rng, depth=None):
    gray = luminance(to_float(clean))
    return to_uint8(np.repeat(gray[..., None], 3, axis=-1)), clean


def harmonization(clean, rng, depth=None):
    img = to_float(clean)
    mask = _soft_mask(rng, img.shape[:2], "ellipse", softness=0.0)[..., None]
    gain = rng.uniform(0.6, 1.4, 3).astype(np.float32)
    while np.abs(gain - 1).max() < 0.25:  # make the foreground visibly out of tune
        gain = rng.uniform(0.6, 1.4, 3).astype(np.float32)
    shifted = np.clip(img * gain + rng.uniform(-0.08, 0.08), 0, 1) ** rng.uniform(0.8, 1.25)
    composite = img * (1 - mask) + shifted * mask
    return to_uint8(composite), clean


def inpainting(clean, rng, depth=None):
    from skimage.draw import line, rectangle

    img = clean.copy()
    h, w = img.shape[:2]
    hole = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 4))):
        y, x = rng.uniform(0, h * 0.8), rng.uniform(0, w * 0.8)
        rr, cc = rectangle((y, x), (y + rng.uniform(0.08, 0.25) * h, x + rng.uniform(0.08, 0.25) * w), shape=(h, w))
        hole[rr, cc] = True
    for _ in range(int(rng.integers(1, 4))):  # free-form strokes
        rr, cc = line(int(rng.integers(h)), int(rng.integers(w)), int(rng.integers(h)), int(rng.integers(w)))
        stroke = np.zeros((h, w), bool)
        stroke[rr, cc] = True
        hole |= ndimage.binary_dilation(stroke, iterations=max(1, h // 40))
    img[hole] = 255
    return img, clean


def low_light_enhancement(clean, rng, depth=None):
    img = to_float(clean)
    dark = rng.uniform(0.12, 0.3) * img ** rng.uniform(1.3, 2.0)
    dark += rng.normal(0, rng.uniform(2, 6) / 255, img.shape).astype(np.float32)
    return to_uint8(dark), clean


def style_transfer(clean, rng, depth=None):
    """Cartoon look: flattened colours in a few levels with a warm or cool palette and dark ink edges."""
    from skimage.filters import sobel

    img = to_float(clean)
    smooth = _per_channel(img, lambda ch: ndimage.median_filter(ch, size=5))
    levels = int(rng.integers(3, 6))
    flat = np.round(smooth * (levels - 1)) / (levels - 1)
    palette = np.array([1.1, 1.0, 0.85]) if rng.random() < 0.5 else np.array([0.85, 1.0, 1.12])
    flat = np.clip(flat * palette.astype(np.float32), 0, 1)
    edges = sobel(luminance(smooth))
    ink = edges > np.quantile(edges, rng.uniform(0.82, 0.9))
    flat[ink] *= 0.15
    return clean, to_uint8(flat)


OPERATORS: dict[str, Operator] = {
    "deblurring": deblurring,
    "dehazing": dehazing,
    "demoireing": demoireing,
    "denoising": denoising,
    "deraining": deraining,
    "reflection_removal": reflection_removal,
    "shadow_removal": shadow_removal,
    "colorization": colorization,
    "harmonization": harmonization,
    "inpainting": inpainting,
    "low_light_enhancement": low_light_enhancement,
    "style_transfer": style_transfer,
}
assert tuple(OPERATORS) == LOW_LEVEL_TASKS


def make_pair(task: str, clean: np.ndarray, seed: int, depth: np.ndarray | None = None) -> TaskPair:
    """(input, output) of `task` (id or label) for a clean uint8 RGB image; the same seed gives the same pair."""
    if clean.dtype != np.uint8 or clean.ndim != 3 or clean.shape[2] != 3:
        raise ValueError(f"clean image must be uint8 [h, w, 3], got {clean.dtype} {clean.shape}")
    tid = task_id(task)
    rng = np.random.default_rng(seed)
    inp, out = OPERATORS[tid](clean, rng, depth)
    return TaskPair(task=tid, input=inp, output=out)
