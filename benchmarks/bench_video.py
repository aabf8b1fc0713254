"""Seconds per video question on the tiny model: decoding, preprocessing (video processor) and scoring, measured
apart in one run, and decoding's share of the whole.

    .venv/bin/python benchmarks/bench_video.py [--source vtl://synth-video] [--frames 8] [--batch-size 4]
        [--threads 1] [--repeat 3]

Multiple-choice families are scored by option likelihood, numerical ones by greedy generation (16 new tokens) and
MRA, as the PGF callback does. Each stage's best of `--repeat` passes counts (the CPU may be shared).
"""

from __future__ import annotations

import argparse
import time


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vtl://tiny-qwen2.5-vl")
    parser.add_argument("--source", default="vtl://synth-video")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from vtl.data.video import FrameRule
    from vtl.data.vsibench import load_vsibench
    from vtl.models.chat import ChatCollator, blink_example
    from vtl.models.loading import load_model
    from vtl.models.scoring import score_multiple_choice, score_numerical

    torch.set_num_threads(args.threads)
    model, processor = load_model(args.model)
    by_task = load_vsibench(args.source, rule=FrameRule(num_frames=args.frames))
    samples = [s for rows in by_task.values() for s in rows]
    mc = [s for s in samples if not s.numerical]
    numerical = [s for s in samples if s.numerical]
    collator = ChatCollator(processor, train=False, padding_side="left")

    decode = _best(lambda: [s.frames_and_fps() for s in samples], args.repeat)
    examples = [blink_example(s) for s in samples]
    batches = [examples[i : i + args.batch_size] for i in range(0, len(examples), args.batch_size)]
    preprocess = _best(lambda: [collator(b) for b in batches], args.repeat)
    score_batch = args.batch_size

    def score():
        score_multiple_choice(model, processor, mc, batch_size=score_batch)
        score_numerical(model, processor, numerical, batch_size=score_batch)

    total = _best(score, args.repeat)  # decoding + preprocessing + model, as in an evaluation epoch
    n = len(samples)
    model_only = max(total - decode - preprocess, 0.0)
    print(f"questions: {n} ({len(mc)} multiple choice, {len(numerical)} numerical), {args.frames} frames each, "
          f"batch {args.batch_size}, {args.threads} thread(s)")
    print(f"decode      {decode / n * 1000:8.1f} ms/question")
    print(f"preprocess  {preprocess / n * 1000:8.1f} ms/question")
    print(f"model       {model_only / n * 1000:8.1f} ms/question (scoring minus decode and preprocess)")
    print(f"total       {total / n * 1000:8.1f} ms/question")
    print(f"decode share {decode / total:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
