"""Row validation for BLINK-format data: every bad row becomes a `DataError` naming file, row idx, field and fix.

The loaders hand each raw row (a dict in BLINK's schema) to `to_sample`, which checks it against the task registry
and returns a `BlinkSample` with lazily decoded images (`vtl.data.check` runs the same path over a whole source).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from PIL import Image

from vtl.data.sample import LETTERS, BlinkSample
from vtl.errors import VtlError
from vtl.tasks import Task

IMAGE_FIELDS = ("image_1", "image_2", "image_3", "image_4")


class DataError(VtlError, ValueError):
    """A bad row (or a bad source): says where (file, row idx, field), what is wrong and what to change."""

    def __init__(self, origin: str, idx: str | None, field: str | None, problem: str, fix: str = ""):
        self.origin, self.idx, self.field, self.problem, self.fix = origin, idx, field, problem, fix
        where = origin
        if idx is not None:
            where += f": row {idx}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {problem}" + (f"; {fix}" if fix else ""))


def format_prompt(question: str, choices: list[str]) -> str:
    """BLINK's prompt: the question, then the lettered options on their own lines."""
    options = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question}\nSelect from the following choices.\n{options}"


def row_label(row: dict[str, Any], position: str) -> str:
    """How an error names a row: its idx when it has one, else its position in the file ("line 7", "row 3")."""
    idx = row.get("idx")
    return repr(str(idx)) if idx not in (None, "") else f"at {position} (no idx)"


def to_sample(
    row: dict[str, Any], task: Task, origin: str, position: str, split: str, base_dir: Path | None,
    allow_outside: bool = False,
) -> BlinkSample:
    """Validate one raw row of `task` and build its sample; raises DataError on the first problem found.

    Images may be PIL images (hub rows), `{"bytes", "path"}` structs (parquet) or path strings (JSONL); relative
    paths resolve against `base_dir`, the directory of the file the row came from. A path that leads outside
    `base_dir` (`../x.png`, `/etc/...`) is refused unless `allow_outside` (the user's explicit choice).
    """
    problems: list[DataError] = []
    sample = _build_sample(row, task, origin, position, split, base_dir, problems, allow_outside)
    if problems:
        raise problems[0]
    return sample


def row_problems(
    row: dict[str, Any], task: Task, origin: str, position: str, split: str, base_dir: Path | None
) -> tuple[BlinkSample | None, list[DataError]]:
    """(sample or None, every problem of the row): each field is checked, not only up to the first bad one."""
    problems: list[DataError] = []
    sample = _build_sample(row, task, origin, position, split, base_dir, problems)
    return (None if problems else sample), problems


def _build_sample(row, task, origin, position, split, base_dir, problems: list[DataError],
                  allow_outside: bool = False) -> BlinkSample | None:
    label = row_label(row, position)

    def fail(fld: str, problem: str, fix: str) -> DataError:
        return DataError(origin, label, fld, problem, fix)

    idx = row.get("idx")
    if idx in (None, ""):
        problems.append(fail("idx", "missing", "give every row a unique idx such as 'val_Counting_3'"))

    choices = row.get("choices")
    if choices is None or isinstance(choices, str) or not hasattr(choices, "__len__") or len(choices) == 0:
        problems.append(fail("choices", f"empty or not a list ({choices!r})",
                             "give a non-empty list of option strings"))
        choices = None
    else:
        choices = [str(c) for c in choices]
        if len(choices) > len(LETTERS):
            problems.append(fail("choices", f"{len(choices)} options", f"at most {len(LETTERS)} options (letters A-H)"))
            choices = None

    answer = _normalize_answer(row.get("answer"))
    if choices is not None and not (answer == "hidden" and split == "test"):
        letters = LETTERS[: len(choices)]
        valid = ", ".join(f"({x})" for x in letters)
        if answer is None or answer == "hidden" or answer[1] not in letters:
            problems.append(fail("answer", f"{row.get('answer')!r} is not one of the lettered choices",
                                 f"use one of {valid}"))

    question = str(row.get("question") or "").strip()
    prompt = str(row.get("prompt") or "").strip()
    if not question and not prompt:
        problems.append(fail("question", "missing (and no prompt)", "give the question text"))

    raw_images = _raw_images(row)
    opened = []
    if len(raw_images) != task.n_images:
        names = ", ".join(f for f, _ in raw_images) or "none"
        problems.append(fail(
            "images",
            f"{len(raw_images)} image(s) ({names}) but {task.name} has {task.n_images} per question",
            f"fill {'image_1' if task.n_images == 1 else f'image_1..image_{task.n_images}'} and leave the others empty",
        ))
    for fld, value in raw_images:
        try:
            opened.append(_open_image(value, fld, base_dir, fail, allow_outside))
        except DataError as err:
            problems.append(err)
    if problems:
        return None
    if not prompt:
        prompt = format_prompt(question, choices)
    if not question:
        question = prompt
    return BlinkSample(
        idx=str(idx),
        sub_task=task.name,
        question=question,
        prompt=prompt,
        choices=choices,
        answer=answer if answer is not None else "hidden",
        images=[image for image, _ in opened],
        explanation=str(row.get("explanation") or ""),
        origin=origin,
        image_sha256=tuple(digest for _, digest in opened),
    )


