"""What every builder shares: the question type, letter balancing, the cap, the split, resumable writing, build.json.

A builder module names its task and its source's format and gives two functions:
`items(source: Path) -> Iterable[Item]` reads the source in its own released layout (raising BuildError naming the
file/row on bad input), and `make(item, answer: int, rng) -> Question | None` renders one BLINK question whose right
option sits at index `answer` (None when the item cannot have that answer, e.g. a count of 0 cannot be option D).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from vtl.data.sample import LETTERS
from vtl.data.validate import format_prompt
from vtl.errors import VtlError
from vtl.tasks import get_task

BUILDER_VERSION = "1"


class BuildError(VtlError):
    """A source that does not have its dataset's layout, or an annotation that cannot be built."""


@dataclass(frozen=True)
class Item:
    """One unit of a source a question is built from; `key` is stable across runs, `stratum` drives the split."""

    key: str
    data: Any = field(compare=False, repr=False)
    stratum: str = ""


@dataclass
class Question:
    question: str
    choices: list[str]
    images: list[Image.Image]
    answer: int
    explanation: str = ""


def open_image(path: Path, where: str) -> Image.Image:
    """An annotation's image, or a one-line error naming the annotation that points at it."""
    if not path.is_file():
        raise BuildError(f"{where}: image {path} does not exist; check the source folder's layout")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as exc:
        raise BuildError(f"{where}: {path} is not a readable image ({exc})") from exc


def need(path: Path, what: str) -> Path:
    if not path.exists():
        raise BuildError(f"{path} is missing; expected {what}")
    return path


def check_point(x: float, y: float, im: Image.Image, where: str) -> None:
    if not (0 <= x < im.width and 0 <= y < im.height):
        raise BuildError(f"{where}: point ({x:g}, {y:g}) lies outside the {im.width}x{im.height} image")


def _answer_order(counts: Counter, n: int, rng: np.random.Generator) -> list[int]:
    """Letters least used so far first, ties in a seeded order."""
    tie = rng.permutation(n)
    return sorted(range(n), key=lambda i: (counts[i], tie[i]))


def generate(
    module: ModuleType, source: Path, *, seed: int, max_rows: int | None,
    reject: Callable[[Question], bool] | None = None,
) -> tuple[list[tuple[Item, Question]], int, int]:
    """Questions in a seeded item order with balanced answers: an item is used only with a least-used letter.

    Returns the questions, how many items were passed over because they could only take an over-used letter, and
    how many built questions `reject` dropped (near-duplicates of an evaluation image) before they were counted.
    """
    task = get_task(module.TASK)
    items = sorted(module.items(source), key=lambda it: it.key)
    if len({it.key for it in items}) != len(items):
        raise BuildError(f"{source}: two annotations give the same item key; the source holds duplicates")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    counts: Counter = Counter()
    out, passed, rejected = [], 0, 0
    for i in order:
        item = items[int(i)]
        item_rng = np.random.default_rng([seed, int(hashlib.sha256(item.key.encode()).hexdigest()[:8], 16)])
        least = min(counts[k] for k in range(task.n_choices))
        q = None
        for letter in _answer_order(counts, task.n_choices, rng):
            if counts[letter] > least:
                break
            q = module.make(item, letter, item_rng)
            if q is not None:
                break
        if q is None:
            passed += 1
            continue
        assert len(q.images) == task.n_images and len(q.choices) == task.n_choices, module.TASK
        if reject is not None and reject(q):
            rejected += 1
            continue
        counts[q.answer] += 1
        out.append((item, q))
        if max_rows is not None and len(out) >= max_rows:
            break
    if not out:
        raise BuildError(f"{source}: no {module.TASK} question could be built (empty after filtering)")
    return out, passed, rejected


def split_val(built: list[tuple[Item, Question]], fraction: float, seed: int) -> set[int]:
    """Indices held out for val: systematic sampling over the questions sorted by (stratum, answer letter), so
    each group gives its share of `fraction` even when groups are small; seeded order within a group."""
    if not fraction:
        return set()
    rng = np.random.default_rng(seed + 1)
    tie = rng.permutation(len(built))
    order = sorted(range(len(built)), key=lambda i: (built[i][0].stratum, built[i][1].answer, tie[i]))
    offset = rng.uniform()
    return {i for pos, i in enumerate(order) if int((pos + 1) * fraction + offset) > int(pos * fraction + offset)}


