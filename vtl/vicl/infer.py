"""`vtl vicl infer --config FILE`: steered generation for every eval tuple, baseline vs. ours, resumable.

For each tuple and arm ("baseline": the fixed instruction; "ours": instruction + the student's description) the
generator makes K candidates from [A_in, A_out, B_in]; the one with the highest PSNR against B_out is kept, scored
with PSNR, SSIM and (when a judge is configured) VIEScore, saved as a PNG, and one JSON line is appended to
OUT/results.jsonl. A rerun skips every (tuple, arm) already recorded, so a kill loses only the items in flight;
items whose candidates all failed with transient API errors are recorded with status "error" and retried on rerun.

Config (YAML; paths relative to the working directory):

    tuples: runs/vicl/pairs/tuples.jsonl         # from `vtl vicl pairs`
    descriptions: runs/vicl/describe/descriptions.jsonl   # from `vtl vicl describe` (needed by arm "ours")
    teacher_descriptions: null                   # teacher corpus of the eval tuples (arm "teacher", upper bound)
    out: runs/vicl/infer
    split: eval
    pairs: null                                  # e.g. ["Deblur→Dehaze"]; null = every pair in the file
    arms: [baseline, ours]                       # optionally also: teacher
    k: 10
    limit: null                                  # at most this many tuples per pair
    concurrency: 4                               # parallel queries for API backends
    generator:                                   # a subclass of vtl.vicl.generation.base.Generator and its arguments
      class_path: vtl.vicl.generation.classical.ClassicalGenerator  # or ….generation.gemini.GeminiImageGenerator
      init_args: {}
    judge: null                                  # or {class_path: vtl.vicl.scoring.judge.QwenJudge, init_args: {...}}
    judge_max_attempts: 3                        # judge calls per prompt before an item counts as failed
    viescore: paper                              # or authors-code (vtl.vicl.scoring.viescore)
    judge_prompts: null                          # {sc, pq} (paper) or {judge} (authors-code): file or inline text
    instruction: null                            # the generator instruction as a file or inline text (null: vtl's)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from jsonargparse.typing import PositiveInt
from PIL import Image

from vtl.locks import RunDirLock
from vtl.records import JsonlAppender, done_keys, guard_run_settings, numbered_records

# Every backend imported, so `--generator` lists them all and takes a bare class name (`ClassicalGenerator`).
from vtl.vicl.generation import classical, diffusers_editors, gemini, openai_images, seedream  # noqa: F401
from vtl.vicl.generation.base import Generator
from vtl.vicl.scoring.judge import JudgeBackend
from vtl.vicl.scoring.results import RESULTS_FILE, item_key, read_results

log = logging.getLogger("vtl.vicl")

# baseline: fixed instruction; ours: + the student's description; teacher (optional): + the teacher's description
# of the same eval tuple. The teacher saw B_out, so that arm is an upper bound for what a description can do.
ARMS = ("baseline", "ours", "teacher")
DEFAULT_ARMS = ("baseline", "ours")
CONFIG_FILE = "config.json"
# Config fields that must match for a rerun to continue an existing run directory.
RUN_IDENTITY = ("tuples", "descriptions", "teacher_descriptions", "split", "k", "generator", "judge",
                "judge_max_attempts", "viescore", "judge_prompts", "instruction")
CLASSICAL = {"class_path": "vtl.vicl.generation.classical.ClassicalGenerator", "init_args": {}}


@dataclass
class InferConfig:
    tuples: str
    descriptions: str | None = None
    out: str = "runs/vicl/infer"
    split: str | None = "eval"
    pairs: list[str] | None = None
    teacher_descriptions: str | None = None
    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS))
    k: int = 10
    limit: int | None = None
    concurrency: int = 4
    generator: dict[str, Any] = field(default_factory=lambda: dict(CLASSICAL))  # class_path + init_args
    judge: dict[str, Any] | None = None  # class_path + init_args of a JudgeBackend; None: no VIEScore
    judge_max_attempts: int = 3
    viescore: str = "paper"
    judge_prompts: dict[str, str] | None = None
    instruction: str | None = None

    def __post_init__(self):
        for name in ("k", "concurrency", "limit", "judge_max_attempts"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"`{name}:` must be an integer, got {value!r}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1 (candidates per query), got {self.k}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise ValueError(f"arms must be a non-empty subset of {list(ARMS)}, got {self.arms}")
        if "ours" in self.arms and not self.descriptions:
            raise ValueError("arm 'ours' needs `descriptions:` (a JSONL from `vtl vicl describe`)")
        if "teacher" in self.arms and not self.teacher_descriptions:
            raise ValueError("arm 'teacher' needs `teacher_descriptions:` (a teacher corpus of the eval tuples)")
        for name in ("generator", "judge"):
            spec = getattr(self, name)
            if (spec is not None or name == "generator") and (not isinstance(spec, dict) or "class_path" not in spec):
                raise ValueError(f"`{name}:` needs a class_path (and optionally init_args), got {spec!r}")
        from vtl.vicl.scoring.viescore import VARIANTS

        if self.viescore not in VARIANTS:
            raise ValueError(f"`viescore:` must be one of {list(VARIANTS)}, got {self.viescore!r}")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> InferConfig:
        """The config of `vtl vicl infer --config PATH`, parsed and type-checked by the command's own parser."""
        from vtl.errors import UsageError, explain_parse_error

        parser = _parser()
        args = ["--config", str(path), *(f"--{k}={v}" for k, v in overrides.items() if v is not None)]
        try:
            parsed = parser.parse_args(args).as_dict()
        except Exception as exc:  # noqa: BLE001 (argparse.ArgumentError)
            raise UsageError(f"{path}: {explain_parse_error(parser, str(exc), in_file=True)}") from exc
        fields = {k: v for k, v in parsed.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**fields)
        except ValueError as exc:
            raise UsageError(f"{path}: {exc}") from exc


