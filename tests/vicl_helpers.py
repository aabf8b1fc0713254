"""Small hand-made T2T-VICL inputs for the part-2 tests: clean images, simple degradations, a tuples.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage


def clean_image(seed: int = 0, size: int = 48) -> np.ndarray:
    """A smooth procedural scene (gradients + blobs + an edge), HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.3 + 0.4 * xx, 0.3 + 0.4 * yy, 0.5 + 0.2 * np.sin(6 * xx)], axis=2)
    for _ in range(4):
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.2)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
        img[blob] = rng.uniform(0.2, 0.9, size=3)
    img = ndimage.gaussian_filter(img, sigma=(0.8, 0.8, 0))
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def darken(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(255 * ((img / 255.0) ** 2.2) * 0.6), 0, 255).astype(np.uint8)


def add_noise(img: np.ndarray, seed: int = 0, sigma: float = 25.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(img + rng.normal(0, sigma, img.shape)), 0, 255).astype(np.uint8)


DEGRADE = {"low_light_enhancement": darken, "denoising": add_noise}


def write_tuples(root: Path, specs: list[tuple[str, str, str]], size: int = 48) -> Path:
    """tuples.jsonl in the `vtl vicl pairs` format for (id, task_a, task_b) specs; eval split; returns its path."""
    from vtl.vicl.lowlevel.tasks import pair_label

    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (tid, a, b) in enumerate(specs):
        clean_a, clean_b = clean_image(2 * n, size), clean_image(2 * n + 1, size)
        row = {"id": tid, "task_a": a, "task_b": b, "pair": pair_label(a, b), "split": "eval", "seed": n}
        for key, arr in (("a_in", DEGRADE[a](clean_a)), ("a_out", clean_a), ("b_in", DEGRADE[b](clean_b)),
                         ("b_out", clean_b)):
            rel = f"images/{tid}_{key}.png"
            Image.fromarray(arr).save(root / rel)
            row[key] = rel
        lines.append(json.dumps(row))
    path = root / "tuples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


NOISE_TEXT = ("Both inputs look like ordinary scenes. In the example the dark image became brighter, while the third "
              "image is covered in grainy random noise speckles that must be removed. The example brightens, the "
              "target removes noise.")
LIGHT_TEXT = ("Both inputs look like ordinary scenes. In the example grainy noise was removed, while the third image "
              "is dark and underexposed and must be brightened. The example denoises, the target brightens a "
              "low-light image.")


def write_descriptions(path: Path, texts: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"tuple_id": t, "pair": "", "model": "hand", "prompt_version": "test",
                                        "text": x, "source": "student"}) + "\n" for t, x in texts.items()))
    return path
