"""The leak check's threshold and speed, measured: hit rate on edited copies, false positives on unrelated images.

Images: non-overlapping tiles of the natural photographs that scikit-image ships (skimage.data; no download) stand
in for an evaluation set. Copies: JPEG re-encodes, resizes, and BLINK-style drawn markers (labelled circles, a box)
of every tile. Unrelated: every other tile. For each hash size it prints the hit rate per edit and the
false-positive rate per pair at a range of thresholds, then the time to check 10K training images against an index
the size of BLINK val's images.

    python benchmarks/bench_leaks.py                 # hash sizes 8 and 16
    python benchmarks/bench_leaks.py --hash-size 16 --n-train 10000
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from vtl.data.build.draw import draw_box, mark_points
from vtl.data.leaks import DEFAULT_THRESHOLD, HASH_SIZE, LeakIndex, hamming, phash

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "hubble_deep_field",
          "colorwheel", "camera", "coins", "moon", "horse", "clock", "brick", "grass", "gravel", "cell", "page"]


def tiles(side: int = 128) -> list[Image.Image]:
    import skimage.data

    out = []
    for name in PHOTOS:
        a = np.asarray(getattr(skimage.data, name)())
        a = np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]
        if a.dtype != np.uint8:
            a = (255 * (a > 0)).astype(np.uint8) if a.dtype == bool else a.astype(np.uint8)
        for y in range(0, a.shape[0] - side + 1, side):
            for x in range(0, a.shape[1] - side + 1, side):
                tile = a[y:y + side, x:x + side]
                if tile.std() > 8:  # flat tiles (sky, blank page) are the same image, not unrelated photos
                    out.append(Image.fromarray(tile))
    return out


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


EDITS = {
    "jpeg q50": lambda im: jpeg(im, 50),
    "jpeg q90": lambda im: jpeg(im, 90),
    "resize 0.5x": lambda im: im.resize((im.width // 2, im.height // 2), Image.BICUBIC),
    "resize 2x": lambda im: im.resize((im.width * 2, im.height * 2), Image.BICUBIC),
    "resize 1.5x + jpeg q75": lambda im: jpeg(im.resize((im.width * 3 // 2, im.height * 3 // 2)), 75),
    "markers A/B": lambda im: mark_points(im, {"A": (im.width * 0.3, im.height * 0.4),
                                               "B": (im.width * 0.7, im.height * 0.6)}),
    "box": lambda im: draw_box(im, (im.width * 0.2, im.height * 0.2, im.width * 0.6, im.height * 0.5)),
}


def rates(hash_size: int, thresholds: list[int]) -> None:
    base = tiles()
    index = np.array([phash(t, hash_size) for t in base])
    self_dist = hamming(index, index)
    unrelated = self_dist[~np.eye(len(base), dtype=bool)]
    print(f"\nhash {hash_size}x{hash_size} = {hash_size ** 2} bits; {len(base)} tiles of {len(PHOTOS)} photos; "
          f"{unrelated.size} unrelated pairs")
    print(f"{'threshold':>10} " + " ".join(f"{t:>7}" for t in thresholds))
    for name, edit in EDITS.items():
        copies = np.array([phash(edit(t), hash_size) for t in base])
        own = hamming(copies, index)[np.arange(len(base)), np.arange(len(base))]
        print(f"{name:>22}: hit " + " ".join(f"{(own <= t).mean():7.3f}" for t in thresholds)
              + f"   median distance {np.median(own):.0f}")
    print(f"{'unrelated':>22}: FP  " + " ".join(f"{(unrelated <= t).mean():7.4f}" for t in thresholds)
          + f"   min distance {unrelated.min()}, 1st percentile {np.percentile(unrelated, 1):.0f}")


class _Row:
    def __init__(self, idx: str, images: list[Image.Image]):
        self.idx, self.images = idx, images


def speed(n_train: int, n_eval_images: int, hash_size: int) -> None:
    rng = np.random.default_rng(0)
    base = tiles()
    evaluation = [_Row(f"e{i}", [base[i % len(base)].rotate(int(rng.integers(1, 359)))]) for i in range(n_eval_images)]
    train = [_Row(f"t{i}", [Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))])
             for i in range(n_train)]
    t0 = time.perf_counter()
    index = LeakIndex(evaluation, hash_size=hash_size)
    t1 = time.perf_counter()
    found = index.near_duplicates(train)
    t2 = time.perf_counter()
    # the distance matrix alone, to separate matrix work from hashing
    hashes = np.array([phash(r.images[0], hash_size) for r in train[:1000]])
    t3 = time.perf_counter()
    hamming(hashes, index.hashes)
    t4 = time.perf_counter()
    per_10k = (t2 - t1) / n_train * 10_000
    print(f"\nspeed ({hash_size ** 2} bits): index of {n_eval_images} eval images {t1 - t0:.1f} s; "
          f"{n_train} training images checked in {t2 - t1:.1f} s = {per_10k:.1f} s per 10K images "
          f"(hashing {(t3 - t2) / 1000 * 1e3:.2f} ms/image, distances {(t4 - t3) / 1000 * 1e3:.3f} ms/image); "
          f"{len(found)} flagged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hash-size", type=int, nargs="*", default=[8, HASH_SIZE])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--n-eval-images", type=int, default=3_800, help="BLINK val: 1,901 questions, 1-4 images")
    args = parser.parse_args()
    for size in args.hash_size:
        scale = size * size / 64
        rates(size, [round(t * scale) for t in (2, 4, 6, 8, 10, 12, 14)])
    speed(args.n_train, args.n_eval_images, HASH_SIZE)
    print(f"\ndefault: {HASH_SIZE}x{HASH_SIZE} hash, threshold {DEFAULT_THRESHOLD} bits")


if __name__ == "__main__":
    main()
