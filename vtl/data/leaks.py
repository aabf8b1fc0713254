"""Near-duplicate leak check: perceptual hashes of an eval source's images, matched against training images.

The byte-level overlap check (vtl.data.sources) misses a val image that was re-encoded, resized or had a marker
drawn on it. A 64-bit pHash (DCT of a 32x32 grey thumbnail) survives those edits; distances are Hamming distances
over packed hashes, computed with numpy against the whole eval index at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

DEFAULT_THRESHOLD = 10  # bits of 64; re-encodes/resizes/markers land well below, unrelated photos near 32
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class LeakMatch:
    eval_idx: str
    image_field: str  # the eval row's image_1..image_4
    distance: int


def phash_bytes(image: Image.Image) -> np.ndarray:
    """The image's 64-bit pHash as 8 packed bytes."""
    bits = imagehash.phash(image.convert("RGB")).hash.ravel()
    return np.packbits(bits)


class LeakIndex:
    """Packed pHashes of every image of an eval source's rows, with their (idx, image field)."""

    def __init__(self, hashes: np.ndarray, keys: list[tuple[str, str]]):
        self.hashes = hashes.reshape(-1, 8).astype(np.uint8)
        self.keys = keys

    @classmethod
    def from_source(cls, source: str, *, split: str = "val", tasks=None) -> "LeakIndex":
        from vtl.data.loaders import load_source, resolve_source

        keys, hashes = [], []
        for rows in load_source(resolve_source(source), tasks=tasks, split=split).values():
            for row in rows:
                for n, image in enumerate(row.images, 1):
                    keys.append((row.idx, f"image_{n}"))
                    hashes.append(phash_bytes(image))
        return cls(np.array(hashes, dtype=np.uint8), keys)

    def distances(self, hashes: np.ndarray) -> np.ndarray:
        """(n query, n eval) Hamming distances between packed query hashes and the index."""
        xor = np.bitwise_xor(hashes.reshape(-1, 1, 8), self.hashes[None, :, :])
        return _POPCOUNT[xor].sum(axis=2, dtype=np.int32)

    def matches(self, image: Image.Image, threshold: int | None = None) -> list[LeakMatch]:
        """Eval images within `threshold` bits of `image`, nearest first."""
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        if not self.keys:
            return []
        dist = self.distances(phash_bytes(image))[0]
        hits = np.flatnonzero(dist <= limit)
        return [LeakMatch(*self.keys[i], int(dist[i])) for i in hits[np.argsort(dist[hits], kind="stable")]]