def _normalize_answer(value: Any) -> str | None:
    """"(A)" stays, a bare "A" becomes "(A)", "hidden" stays; anything else is None."""
    if value is None:
        return None
    a = str(value).strip()
    if a == "hidden":
        return a
    if len(a) == 1 and a in LETTERS:
        return f"({a})"
    if len(a) == 3 and a[0] == "(" and a[2] == ")" and a[1] in LETTERS:
        return a
    return None


def _is_empty(value: Any) -> bool:
    # A null struct may come back as {"bytes": None, "path": None} rather than None, depending on the writer.
    return value is None or (isinstance(value, str) and not value) or (
        isinstance(value, dict) and value.get("bytes") is None and not value.get("path"))


def _raw_images(row: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field name, value) of the non-empty images, from image_1..image_4 or from an `images` list (JSONL)."""
    if row.get("images") is not None and all(_is_empty(row.get(f)) for f in IMAGE_FIELDS):
        return [(f"images[{i}]", v) for i, v in enumerate(row["images"]) if not _is_empty(v)]
    return [(f, row[f]) for f in IMAGE_FIELDS if not _is_empty(row.get(f))]


def _open_image(value: Any, fld: str, base_dir: Path | None, fail,
                allow_outside: bool = False) -> tuple[Image.Image, str]:
    """Decode once to prove the image is readable, then return a lazy image over the in-memory bytes, and the
    sha256 of those bytes (of the decoded pixels for an already decoded PIL image).

    Keeping the compressed bytes (not decoded pixels, not an open file handle) keeps BLINK val's ~3,700 images
    cheap in memory; JPEGs are checked at reduced scale (`draft`) so validation stays fast on large photos.
    """
    if isinstance(value, Image.Image):
        return value, pixel_sha256(value)
    data: bytes | None = None
    path: str | None = None
    if isinstance(value, dict):
        data = value.get("bytes")
        path = value.get("path")
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, (str, Path)):
        path = str(value)
    else:
        raise fail(fld, f"unsupported image value of type {type(value).__name__}", "give a path or {bytes, path}")
    if data is None:
        file = Path(path)
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        if base_dir is not None and not allow_outside and not file.resolve().is_relative_to(base_dir.resolve()):
            raise fail(fld, f"image path {path!r} leads outside the data directory {base_dir}",
                       "put the image under that directory, or allow such paths explicitly with "
                       "--data.allow_outside_paths=true (load_source(..., allow_outside_paths=True))")
        if not file.is_file():
            raise fail(fld, f"missing image: {file} does not exist", "fix the path (relative to the data file)")
        data = file.read_bytes()
    try:
        probe = Image.open(io.BytesIO(data))
        probe.draft(probe.mode, (64, 64))
        probe.load()
        image = Image.open(io.BytesIO(data))
    except Exception as exc:  # PIL raises several types for bad data
        name = f" ({path})" if path else ""
        raise fail(fld, f"undecodable image{name}: {exc}", "replace it with a valid PNG/JPEG") from None
    return image, hashlib.sha256(data).hexdigest()


def pixel_sha256(image: Image.Image) -> str:
    """sha256 of an image's mode, size and pixels."""
    h = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def check_unique(sample: BlinkSample, seen: set[str]) -> None:
    """idx must be unique within a task: the train/eval split is disjoint by idx."""
    if sample.idx in seen:
        raise DataError(sample.origin, repr(sample.idx), "idx", "duplicate idx in the task", "make every idx unique")
    seen.add(sample.idx)
