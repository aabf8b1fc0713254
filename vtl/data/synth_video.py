"""A synthetic VSI-Bench-layout suite: short rendered clips whose answers follow from the frames.

One clip per question, in the hub's layout (`test.parquet` + `synth/<scene>.mp4`), so the same loader reads it as the
real benchmark. Every family of VSI-Bench has a few questions:
- object_counting: distinct coloured shapes that each show up in some frames; how many are there?
- obj_appearance_order: shapes appear one after another; which order?
- object_rel_direction: is one shape left or right of another (easy), or in which quadrant (hard)?
- object_rel_distance: which of three shapes is closest to the red one?
- route_planning: the green goal lies in which direction from the red start?
- object_size_estimation / object_abs_distance / room_size_estimation: lengths read against a floor grid whose cells
  are 50 cm (the question says so).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vtl.data.video import write_video
from vtl.home import build_once, vtl_home

SYNTH_VIDEO = "vtl://synth-video"
COLORS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (245, 215, 30),
          "purple": (150, 60, 200), "cyan": (20, 200, 210)}
CELL_CM = 50
N_FRAMES = 8
FPS = 4


def _canvas(s: int, grid: bool = False) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (s, s), (30, 30, 30))
    draw = ImageDraw.Draw(img)
    if grid:
        step = s // 8
        for i in range(0, s, step):
            draw.line([(i, 0), (i, s)], fill=(80, 80, 80))
            draw.line([(0, i), (s, i)], fill=(80, 80, 80))
    return img, draw


def _blob(draw, color: str, x: float, y: float, r: float) -> None:
    draw.ellipse([x - r, y - r, x + r, y + r], fill=COLORS[color])


def _letters(options: list[str]) -> list[str]:
    return [f"{'ABCDEF'[i]}. {o}" for i, o in enumerate(options)]


def _mc(options: list[str], correct: str, rng: np.random.Generator) -> tuple[list[str], str]:
    order = list(options)
    rng.shuffle(order)
    return _letters(order), "ABCDEF"[order.index(correct)]


def _counting(rng, s):
    k = int(rng.integers(1, 5))
    colors = list(rng.choice(list(COLORS), size=k, replace=False))
    places = [(rng.uniform(10, s - 10), rng.uniform(10, s - 10)) for _ in colors]
    shown = [sorted(rng.choice(N_FRAMES, size=3, replace=False)) for _ in colors]
    frames = []
    for f in range(N_FRAMES):
        img, draw = _canvas(s)
        for c, (x, y), when in zip(colors, places, shown, strict=True):
            if f in when:
                _blob(draw, c, x, y, 5)
        frames.append(img)
    return frames, "How many distinct coloured objects appear in the video?", [], str(k)


def _appearance(rng, s):
    colors = list(rng.choice(list(COLORS), size=3, replace=False))
    places = [(s * (i + 1) / 4, s / 2) for i in range(3)]
    start = sorted(rng.choice(range(1, N_FRAMES - 1), size=3, replace=False))
    frames = []
    for f in range(N_FRAMES):
        img, draw = _canvas(s)
        for c, (x, y), t in zip(colors, places, start, strict=True):
            if f >= t:
                _blob(draw, c, x, y, 6)
        frames.append(img)
    correct = ", ".join(colors)
    others = [", ".join(p) for p in itertools.permutations(colors) if ", ".join(p) != correct]
    picks = [correct, *list(rng.choice(others, size=3, replace=False))]
    options, answer = _mc(picks, correct, rng)
    listed = ", ".join(sorted(colors))
    q = f"What will be the first-time appearance order of the following objects in the video: {listed}?"
    return frames, q, options, answer


def _static(rng, s, draw_fn, grid=False):
    img, draw = _canvas(s, grid)
    draw_fn(draw)
    return [img] * N_FRAMES


def _rel_direction(rng, s):
    a, b = rng.choice(list(COLORS), size=2, replace=False)
    xa = rng.uniform(8, s / 2 - 8)
    xb = rng.uniform(s / 2 + 8, s - 8)
    if rng.random() < 0.5:
        xa, xb = xb, xa
    ya, yb = rng.uniform(8, s - 8, size=2)
    frames = _static(rng, s, lambda d: (_blob(d, a, xa, ya, 5), _blob(d, b, xb, yb, 5)))
    correct = "left" if xb < xa else "right"
    options, answer = _mc(["left", "right"], correct, rng)
    q = f"Looking at the video, is the {b} object to the left or to the right of the {a} object?"
    return frames, q, options, answer


def _rel_distance(rng, s):
    colors = list(rng.choice(list(COLORS)[1:], size=3, replace=False))
    pos = {c: (rng.uniform(6, s - 6), rng.uniform(6, s - 6)) for c in [*colors, "red"]}
    dists = {c: np.hypot(pos[c][0] - pos["red"][0], pos[c][1] - pos["red"][1]) for c in colors}
    if sorted(dists.values())[1] - min(dists.values()) < 4:  # keep the answer readable from the pixels
        pos[min(dists, key=dists.get)] = (pos["red"][0] + 4, pos["red"][1])
        dists = {c: np.hypot(pos[c][0] - pos["red"][0], pos[c][1] - pos["red"][1]) for c in colors}
    frames = _static(rng, s, lambda d: [_blob(d, c, *pos[c], 4) for c in pos])
    correct = min(dists, key=dists.get)
    options, answer = _mc(colors, correct, rng)
    q = f"Which of these objects ({', '.join(colors)}) is the closest to the red object?"
    return frames, q, options, answer


def _route(rng, s):
    start = (s / 2, s / 2)
    direction = str(rng.choice(["up", "down", "left", "right"]))
    offset = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[direction]
    goal = (start[0] + offset[0] * s / 3, start[1] + offset[1] * s / 3)
    frames = _static(rng, s, lambda d: (_blob(d, "red", *start, 5), _blob(d, "green", *goal, 5)))
    options, answer = _mc(["up", "down", "left", "right"], direction, rng)
    q = "You start at the red object. In which direction should you go to reach the green object?"
    return frames, q, options, answer


def _size(rng, s):
    cells = int(rng.integers(1, 5))
    step = s // 8
    x0, y0 = step * int(rng.integers(0, 8 - cells)), step * int(rng.integers(0, 7))
    frames = _static(rng, s, lambda d: d.rectangle([x0, y0, x0 + cells * step, y0 + step // 2], fill=COLORS["red"]),
                     grid=True)
    q = (f"The floor grid cells are {CELL_CM} cm wide. What is the length of the longest dimension of the red "
         f"object, in centimeters?")
    return frames, q, [], str(cells * CELL_CM)


def _abs_distance(rng, s):
    step = s // 8
    y = step * int(rng.integers(1, 7))
    a, b = sorted(rng.choice(range(1, 8), size=2, replace=False))
    frames = _static(rng, s, lambda d: (_blob(d, "red", a * step, y, 3), _blob(d, "blue", b * step, y, 3)),
                     grid=True)
    q = (f"The floor grid cells are {CELL_CM} cm wide. What is the distance between the red and the blue object, "
         f"in meters?")
    return frames, q, [], f"{(b - a) * CELL_CM / 100:g}"


def _room(rng, s):
    step = s // 8
    w, h = (int(v) for v in rng.integers(2, 8, size=2))
    frames = _static(rng, s, lambda d: d.rectangle([0, 0, w * step, h * step], outline=COLORS["yellow"], width=2),
                     grid=True)
    q = (f"The floor grid cells are {CELL_CM} cm wide; the room is outlined in yellow. What is the size of this room "
         f"in square meters?")
    return frames, q, [], f"{w * h * (CELL_CM / 100) ** 2:g}"


FAMILIES = {
    "object_counting": _counting,
    "obj_appearance_order": _appearance,
    "object_rel_direction_easy": _rel_direction,
    "object_rel_distance": _rel_distance,
    "route_planning": _route,
    "object_size_estimation": _size,
    "object_abs_distance": _abs_distance,
    "room_size_estimation": _room,
}


def write_video_suite(out_dir: str | Path, n_per_task: int = 4, seed: int = 0, size: int = 64) -> Path:
    """Write the synthetic suite: `test.parquet` with VSI-Bench's columns and one mp4 per question under `synth/`."""
    import pandas as pd

    out = Path(out_dir)
    rows = []
    for f_index, (question_type, make) in enumerate(FAMILIES.items()):
        rng = np.random.default_rng([seed, f_index])
        for i in range(n_per_task):
            frames, question, options, truth = make(rng, size)
            scene = f"{question_type}_{i:03d}"
            write_video(out / "synth" / f"{scene}.mp4", [np.asarray(f) for f in frames], fps=FPS)
            rows.append({"id": len(rows), "dataset": "synth", "scene_name": scene, "question_type": question_type,
                         "question": question, "options": options, "ground_truth": truth})
    pd.DataFrame(rows).to_parquet(out / "test.parquet", index=False)
    return out


def synth_video_dir() -> Path:
    """The embedded synthetic video suite (`vtl://synth-video`), built once under $VTL_HOME."""
    return build_once(vtl_home() / "synth-video-n4-s0", lambda d: write_video_suite(d, n_per_task=4, seed=0))
