"""Jigsaw from any folder of photographs: the lower-right quarter is cut out, and the right patch is offered next to
a same-sized patch cut from another photograph."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vtl.data.build.core import BuildError, Item, Question, open_image

TASK = "Jigsaw"
FORMAT = "a folder of images (*.jpg, *.png), searched recursively"
QUESTION = ("Given the first image with the lower right corner missing, can you tell which one of the second image "
            "or the third image is the missing part? Imagine which image would be more appropriate to place in the "
            "missing spot. You can also carefully observe and compare the edges of the images.")


def items(source: Path):
    paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if len(paths) < 2:
        raise BuildError(f"{source}: Jigsaw needs a folder with at least two images; found {len(paths)}")
    for p in paths:
        yield Item(str(p.relative_to(source)), (p, paths))


def cut(im: Image.Image) -> tuple[Image.Image, Image.Image]:
    """(image with its lower-right quarter painted white, the quarter)."""
    w, h = im.size
    box = (w // 2, h // 2, w, h)
    patch = im.crop(box)
    holed = im.copy()
    holed.paste((255, 255, 255), box)
    return holed, patch


def make(item: Item, answer: int, rng) -> Question:
    path, paths = item.data
    others = [p for p in paths if p != path]
    holed, patch = cut(open_image(path, str(path)))
    _, wrong = cut(open_image(others[rng.integers(len(others))], str(path)).resize((holed.width, holed.height)))
    pair = [patch, wrong] if answer == 0 else [wrong, patch]
    return Question(QUESTION, ["the second image", "the third image"], [holed, *pair], answer)
