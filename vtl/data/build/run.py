"""One task's build from source to {out}/{Task}.jsonl, build.json and an optional preview sheet."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw

from vtl.data.build import builder
from vtl.data.build.core import (
    BUILDER_VERSION,
    BuildError,
    generate,
    source_fingerprint,
    split_val,
    update_manifest,
    write_rows,
)
from vtl.data.sample import LETTERS


def build_task(task: str, source: Path, out: Path, *, seed: int = 0, max_rows: int | None = None,
               val_fraction: float = 0.0, preview: int = 0, exclude: str | None = None) -> dict:
    module = builder(task)
    source = Path(source).expanduser()
    if not source.is_dir():
        raise BuildError(f"--source {source}: not a folder; give the unpacked source dataset ({module.FORMAT})")
    if not 0 <= val_fraction < 1:
        raise BuildError(f"--val_fraction {val_fraction}: must be in [0, 1)")
    out.mkdir(parents=True, exist_ok=True)
    reject = None if exclude is None else near_duplicate_of(exclude)
    built, passed, excluded = generate(module, source, seed=seed, max_rows=max_rows, reject=reject)
    held = split_val(built, val_fraction, seed)
    written = write_rows(module.TASK, built, out, held)
    letters = Counter(LETTERS[q.answer] for _, q in built)
    entry = {
        "source": str(source.resolve()), "source_format": module.FORMAT, **source_fingerprint(source),
        "builder_version": BUILDER_VERSION, "seed": seed, "max_rows": max_rows, "val_fraction": val_fraction,
        "rows": {"train": len(built) - len(held), "val": len(held)},
        "letters": dict(sorted(letters.items())), "passed_over_for_balance": passed,
        "exclude": exclude, "excluded_near_duplicates": excluded,
        "written_this_run": written,
    }
    update_manifest(out, module.TASK, entry)
    if preview:
        contact_sheet([q for _, q in built[:preview]], out / f"preview_{module.TASK}.png")
    return entry


def near_duplicate_of(eval_source: str):
    """A predicate: does any image of a question (as drawn) near-duplicate an image of `eval_source`'s val rows?"""
    from vtl.data.leaks import LeakIndex

    index = LeakIndex.from_source(eval_source, split="val")
    return lambda q: any(index.matches(im) for im in q.images)


def contact_sheet(questions, path: Path, cell: int = 160) -> None:
    """One row per question: its images side by side, the right answer's letter underneath."""
    width = cell * max(len(q.images) for q in questions)
    sheet = Image.new("RGB", (width, (cell + 14) * len(questions)), "white")
    d = ImageDraw.Draw(sheet)
    for r, q in enumerate(questions):
        for c, im in enumerate(q.images):
            thumb = im.copy()
            thumb.thumbnail((cell, cell))
            sheet.paste(thumb, (c * cell, r * (cell + 14)))
        d.text((2, r * (cell + 14) + cell), f"answer ({LETTERS[q.answer]}) {q.choices[q.answer]}"[:60], fill="black")
    sheet.save(path)
