"""Forensic_Detection from real photographs next to generated images: `real/` and `fake/` folders (any nesting),
e.g. photographs of a set and images a text-to-image model made from their captions."""

from __future__ import annotations

from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, need, open_image

TASK = "Forensic_Detection"
FORMAT = "real/ and fake/ folders of images (*.jpg, *.png)"
QUESTION = ("You are a judge in a photography competition, and now you are given the four images. Please examine "
            "the details and tell which one of them is most likely to be a real photograph.")
CHOICES = ["the first image", "the second image", "the third image", "the fourth image"]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})


def items(source: Path):
    real = _images(need(source / "real", "a real/ folder of photographs"))
    fake = _images(need(source / "fake", "a fake/ folder of generated images"))
    if len(fake) < 3 or not real:
        raise BuildError(f"{source}: needs at least one image in real/ and three in fake/; found {len(real)}, {len(fake)}")
    for p in real:
        yield Item(str(p.relative_to(source)), (p, fake))


def make(item: Item, answer: int, rng) -> Question:
    """The real photograph at position `answer` among three generated images."""
    real, fake = item.data
    images = [open_image(fake[int(i)], str(fake[int(i)])) for i in rng.choice(len(fake), 3, replace=False)]
    images.insert(answer, open_image(real, str(real)))
    return Question(QUESTION, CHOICES, images, answer)
