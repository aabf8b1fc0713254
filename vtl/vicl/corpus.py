"""`vtl vicl corpus`: teacher descriptions, one JSON line per tuple, resumable.

Line: {"tuple_id", "pair", "task_a", "task_b", "split", "source": "teacher", "teacher" (backend), "model",
"prompt_version", "text", "task_mentions" (task names found; should be []), "strict_mentions" (degradation nouns)}.
A rerun skips tuples already in the file; each line is appended and fsync'd as soon as its batch is done, so a kill
loses at most the batch in flight and leaves no duplicate. Tuples whose teacher call failed transiently are not
written (a rerun tries them again) and are counted in the summary; a refused API request (bad key or model) stops
the run.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from vtl.records import JsonlAppender, iter_jsonl
from vtl.vicl.teacher_prompts import task_mentions

log = logging.getLogger("vtl.vicl")


@dataclass
class CorpusStats:
    written: int = 0
    already_done: int = 0
    failed: int = 0
    named_task: int = 0


def _check_same_producer(out: Path, teacher) -> set[str]:
    """Tuple ids already described in `out`; refuses a file written by another model or prompt version."""
    done: set[str] = set()
    if not out.exists():
        return done
    for number, row in enumerate(iter_jsonl(out), start=1):
        if row.get("model") != teacher.model or row.get("prompt_version") != teacher.prompt_version:
            raise ValueError(
                f"{out}: line {number} was written by model {row.get('model')!r} with prompt "
                f"{row.get('prompt_version')!r}, not {teacher.model!r}/{teacher.prompt_version!r}; "
                f"write this teacher's corpus to another --out"
            )
        done.add(row["tuple_id"])
    return done


def build_corpus(
    tuples_path: str | Path,
    out: str | Path,
    teacher,
    *,
    split: str | None = "train",
    pairs: list[str] | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> CorpusStats:
    """Describe every tuple of `split` (None: all) not yet in `out` with `teacher`, appending one line each."""
    from vtl.vicl.pairs import load_tuples

    out = Path(out)
    tuples = load_tuples(tuples_path, split=split, pairs=pairs)
    if limit is not None:
        tuples = tuples[:limit]
    done = _check_same_producer(out, teacher)
    stats = CorpusStats(already_done=sum(t.id in done for t in tuples))
    todo = [t for t in tuples if t.id not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tuples), initial=stats.already_done, desc=f"corpus ({teacher.name})")
    with JsonlAppender(out) as sink:
        for start in range(0, len(todo), max(1, teacher.batch_size)):
            batch = todo[start : start + max(1, teacher.batch_size)]
            for t, text in zip(batch, teacher.describe(batch), strict=True):
                if not isinstance(text, str):
                    stats.failed += 1
                    log.warning("teacher failed on %s: %s (a rerun tries again)", t.id, text.reason)
                    continue
                mentions = task_mentions(text)
                stats.named_task += bool(mentions)
                sink.append({
                    "tuple_id": t.id, "pair": t.pair, "task_a": t.task_a, "task_b": t.task_b, "split": t.split,
                    "source": "teacher", "teacher": teacher.name, "model": teacher.model,
                    "prompt_version": teacher.prompt_version, "text": text,
                    "task_mentions": mentions, "strict_mentions": task_mentions(text, strict=True),
                })
                stats.written += 1
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return stats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tuples", required=True, help="tuples.jsonl (or its directory) from `vtl vicl pairs`")
    parser.add_argument("--out", required=True, help="corpus JSONL to append to (created if absent)")
    parser.add_argument("--teacher", choices=("analytic", "qwen", "gemini"), default="analytic")
    parser.add_argument("--model", default=None,
                        help="qwen: checkpoint path or hub id (default Qwen/Qwen2.5-VL-32B-Instruct, or "
                             "vtl://tiny-qwen2.5-vl); gemini: model name (default gemini-2.5-flash)")
    parser.add_argument("--split", choices=("train", "eval", "all"), default="train")
    parser.add_argument("--pairs", nargs="+", default=None, help="only these pairs ('Deblur→Dehaze' ...)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many tuples (after filtering)")
    parser.add_argument("--batch-size", type=int, default=None, help="qwen: generation batch size")
    parser.add_argument("--no-4bit", action="store_true", help="qwen: load in --dtype instead of 4-bit")
    parser.add_argument("--dtype", default="bfloat16", help="qwen: weight dtype without 4-bit")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="qwen: generation length")
    parser.add_argument("--api-key-env", default="GEMINI_API_KEY", help="gemini: env variable holding the key")
    parser.add_argument("--base-url", default=None, help="gemini: API endpoint override (proxy, local server)")
    parser.add_argument("--concurrency", type=int, default=4, help="gemini: requests in flight")
    parser.add_argument("--timeout", type=float, default=60, help="gemini: seconds per request")
    parser.add_argument("--seed", type=int, default=0, help="analytic: wording seed")


def teacher_from_args(args: argparse.Namespace):
    from vtl.vicl.teachers import make_teacher

    if args.teacher == "analytic":
        return make_teacher("analytic", seed=args.seed)
    if args.teacher == "qwen":
        options = {"model": args.model or "Qwen/Qwen2.5-VL-32B-Instruct", "load_in_4bit": not args.no_4bit,
                   "dtype": args.dtype, "max_new_tokens": args.max_new_tokens}
        if args.batch_size:
            options["batch_size"] = args.batch_size
        if options["model"].startswith("vtl://"):  # the tiny model: CPU, full precision
            options.update(load_in_4bit=False, dtype="float32", device_map=None)
        return make_teacher("qwen", **options)
    return make_teacher("gemini", model=args.model or "gemini-2.5-flash", api_key_env=args.api_key_env,
                        base_url=args.base_url, concurrency=args.concurrency, timeout_s=args.timeout)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from vtl.vicl.gemini import MissingApiKeyError

    try:
        teacher = teacher_from_args(args)
        stats = build_corpus(args.tuples, args.out, teacher, split=None if args.split == "all" else args.split,
                             pairs=args.pairs, limit=args.limit, progress=True)
    except (ValueError, FileNotFoundError, MissingApiKeyError) as exc:
        print(f"error: {exc}")
        return 2
    print(f"{args.out}: {stats.written} written, {stats.already_done} already there, {stats.failed} failed"
          f"{' (rerun to retry them)' if stats.failed else ''}, {stats.named_task} name a task")
    return 1 if stats.failed else 0
