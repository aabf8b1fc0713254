"""`vtl vicl run [--out DIR]`: the whole T2T-VICL chain offline on the embedded default.

pairs (synthetic tuples) -> analytic teacher corpus (train and eval tuples) -> diversity filter -> tiny student fit
(`vtl fit` with configs/distill/tiny.yaml pointed at these files) -> student descriptions of the eval tuples ->
steered generation with the classical backend: baseline vs. ours, plus the teacher's own descriptions of the eval
tuples as a labelled upper bound, VIEScore by the local tiny Qwen2.5-VL judge -> report. Every step is resumable:
a rerun skips finished steps and continues unfinished ones.

The tiny student and judge have random initial weights: the run shows the pipeline working end to end on CPU, not
T2T-VICL's findings. The report says so, and counts the judge's unparseable answers as failures.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import yaml
from jsonargparse.typing import PositiveInt

from vtl.errors import VtlError, make_output_dir
from vtl.home import CONFIGS_DIR
from vtl.records import done_keys, guard_run_settings, write_json_atomic

log = logging.getLogger("vtl.vicl")

STUDENT_CONFIG = CONFIGS_DIR / "distill" / "tiny.yaml"


class _Steps:
    """Numbered, timed step headers on stdout."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.perf_counter()

    def start(self, text: str) -> None:
        self.n += 1
        print(f"[{self.n}/{self.total}] {text}  (t={time.perf_counter() - self.t0:.0f}s)", flush=True)


def fit_config(base: Path, run_dir: Path, tuples: Path, train_corpus: Path, val_corpus: Path,
               max_epochs: int | None) -> dict:
    """The student's fit config: the base YAML with its data pointed at this run's files and its run dir here."""
    if not base.is_file():
        raise FileNotFoundError(f"student config {base} not found (--student-config)")
    config = yaml.safe_load(base.read_text())
    data = config.setdefault("data", {}).setdefault("init_args", {})
    data.update(tuples=str(tuples), train_corpus=str(train_corpus), val_corpus=str(val_corpus), build=None,
                data_dir=None)
    trainer = config.setdefault("trainer", {})
    trainer["default_root_dir"] = str(run_dir)
    if max_epochs is not None:
        trainer["max_epochs"] = max_epochs
    return config


