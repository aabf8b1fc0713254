"""The synthetic perception suite: 13 BLINK-shaped tasks whose answers can be read off the pixels.

Each task keeps its BLINK counterpart's form (images per question, number of choices, question wording) and
replaces the photograph with a rendered scene where the answer follows from what is drawn: counted shapes, a
perspective ground plane, shading over known albedo, a known camera shift, and so on. Labelled points are drawn as
coloured rings (A red, B green, C blue, D yellow; REF white) and the question says so, because letters are not
legible at the default 64 px. Output is the hub's parquet layout, split "val", so `load_source` reads it unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vtl.data.validate import format_prompt
from vtl.home import build_once, vtl_home
from vtl.tasks import REGISTRY, TRANSFER_TASKS

Rng = np.random.Generator
# A generator returns (question, choices, images, explanation) with the right answer at index `answer`.
Generated = tuple[str, list[str], list[Image.Image], str]

MARK = {"A": (230, 40, 40), "B": (40, 200, 60), "C": (50, 90, 240), "D": (245, 215, 30), "REF": (255, 255, 255)}
POINT_KEY = "Point A is circled in red, B in green, C in blue and D in yellow; REF is circled in white."
SHAPES = ("circle", "square", "triangle")
COLORS = {"orange": (245, 140, 20), "purple": (150, 60, 200), "cyan": (20, 200, 210), "pink": (245, 120, 190)}
ORDINAL = ("first", "second", "third", "fourth")


# ---------------------------------------------------------------- drawing primitives


def _gradient(rng: Rng, w: int, h: int) -> np.ndarray:
    """A smooth two-colour background, [h, w, 3] float in 0..255."""
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    return c0 * (1 - t[..., None]) + c1 * t[..., None]


def _to_image(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def _shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill, outline=None, width=1):
    box = (cx - r, cy - r, cx + r, cy + r)
    if kind == "circle":
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    elif kind == "square":
        draw.rectangle(box, fill=fill, outline=outline, width=width)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill, outline=outline, width=width)


def _ring(draw: ImageDraw.ImageDraw, x: float, y: float, label: str, s: int) -> None:
    r = max(2.0, s / 20)
    draw.ellipse((x - r, y - r, x + r, y + r), outline=MARK[label], width=max(1, s // 48))
    draw.point((x, y), fill=MARK[label])


def _cells(rng: Rng, s: int, n: int, grid: int = 4) -> list[tuple[float, float, float]]:
    """n non-overlapping (cx, cy, r) placements on a grid with jitter."""
    cell = s / grid
    picks = rng.choice(grid * grid, size=n, replace=False)
    out = []
    for p in picks:
        gx, gy = divmod(int(p), grid)
        r = cell * rng.uniform(0.28, 0.38)
        jx, jy = rng.uniform(-1, 1, 2) * (cell / 2 - r - 0.5)
        out.append(((gx + 0.5) * cell + jx, (gy + 0.5) * cell + jy, r))
    return out


def _scene(rng: Rng, w: int, h: int, n_shapes: int = 5, noise: float = 0.0) -> Image.Image:
    """A generic scene: gradient background and coloured shapes."""
    img = _to_image(_gradient(rng, w, h) + rng.normal(0, noise, (h, w, 3)) if noise else _gradient(rng, w, h))
    draw = ImageDraw.Draw(img)
    for cx, cy, r in _cells(rng, h, n_shapes):  # placed on an h x h grid, stretched to the width
        cx *= w / h
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        _shape(draw, SHAPES[rng.integers(3)], cx, cy, r, fill=color)
    return img


def _ordinal_choices(first: int, n: int) -> list[str]:
    return [f"the {ORDINAL[first + i]} image" for i in range(n)]


# ---------------------------------------------------------------- the 13 tasks


def art_style(rng: Rng, s: int, answer: int) -> Generated:
    """Style = how shapes are rendered (outlined, flat, striped, dotted); the match shares the reference's style."""
    styles = ("outline", "flat", "striped", "dotted")
    ref, other = rng.choice(len(styles), 2, replace=False)

    def paint(style: str) -> Image.Image:
        img = Image.new("RGB", (s, s), tuple(int(c) for c in rng.integers(180, 256, 3)))
        draw = ImageDraw.Draw(img)
        for cx, cy, r in _cells(rng, s, int(rng.integers(3, 6))):
            color = tuple(int(c) for c in rng.integers(0, 150, 3))
            kind = SHAPES[rng.integers(3)]
            if style == "outline":
                _shape(draw, kind, cx, cy, r, fill=None, outline=color, width=max(1, s // 32))
            else:
                _shape(draw, kind, cx, cy, r, fill=color)
                if style in ("striped", "dotted"):
                    step = max(2, s // 16)
                    for k in range(int(cx - r), int(cx + r) + 1, step):
                        if style == "striped":
                            draw.line((k, cy - r, k, cy + r), fill=(255, 255, 255))
                        else:
                            for m in range(int(cy - r), int(cy + r) + 1, step):
                                draw.point((k, m), fill=(255, 255, 255))
        return img

    cands = [paint(styles[ref]), paint(styles[other])]
    if answer == 1:
        cands.reverse()
    q = (
        "Some common painting styles are outline drawing, flat colour, stripes and dots. Given the following images, "
        "use the first image as the reference image, and determine which one of the second or the third image "
        "shares the same style as the reference image?"
    )
    return q, _ordinal_choices(1, 2), [paint(styles[ref]), *cands], f"the reference is drawn in {styles[ref]} style"


def counting(rng: Rng, s: int, answer: int) -> Generated:
    color, kind = list(COLORS)[rng.integers(len(COLORS))], SHAPES[rng.integers(3)]
    count = int(rng.integers(1, 7))
    others = [int(x) for x in rng.permutation([n for n in range(0, 9) if n != count])[:3]]
    choices = [str(n) for n in others]
    choices.insert(answer, str(count))
    n_distract = int(rng.integers(1, 7))
    img = _to_image(_gradient(rng, s, s) * 0.4 + 60)
    draw = ImageDraw.Draw(img)
    spots = _cells(rng, s, count + n_distract)
    for i, (cx, cy, r) in enumerate(spots):
        if i < count:
            _shape(draw, kind, cx, cy, r, fill=COLORS[color])
        else:  # a distractor differs in colour or in shape, never both equal to the target
            if rng.random() < 0.5:
                c2 = [c for c in COLORS if c != color][rng.integers(len(COLORS) - 1)]
                _shape(draw, kind, cx, cy, r, fill=COLORS[c2])
            else:
                k2 = [k for k in SHAPES if k != kind][rng.integers(2)]
                _shape(draw, k2, cx, cy, r, fill=COLORS[color])
    return f"How many {color} {kind}s are in the image?", choices, [img], f"{color} {kind}s: {count}"


def forensic_detection(rng: Rng, s: int, answer: int) -> Generated:
    """The real photograph has smooth lighting and even sensor noise; each fake carries one visible artifact."""

    def photo() -> np.ndarray:
        a = _gradient(rng, s, s)
        yy, xx = np.mgrid[0:s, 0:s]
        for _ in range(3):
            (cx, cy), r = rng.uniform(0.2, 0.8, 2) * s, rng.uniform(0.1, 0.2) * s
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            a = a * (1 - blob[..., None]) + rng.uniform(20, 235, 3) * blob[..., None]
        return a + rng.normal(0, 6, (s, s, 3))

    def fake(kind: int) -> np.ndarray:
        a = photo()
        b = s // 4
        x, y = rng.integers(0, s - 2 * b, 2)
        if kind == 0:  # a noiseless flat patch pasted in
            a[y : y + 2 * b, x : x + 2 * b] = a[y : y + 2 * b, x : x + 2 * b].mean(axis=(0, 1))
        elif kind == 1:  # colour banding from heavy quantisation
            a = np.round(a / 64) * 64
        else:  # blocky mosaic region
            blk = max(2, s // 16)
            reg = a[y : y + 2 * b, x : x + 2 * b]
            small = reg[::blk, ::blk]
            a[y : y + 2 * b, x : x + 2 * b] = np.repeat(np.repeat(small, blk, 0), blk, 1)[: 2 * b, : 2 * b]
        return a

    imgs = [fake(int(k)) for k in rng.permutation(3)]
    imgs.insert(answer, photo())
    q = (
        "You are a judge in a photography competition, and now you are given the four images. Please examine the "
        "details and tell which one of them is most likely to be a real photograph."
    )
    return q, _ordinal_choices(0, 4), [_to_image(a) for a in imgs], "the others show a flat patch, banding or blocks"


def _tool(rng: Rng, s: int) -> tuple[Image.Image, dict[str, tuple[float, float]]]:
    """A tool: a thin handle joined to a head of some shape; returns the image and its functional parts."""
    img = _to_image(_gradient(rng, s, s) * 0.3 + 150)
    draw = ImageDraw.Draw(img)
    angle = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(angle), np.sin(angle)])
    centre = np.array([s / 2, s / 2]) + rng.uniform(-0.05, 0.05, 2) * s
    length = rng.uniform(0.55, 0.7) * s
    grip = centre - d * length / 2
    joint = centre + d * length * 0.15
    head = centre + d * length * 0.35
    draw.line((*grip, *joint), fill=(120, 70, 30), width=max(2, s // 16))
    hr = s * rng.uniform(0.1, 0.14)
    _shape(draw, SHAPES[rng.integers(3)], *head, hr, fill=tuple(int(c) for c in rng.integers(60, 140, 3)))
    mid = (grip + joint) / 2
    far = head + d * hr * 0.8
    return img, {"grip": tuple(grip), "mid": tuple(mid), "head": tuple(head), "tip": tuple(far)}


def _mark_correspondence(rng: Rng, s: int, answer: int, img1, parts1: dict, img2, parts2: dict) -> str:
    """Ring a random part of image 1 as REF and the four parts of image 2 as A-D, the same part at `answer`."""
    names = list(parts1)
    ref = names[rng.integers(len(names))]
    order = [str(n) for n in rng.permutation(names) if n != ref]
    order.insert(answer, ref)
    _ring(ImageDraw.Draw(img1), *parts1[ref], "REF", s)
    d2 = ImageDraw.Draw(img2)
    for letter, name in zip("ABCD", order, strict=True):
        _ring(d2, *parts2[name], letter, s)
    return ref


def functional_correspondence(rng: Rng, s: int, answer: int) -> Generated:
    img1, parts1 = _tool(rng, s)
    img2, parts2 = _tool(rng, s)
    ref = _mark_correspondence(rng, s, answer, img1, parts1, img2, parts2)
    q = (
        "Humans can find corresponding points for the same action between different objects. For instance, to "
        "hold a tool you grip its handle end, and to strike with it you use its head. Given the following two "
        "images of tools, a reference point is marked on the first image, labeled with REF. Which of the points "
        "A, B, C, D on the second image serves the same function as the reference point? " + POINT_KEY
    )
    return q, [f"Point {x}" for x in "ABCD"], [img1, img2], f"REF marks the {ref} of the first tool"


def jigsaw(rng: Rng, s: int, answer: int) -> Generated:
    full = _scene(rng, s, s, n_shapes=6, noise=4)
    h = s // 2
    piece = full.crop((h, h, s, s))
    other = _scene(rng, s, s, n_shapes=6, noise=4).crop((h, h, s, s))
    holed = full.copy()
    ImageDraw.Draw(holed).rectangle((h, h, s - 1, s - 1), fill=(0, 0, 0))
    cands = [piece, other] if answer == 0 else [other, piece]
    q = (
        "Given the first image with the lower right corner missing, can you tell which one of the second image or "
        "the third image is the missing part? Imagine which image would be more appropriate to place in the "
        "missing spot. You can also carefully observe and compare the edges of the images."
    )
    return q, _ordinal_choices(1, 2), [holed, *[c.resize((s, s), Image.NEAREST) for c in cands]], "edges continue"


def multi_view_reasoning(rng: Rng, s: int, answer: int) -> Generated:
    """Two crops of one wide scene: the camera moving left makes the scene shift right in the second frame."""
    wide = _scene(rng, 2 * s, s, n_shapes=8, noise=3)
    shift = int(rng.integers(s // 6, s // 3))
    x0 = int(rng.integers(shift, s - shift))
    x1 = x0 - shift if answer == 0 else x0 + shift
    frames = [wide.crop((x, 0, x + s, s)) for x in (x0, x1)]
    q = (
        "The images are frames from a video. The video is shooting a static scene. The camera is either moving "
        "left or right. The first image is from the beginning of the video and the second image is from the end. "
        "Is the camera moving left or right when shooting the video?"
    )
    return q, ["left", "right"], frames, f"the scene shifts by {x0 - x1:+d} px"


def object_localization(rng: Rng, s: int, answer: int) -> Generated:
    img = _to_image(_gradient(rng, s, s) * 0.3 + 40)
    draw = ImageDraw.Draw(img)
    spots = _cells(rng, s, 3)
    names = [str(c) for c in rng.permutation(list(COLORS))[:3]]
    kinds = [SHAPES[i] for i in rng.integers(0, 3, 3)]
    for (cx, cy, r), color, kind in zip(spots, names, kinds, strict=True):
        _shape(draw, kind, cx, cy, r, fill=COLORS[color])
    cx, cy, r = spots[0]
    good = (cx - r, cy - r, cx + r, cy + r)
    off = r * rng.uniform(0.8, 1.2) * np.array([rng.choice([-1, 1]), rng.choice([-1, 1])])
    scale = rng.uniform(1.4, 1.8) if rng.random() < 0.5 else 1.0
    bad = (cx + off[0] - r * scale, cy + off[1] - r * scale, cx + off[0] + r * scale, cy + off[1] + r * scale)
    boxes = [good, bad] if answer == 0 else [bad, good]
    for box, color in zip(boxes, (MARK["A"], MARK["C"]), strict=True):
        draw.rectangle(box, outline=color, width=1)
    q = (
        "A bounding box is an annotated rectangle surrounding an object. The edges of bounding boxes should touch "
        f"the outermost pixels of the object. Box A is drawn in red and Box B in blue. Which bounding box more "
        f"accurately localizes and encloses the {names[0]} {kinds[0]}?"
    )
    return q, ["Box A", "Box B"], [img], f"the {names[0]} {kinds[0]} is at ({cx:.0f}, {cy:.0f})"


def relative_depth(rng: Rng, s: int, answer: int) -> Generated:
    """A ground plane under perspective (bands narrowing and fading to a horizon): lower points are nearer."""
    horizon = s * rng.uniform(0.2, 0.35)
    yy = np.arange(s)[:, None].repeat(s, 1).astype(float)
    depth = np.where(yy > horizon, s / np.maximum(yy - horizon, 1), 1e6)  # distance along the ground
    bands = (np.floor(depth * 4) % 2)[..., None]
    fog = np.clip(1 - depth / 8, 0, 1)[..., None]
    ground = (np.array([90, 150, 60]) + bands * 40) * fog + np.array([180, 200, 220]) * (1 - fog)
    sky = np.array([150, 190, 240]) * np.ones((s, s, 3))
    img = _to_image(np.where(yy[..., None] > horizon, ground, sky))
    draw = ImageDraw.Draw(img)
    near_y, far_y = sorted(rng.uniform(horizon + 0.12 * s, 0.92 * s, 2), reverse=True)
    if near_y - far_y < 0.15 * s:
        far_y = max(horizon + 0.05 * s, near_y - 0.2 * s)
    xs = rng.uniform(0.15, 0.85, 2) * s
    pts = [(xs[0], near_y), (xs[1], far_y)] if answer == 0 else [(xs[0], far_y), (xs[1], near_y)]
    for letter, (x, y) in zip("AB", pts, strict=True):
        _ring(draw, x, y, letter, s)
    q = (
        "Two points are circled on the image, labeled by A and B beside each circle (A in red, B in green). "
        "Which point is closer to the camera?"
    )
    return q, ["A", "B"], [img], "both points lie on the ground plane; the lower one is nearer"


def relative_reflectance(rng: Rng, s: int, answer: int) -> Generated:
    """Tiles of known albedo under a smooth light gradient; the white grout shows the lighting."""
    n = 4
    albedo = rng.choice([0.25, 0.45, 0.65, 0.85], size=(n, n))
    pa, pb = rng.choice(n * n, 2, replace=False)
    (ay, ax), (by, bx) = divmod(int(pa), n), divmod(int(pb), n)
    lo, hi = sorted(rng.choice([0.25, 0.45, 0.65, 0.85], 2, replace=False))
    albedo[ay, ax], albedo[by, bx] = [(lo, hi), (hi, lo), (hi, hi)][answer]
    cell = s / n
    yy, xx = np.mgrid[0:s, 0:s]
    tile = albedo[np.minimum(yy // cell, n - 1).astype(int), np.minimum(xx // cell, n - 1).astype(int)]
    grout = ((xx % cell) < max(1, s // 32)) | ((yy % cell) < max(1, s // 32))
    tile = np.where(grout, 1.0, tile)
    angle = rng.uniform(0, 2 * np.pi)
    light = np.cos(angle) * xx + np.sin(angle) * yy
    light = 0.45 + 0.55 * (light - light.min()) / (np.ptp(light) + 1e-9)
    img = _to_image((tile * light)[..., None] * np.array([235, 225, 210]))
    draw = ImageDraw.Draw(img)
    for letter, (ty, tx) in zip("AB", [(ay, ax), (by, bx)], strict=True):
        _ring(draw, (tx + 0.5) * cell, (ty + 0.5) * cell, letter, s)
    q = (
        "Two points are circled on the image, labeled by A and B beside each circle (A in red, B in green). "
        "Which point has darker surface color, or the colors is about the same?"
    )
    return q, ["A is darker", "B is darker", "About the same"], [img], "compare against the white grout's shading"


def _house(rng: Rng, s: int) -> tuple[Image.Image, dict[str, tuple[float, float]]]:
    img = _to_image(_gradient(rng, s, s) * 0.5 + 100)
    draw = ImageDraw.Draw(img)
    w = s * rng.uniform(0.35, 0.5)
    h = w * rng.uniform(0.6, 0.9)
    x0 = rng.uniform(0.05 * s, s - w - 0.05 * s)
    y0 = rng.uniform(0.35 * s, s - h - 0.05 * s)
    roof = y0 - w * rng.uniform(0.4, 0.6)
    draw.rectangle((x0, y0, x0 + w, y0 + h), fill=tuple(int(c) for c in rng.integers(120, 220, 3)))
    draw.polygon([(x0, y0), (x0 + w, y0), (x0 + w / 2, roof)], fill=tuple(int(c) for c in rng.integers(30, 110, 3)))
    dw = w / 4
    draw.rectangle((x0 + w / 2 - dw / 2, y0 + h * 0.45, x0 + w / 2 + dw / 2, y0 + h), fill=(60, 40, 20))
    parts = {
        "roof apex": (x0 + w / 2, roof + 1),
        "door": (x0 + w / 2, y0 + h * 0.75),
        "bottom-left corner": (x0 + 1, y0 + h - 1),
        "bottom-right corner": (x0 + w - 1, y0 + h - 1),
    }
    return img, parts


def semantic_correspondence(rng: Rng, s: int, answer: int) -> Generated:
    img1, p1 = _house(rng, s)
    img2, p2 = _house(rng, s)
    ref = _mark_correspondence(rng, s, answer, img1, p1, img2, p2)
    q = (
        "Humans can find corresponding points for different objects in the same category. For instance, the roof "
        "apex of one house corresponds to the roof apex of another house. Given the following two images, a "
        "reference point is annotated on the first image, labeled with REF. You are given multiple circled points "
        "on the second image, choices of A, B, C, D. Which point is corresponding to the reference point? "
        + POINT_KEY
    )
    return q, [f"Point {x}" for x in "ABCD"], [img1, img2], f"REF marks the {ref}"


def spatial_relation(rng: Rng, s: int, answer: int) -> Generated:
    c1, c2 = (str(c) for c in rng.permutation(list(COLORS))[:2])
    k1, k2 = (str(k) for k in rng.choice(SHAPES, 2))
    relation = ("to the left of", "to the right of", "above", "below")[rng.integers(4)]
    truth = answer == 0
    img = _to_image(_gradient(rng, s, s) * 0.3 + 60)
    draw = ImageDraw.Draw(img)
    r = s * 0.12
    a, b = rng.uniform(0.15, 0.3) * s, rng.uniform(0.7, 0.85) * s  # a < b on the deciding axis, shapes apart
    other = rng.uniform(0.2, 0.8, 2) * s
    first_low = relation in ("to the left of", "above")
    u1, u2 = (a, b) if first_low == truth else (b, a)
    if relation in ("to the left of", "to the right of"):
        p1, p2 = (u1, other[0]), (u2, other[1])
    else:
        p1, p2 = (other[0], u1), (other[1], u2)
    _shape(draw, k1, *p1, r, fill=COLORS[c1])
    _shape(draw, k2, *p2, r, fill=COLORS[c2])
    q = f"Is the {c1} {k1} {relation} the {c2} {k2}?"
    return q, ["yes", "no"], [img], f"the {c1} {k1} is at {p1[0]:.0f},{p1[1]:.0f}; the other at {p2[0]:.0f},{p2[1]:.0f}"


def visual_correspondence(rng: Rng, s: int, answer: int) -> Generated:
    """Image 2 is a shifted, re-lit view of the same scene; the REF point moves by the same shift."""
    big = np.asarray(_scene(rng, 2 * s, 2 * s, n_shapes=12, noise=3), dtype=float)
    ox, oy = rng.integers(0, s // 2, 2)
    x2, y2 = int(ox), int(oy)
    while np.hypot(x2 - ox, y2 - oy) < s / 10:  # a visible camera move, still within the big canvas
        dx, dy = rng.integers(-s // 4, s // 4 + 1, 2)
        x2, y2 = int(np.clip(ox + dx, 0, s)), int(np.clip(oy + dy, 0, s))
    img1 = _to_image(big[oy : oy + s, ox : ox + s])
    img2 = _to_image(big[y2 : y2 + s, x2 : x2 + s] * rng.uniform(0.7, 1.2))
    # REF inside the overlap of both views, away from the borders
    lo_x, hi_x = max(ox, x2) + s * 0.12, min(ox, x2) + s * 0.88
    lo_y, hi_y = max(oy, y2) + s * 0.12, min(oy, y2) + s * 0.88
    rx, ry = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
    true = (rx - x2, ry - y2)
    points = [true]
    while len(points) < 4:
        p = tuple(rng.uniform(0.1, 0.9, 2) * s)
        if min(np.hypot(p[0] - q[0], p[1] - q[1]) for q in points) > s * 0.2:
            points.append(p)
    order = points[1:]
    order.insert(answer, true)
    _ring(ImageDraw.Draw(img1), rx - ox, ry - oy, "REF", s)
    d2 = ImageDraw.Draw(img2)
    for letter, p in zip("ABCD", order, strict=True):
        _ring(d2, *p, letter, s)
    q = (
        "A point is circled on the first image, labeled with REF. We change the camera position or lighting and "
        "shoot the second image. You are given multiple circled points on the second image, choices of A, B, C, D. "
        "Which point on the second image corresponds to the point in the first image? " + POINT_KEY
    )
    return q, [f"Point {x}" for x in "ABCD"], [img1, img2], f"the camera moved by ({x2 - ox}, {y2 - oy}) px"


def visual_similarity(rng: Rng, s: int, answer: int) -> Generated:
    state = rng.bit_generator.state
    ref = _scene(rng, s, s, n_shapes=5)
    rng.bit_generator.state = state  # replay the same scene, then perturb it slightly
    near = np.asarray(_scene(rng, s, s, n_shapes=5), dtype=float) * rng.uniform(0.9, 1.1) + rng.normal(0, 4, (s, s, 3))
    far = _scene(rng, s, s, n_shapes=5)
    cands = [_to_image(near), far] if answer == 0 else [far, _to_image(near)]
    q = (
        "Given three similar but different images, take the first image as reference. Can you tell which one of "
        "the latter two images is most similar to the first one?"
    )
    return q, ["The second image", "The third image"], [ref, *cands], "the similar image repeats the reference scene"


GENERATORS: dict[str, Callable[[Rng, int, int], Generated]] = {
    "Art_Style": art_style,
    "Counting": counting,
    "Forensic_Detection": forensic_detection,
    "Functional_Correspondence": functional_correspondence,
    "Jigsaw": jigsaw,
    "Multi-view_Reasoning": multi_view_reasoning,
    "Object_Localization": object_localization,
    "Relative_Depth": relative_depth,
    "Relative_Reflectance": relative_reflectance,
    "Semantic_Correspondence": semantic_correspondence,
    "Spatial_Relation": spatial_relation,
    "Visual_Correspondence": visual_correspondence,
    "Visual_Similarity": visual_similarity,
}


# ---------------------------------------------------------------- writing


def png_struct(img: Image.Image, idx: str, k: int) -> dict:
    """An image as the hub's parquet stores it."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": f"{idx}_image_{k}.png"}


def task_rows(task: str, n: int, seed: int, image_size: int) -> list[dict]:
    """n rows of one task in BLINK's schema; answer letters balanced (counts differ by at most one)."""
    spec = REGISTRY[task]
    rng = np.random.default_rng([seed, TRANSFER_TASKS.index(task)])
    answers = rng.permutation([i % spec.n_choices for i in range(n)])
    rows = []
    for i, answer in enumerate(answers):
        idx = f"val_{task}_{i + 1}"
        question, choices, images, explanation = GENERATORS[task](rng, image_size, int(answer))
        row = {"idx": idx, "question": question, "sub_task": task}
        for k in range(4):
            row[f"image_{k + 1}"] = png_struct(images[k], idx, k + 1) if k < len(images) else None
        row.update(
            choices=choices,
            answer=f"({'ABCD'[int(answer)]})",
            prompt=format_prompt(question, choices),
            explanation=explanation,
        )
        rows.append(row)
    return rows


def write_suite(out_dir, n_per_task: int = 48, seed: int = 0, image_size: int = 64) -> Path:
    """Write all 13 tasks as `{out_dir}/{Task}/val-00000-of-00001.parquet`; same arguments give the same rows."""
    if n_per_task < 1:
        raise ValueError(f"--n-per-task must be at least 1, got {n_per_task}")
    if image_size < 32:
        raise ValueError(f"--image-size must be at least 32 px (markers and shapes need room), got {image_size}")
    out = Path(out_dir)
    for task in TRANSFER_TASKS:
        write_task_rows(out, task, task_rows(task, n_per_task, seed, image_size))
    return out


def write_task_rows(out: Path, task: str, rows: list[dict]) -> Path:
    """One task's rows as `{out}/{task}/val-00000-of-00001.parquet`, images as hub structs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema(
        [("idx", pa.string()), ("question", pa.string()), ("sub_task", pa.string())]
        + [(f"image_{k}", image_type) for k in range(1, 5)]
        + [("choices", pa.list_(pa.string())), ("answer", pa.string()), ("prompt", pa.string()),
           ("explanation", pa.string())]
    )
    (out / task).mkdir(parents=True, exist_ok=True)
    path = out / task / "val-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


# Size of the embedded synthetic suite (`vtl://synth`): per task, split later into train/eval by the data module.
SYNTH_N_PER_TASK = 48
SYNTH_IMAGE_SIZE = 64
SYNTH_SEED = 0


def synth_suite_dir() -> Path:
    """The embedded synthetic suite (`vtl://synth`), built once under $VTL_HOME."""
    return build_once(
        vtl_home() / f"synth-n{SYNTH_N_PER_TASK}-px{SYNTH_IMAGE_SIZE}-s{SYNTH_SEED}",
        lambda d: write_suite(d, n_per_task=SYNTH_N_PER_TASK, seed=SYNTH_SEED, image_size=SYNTH_IMAGE_SIZE),
    )
