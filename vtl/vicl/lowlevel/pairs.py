"""Cross-task tuples (A_in, A_out, B_in, B_out) for ordered low-level task pairs: `vtl vicl pairs`.

Layout written under --out DIR:
    DIR/pairs.json      the settings (a rerun with other settings into the same DIR is refused)
    DIR/tuples.jsonl    one line per tuple: id, task_a, task_b, pair, split, a_in, a_out, b_in, b_out (PNG paths
                        relative to the jsonl), seed, clean_a, clean_b (clean-image ids), source
    DIR/images/ID/{a_in,a_out,b_in,b_out}.png

A and B of a tuple come from two different clean images. Train and eval tuples use disjoint clean images (photo
sources held out whole, scene seeds in separate namespaces, content hashes checked). With --real-root, tasks that
have a folder there use real (input, output) pairs instead of the synthetic operators, split by file name.
The run is resumable: tuples already in tuples.jsonl are skipped, each line lands after its four PNGs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jsonargparse.typing import NonNegativeInt, PositiveInt

from vtl.errors import VtlError, make_output_dir
from vtl.records import JsonlAppender, done_keys, guard_run_settings, iter_jsonl, numbered_records
from vtl.vicl.lowlevel.tasks import LABELS, pair_label, parse_pair, resolve_pairs, task_id

log = logging.getLogger("vtl.vicl")

IMAGE_KEYS = ("a_in", "a_out", "b_in", "b_out")
REQUIRED_FIELDS = ("id", "task_a", "task_b", "pair", "split", *IMAGE_KEYS)
SPLITS = ("train", "eval")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
REAL_INPUT_DIRS = ("input", "inputs", "in", "lq")
REAL_OUTPUT_DIRS = ("output", "outputs", "target", "gt", "out")


@dataclass
class VICLTuple:
    """One cross-task tuple; image paths are absolute. `load()` gives the four images as uint8 RGB arrays."""

    id: str
    task_a: str
    task_b: str
    pair: str
    split: str
    a_in: Path
    a_out: Path
    b_in: Path
    b_out: Path
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        if key not in IMAGE_KEYS:
            raise KeyError(f"image key must be one of {IMAGE_KEYS}, got {key!r}")
        return getattr(self, key)

    def pil(self, key: str):
        from PIL import Image

        with Image.open(self.path(key)) as image:
            return image.convert("RGB")

    def array(self, key: str) -> np.ndarray:
        return np.asarray(self.pil(key), dtype=np.uint8)

    def load(self) -> dict[str, np.ndarray]:
        """{"a_in", "a_out", "b_in", "b_out"} -> [h, w, 3] uint8."""
        return {key: self.array(key) for key in IMAGE_KEYS}

    def student_images(self):
        """What the student (and the generator) sees: [A_in, A_out, B_in] as PIL images, never B_out."""
        return [self.pil("a_in"), self.pil("a_out"), self.pil("b_in")]

    def teacher_images(self):
        """What the teacher sees: [A_in, A_out, B_in, B_out] as PIL images."""
        return [self.pil(key) for key in IMAGE_KEYS]


Tuple = VICLTuple  # the name other modules use


def load_tuples(path: str | Path, split: str | None = None, pairs: list[str] | None = None) -> list[VICLTuple]:
    """Tuples of a tuples.jsonl (or a directory holding one), optionally one split and some pairs ("Deblur→Dehaze"
    or "deblurring->dehazing"). Errors name the file, line and field."""
    path = Path(path)
    if path.is_dir():
        path = path / "tuples.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no tuple file at {path}: write one with `vtl vicl pairs --out DIR`")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    wanted = None
    if pairs:  # same-task pairs ("Color→Color", the authors' ablation) are allowed here, unlike in `vtl vicl pairs`
        named = resolve_pairs(pairs) if pairs in (["reported"], ["all"]) else [parse_pair(p) for p in pairs]
        wanted = {pair_label(*p) for p in named}
    out: list[VICLTuple] = []
    for number, row in numbered_records(path):
        missing = [k for k in REQUIRED_FIELDS if k not in row]
        if missing:
            raise ValueError(f"{path}: line {number} (id {row.get('id', '?')}) lacks field(s) {missing}")
        if row["split"] not in SPLITS:
            raise ValueError(f"{path}: line {number} (id {row['id']}) field 'split' is {row['split']!r}, "
                             f"expected one of {SPLITS}")
        if (split and row["split"] != split) or (wanted and row["pair"] not in wanted):
            continue
        extra = {k: v for k, v in row.items() if k not in (*REQUIRED_FIELDS, "seed")}
        out.append(VICLTuple(
            id=row["id"], task_a=row["task_a"], task_b=row["task_b"], pair=row["pair"], split=row["split"],
            **{k: path.parent / row[k] for k in IMAGE_KEYS}, seed=row.get("seed"), extra=extra,
        ))
    return out


# --- real paired datasets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealPair:
    task: str
    name: str
    input: Path
    output: Path


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_dir():
            return folder / name
    return None


def load_real_pairs(root: str | Path) -> dict[str, list[RealPair]]:
    """Real (input, output) pairs laid out as ROOT/TASK/input/NAME.png + ROOT/TASK/output/NAME.png.

    TASK is a task id or label ("dehazing" or "Dehaze"); output folders may be named output/target/gt; files pair up
    by stem. Returns {task id: pairs sorted by name}; a task folder without pairs is an error naming the folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--real-root {root} is not a directory (expected ROOT/TASK/input, ROOT/TASK/output)")
    found: dict[str, list[RealPair]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            tid = task_id(folder.name)
        except ValueError as exc:
            raise ValueError(f"{folder}: folder name is not a low-level task ({exc})") from None
        ins, outs = _first_existing(folder, REAL_INPUT_DIRS), _first_existing(folder, REAL_OUTPUT_DIRS)
        if ins is None or outs is None:
            raise ValueError(f"{folder}: needs an input folder ({'/'.join(REAL_INPUT_DIRS)}) and an output folder "
                             f"({'/'.join(REAL_OUTPUT_DIRS)})")
        targets = {p.stem: p for p in outs.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        pairs = [RealPair(tid, p.stem, p, targets[p.stem]) for p in sorted(ins.iterdir())
                 if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in targets]
        if not pairs:
            raise ValueError(f"{folder}: no input/output images with matching names in {ins.name}/ and {outs.name}/")
        found[tid] = pairs
    return found


def split_real_pairs(pairs: list[RealPair], eval_fraction: float, seed: int) -> dict[str, list[RealPair]]:
    """Seeded split by name, independent of listing order; eval gets at least one pair when there are two or more."""
    from vtl.vicl.lowlevel.images import stable_seed

    ranked = sorted(pairs, key=lambda p: stable_seed("real-split", seed, p.task, p.name))
    n_eval = min(len(ranked) - 1, max(1, round(eval_fraction * len(ranked)))) if len(ranked) > 1 else 0
    return {"eval": ranked[:n_eval], "train": ranked[n_eval:]}


def _load_real(path: Path, size: int) -> np.ndarray:
    """A real image as uint8 RGB, short side resized to `size` and centre-cropped square (tuples share one size)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - report which file failed, whatever PIL raised
        raise ValueError(f"{path}: cannot be read as an image ({exc})") from None
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


# --- writing ----------------------------------------------------------------------------------------------------


def tuple_id(a: str, b: str, split: str, index: int) -> str:
    return f"{LABELS[a]}-{LABELS[b]}-{split}-{index:05d}"


def _side(task: str, split: str, key: str, *, seed: int, size: int, real: dict[str, dict[str, list[RealPair]]]):
    """(input, output, clean id, digest of the clean image) for one side of a tuple."""
    from vtl.vicl.lowlevel.degrade import make_pair
    from vtl.vicl.lowlevel.images import clean_image, stable_seed

    if task in real:
        pool = real[task][split]
        pick = pool[stable_seed("real-pick", seed, key) % len(pool)]
        inp, out = _load_real(pick.input, size), _load_real(pick.output, size)
        return inp, out, f"real:{task}/{pick.name}", f"real:{task}/{pick.name}"
    clean = clean_image(split, key, seed=seed, size=size)
    pair = make_pair(task, clean.pixels, stable_seed("op", seed, key, task), depth=clean.depth)
    return pair.input, pair.output, clean.id, clean.digest


def write_tuples(
    out_dir: str | Path,
    *,
    pairs: list[str] | None = None,
    n_train: int = 100,
    n_eval: int = 20,
    seed: int = 0,
    image_size: int = 128,
    real_root: str | Path | None = None,
    progress: bool = False,
) -> Path:
    """Write (or finish writing) tuples for the ordered `pairs` under `out_dir`; returns the tuples.jsonl path."""
    from PIL import Image

    if n_train < 0 or n_eval < 0:
        raise ValueError(f"--n-train and --n-eval must be >= 0, got {n_train} and {n_eval}")
    if image_size < 16:
        raise ValueError(f"--image-size must be at least 16 pixels, got {image_size}")
    ordered = resolve_pairs(pairs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "pairs": [pair_label(a, b) for a, b in ordered], "n_train": n_train, "n_eval": n_eval, "seed": seed,
        "image_size": image_size, "real_root": str(Path(real_root).resolve()) if real_root else None,
    }
    guard_run_settings(out_dir / "pairs.json", settings, what="tuples",
                       hint="pass another --out or the same settings to resume")

    real: dict[str, dict[str, list[RealPair]]] = {}
    if real_root:
        eval_fraction = n_eval / max(1, n_train + n_eval)
        for task, found in load_real_pairs(real_root).items():
            real[task] = split_real_pairs(found, eval_fraction, seed)
            for split, n in (("train", n_train), ("eval", n_eval)):
                if n and not real[task][split]:
                    raise ValueError(f"{real_root}/{task}: too few pairs to give the {split} split any "
                                     f"({len(found)} in all); add pairs or set --n-{split} 0")
        log.info("real pairs for: %s; synthetic operators for the rest", ", ".join(sorted(real)))

    jsonl = out_dir / "tuples.jsonl"
    done = done_keys(jsonl, "id")
    todo = [(a, b, split, i) for a, b in ordered for split, n in (("train", n_train), ("eval", n_eval))
            for i in range(n)]
    iterator = todo
    if progress:
        from tqdm import tqdm

        iterator = tqdm(todo, desc="tuples", initial=0)
    digests: dict[str, dict[str, str]] = {"train": {}, "eval": {}}
    with JsonlAppender(jsonl, fsync=False) as sink:
        for a, b, split, i in iterator:
            tid = tuple_id(a, b, split, i)
            key_a, key_b = f"{tid}/a", f"{tid}/b"
            if tid in done:
                continue
            a_in, a_out, clean_a, digest_a = _side(a, split, key_a, seed=seed, size=image_size, real=real)
            b_in, b_out, clean_b, digest_b = _side(b, split, key_b, seed=seed, size=image_size, real=real)
            other = "eval" if split == "train" else "train"
            for digest, cid in ((digest_a, clean_a), (digest_b, clean_b)):
                if digest in digests[other]:
                    raise RuntimeError(f"clean image {cid} of {tid} equals {digests[other][digest]} of the {other} "
                                       f"split; train and eval must not share images (try another --seed)")
                digests[split][digest] = cid
            folder = out_dir / "images" / tid
            folder.mkdir(parents=True, exist_ok=True)
            for key, pixels in zip(IMAGE_KEYS, (a_in, a_out, b_in, b_out), strict=True):
                Image.fromarray(pixels).save(folder / f"{key}.png")
            sink.append({
                "id": tid, "task_a": a, "task_b": b, "pair": pair_label(a, b), "split": split,
                **{key: f"images/{tid}/{key}.png" for key in IMAGE_KEYS},
                "seed": seed, "clean_a": clean_a, "clean_b": clean_b,
                "source": "real" if (a in real or b in real) else "synthetic",
            })
    return jsonl


# --- CLI --------------------------------------------------------------------------------------------------------


def pairs(*, out: str, pairs: list[str] | None = None, n_train: NonNegativeInt = 100, n_eval: NonNegativeInt = 20,
          seed: int = 0,
          image_size: PositiveInt = 128, real_root: str | None = None) -> int:
    """Write cross-task tuples (A_in, A_out, B_in, B_out) for ordered low-level task pairs.

    Args:
        out: Output directory (tuples.jsonl, images/, pairs.json).
        pairs: Ordered pairs like 'Deblur→Dehaze' or 'deblurring->dehazing'; 'reported' (default: the 21 reported
            scenarios) or 'all' (132 ordered pairs).
        n_train: Train tuples per pair.
        n_eval: Eval tuples per pair.
        seed: Random seed.
        image_size: Square side in pixels.
        real_root: Folder of real pairs: ROOT/TASK/input/*.png + ROOT/TASK/output/*.png (same names).
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make_output_dir(out, "--out")
    try:
        path = write_tuples(out, pairs=pairs, n_train=n_train, n_eval=n_eval, seed=seed, image_size=image_size,
                            real_root=real_root, progress=True)
    except (ValueError, FileNotFoundError) as exc:
        raise VtlError(str(exc)) from exc
    rows = list(iter_jsonl(path))
    by_split = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    print(f"wrote {path}: {len(rows)} tuples ({by_split['train']} train, {by_split['eval']} eval) "
          f"over {len({r['pair'] for r in rows})} pairs")
    return 0
