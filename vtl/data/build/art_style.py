"""Art_Style from WikiArt: one folder per style (`Impressionism/claude-monet_water-lilies.jpg`), as in the ArtGAN
release of WikiArt."""

from __future__ import annotations

from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, open_image

TASK = "Art_Style"
FORMAT = "WikiArt: {Style}/{artist}_{title}.jpg, one folder per style"
QUESTION = ("Some most common art painting styles include Realism, Impressionism, Expressionism, Pop Art, and "
            "Cubism. Given the following images of art paintings, use the first image as the reference image, and "
            "determine which one of the second or third images shares the same style as the reference image?")
SUFFIXES = {".jpg", ".jpeg", ".png"}


def items(source: Path):
    styles = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in SUFFIXES)
              for d in sorted(source.iterdir()) if d.is_dir()}
    styles = {s: ps for s, ps in styles.items() if ps}
    if len(styles) < 2 or not any(len(ps) >= 2 for ps in styles.values()):
        raise BuildError(f"{source}: expected WikiArt's layout, one folder per style with its paintings "
                         f"(at least two styles, one with two paintings); found {len(styles)} style folder(s)")
    for style, paths in styles.items():
        if len(paths) < 2:
            continue
        for p in paths:
            yield Item(f"{style}/{p.name}", (p, style, styles), stratum=style)


def make(item: Item, answer: int, rng) -> Question:
    """The reference, then a painting of its style and one of another style, the same-style one at `answer`."""
    ref, style, styles = item.data
    same = [p for p in styles[style] if p != ref]
    other_style = sorted(s for s in styles if s != style)[rng.integers(len(styles) - 1)]
    pos, neg = same[rng.integers(len(same))], styles[other_style][rng.integers(len(styles[other_style]))]
    pair = [pos, neg] if answer == 0 else [neg, pos]
    images = [open_image(p, str(p)) for p in (ref, *pair)]
    return Question(QUESTION, ["the second image", "the third image"], images, answer,
                    f"reference {style}; other {other_style}")
