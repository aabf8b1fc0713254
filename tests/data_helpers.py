"""Helpers for the data tests: BLINK rows and files written the way the hub (or a user) stores them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
HUB_SCHEMA = pa.schema(
    [("idx", pa.string()), ("question", pa.string()), ("sub_task", pa.string())]
    + [(f"image_{k}", IMAGE_STRUCT) for k in range(1, 5)]
    + [("choices", pa.list_(pa.string())), ("answer", pa.string()), ("prompt", pa.string()),
       ("explanation", pa.string())]
)


def png_bytes(color=(200, 30, 30), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def row(task: str, i: int, n_images: int, n_choices: int = 2, answer: str = "(A)", **over) -> dict:
    """A valid hub-style row with `n_images` struct images; keyword overrides replace fields."""
    choices = [f"option {k}" for k in range(n_choices)]
    r = {
        "idx": f"val_{task}_{i}",
        "question": f"question {i}?",
        "sub_task": task,
        "choices": choices,
        "answer": answer,
        "prompt": "",
        "explanation": "",
    }
    for k in range(1, 5):
        r[f"image_{k}"] = {"bytes": png_bytes((k * 40, i % 256, 0)), "path": f"{i}_{k}.png"} if k <= n_images else None
    r.update(over)
    return r


def write_task_parquet(root: Path, task: str, rows: list[dict], split: str = "val") -> Path:
    path = root / task / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=HUB_SCHEMA), path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
