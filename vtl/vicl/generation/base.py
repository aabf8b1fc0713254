"""The image generator interface every backend in vtl.vicl.generation implements.

A generator answers `generate(instruction_text, images, k)`: the prompt text, the images [A_in, A_out, B_in]
(HxWx3 uint8), and how many candidates to make. It returns k entries, each a `Candidate` (an image) or a `Failure`
(blocked, image-less, or an API error that outlived its retries). Failures are data, not exceptions, so one bad
query never stops a run; configuration errors (missing key, unknown model, bad request) still raise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

log = logging.getLogger("vtl.vicl")

FailureKind = Literal["blocked", "no_image", "error"]


@dataclass
class Candidate:
    image: np.ndarray  # HxWx3 uint8
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    """A candidate that did not come back. kind "error" is transient (the item is retried on a rerun)."""

    kind: FailureKind
    detail: str = ""


class Generator:
    """Base of the generator backends: name them in YAML by `class_path` (a subclass) and `init_args`."""

    name: str = "generator"
    concurrent: bool = False  # True when parallel queries help (remote APIs); CPU-bound backends run one at a time

    def generate(self, instruction_text: str, images: Sequence[np.ndarray], k: int) -> list[Candidate | Failure]:
        raise NotImplementedError


def side_by_side(images: Sequence[np.ndarray]) -> np.ndarray:
    """The query's images in one row, each resized to the first one's height: the documented fallback for an
    editor that takes a single input image."""
    from vtl.vicl.lowlevel.images import resize

    height = images[0].shape[0]
    row = [resize(im, (height, max(1, round(im.shape[1] * height / im.shape[0])))) for im in images]
    return np.concatenate(row, axis=1)


def check_query(images: Sequence[np.ndarray], k: int) -> None:
    if len(images) != 3:
        raise ValueError(f"a VICL query has 3 images [A_in, A_out, B_in], got {len(images)}")
    if k < 1:
        raise ValueError(f"k (candidates per query) must be >= 1, got {k}")
