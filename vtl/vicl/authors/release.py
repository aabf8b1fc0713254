"""The T2T-VICL authors' release read as it is: `vtl vicl import` and their evaluation logs as vtl results.

Their files (repository `data/dataset/`, gated hub dataset `tasks/<task>/{input,output}/`):

- `eval_dataset.json` (cross-task) and `eval_dataset_2.json` (same task, A = B): a JSON array of
  {taskA_input, taskA_output, taskB_input, taskB_output}, paths relative to the `tasks/` root whose first component
  is the task folder ("inpainting/input/69.png"; an input and its output share a file name; jpg and png occur).
- `eval_dataset_1.json` (single task): {task, input, output}.
- `train_dataset.json`: the four paths plus `description` (the teacher's text); failed generations are stored as
  descriptions starting with "Error:"; written incrementally, so the closing `]` may be missing.
- `converted_dataset.json`: {image: [A_in, A_out, B_in], conversations: [{from: human}, {from: gpt, value}]}.

A query's id is theirs: the first 10 hex digits of sha1("<taskA_input>|<taskB_input>|") (single-task rows:
sha1("<input>|<output>|")), so vtl's records and theirs join on it. Images stay where they are, at native size:
tuples.jsonl holds paths to the files under the tasks root, nothing is resized, cropped or copied.

Written under OUT: tuples.jsonl (vtl tuples; split "train" for files with descriptions, else "eval"),
corpus.jsonl (the descriptions, as a teacher corpus), single.jsonl (single-task rows), import_report.json.
A rerun into the same OUT skips ids already there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

from vtl.errors import VtlError
from vtl.records import JsonlAppender, done_keys, iter_jsonl

log = logging.getLogger("vtl.vicl")

QUAD_FIELDS = ("taskA_input", "taskA_output", "taskB_input", "taskB_output")
VTL_KEYS = dict(zip(QUAD_FIELDS, ("a_in", "a_out", "b_in", "b_out"), strict=True))
SINGLE_FIELDS = ("task", "input", "output")
ERROR_PREFIX = "Error:"
AUTHORS_TEACHER = "Qwen2.5-VL-32B-Instruct"
AUTHORS_CORPUS_VERSION = "authors-teacher"
REPORT_FILE = "import_report.json"
Kind = Literal["cross", "same", "single", "train", "converted"]


class AuthorsFormatError(VtlError, ValueError):
    pass


def combo_id(*parts: str) -> str:
    """The authors' id: sha1 over each part followed by "|", first 10 hex digits."""
    h = hashlib.sha1()
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"|")
    return h.hexdigest()[:10]


def read_json_array(path: str | Path) -> tuple[list[Any], bool]:
    """(elements, truncated) of a JSON array file; a file cut short keeps every element that is complete.

    The authors write train_dataset.json one object at a time, so a stopped run leaves `[{...}, {...}, {..` with
    no closing bracket; everything up to the last complete element is read and `truncated` is True.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthorsFormatError(f"{path} does not exist") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        if not isinstance(data, list):
            raise AuthorsFormatError(f"{path}: expected a JSON array, got {type(data).__name__}")
        return data, False
    start = len(text) - len(text.lstrip())
    if not text.startswith("[", start):
        raise AuthorsFormatError(f"{path}: not valid JSON and does not start with '[' (not an authors' file?)")
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos = start + 1
    ws = re.compile(r"[\s,]*")
    while True:
        pos = ws.match(text, pos).end()
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        items.append(item)
    return items, True


def detect_kind(path: Path, rows: list[Any]) -> Kind:
    """Which of the authors' files this is, from its first row (and, for quadruples, whether A = B)."""
    if not rows:
        raise AuthorsFormatError(f"{path}: the array is empty")
    first = rows[0]
    if not isinstance(first, dict):
        raise AuthorsFormatError(f"{path}: row 0 is not an object")
    if "conversations" in first and "image" in first:
        return "converted"
    if all(k in first for k in SINGLE_FIELDS):
        return "single"
    if all(k in first for k in QUAD_FIELDS[:3]):
        if "description" in first:
            return "train"
        same = all(isinstance(r, dict) and _task_dir(r.get("taskA_input", "")) == _task_dir(r.get("taskB_input", ""))
                   for r in rows)
        return "same" if same else "cross"
    raise AuthorsFormatError(
        f"{path}: row 0 has fields {sorted(first)}; expected the authors' {list(QUAD_FIELDS)}, "
        f"{list(SINGLE_FIELDS)} or image/conversations"
    )