def run_pipeline(
    out: str | Path = "runs/vicl",
    *,
    pairs: list[str] | None = None,
    n_train: int = 6,
    n_eval: int = 2,
    image_size: int = 64,
    seed: int = 0,
    epochs: int | None = None,
    k: int = 10,
    judge: str = "qwen",
    student_config: str | Path = STUDENT_CONFIG,
    progress: bool = True,
) -> dict:
    """Run (or continue) the chain under `out`; returns the report summary."""
    from vtl.vicl.infer import InferConfig, run_infer
    from vtl.vicl.lowlevel.pairs import write_tuples
    from vtl.vicl.scoring.report import write_report
    from vtl.vicl.teaching.corpus import build_corpus
    from vtl.vicl.teaching.diversity import filter_corpus
    from vtl.vicl.teaching.teachers import AnalyticTeacher

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    steps = _Steps(7)
    pairs_dir = out / "pairs"
    tuples = pairs_dir / "tuples.jsonl"
    settings = {"pairs": pairs, "n_train": n_train, "n_eval": n_eval, "image_size": image_size, "seed": seed}
    stamp = pairs_dir / ".pipeline.json"

    steps.start(f"pairs -> {tuples}")
    if guard_run_settings(stamp, settings, write=False, what="tuples", hint="use a new --out") is None:
        write_tuples(pairs_dir, pairs=pairs, n_train=n_train, n_eval=n_eval, seed=seed, image_size=image_size,
                     progress=progress)
        write_json_atomic(stamp, settings)  # only once the tuples are complete

    corpus_dir = out / "corpus"
    corpus_dir.mkdir(exist_ok=True)
    steps.start(f"analytic teacher corpus -> {corpus_dir}")
    teacher = AnalyticTeacher(seed=seed)
    build_corpus(tuples, corpus_dir / "teacher_train.jsonl", teacher, split="train", progress=progress)
    build_corpus(tuples, corpus_dir / "teacher_eval.jsonl", teacher, split="eval", progress=progress)

    steps.start("diversity filter")
    filtered = corpus_dir / "filtered_train.jsonl"
    report = filter_corpus([corpus_dir / "teacher_train.jsonl"], filtered)
    print(f"    kept {report['n_out']} of {report['n_in']} descriptions")

    student_dir = out / "student"
    export = student_dir / "student"
    steps.start(f"tiny student fit -> {export}")
    fit_stamp = student_dir / ".pipeline.json"
    fit_settings = {"epochs": epochs, "student_config": str(Path(student_config).resolve())}
    fitted = (export / "student.json").is_file()
    guard_run_settings(fit_stamp, fit_settings, write=not fitted, hint="use a new --out",
                       what="a student (fitted with other --epochs/--student-config)")
    if not fitted:
        config = fit_config(Path(student_config), student_dir, tuples, filtered, corpus_dir / "teacher_eval.jsonl",
                            epochs)
        config_path = out / "student_fit.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        cmd = [sys.executable, "-m", "vtl.cli", "fit", "--config", str(config_path)]
        if (student_dir / "checkpoints" / "last.ckpt").is_file():
            cmd += ["--ckpt_path", "last"]
        done = subprocess.run(cmd)
        if done.returncode != 0 or not (export / "student.json").is_file():
            raise RuntimeError(f"student fit failed (exit {done.returncode}); rerun `vtl vicl run --out {out}` to "
                               f"resume, or run it alone: {' '.join(cmd)}")

    descriptions = out / "describe" / "descriptions.jsonl"
    steps.start(f"student descriptions of eval tuples -> {descriptions}")
    descriptions.parent.mkdir(exist_ok=True)
    _describe(export, tuples, descriptions, progress)

    steps.start(f"steered generation (classical backend, K={k}, judge {judge}) -> {out / 'infer'}")
    judge_cfg = None
    if judge == "qwen":
        judge_cfg = {"class_path": "vtl.vicl.scoring.judge.QwenJudge",
                     "init_args": {"model": "vtl://tiny-qwen2.5-vl", "max_new_tokens": 32}}
    config = InferConfig(tuples=str(tuples), descriptions=str(descriptions),
                         teacher_descriptions=str(corpus_dir / "teacher_eval.jsonl"),
                         arms=["baseline", "ours", "teacher"], out=str(out / "infer"), k=k, concurrency=1,
                         judge=judge_cfg, judge_max_attempts=2)
    run_infer(config, progress=progress)

    steps.start("report")
    summary = write_report(out / "infer")
    print(f"done in {time.perf_counter() - steps.t0:.0f}s: {out / 'infer' / 'report.md'}")
    return summary


def _describe(export: Path, tuples: Path, descriptions: Path, progress: bool) -> None:
    from vtl.vicl.distill.describe import describe_tuples, load_student
    from vtl.vicl.lowlevel.pairs import load_tuples

    wanted = {t.id for t in load_tuples(tuples, split="eval")}
    if descriptions.is_file():
        if wanted <= done_keys(descriptions, "tuple_id"):
            return
    describe_tuples(load_student(export), tuples, descriptions, split="eval", progress=progress)


def run(*, out: str = "runs/vicl", pairs: list[str] | None = None, n_train: PositiveInt = 6, n_eval: PositiveInt = 2,
        image_size: PositiveInt = 64, seed: int = 0, epochs: PositiveInt | None = None, k: PositiveInt = 10,
        judge: Literal["qwen", "none"] = "qwen", student_config: str | None = None,
        no_progress: bool = False) -> int:
    """The whole T2T-VICL chain offline on the embedded default (pairs .. report), resumable.

    Args:
        out: Run directory.
        pairs: Ordered pairs ('Deblur→Dehaze' ...); default: the 21 reported scenarios.
        n_train: Train tuples per pair.
        n_eval: Eval tuples per pair.
        image_size: Square side of the synthetic images in pixels.
        seed: Seed of the tuples and the analytic teacher's wording.
        epochs: Student epochs (default: the student config's).
        k: Candidates per query.
        judge: VIEScore judge: the local tiny Qwen2.5-VL, or none.
        student_config: Base `vtl fit` config for the student; null: the shipped distill/tiny.yaml.
        no_progress: No progress bars.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    make_output_dir(out, "--out")
    try:
        run_pipeline(out, pairs=pairs, n_train=n_train, n_eval=n_eval, image_size=image_size, seed=seed,
                     epochs=epochs, k=k, judge=judge, student_config=student_config or STUDENT_CONFIG,
                     progress=not no_progress)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise VtlError(str(exc)) from exc
    return 0
