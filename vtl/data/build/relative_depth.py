"""Relative_Depth from a depth-map dataset in DIODE's layout: `{name}.png` beside `{name}_depth.npy` (metres,
[H, W] or [H, W, 1]) and optionally `{name}_depth_mask.npy` (1 where the depth is valid), searched recursively."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vtl.data.build.core import BuildError, Item, Question, open_image, where_drawn
from vtl.data.build.draw import mark_points

TASK = "Relative_Depth"
FORMAT = "DIODE-style {name}.png + {name}_depth.npy (+ {name}_depth_mask.npy)"
QUESTION = "Two points are circled on the image, labeled by A and B beside each circle. Which point is closer to the camera?"
MIN_RATIO, MARGIN = 1.25, 0.08  # the farther point is at least 25% farther; points away from the border


def items(source: Path):
    pairs = sorted(p for p in source.rglob("*_depth.npy"))
    if not pairs:
        raise BuildError(f"{source}: no {{name}}_depth.npy files (DIODE layout: {{name}}.png + {{name}}_depth.npy)")
    for depth in pairs:
        yield Item(str(depth.relative_to(source)), depth, stratum=depth.parent.name)


def make(item: Item, answer: int, rng) -> Question | None:
    """Two valid pixels whose depths differ clearly; the nearer one is labelled by the letter `answer` asks."""
    depth_path = item.data
    image_path = depth_path.with_name(depth_path.name.replace("_depth.npy", ".png"))
    im = open_image(image_path, str(depth_path))
    depth = np.load(depth_path).squeeze()
    if depth.shape != (im.height, im.width):
        raise BuildError(f"{depth_path}: depth map {depth.shape} does not match the {im.width}x{im.height} image")
    mask_path = depth_path.with_name(depth_path.name.replace("_depth.npy", "_depth_mask.npy"))
    valid = (np.load(mask_path).squeeze() > 0) if mask_path.exists() else np.isfinite(depth)
    valid &= depth > 0
    m = (np.array(depth.shape) * MARGIN).astype(int)
    ys, xs = np.nonzero(valid[m[0]: depth.shape[0] - m[0], m[1]: depth.shape[1] - m[1]])
    if len(ys) < 2:
        return None
    for _ in range(50):
        i, j = rng.choice(len(ys), 2, replace=False)
        near, far = (ys[i] + m[0], xs[i] + m[1]), (ys[j] + m[0], xs[j] + m[1])
        if depth[near] > depth[far]:
            near, far = far, near
        if depth[far] >= MIN_RATIO * depth[near]:
            break
    else:
        return None
    a, b = (near, far) if answer == 0 else (far, near)
    points = {"A": (float(a[1]), float(a[0])), "B": (float(b[1]), float(b[0]))}
    return Question(QUESTION, ["A is closer", "B is closer"], [mark_points(im, points)], answer, where_drawn(points))