def _write_image(im: Image.Image, image_dir: Path) -> str:
    """PNG named by its content hash: written once, shared by every row that shows it."""
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    data = buf.getvalue()
    name = hashlib.sha256(data).hexdigest()[:20] + ".png"
    path = image_dir / name
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return f"{image_dir.name}/{name}"


def _done_idx(path: Path) -> set[str]:
    """idx of the complete rows already written (a torn last line from a killed run is cut off)."""
    if not path.exists():
        return set()
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        path.write_bytes(raw)
    return {json.loads(line)["idx"] for line in raw.splitlines() if line.strip()}


def row(task: str, idx: str, q: Question, paths: list[str]) -> dict[str, Any]:
    r: dict[str, Any] = {"idx": idx, "sub_task": task, "question": q.question, "choices": q.choices,
                         "answer": f"({LETTERS[q.answer]})", "prompt": format_prompt(q.question, q.choices),
                         "explanation": q.explanation}
    for k in range(4):
        r[f"image_{k + 1}"] = paths[k] if k < len(paths) else None
    return r


def write_rows(task: str, built: list[tuple[Item, Question]], out: Path, held: set[int]) -> dict[str, int]:
    """Append the rows not yet in {out}/{task}.jsonl (and {task}.val.jsonl); rerunning adds nothing twice."""
    image_dir = out / f"images_{task}"
    image_dir.mkdir(parents=True, exist_ok=True)
    files = {"train": out / f"{task}.jsonl", "val": out / f"{task}.val.jsonl"}
    done = {split: _done_idx(p) for split, p in files.items()}
    written = Counter()
    handles = {}
    try:
        for i, (item, q) in enumerate(built):
            split = "val" if i in held else "train"
            idx = f"{task}_{hashlib.sha256(item.key.encode()).hexdigest()[:12]}"
            if idx in done[split]:
                continue
            paths = [_write_image(im, image_dir) for im in q.images]
            if split not in handles:
                handles[split] = files[split].open("a", encoding="utf-8")
            handles[split].write(json.dumps(row(task, idx, q, paths)) + "\n")
            handles[split].flush()
            written[split] += 1
    finally:
        for h in handles.values():
            h.close()
    return dict(written)


def source_fingerprint(source: Path) -> dict[str, Any]:
    """sha256 of the annotation files (not the images): enough to tell two releases apart cheaply."""
    ann = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in {".json", ".jsonl", ".csv", ".txt", ".mat"})
    h = hashlib.sha256()
    for p in ann:
        h.update(str(p.relative_to(source)).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return {"annotation_files": len(ann), "annotation_sha256": h.hexdigest()}


def update_manifest(out: Path, task: str, entry: dict[str, Any]) -> None:
    path = out / "build.json"
    manifest = json.loads(path.read_text()) if path.exists() else {"builder_version": BUILDER_VERSION, "tasks": {}}
    manifest["tasks"][task] = entry
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)



def candidates_question(question: str, ref_im: Image.Image, ref_xy, target_im: Image.Image, true_xy, distractors,
                        answer: int) -> Question:
    """REF on the first image; the true match and three distractors as A-D on the second, the match at `answer`."""
    from vtl.data.build.draw import mark_points

    points = list(distractors[:3])
    points.insert(answer, true_xy)
    labelled = dict(zip("ABCD", points))
    return Question(question, [f"Point {c}" for c in "ABCD"],
                    [mark_points(ref_im, {"REF": ref_xy}), mark_points(target_im, labelled)], answer,
                    where_drawn({"REF": ref_xy}) + "; " + where_drawn(labelled))


def where_drawn(points: dict[str, tuple[float, float]]) -> str:
    """The explanation of a point question: where each label was drawn, for audits and tests."""
    return ", ".join(f"{label} at ({x:.0f}, {y:.0f})" for label, (x, y) in points.items())
