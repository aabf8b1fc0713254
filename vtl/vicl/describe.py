"""`vtl vicl describe`: the trained student writes a description for each eval tuple (A_in, A_out, B_in), resumable.

Line: {"tuple_id", "pair", "task_a", "task_b", "split", "source": "student", "student" (export dir), "model"
(base model), "prompt_version", "text", "task_mentions"} — the corpus shape, so part 2 joins both by tuple_id.
The student is the export a distillation fit writes to `<run dir>/student` (a LoRA adapter or full weights, with
the processor and student.json), or the same student served by vLLM/SGLang and reached through `OpenAIDescriber`
(its "student" field is then "openai:<served model name>"). Lines are appended and fsync'd per batch; a rerun skips
tuples already described; `shard="I/N"` describes only that shard's tuples. A remote call that failed is not written
(a rerun tries it again) but logged to OUT.failures.jsonl.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vtl.errors import VtlError
from vtl.records import JsonlAppender, done_keys
from vtl.vicl.openai_backend import OpenAIDescriber
from vtl.vicl.teacher_prompts import STUDENT_PROMPT, STUDENT_PROMPT_VERSION, clean_description, task_mentions

log = logging.getLogger("vtl.vicl")


@dataclass
class Student:
    model: object
    processor: object
    base_model: str
    path: Path
    max_new_tokens: int

    @property
    def identity(self) -> str:
        return str(self.path.resolve())

    def describe(self, tuples, max_new_tokens: int | None = None) -> list[str]:
        from vtl.models.chat import ChatExample
        from vtl.vicl.teachers import generate_texts

        examples = [ChatExample(images=t.student_images(), prompt=STUDENT_PROMPT) for t in tuples]
        texts = generate_texts(self.model, self.processor, examples,
                               max_new_tokens=max_new_tokens or self.max_new_tokens)
        return [clean_description(text) for text in texts]


def load_student(path: str | Path, *, base_model: str | None = None, device: str | None = None) -> Student:
    """A student export dir -> model + processor. LoRA exports load the base named in student.json (or
    `base_model`) and attach the adapter; full exports load directly."""
    import torch
    from transformers import AutoProcessor

    from vtl.models.loading import load_model
    from vtl.vicl.student import EXPORT_META

    path = Path(path)
    meta_file = path / EXPORT_META
    if not meta_file.exists():
        raise FileNotFoundError(f"{path} is not a student export (no {EXPORT_META}); train one with "
                                f"`vtl fit --config configs/distill/tiny.yaml` and pass <run dir>/student")
    meta = json.loads(meta_file.read_text())
    base = base_model or meta["base_model"]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if meta.get("lora"):
        from peft import PeftModel

        from vtl.models.loading import QuantizationOptions

        quant = QuantizationOptions(**meta["quantization"]) if meta.get("quantization") else None
        model, _ = load_model(base, quantization=quant, dtype=dtype,
                              device_map={"": device} if device == "cuda" else None)
        model = PeftModel.from_pretrained(model, str(path))
    else:
        model, _ = load_model(str(path), dtype=dtype, device_map={"": device} if device == "cuda" else None)
    processor = AutoProcessor.from_pretrained(str(path))  # with the pixel budget the student was trained with
    model.eval()
    return Student(model, processor, base, path, int(meta.get("max_new_tokens", 128)))


def _described_before(out: Path, student: Student | OpenAIDescriber) -> set[str]:
    """Tuple ids already in `out`; refuses a file written by a teacher, another student or another prompt."""
    producer = {"source": "student", "student": student.identity, "prompt_version": STUDENT_PROMPT_VERSION}
    return done_keys(out, "tuple_id", same=producer, hint="write these descriptions to another --out",
                     who=lambda r: f"{r.get('source')!r} {r.get('student') or r.get('model')!r} with prompt "
                                   f"{r.get('prompt_version')!r}")


def describe_tuples(
    student: Student | OpenAIDescriber,
    tuples_path: str | Path,
    out: str | Path,
    *,
    split: str | None = "eval",
    pairs: list[str] | None = None,
    batch_size: int = 4,
    max_new_tokens: int | None = None,
    limit: int | None = None,
    shard: str | None = None,
    progress: bool = False,
) -> tuple[int, int]:
    """Describe tuples not yet in `out` with a local student or an OpenAIDescriber; returns (written, already
    there). `batch_size` and `max_new_tokens` apply to a local student."""
    from vtl.vicl.corpus import log_failures
    from vtl.vicl.pairs import load_tuples
    from vtl.vicl.shards import select

    out = Path(out)
    tuples = load_tuples(tuples_path, split=split, pairs=pairs)
    if limit is not None:
        tuples = tuples[:limit]
    tuples = select(tuples, shard)
    local = isinstance(student, Student)
    step = max(1, batch_size if local else student.batch_size)
    done = _described_before(out, student)
    todo = [t for t in tuples if t.id not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tuples), initial=len(tuples) - len(todo), desc="describe")
    written = 0
    with JsonlAppender(out) as sink:
        for start in range(0, len(todo), step):
            batch = todo[start : start + step]
            failures = []
            texts = student.describe(batch, max_new_tokens) if local else student.describe(batch)
            for t, text in zip(batch, texts, strict=True):
                if not isinstance(text, str):
                    log.warning("describer failed on %s: %s (a rerun tries again)", t.id, text.reason)
                    failures.append({"tuple_id": t.id, "pair": t.pair, "student": student.identity,
                                     "model": student.model, "reason": text.reason})
                    continue
                sink.append({
                    "tuple_id": t.id, "pair": t.pair, "task_a": t.task_a, "task_b": t.task_b, "split": t.split,
                    "source": "student", "student": student.identity,
                    "model": student.base_model if local else student.model,
                    "prompt_version": STUDENT_PROMPT_VERSION, "text": text, "task_mentions": task_mentions(text),
                })
                written += 1
            log_failures(out, failures)
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return written, len(tuples) - len(todo)


def describe(*, student: str, tuples: str, out: str, split: Literal["train", "eval", "all"] = "eval",
             pairs: list[str] | None = None, base_model: str | None = None, batch_size: int = 4,
             max_new_tokens: int | None = None, limit: int | None = None, shard: str | None = None,
             base_url: str | None = None, api_key_env: str = "none", concurrency: int = 8,
             timeout: float = 60) -> int:
    """Student descriptions for eval tuples (resumable).

    Args:
        student: Student export dir (<run dir>/student of a distillation fit); with --base_url, the served model
            name of the student (`vllm serve … --lora-modules NAME=DIR`).
        tuples: tuples.jsonl (or its directory).
        out: Descriptions JSONL to append to.
        split: Which tuples to describe.
        pairs: Only these pairs ('Deblur→Dehaze' ...).
        base_model: Override the base model recorded in student.json.
        batch_size: Generation batch size.
        max_new_tokens: Generation length (default: the fit's model.max_new_tokens).
        limit: At most this many tuples.
        shard: I/N: only this shard's tuples (0 <= I < N); join the N outputs with `vtl vicl merge`.
        base_url: The student behind an OpenAI-compatible server (http://HOST:8000/v1 for vllm serve).
        api_key_env: With --base_url: environment variable holding the key ("none": a server without --api-key).
        concurrency: With --base_url: requests in flight.
        timeout: With --base_url: seconds per request.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from vtl.models.loading import ModelLoadError

    try:
        if base_url:
            from vtl.vicl.corpus import api_key_variable

            loaded = OpenAIDescriber(student, base_url=base_url, api_key_env=api_key_variable(api_key_env, "none"),
                                     max_concurrency=concurrency, timeout_s=timeout,
                                     max_tokens=max_new_tokens or 128)
        else:
            loaded = load_student(student, base_model=base_model)
        written, before = describe_tuples(loaded, tuples, out, split=None if split == "all" else split, pairs=pairs,
                                          batch_size=batch_size, max_new_tokens=max_new_tokens, limit=limit,
                                          shard=shard, progress=True)
    except (ValueError, FileNotFoundError, ModelLoadError) as exc:
        raise VtlError(str(exc)) from exc
    print(f"{out}: {written} written, {before} already there")
    return 0