def _task_dir(rel: str) -> str:
    return Path(rel).parts[0] if rel else ""


def _task(path: Path, index: int, field: str, rel: Any) -> str:
    from vtl.vicl.lowlevel.tasks import task_id

    if not isinstance(rel, str) or not rel.strip():
        raise AuthorsFormatError(f"{path}: row {index} field {field!r} must be a path string, got {rel!r}")
    try:
        return task_id(_task_dir(rel))
    except ValueError as exc:
        raise AuthorsFormatError(f"{path}: row {index} field {field!r} ({rel!r}): {exc}") from None


def _output_of(rel: str) -> str:
    """The ground truth of an input path in the authors' layout: same file name under output/."""
    parts = list(Path(rel).parts)
    if len(parts) < 3 or parts[1] != "input":
        raise ValueError(rel)
    parts[1] = "output"
    return "/".join(parts)


def _quad(path: Path, index: int, row: Any, kind: Kind) -> dict[str, str]:
    """The four relative paths of a row of any quadruple kind."""
    if not isinstance(row, dict):
        raise AuthorsFormatError(f"{path}: row {index} is not an object")
    if kind == "converted":
        images = row.get("image")
        if not (isinstance(images, list) and len(images) == 3 and all(isinstance(p, str) for p in images)):
            raise AuthorsFormatError(f"{path}: row {index} field 'image' must list [A_in, A_out, B_in]")
        try:
            b_out = _output_of(images[2])
        except ValueError:
            raise AuthorsFormatError(f"{path}: row {index} image[2] {images[2]!r} is not '<task>/input/<file>', "
                                     "so its ground truth cannot be found") from None
        return dict(zip(QUAD_FIELDS, [*images, b_out], strict=True))
    missing = [k for k in QUAD_FIELDS if not isinstance(row.get(k), str)]
    if missing:
        raise AuthorsFormatError(f"{path}: row {index} lacks path field(s) {missing}")
    return {k: row[k] for k in QUAD_FIELDS}


def _description(path: Path, index: int, row: dict[str, Any], kind: Kind) -> str | None:
    if kind == "train":
        text = row.get("description")
    elif kind == "converted":
        turns = row.get("conversations")
        answers = [t.get("value") for t in turns or [] if isinstance(t, dict) and t.get("from") == "gpt"]
        if not answers:
            raise AuthorsFormatError(f"{path}: row {index} has no {{from: gpt}} turn in 'conversations'")
        text = answers[-1]
    else:
        return None
    if text is not None and not isinstance(text, str):
        raise AuthorsFormatError(f"{path}: row {index} description is {type(text).__name__}, expected a string")
    return text


def _rel_to(out: Path, target: Path) -> str:
    return os.path.relpath(target, out)


