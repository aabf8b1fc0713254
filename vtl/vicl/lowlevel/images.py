"""Clean images for T2T-VICL tuples: scikit-image's bundled colour photographs and procedural outdoor scenes.

Everything ships offline. Each clean image has a stable id ("skimage:coffee:crop-…", "scene:…") and, for procedural
scenes, a true depth map the haze operator uses. Train and eval draw from disjoint pools: the photographs are split
by source image (a crop never crosses splits), the scenes by seed namespace; `pairs.py` also checks content hashes.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Colour photographs bundled with scikit-image (no download). Eval holds out whole source images.
SKIMAGE_TRAIN = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "stereo_motorcycle")
SKIMAGE_EVAL = ("coffee", "rocket")
PHOTO_FRACTION = 0.3  # share of clean images that are photo crops; the rest are procedural scenes


@dataclass(frozen=True)
class CleanImage:
    id: str
    pixels: np.ndarray  # [h, w, 3] uint8
    depth: np.ndarray | None = None  # [h, w] float32 in [0, 1], 1 = far; None = unknown

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.pixels.tobytes()).hexdigest()[:16]


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from strings/ints, identical across processes and Python versions (unlike hash())."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


@lru_cache(maxsize=16)
def _skimage_photo(name: str) -> np.ndarray:
    from skimage import data

    image = data.stereo_motorcycle()[0] if name == "stereo_motorcycle" else getattr(data, name)()
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"skimage.data.{name} is not a colour image")
    return np.ascontiguousarray(image[..., :3])


def resize(pixels: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a uint8 RGB array to size×size (or (h, w)) via PIL."""
    from PIL import Image

    h, w = (size, size) if isinstance(size, int) else size
    if pixels.shape[:2] == (h, w):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((w, h), Image.Resampling.BICUBIC))


def photo_crop(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop (50–100% of the short side) of a bundled photograph, resized to size×size."""
    photo = _skimage_photo(name)
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = photo[y : y + side, x : x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize(np.ascontiguousarray(crop), size)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: white noise blurred by a Gaussian of `scale` pixels."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    return field / (np.abs(field).max() + 1e-8)


def procedural_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An outdoor scene (sky, sun, ridge, ground, buildings, trees, objects) and its depth (1 = far)."""
    from skimage.draw import disk, polygon, rectangle

    s = size
    img = np.zeros((s, s, 3), np.float32)
    depth = np.ones((s, s), np.float32)
    yy = np.linspace(0, 1, s, dtype=np.float32)[:, None]
    horizon = int(s * rng.uniform(0.35, 0.6))

    # sky: vertical gradient between two random colours, maybe a sun
    top, bottom = rng.uniform(0.2, 0.9, 3), rng.uniform(0.5, 1.0, 3)
    img[:] = (top + (bottom - top) * yy[..., None] / max(horizon / s, 1e-3)).clip(0, 1)
    if rng.random() < 0.6:
        centre = (rng.uniform(0.05, 0.3) * s, rng.uniform(0.1, 0.9) * s)
        rr, cc = disk(centre, s * rng.uniform(0.04, 0.09), shape=(s, s))
        img[rr, cc] = rng.uniform(0.85, 1.0, 3)

    # far ridge (mountains) along the horizon
    ridge = horizon - (s * 0.15 * (0.5 + 0.5 * _smooth_noise(rng, (1, s), s / 8)[0])).astype(int)
    ridge_colour = rng.uniform(0.2, 0.6, 3)
    for x in range(s):
        img[ridge[x] : horizon, x] = ridge_colour * (0.85 + 0.15 * rng.random())
        depth[ridge[x] : horizon, x] = 0.85

    # ground: textured colour, depth falls from the horizon to the bottom edge
    ground = rng.uniform(0.15, 0.7, 3)
    texture = _smooth_noise(rng, (s, s), 1.5)[..., None] * 0.08 + _smooth_noise(rng, (s, s), 6)[..., None] * 0.1
    img[horizon:] = (ground + texture[horizon:]).clip(0, 1)
    rows = np.arange(horizon, s, dtype=np.float32)
    depth[horizon:] = (0.75 * (s - rows) / max(s - horizon, 1))[:, None]

    def object_depth(base_y: float) -> float:
        return float(0.75 * (s - base_y) / max(s - horizon, 1)) if base_y > horizon else 0.8

    # buildings with window grids, back to front
    for _ in range(int(rng.integers(0, 4))):
        w, h = int(s * rng.uniform(0.1, 0.25)), int(s * rng.uniform(0.15, 0.45))
        x0, base = int(rng.uniform(0, s - w)), int(rng.uniform(horizon, min(s, horizon + s * 0.25)))
        y0 = max(0, base - h)
        rr, cc = rectangle((y0, x0), (base - 1, x0 + w - 1), shape=(s, s))
        img[rr, cc] = rng.uniform(0.2, 0.9, 3)
        depth[rr, cc] = object_depth(base)
        win = rng.uniform(0.05, 0.95, 3)
        step = max(3, s // 24)
        for wy in range(y0 + 2, base - 2, step):
            for wx in range(x0 + 2, x0 + w - 2, step):
                img[wy : wy + max(1, step // 2), wx : wx + max(1, step // 2)] = win

    # trees: trunk + round crown
    for _ in range(int(rng.integers(1, 5))):
        base = rng.uniform(horizon, s)
        scale = 0.3 + 0.7 * (base - horizon) / max(s - horizon, 1)
        x = rng.uniform(0, s)
        trunk_h, crown_r = s * 0.12 * scale, s * 0.07 * scale
        rr, cc = rectangle((base - trunk_h, x - s * 0.01 * scale), (base, x + s * 0.01 * scale), shape=(s, s))
        img[rr, cc] = (0.35, 0.22, 0.1)
        rr, cc = disk((base - trunk_h, x), max(crown_r, 1.5), shape=(s, s))
        img[rr, cc] = np.array([0.1, rng.uniform(0.35, 0.7), 0.1]) * rng.uniform(0.8, 1.2)
        depth[rr, cc] = object_depth(base)

    # foreground objects: coloured discs and triangles
    for _ in range(int(rng.integers(1, 5))):
        colour = rng.uniform(0, 1, 3)
        cy, cx = rng.uniform(horizon, s), rng.uniform(0, s)
        r = s * rng.uniform(0.03, 0.1)
        if rng.random() < 0.5:
            rr, cc = disk((cy, cx), r, shape=(s, s))
        else:
            rr, cc = polygon([cy - r, cy + r, cy + r], [cx, cx - r, cx + r], shape=(s, s))
        img[rr, cc] = colour
        depth[rr, cc] = object_depth(cy + r)

    img += rng.normal(0, 0.01, img.shape).astype(np.float32)  # slight sensor grain so it is not flat
    return (img.clip(0, 1) * 255).round().astype(np.uint8), depth


def clean_image(split: str, index: int | str, *, seed: int, size: int) -> CleanImage:
    """Clean image `index` (an int or string key) of `split` ("train"/"eval") for `seed`; same args, same pixels."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    rng = np.random.default_rng(stable_seed("clean", seed, split, index))
    if rng.random() < PHOTO_FRACTION:
        names = SKIMAGE_TRAIN if split == "train" else SKIMAGE_EVAL
        name = names[int(rng.integers(len(names)))]
        pixels = photo_crop(name, rng, size)
        return CleanImage(id=f"skimage:{name}:{split}-{seed}-{index}", pixels=pixels)
    pixels, depth = procedural_scene(rng, size)
    return CleanImage(id=f"scene:{split}-{seed}-{index}", pixels=pixels, depth=depth)