def _parser():
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(prog="vtl vicl infer", exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_function_arguments(infer)
    return parser


# --- inputs -------------------------------------------------------------------------------------------------------

IMAGE_FIELDS = ("a_in", "a_out", "b_in", "b_out")


def read_tuples(path: str | Path, split: str | None = None, pairs: list[str] | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    """Tuples of a `vtl vicl pairs` file (read by `load_tuples`), at most `limit` per pair, image files checked."""
    from vtl.vicl.lowlevel.pairs import load_tuples
    from vtl.vicl.lowlevel.tasks import pair_label, parse_pair

    out, per_pair = [], {}
    for t in load_tuples(path, split=split, pairs=pairs):
        if limit is not None and per_pair.get(t.pair, 0) >= limit:
            continue
        per_pair[t.pair] = per_pair.get(t.pair, 0) + 1
        images = {}
        for key in IMAGE_FIELDS:
            image_path = Path(t.path(key)).resolve()
            if not image_path.is_file():
                raise FileNotFoundError(f"{path}: tuple {t.id} field {key!r}: {image_path} is missing")
            images[key] = str(image_path)
        out.append({"id": str(t.id), "task_a": t.task_a, "task_b": t.task_b, "pair": t.pair, "images": images})
    missing = {pair_label(*parse_pair(p)) for p in pairs or []} - set(per_pair)
    if missing:
        raise ValueError(f"{path}: no {split or ''} tuples for pairs {sorted(missing)} (config `pairs:`)")
    return out


def read_descriptions(path: str | Path) -> dict[str, str]:
    """tuple_id -> description text (the last line wins when a tuple appears twice)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"descriptions file {path} does not exist (run `vtl vicl describe` first)")
    out = {}
    for lineno, row in numbered_records(path):
        if not isinstance(row.get("tuple_id"), str) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}: line {lineno}: needs string fields 'tuple_id' and 'text'")
        out[row["tuple_id"]] = row["text"]
    return out


def load_rgb(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _save_png(image: np.ndarray, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)


def _merge_arms(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The config recorded for a run dir: this run's over earlier runs', with every arm either ran."""
    merged = {**before, **{k: v for k, v in now.items() if v is not None}}
    merged["arms"] = sorted(set(before.get("arms", [])) | set(now["arms"]), key=ARMS.index)
    return merged


def _check_run_dir(out: Path, config: InferConfig) -> None:
    """Refuse to mix two different runs in one directory; record the config (merged over earlier runs').
    A field unset on either side is not compared: e.g. the teacher arm added later, or left out of a rerun."""
    guard_run_settings(out / CONFIG_FILE, asdict(config), keys=RUN_IDENTITY, skip_none=True, merge=_merge_arms,
                       what="an infer run", hint="choose a new `out:` (or --out) for a different run")


# --- one query ----------------------------------------------------------------------------------------------------


def instruction_prompt(config: InferConfig):
    """The generator instruction of a run (a `PromptSource`): vtl's, or the file/inline text of `instruction:`."""
    from vtl.vicl.generation.prompts import PROMPT_VERSION, VICL_INSTRUCTION
    from vtl.vicl.teaching.prompt_source import PromptSource

    return PromptSource.resolve(config.instruction, VICL_INSTRUCTION, PROMPT_VERSION, "instruction")


def run_item(item: dict[str, Any], arm: str, description: str | None, generator, scorer, k: int,
             out: Path, instruction=None) -> dict[str, Any]:
    """Generate K candidates for one (tuple, arm), keep the best by PSNR, score it; the JSON record."""
    from vtl.vicl.generation.base import Candidate
    from vtl.vicl.generation.prompts import PROMPT_VERSION, VICL_INSTRUCTION, build_prompt
    from vtl.vicl.lowlevel.metrics import select_best, ssim
    from vtl.vicl.teaching.prompt_source import PromptSource

    started = time.perf_counter()
    instruction = instruction or PromptSource.resolve(None, VICL_INSTRUCTION, PROMPT_VERSION)
    a_in, a_out, b_in, b_out = (load_rgb(item["images"][key]) for key in IMAGE_FIELDS)
    prompt = build_prompt(None if arm == "baseline" else description, instruction.text)
    results = generator.generate(prompt, [a_in, a_out, b_in], k)
    if len(results) != k:
        raise RuntimeError(f"generator {generator.name} returned {len(results)} results for k={k}")
    images = [r.image if isinstance(r, Candidate) else None for r in results]
    best, psnrs = select_best(images, b_out)
    failures = [{"i": i, "kind": r.kind, "detail": r.detail} for i, r in enumerate(results)
                if not isinstance(r, Candidate)]
    record: dict[str, Any] = {
        "key": item_key(item["id"], arm), "tuple_id": item["id"], "arm": arm, "pair": item["pair"],
        "task_a": item["task_a"], "task_b": item["task_b"], "generator": generator.name, "k": k,
        "generator_model": getattr(generator, "model", None),
        "generator_settings": getattr(generator, "settings", None),
        "description": None if arm == "baseline" else description,
        "candidate_psnr": psnrs, "n_failed": len(failures), "failures": failures,
        "best": best, "psnr": None, "ssim": None, "viescore": None, "output": None, "images": item["images"],
        **instruction.record(),
    }
    if best is None:
        transient = any(f["kind"] == "error" for f in failures)
        record["status"] = "error" if transient else "failed"
    else:
        record.update(status="ok", psnr=psnrs[best], ssim=ssim(images[best], b_out),
                      best_info=results[best].info)
        out_path = out / "images" / f"{item['id']}__{arm}.png"
        _save_png(images[best], out_path)
        record["output"] = str(out_path.relative_to(out))
        if scorer is not None:
            record["viescore"] = scorer.score_tuple(item["task_a"], item["task_b"], [a_in, a_out, b_in],
                                                    images[best]).to_dict()
    record["elapsed_s"] = round(time.perf_counter() - started, 3)
    return record


# --- the run ------------------------------------------------------------------------------------------------------


def run_infer(config: InferConfig, *, progress: bool = True) -> Path:
    """Run (or continue) an inference run, holding the run dir's lock; returns the results.jsonl path."""
    from vtl.components import build, check
    from vtl.vicl.scoring.viescore import make_scorer

    # specs normalized (full class_path, every init_arg) and checked against the constructors before any work
    config = replace(config, generator=check(config.generator, Generator, "generator"),
                     judge=None if config.judge is None else check(config.judge, JudgeBackend, "judge"))
    out = Path(config.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    items = read_tuples(config.tuples, config.split, config.pairs, config.limit)
    if not items:
        raise ValueError(f"{config.tuples}: no tuples with split {config.split!r} (config `split:`/`pairs:`)")
    texts: dict[str, dict[str, str]] = {"baseline": {}}
    for arm, source in (("ours", config.descriptions), ("teacher", config.teacher_descriptions)):
        if arm not in config.arms:
            continue
        texts[arm] = read_descriptions(source)
        missing = [it["id"] for it in items if it["id"] not in texts[arm]]
        if missing:
            raise ValueError(
                f"{source}: no description for {len(missing)} tuple(s), e.g. {missing[:3]}; "
                "describe the same tuples file (`vtl vicl describe` / `vtl vicl corpus --split eval`)"
            )
    results_path = out / RESULTS_FILE
    done = done_keys(results_path, "key", where=lambda r: r.get("status") != "error")
    todo = [(it, arm) for it in items for arm in config.arms if item_key(it["id"], arm) not in done]
    total = len(items) * len(config.arms)
    generator = scorer = None
    if todo:
        # Built before config.json is written, so a typo in a backend or a missing key does not claim the directory.
        generator = build(config.generator, Generator, "generator")
        scorer = make_scorer(config.judge, config.judge_max_attempts, config.viescore, config.judge_prompts)
    instruction = instruction_prompt(config)
    with RunDirLock(out, "vtl vicl infer"):
        return _write_results(config, out, texts, todo, total, generator, scorer, results_path, instruction, progress)


def _write_results(config, out, texts, todo, total, generator, scorer, results_path, instruction, progress) -> Path:
    """The part of `run_infer` that writes the run dir (its lock held)."""
    from tqdm.auto import tqdm

    _check_run_dir(out, config)
    if not todo:
        log.info("all %d items of %s are done", total, results_path)
        return results_path
    workers = config.concurrency
    if workers > 1 and not (generator.concurrent and (scorer is None or scorer.backend.concurrent)):
        log.info("generator %s / judge run one query at a time (local compute); concurrency %d -> 1",
                 generator.name, workers)
        workers = 1

    bar = tqdm(total=total, initial=total - len(todo), desc="vicl infer", unit="query", disable=not progress)
    n_failed = 0
    with JsonlAppender(results_path) as sink, ThreadPoolExecutor(max_workers=workers) as pool:
        pending: set[Future] = set()
        queue = iter(todo)
        try:
            while True:
                # Keep only `workers` queries in flight, so a kill loses at most those.
                while len(pending) < workers:
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    it, arm = nxt
                    pending.add(pool.submit(run_item, it, arm, texts[arm].get(it["id"]), generator, scorer,
                                            config.k, out, instruction))
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record = fut.result()
                    sink.append(record)
                    n_failed += record["status"] != "ok"
                    bar.update(1)
                    bar.set_postfix_str(f"{record['pair']} {record['arm']} psnr={record['psnr'] or 0:.2f}")
        finally:
            for fut in pending:
                fut.cancel()
            bar.close()
    if n_failed:
        log.warning("%d of %d queries produced no usable candidate (see status/failures in %s)",
                    n_failed, len(todo), results_path)
    return results_path


def infer(*, tuples: str, descriptions: str | None = None, out: str = "runs/vicl/infer", split: str | None = "eval",
          pairs: list[str] | None = None, teacher_descriptions: str | None = None,
          arms: list[Literal["baseline", "ours", "teacher"]] = list(DEFAULT_ARMS), k: PositiveInt = 10,  # noqa: B006
          limit: PositiveInt | None = None, concurrency: PositiveInt = 4, generator: Generator | None = None,
          judge: JudgeBackend | None = None, judge_max_attempts: PositiveInt = 3,
          viescore: Literal["paper", "authors-code"] = "paper", judge_prompts: dict[str, str] | None = None,
          instruction: str | None = None, no_progress: bool = False) -> int:
    """Steered generation: baseline vs. described, K candidates per query, metrics (resumable).

    Args:
        tuples: tuples.jsonl from `vtl vicl pairs`.
        descriptions: Student descriptions from `vtl vicl describe` (needed by arm "ours").
        out: Run directory (results.jsonl, images/, config.json).
        split: Which tuples to run; null for all.
        pairs: Only these pairs, e.g. ["Deblur→Dehaze"]; null for every pair in the file.
        teacher_descriptions: Teacher corpus of the eval tuples (arm "teacher", an upper bound).
        arms: Which arms to run.
        k: Candidates per query.
        limit: At most this many tuples per pair.
        concurrency: Parallel queries for API backends.
        generator: The image generator: class_path (a subclass of vtl.vicl.generation.base.Generator) and init_args;
            default: vtl.vicl.generation.classical.ClassicalGenerator.
        judge: The VIEScore judge: class_path (a subclass of vtl.vicl.scoring.judge.JudgeBackend) and init_args;
            default: none (VIEScore not computed).
        judge_max_attempts: Judge calls per prompt before an item's VIEScore counts as failed.
        viescore: VIEScore variant: "paper" (SC and PQ calls, min/min, sqrt(SC*PQ), failures excluded) or
            "authors-code" (one four-image call, (SC+PQ)/2, a failure scores 0).
        judge_prompts: Replacement judge prompts, each a file or inline text: {sc, pq} for paper, {judge} for
            authors-code; null keeps vtl's.
        instruction: The generator instruction as a file or inline text; null keeps vtl's. Its hash goes into
            each record's prompt_version.
        no_progress: No progress bar.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from vtl.errors import VtlError

    try:
        config = InferConfig(tuples=tuples, descriptions=descriptions, out=out, split=split, pairs=pairs,
                             teacher_descriptions=teacher_descriptions, arms=list(arms), k=k, limit=limit,
                             concurrency=concurrency, generator=generator or dict(CLASSICAL), judge=judge,
                             judge_max_attempts=judge_max_attempts, viescore=viescore, judge_prompts=judge_prompts,
                             instruction=instruction)
        path = run_infer(config, progress=not no_progress)
    except (ValueError, FileNotFoundError) as exc:
        raise VtlError(str(exc)) from exc
    records = read_results(path)
    ok = sum(r.get("status") == "ok" for r in records)
    if records and not ok:
        print(f"vtl vicl infer: error: none of the {len(records)} queries produced a usable candidate; see "
              f"status/failures in {path}, fix the generator settings and rerun", file=sys.stderr)
        return 1
    print(f"{ok}/{len(records)} queries with a result in {path}; next: vtl vicl report {path.parent}")
    return 0


infer.keeps_specs = True  # `vtl` hands generator/judge over as class_path specs; run_infer builds them when needed