def import_file(path: Path, tasks_root: Path, out: Path, *, split: str | None = None,
                check_images: bool = True, seen: set[str] | None = None) -> dict[str, Any]:
    """Import one authors' file into OUT (appending); the file's entry of the import report."""
    from vtl.vicl.lowlevel.tasks import pair_label
    from vtl.vicl.teaching.prompts import task_mentions

    rows, truncated = read_json_array(path)
    kind = detect_kind(path, rows)
    split = split or ("train" if kind in ("train", "converted") else "eval")
    counts: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    missing_examples: list[str] = []
    seen = set() if seen is None else seen

    def present(*rels: str) -> bool:
        if not check_images:
            return True
        gone = [r for r in rels if not (tasks_root / r).is_file()]
        if gone:
            counts["missing_images"] += 1
            if len(missing_examples) < 5:
                missing_examples.append(str(tasks_root / gone[0]))
        return not gone

    if kind == "single":
        with JsonlAppender(out / "single.jsonl", fsync=False) as sink:
            for index, row in enumerate(rows):
                if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in SINGLE_FIELDS):
                    raise AuthorsFormatError(f"{path}: row {index} needs string fields {list(SINGLE_FIELDS)}")
                task = _task(path, index, "input", row["input"])
                rid = combo_id(row["input"], row["output"])
                if rid in seen:
                    counts["duplicates"] += 1
                    continue
                if not present(row["input"], row["output"]):
                    continue
                seen.add(rid)
                sink.append({"id": rid, "task": task, "split": split, "source": f"authors:{path.name}",
                             "input": _rel_to(out, tasks_root / row["input"]),
                             "output": _rel_to(out, tasks_root / row["output"]),
                             "authors_paths": {"input": row["input"], "output": row["output"]}})
                counts["imported"] += 1
                pairs[task] += 1
    else:
        corpus_seen = done_keys(out / "corpus.jsonl", "tuple_id")
        has_text = kind in ("train", "converted")
        with JsonlAppender(out / "tuples.jsonl", fsync=False) as tuples, \
                (JsonlAppender(out / "corpus.jsonl", fsync=False) if has_text else nullcontext()) as corpus:
            for index, row in enumerate(rows):
                quad = _quad(path, index, row, kind)
                text = _description(path, index, row, kind)
                if text is not None and text.strip().startswith(ERROR_PREFIX):
                    counts["error_rows"] += 1
                    continue
                if has_text and (text is None or not text.strip()):
                    counts["empty_descriptions"] += 1
                    continue
                task_a = _task(path, index, "taskA_input", quad["taskA_input"])
                task_b = _task(path, index, "taskB_input", quad["taskB_input"])
                rid = combo_id(quad["taskA_input"], quad["taskB_input"])
                pair = pair_label(task_a, task_b)
                if rid in seen:
                    counts["duplicates"] += 1
                elif present(*quad.values()):
                    seen.add(rid)
                    tuples.append({
                        "id": rid, "task_a": task_a, "task_b": task_b, "pair": pair, "split": split,
                        **{VTL_KEYS[k]: _rel_to(out, tasks_root / v) for k, v in quad.items()},
                        "source": f"authors:{path.name}", "authors_paths": quad,
                    })
                    counts["imported"] += 1
                    pairs[pair] += 1
                else:
                    continue
                if text is not None and rid not in corpus_seen:
                    corpus_seen.add(rid)
                    corpus.append({
                        "tuple_id": rid, "pair": pair, "task_a": task_a, "task_b": task_b, "split": split,
                        "source": "teacher", "teacher": "authors", "model": AUTHORS_TEACHER,
                        "prompt_version": AUTHORS_CORPUS_VERSION, "text": text.strip(),
                        "task_mentions": task_mentions(text), "strict_mentions": task_mentions(text, strict=True),
                    })
                    counts["descriptions"] += 1
    entry = {"file": str(path), "kind": kind, "split": split, "rows": len(rows), "truncated": truncated,
             **{k: counts.get(k, 0) for k in ("imported", "duplicates", "error_rows", "empty_descriptions",
                                                "missing_images", "descriptions")},
             "per_pair" if kind != "single" else "per_task": dict(sorted(pairs.items()))}
    if missing_examples:
        entry["missing_examples"] = missing_examples
    return entry


