"""BLINK's visual prompts: a red ring at a point with its label ("A", "B", "REF") beside it, and boxes."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

RED = (255, 0, 0)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def mark_points(im: Image.Image, points: dict[str, tuple[float, float]]) -> Image.Image:
    """A copy of `im` with a ring per labelled point, the label in white on red just above it, as BLINK draws them."""
    im = im.copy()
    d = ImageDraw.Draw(im)
    s = max(im.size)
    r, w = max(3, s // 60), max(1, s // 200)
    font = _font(max(8, s // 30))
    for label, (x, y) in points.items():
        d.ellipse((x - r, y - r, x + r, y + r), outline=RED, width=w)
        left, top, right, bottom = d.textbbox((0, 0), label, font=font)
        tx, ty = x - (right - left) / 2, y - r - (bottom - top) - 2 * w
        d.rectangle((tx - w, ty - w, tx + right - left + w, ty + bottom - top + w), fill=RED)
        d.text((tx - left, ty - top), label, fill=(255, 255, 255), font=font)
    return im


def draw_box(im: Image.Image, box: tuple[float, float, float, float], color=RED) -> Image.Image:
    """A copy of `im` with an (x0, y0, x1, y1) rectangle outline."""
    im = im.copy()
    ImageDraw.Draw(im).rectangle(box, outline=color, width=max(1, max(im.size) // 150))
    return im
