"""Near-duplicate leak check: perceptual hashes of evaluation images, matched against training images.

The byte-level overlap check (vtl.data.sources) misses an evaluation image that was re-encoded, resized or had a
marker drawn on it. A perceptual hash (imagehash's pHash: the low-frequency DCT signs of a grey thumbnail) survives
those edits. Hashes are packed bits; distances are Hamming distances computed with numpy against the whole
evaluation index at once, in blocks of training images, so 10K training images cost one pass of matrix work.

The hash size and threshold are measured by benchmarks/bench_leaks.py (docs/data_build.md has the figures).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image
from scipy import ndimage

HASH_SIZE = 16  # a 16x16 DCT block: 256 bits, fine enough that simple synthetic images stop colliding
DEFAULT_THRESHOLD = 48  # bits of 256: see docs/data_build.md for the hit and false-positive rates behind it
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BLOCK = 512  # training images per block of the distance matrix (block x index x bytes of uint8 work)


@dataclass(frozen=True)
class NearDuplicate:
    """A training image within the threshold of an evaluation image."""

    train_idx: str
    train_image: int  # 1-based: image_1..image_4
    eval_idx: str
    eval_image: int
    distance: int
    train_origin: str = ""
    eval_origin: str = ""

    def __str__(self) -> str:
        return (f"train row {self.train_idx!r} image_{self.train_image} ~ eval row {self.eval_idx!r} "
                f"image_{self.eval_image} (distance {self.distance})")


def without_markers(image: Image.Image) -> Image.Image:
    """`image` with BLINK's drawn prompts (pure-red rings, labels and boxes, and the white text inside the labels)
    filled from the nearest unmarked pixel: a training copy of an evaluation photo carries other markers, or none."""
    a = np.asarray(image.convert("RGB"))
    red = (a[..., 0] > 190) & (a[..., 1] < 70) & (a[..., 2] < 70)
    if not red.any():
        return image.convert("RGB")
    side = max(a.shape[:2])
    mask = ndimage.binary_closing(red, iterations=max(1, side // 60))  # the label's box with its white letters
    mask = ndimage.binary_dilation(mask, iterations=max(1, side // 200))  # the anti-aliased rim
    if mask.all():
        return image.convert("RGB")
    rows, cols = ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
    return Image.fromarray(a[rows, cols])


def phash(image: Image.Image, hash_size: int = HASH_SIZE) -> np.ndarray:
    """The pHash of the image without its markers, as packed bytes (hash_size**2 / 8 of them)."""
    return np.packbits(imagehash.phash(without_markers(image), hash_size=hash_size).hash.ravel())


def hamming(queries: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(n queries, n index) Hamming distances between two arrays of packed hashes."""
    return _POPCOUNT[np.bitwise_xor(queries[:, None, :], index[None, :, :])].sum(axis=2, dtype=np.int32)


def _image_hashes(rows: Iterable, hash_size: int) -> tuple[np.ndarray, list[tuple[object, int]]]:
    keys, hashes = [], []
    for row in rows:
        for n, image in enumerate(row.images, 1):
            keys.append((row, n))
            hashes.append(phash(image, hash_size))
    return np.array(hashes, dtype=np.uint8).reshape(len(hashes), hash_size * hash_size // 8), keys


def source_rows(source: str, split: str, tasks: list[str] | None = None) -> list:
    """Every row of `source`'s `split` (of `tasks`, default all it holds), task after task."""
    from vtl.data.loaders import load_source, resolve_source

    return [r for rows in load_source(resolve_source(source), tasks=tasks, split=split).values() for r in rows]


class LeakIndex:
    """Packed pHashes of every image of the evaluation rows, with the row and image number of each."""

    def __init__(self, eval_rows: Iterable, *, hash_size: int = HASH_SIZE):
        self.hash_size = hash_size
        self.hashes, self.keys = _image_hashes(eval_rows, hash_size)

    @classmethod
    def from_source(cls, source: str, *, split: str = "val", tasks=None, **kw) -> LeakIndex:
        return cls(source_rows(source, split, tasks), **kw)

    def matches(self, image: Image.Image, threshold: int = DEFAULT_THRESHOLD) -> list[tuple[object, int, int]]:
        """(eval row, image number, distance) of every indexed image within `threshold` bits, nearest first."""
        if not self.keys:
            return []
        dist = hamming(phash(image, self.hash_size)[None], self.hashes)[0]
        hits = np.flatnonzero(dist <= threshold)
        return [(*self.keys[i], int(dist[i])) for i in hits[np.argsort(dist[hits], kind="stable")]]

    def near_duplicates(self, train_rows: Iterable, threshold: int = DEFAULT_THRESHOLD) -> list[NearDuplicate]:
        """Every training image within `threshold` bits of an evaluation image (its nearest one), in row order."""
        hashes, keys = _image_hashes(train_rows, self.hash_size)
        found = []
        if not self.keys:
            return found
        for start in range(0, len(keys), _BLOCK):
            dist = hamming(hashes[start:start + _BLOCK], self.hashes)
            nearest = dist.argmin(axis=1)
            best = dist[np.arange(len(nearest)), nearest]
            for i in np.flatnonzero(best <= threshold):
                (train, n), (other, m) = keys[start + i], self.keys[nearest[i]]
                found.append(NearDuplicate(train.idx, n, other.idx, m, int(best[i]),
                                           getattr(train, "origin", ""), getattr(other, "origin", "")))
        return found


def check_no_near_duplicates(train_rows: list, eval_rows: list, threshold: int = DEFAULT_THRESHOLD, *,
                             flags: str) -> None:
    """Raise LeakError naming the training rows whose images near-duplicate an evaluation image."""
    from vtl.data.sources import LeakError, listed

    found = LeakIndex(eval_rows).near_duplicates(train_rows, threshold)
    if found:
        raise LeakError(flags, None, None, f"{len(found)} training image(s) near-duplicate evaluation images "
                        f"(perceptual hash within {threshold} of {HASH_SIZE ** 2} bits): {listed(found)}",
                        "remove those rows from the training source (vtl data build --exclude EVAL_SOURCE drops "
                        "them), or set --data.leak_threshold null to skip this check")
