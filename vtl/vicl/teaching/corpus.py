"""`vtl vicl corpus`: teacher descriptions, one JSON line per tuple, resumable.

Line: {"tuple_id", "pair", "task_a", "task_b", "split", "source": "teacher", "teacher" (backend), "model",
"prompt_version", "text", "task_mentions" (task names found; should be []), "strict_mentions" (degradation nouns)}.
A rerun skips tuples already in the file; each line is appended and fsync'd as soon as its batch is done, so a kill
loses at most the batch in flight and leaves no duplicate. Tuples whose teacher call failed (refused, empty, or an
error that outlived the retries) are not written to the corpus (a rerun tries them again): they are counted in the
summary and appended to `OUT.failures.jsonl` (tuple_id, teacher, model, reason). A refused API request (bad key,
model or URL) stops the run. `shard="I/N"` describes only that shard's tuples (`vtl.vicl.teaching.shards`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jsonargparse.typing import PositiveFloat, PositiveInt

from vtl.errors import VtlError
from vtl.locks import file_lock
from vtl.records import JsonlAppender, done_keys
from vtl.vicl.teaching.prompts import task_mentions

log = logging.getLogger("vtl.vicl")

TeacherName = Literal["analytic", "qwen", "gemini", "openai"]


@dataclass
class CorpusStats:
    written: int = 0
    already_done: int = 0
    failed: int = 0
    named_task: int = 0


def _check_same_producer(out: Path, teacher) -> set[str]:
    """Tuple ids already described in `out`; refuses a file written by another model or prompt version."""
    return done_keys(out, "tuple_id", same={"model": teacher.model, "prompt_version": teacher.prompt_version},
                     who=lambda r: f"model {r.get('model')!r} with prompt {r.get('prompt_version')!r}",
                     hint="write this teacher's corpus to another --out")


def build_corpus(
    tuples_path: str | Path,
    out: str | Path,
    teacher,
    *,
    split: str | None = "train",
    pairs: list[str] | None = None,
    limit: int | None = None,
    shard: str | None = None,
    progress: bool = False,
) -> CorpusStats:
    """Describe every tuple of `split` (None: all) not yet in `out` with `teacher`, appending one line each."""
    from vtl.vicl.lowlevel.pairs import load_tuples
    from vtl.vicl.teaching.shards import select

    out = Path(out)
    tuples = load_tuples(tuples_path, split=split, pairs=pairs)
    if limit is not None:
        tuples = tuples[:limit]
    tuples = select(tuples, shard)
    done = _check_same_producer(out, teacher)
    stats = CorpusStats(already_done=sum(t.id in done for t in tuples))
    todo = [t for t in tuples if t.id not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tuples), initial=stats.already_done, desc=f"corpus ({teacher.name})")
    with file_lock(out, "vtl vicl corpus"), JsonlAppender(out) as sink:
        for start in range(0, len(todo), max(1, teacher.batch_size)):
            batch = todo[start : start + max(1, teacher.batch_size)]
            failures = []
            for t, text in zip(batch, teacher.describe(batch), strict=True):
                if not isinstance(text, str):
                    stats.failed += 1
                    log.warning("teacher failed on %s: %s (a rerun tries again)", t.id, text.reason)
                    failures.append({"tuple_id": t.id, "pair": t.pair, "teacher": teacher.name,
                                     "model": teacher.model, "reason": text.reason})
                    continue
                mentions = task_mentions(text)
                stats.named_task += bool(mentions)
                sink.append({
                    "tuple_id": t.id, "pair": t.pair, "task_a": t.task_a, "task_b": t.task_b, "split": t.split,
                    "source": "teacher", "teacher": teacher.name, "model": teacher.model,
                    "prompt_version": teacher.prompt_version,
                    "prompt_sha": getattr(teacher, "prompt_sha", None), "text": text,
                    "task_mentions": mentions, "strict_mentions": task_mentions(text, strict=True),
                })
                stats.written += 1
            log_failures(out, failures)
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return stats


def failures_path(out: Path) -> Path:
    """Where the failed calls of a corpus (or describe) run are logged: OUT.failures.jsonl beside OUT."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".failures.jsonl")


def log_failures(out: Path, rows: list[dict]) -> None:
    """Append failed items to `failures_path(out)` (the file appears only once something failed)."""
    if rows:
        with JsonlAppender(failures_path(out)) as sink:
            for row in rows:
                sink.append(row)


def api_key_variable(api_key_env: str | None, default: str) -> str | None:
    """The flag's variable name, the backend's default when unset, None for "none" (a server without a key)."""
    if api_key_env is None:
        return default
    return None if api_key_env.lower() == "none" else api_key_env