def import_release(
    files: list[str],
    *,
    tasks_root: str,
    out: str,
    split: Literal["auto", "train", "eval"] = "auto",
    check_images: bool = True,
) -> int:
    """Import the T2T-VICL authors' dataset files as vtl tuples, corpus and single-task rows.

    Args:
        files: The authors' JSON files (eval_dataset.json, eval_dataset_1.json, eval_dataset_2.json,
            train_dataset.json, converted_dataset.json); the kind of each is read from its rows.
        tasks_root: Their `tasks/` folder (holds `<task>/input/` and `<task>/output/`); the rows' paths are
            relative to it. Images are referenced in place, at native size.
        out: Directory for tuples.jsonl, corpus.jsonl, single.jsonl and import_report.json (appended; ids already
            there are skipped).
        split: The vtl split of the imported tuples; "auto": train for files with descriptions, else eval.
        check_images: Skip (and count) rows whose image files are missing under `tasks_root`.

    Returns:
        0 on success.
    """
    tasks_root, out = Path(tasks_root), Path(out)
    if not files:
        raise AuthorsFormatError("give at least one authors' JSON file")
    if check_images and not tasks_root.is_dir():
        raise AuthorsFormatError(f"--tasks_root {tasks_root} is not a directory (the authors' tasks/ folder)")
    out.mkdir(parents=True, exist_ok=True)
    seen = done_keys(out / "tuples.jsonl", "id") | done_keys(out / "single.jsonl", "id")
    entries = [import_file(Path(f), tasks_root, out, split=None if split == "auto" else split,
                           check_images=check_images, seen=seen) for f in files]
    report_path = out / REPORT_FILE
    previous = json.loads(report_path.read_text()).get("files", []) if report_path.is_file() else []
    report = {"tasks_root": str(tasks_root), "files": previous + entries}
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for e in entries:
        skipped = ", ".join(f"{e[k]} {k.replace('_', ' ')}" for k in ("duplicates", "error_rows",
                                                                       "empty_descriptions", "missing_images") if e[k])
        print(f"{e['file']}: {e['kind']}, {e['imported']}/{e['rows']} rows imported as {e['split']}"
              + (f", {e['descriptions']} descriptions" if e["descriptions"] else "")
              + (f"; skipped {skipped}" if skipped else "")
              + ("; the array was truncated (read up to its last complete object)" if e["truncated"] else ""))
    written = [name for name in ("tuples.jsonl", "corpus.jsonl", "single.jsonl") if (out / name).is_file()]
    print(f"wrote {', '.join(str(out / name) for name in written)} and {report_path}")
    return 0


def load_single(path: str | Path) -> list[dict[str, Any]]:
    """Single-task rows of a single.jsonl with absolute image paths."""
    path = Path(path)
    path = path / "single.jsonl" if path.is_dir() else path
    return [{**r, "input": str(path.parent / r["input"]), "output": str(path.parent / r["output"])}
            for r in iter_jsonl(path)]


# --- their evaluation outputs -------------------------------------------------------------------------------------

EVALUATION_LOG = "evaluation_log.jsonl"


def pair_dir_tasks(name: str) -> tuple[str, str]:
    """(task_a, task_b) from one of their per-pair folders "<A>__<B>" (a single-task folder "<T>" gives (T, T))."""
    from vtl.vicl.lowlevel.tasks import task_id

    a, sep, b = name.partition("__")
    return task_id(a), task_id(b if sep else a)


def read_evaluation_logs(run: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """(log file, row) for every row of every `<run>/<A>__<B>/evaluation_log.jsonl` (or `<run>` itself)."""
    run = Path(run)
    logs = [run / EVALUATION_LOG] if (run / EVALUATION_LOG).is_file() else sorted(run.glob(f"*/{EVALUATION_LOG}"))
    if not logs:
        raise AuthorsFormatError(f"no {EVALUATION_LOG} under {run} (expected <run>/<A>__<B>/{EVALUATION_LOG})")
    return [(p, row) for p in logs for row in iter_jsonl(p)]
