"""`vtl vicl describe`: the trained student writes a description for each eval tuple (A_in, A_out, B_in), resumable.

Line: {"tuple_id", "pair", "task_a", "task_b", "split", "source": "student", "student" (export dir), "model"
(base model), "prompt_version", "text", "task_mentions"} — the corpus shape, so part 2 joins both by tuple_id.
The student is the export a distillation fit writes to `<run dir>/student` (a LoRA adapter or full weights, with
the processor and student.json), or the same student served by vLLM/SGLang and reached through `OpenAIDescriber`
(its "student" field is then "openai:<served model name>"). Lines are appended and fsync'd per batch; a rerun skips
tuples already described; `shard="I/N"` describes only that shard's tuples. A remote call that failed is not written
(a rerun tries it again) but logged to OUT.failures.jsonl.

Decoding is greedy by default; `Decoding(temperature>0, ...)` samples instead (the T2T-VICL authors decode their
student with temperature 0.1, top-p 0.001, repetition penalty 1.05). The student prompt can be replaced by a file
or inline text; it must be the prompt the student was trained with. Both are recorded in every line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from jsonargparse.typing import NonNegativeFloat, PositiveFloat, PositiveInt

from vtl.errors import VtlError
from vtl.records import JsonlAppender, done_keys
from vtl.vicl.clients.openai_chat import OpenAIChat
from vtl.vicl.teaching.prompts import STUDENT_PROMPT, STUDENT_PROMPT_VERSION, clean_description, task_mentions
from vtl.vicl.teaching.teachers import TeacherFailure, chat_description

if TYPE_CHECKING:
    from vtl.vicl.lowlevel.pairs import VICLTuple

log = logging.getLogger("vtl.vicl")


class OpenAIDescriber(OpenAIChat):
    """The student served by vLLM/SGLang (its weights, or its LoRA adapter as a `--lora-modules` name) for
    `vtl vicl describe`: sees A_in, A_out, B_in only. Takes OpenAIChat's arguments."""

    @property
    def identity(self) -> str:
        return f"openai:{self.model}"

    @property
    def batch_size(self) -> int:
        return 4 * self.max_concurrency

    def describe(self, tuples: list[VICLTuple], prompt: str = STUDENT_PROMPT) -> list[str | TeacherFailure]:
        answers = self.complete_many([(prompt, [t.path(k) for k in ("a_in", "a_out", "b_in")])
                                      for t in tuples])
        return [chat_description(a) for a in answers]


@dataclass
class Student:
    model: object
    processor: object
    base_model: str
    path: Path
    max_new_tokens: int
    prompt: str | None = None  # the prompt it was trained with (None: vtl's STUDENT_PROMPT)

    @property
    def identity(self) -> str:
        return str(self.path.resolve())

    def describe(self, tuples, max_new_tokens: int | None = None, *, prompt: str = STUDENT_PROMPT,
                 sampling: dict | None = None) -> list[str]:
        from vtl.models.chat import ChatExample
        from vtl.vicl.teaching.teachers import generate_texts

        examples = [ChatExample(images=t.student_images(), prompt=prompt) for t in tuples]
        texts = generate_texts(self.model, self.processor, examples,
                               max_new_tokens=max_new_tokens or self.max_new_tokens, sampling=sampling)
        return [clean_description(text) for text in texts]