def make_teacher(teacher: TeacherName = "analytic", *, model: str | None = None, batch_size: int | None = None,
                 no_4bit: bool = False, dtype: str = "bfloat16", max_new_tokens: int = 200,
                 api_key_env: str | None = None, base_url: str | None = None, concurrency: int = 4,
                 timeout: float = 60, seed: int = 0, prompt: str | None = None):
    """The teacher `vtl vicl corpus` flags name (see `corpus` for the flags)."""
    from vtl.vicl.teaching.teachers import AnalyticTeacher, GeminiTeacher, QwenTeacher

    if teacher == "analytic":
        return AnalyticTeacher(seed=seed)
    if teacher == "qwen":
        from vtl.models.loading import QuantizationOptions

        name = model or "Qwen/Qwen2.5-VL-32B-Instruct"
        options = {"quantization": None if no_4bit else QuantizationOptions(), "dtype": dtype,
                   "max_new_tokens": max_new_tokens, "prompt": prompt}
        if batch_size:
            options["batch_size"] = batch_size
        if name.startswith("vtl://"):  # the tiny model: CPU, full precision
            options.update(quantization=None, dtype="float32", device_map=None)
        return QwenTeacher(name, **options)
    if teacher == "openai":
        from vtl.vicl.teaching.teachers import OpenAITeacher

        return OpenAITeacher(model or "Qwen/Qwen2.5-VL-32B-Instruct", base_url=base_url,
                             api_key_env=api_key_variable(api_key_env, "OPENAI_API_KEY"), max_concurrency=concurrency,
                             timeout_s=timeout, max_tokens=max_new_tokens, prompt=prompt)
    return GeminiTeacher(model or "gemini-2.5-flash", api_key_env=api_key_variable(api_key_env, "GEMINI_API_KEY")
                         or "GEMINI_API_KEY", base_url=base_url, concurrency=concurrency, timeout_s=timeout,
                         prompt=prompt)


def corpus(*, tuples: str, out: str, teacher: TeacherName = "analytic", model: str | None = None,
           split: Literal["train", "eval", "all"] = "train", pairs: list[str] | None = None,
           limit: PositiveInt | None = None, batch_size: PositiveInt | None = None, no_4bit: bool = False,
           dtype: str = "bfloat16", max_new_tokens: PositiveInt = 200,
           api_key_env: str | None = None, base_url: str | None = None, concurrency: PositiveInt = 4,
           timeout: PositiveFloat = 60, seed: int = 0, prompt: str | None = None, shard: str | None = None) -> int:
    """Teacher descriptions, one JSON line per tuple (resumable); exit 1 when some tuples failed (rerun to retry).

    Args:
        tuples: tuples.jsonl (or its directory) from `vtl vicl pairs`.
        out: Corpus JSONL to append to (created if absent).
        teacher: Teacher backend.
        model: qwen: checkpoint path or hub id (default Qwen/Qwen2.5-VL-32B-Instruct, or vtl://tiny-qwen2.5-vl);
            gemini: model name (default gemini-2.5-flash); openai: the served model name (default
            Qwen/Qwen2.5-VL-32B-Instruct).
        split: Which tuples to describe.
        pairs: Only these pairs ('Deblur→Dehaze' ...).
        limit: At most this many tuples (after filtering).
        batch_size: qwen: generation batch size.
        no_4bit: qwen: load in --dtype instead of 4-bit NF4.
        dtype: qwen: weight dtype without 4-bit.
        max_new_tokens: qwen, openai: generation length.
        api_key_env: gemini, openai: environment variable holding the key (default GEMINI_API_KEY,
            OPENAI_API_KEY); openai: "none" for a server started without --api-key.
        base_url: gemini, openai: API endpoint (proxy, local server, http://HOST:8000/v1 for vllm serve).
        concurrency: gemini, openai: requests in flight.
        timeout: gemini, openai: seconds per request.
        seed: analytic: wording seed.
        prompt: qwen/gemini/openai: the teacher prompt as a file or inline text (default: vtl's); its hash goes
            into every line's prompt_version.
        shard: I/N: only this shard's tuples (0 <= I < N); join the N outputs with `vtl vicl merge`.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        backend = make_teacher(teacher, model=model, batch_size=batch_size, no_4bit=no_4bit, dtype=dtype,
                               max_new_tokens=max_new_tokens, api_key_env=api_key_env, base_url=base_url,
                               concurrency=concurrency, timeout=timeout, seed=seed, prompt=prompt)
        stats = build_corpus(tuples, out, backend, split=None if split == "all" else split, pairs=pairs,
                             limit=limit, shard=shard, progress=True)
    except (ValueError, FileNotFoundError) as exc:
        raise VtlError(str(exc)) from exc
    print(f"{out}: {stats.written} written, {stats.already_done} already there, {stats.failed} failed"
          f"{' (rerun to retry them)' if stats.failed else ''}, {stats.named_task} name a task")
    return 1 if stats.failed else 0