@dataclass(frozen=True)
class Decoding:
    """How the student decodes: greedy when temperature is 0, else sampling with these settings."""

    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int | None = None  # None: the fit's model.max_new_tokens

    def __post_init__(self):
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.repetition_penalty <= 0:
            raise ValueError(f"decoding: need temperature >= 0, 0 < top_p <= 1, repetition_penalty > 0; got {self}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"decoding: max_new_tokens must be >= 1, got {self.max_new_tokens}")

    def generate_options(self) -> dict:
        options: dict = {"repetition_penalty": self.repetition_penalty} if self.repetition_penalty != 1.0 else {}
        if self.temperature > 0:
            options.update(do_sample=True, temperature=self.temperature, top_p=self.top_p)
        return options


def load_student(path: str | Path, *, base_model: str | None = None, device: str | None = None) -> Student:
    """A student export dir -> model + processor. LoRA exports load the base named in student.json (or
    `base_model`) and attach the adapter; full exports load directly."""
    import torch
    from transformers import AutoProcessor

    from vtl.models.loading import load_model
    from vtl.vicl.distill.student import EXPORT_META

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
    return Student(model, processor, base, path, int(meta.get("max_new_tokens", 128)), meta.get("prompt"))


def _described_before(out: Path, student: Student | OpenAIDescriber,
                      prompt_version: str = STUDENT_PROMPT_VERSION) -> set[str]:
    """Tuple ids already in `out`; refuses a file written by a teacher, another student or another prompt."""
    producer = {"source": "student", "student": student.identity, "prompt_version": prompt_version}
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
    decoding: Decoding | None = None,
    prompt: str | None = None,
) -> tuple[int, int]:
    """Describe tuples not yet in `out` with a local student or an OpenAIDescriber; returns (written, already
    there). `batch_size`, `max_new_tokens` and `decoding` apply to a local student (a served one decodes as it was
    built). `prompt`: file or inline text (default: the prompt the student was trained with)."""
    from vtl.vicl.lowlevel.pairs import load_tuples
    from vtl.vicl.teaching.corpus import log_failures
    from vtl.vicl.teaching.prompt_source import PromptSource
    from vtl.vicl.teaching.shards import select

    decoding = decoding or Decoding()
    trained_with = student.prompt if isinstance(student, Student) else None
    source = PromptSource.resolve(prompt or trained_with, STUDENT_PROMPT, STUDENT_PROMPT_VERSION, "student prompt")
    max_new_tokens = max_new_tokens or decoding.max_new_tokens
    out = Path(out)
    tuples = load_tuples(tuples_path, split=split, pairs=pairs)
    if limit is not None:
        tuples = tuples[:limit]
    tuples = select(tuples, shard)
    local = isinstance(student, Student)
    step = max(1, batch_size if local else student.batch_size)
    done = _described_before(out, student, source.version)
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
            if local:
                texts = student.describe(batch, max_new_tokens, prompt=source.text,
                                         sampling=decoding.generate_options())
            else:
                texts = student.describe(batch, prompt=source.text)
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
                    **source.record(), "decoding": asdict(decoding) if local else student.sampling,
                    "text": text, "task_mentions": task_mentions(text),
                })
                written += 1
            log_failures(out, failures)
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return written, len(tuples) - len(todo)


def describe(*, student: str, tuples: str, out: str, split: Literal["train", "eval", "all"] = "eval",
             pairs: list[str] | None = None, base_model: str | None = None, batch_size: PositiveInt = 4,
             max_new_tokens: PositiveInt | None = None, limit: PositiveInt | None = None,
             temperature: NonNegativeFloat = 0.0,
             top_p: float = 1.0, repetition_penalty: PositiveFloat = 1.0, prompt: str | None = None,
             shard: str | None = None, base_url: str | None = None, api_key_env: str = "none",
             concurrency: PositiveInt = 8, timeout: PositiveFloat = 60) -> int:
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
        temperature: 0 decodes greedily; above 0 samples (the T2T-VICL authors use 0.1).
        top_p: Nucleus sampling with temperature > 0 (the authors use 0.001).
        repetition_penalty: Generation repetition penalty (1.0: none; the authors use 1.05); local student only.
        prompt: The student prompt as a file or inline text; default: the prompt the student was trained with.
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
            from vtl.vicl.teaching.corpus import api_key_variable

            loaded = OpenAIDescriber(student, base_url=base_url, api_key_env=api_key_variable(api_key_env, "none"),
                                     max_concurrency=concurrency, timeout_s=timeout,
                                     max_tokens=max_new_tokens or 128, temperature=temperature,
                                     top_p=top_p if temperature > 0 else None)
        else:
            loaded = load_student(student, base_model=base_model)
        written, before = describe_tuples(loaded, tuples, out, split=None if split == "all" else split, pairs=pairs,
                                          batch_size=batch_size, max_new_tokens=max_new_tokens, limit=limit,
                                          shard=shard, progress=True, prompt=prompt,
                                          decoding=Decoding(temperature, top_p, repetition_penalty))
    except (ValueError, FileNotFoundError, ModelLoadError) as exc:
        raise VtlError(str(exc)) from exc
    print(f"{out}: {written} written, {before} already there")
    return 0
