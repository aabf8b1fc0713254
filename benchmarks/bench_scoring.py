"""Time likelihood scoring against generate-and-parse on the same model and the same 13 eval sets, in one run.

    .venv/bin/python benchmarks/bench_scoring.py [--model vtl://tiny-qwen2.5-vl] [--source vtl://synth]
        [--batch-size 8] [--max-new-tokens 16] [--threads N] [--device cpu] [--repeat 3]

Eval rows are each task's held-out share as the fine-tuning data module splits it (`--eval-fraction`, `--split-seed`).
Both modes get one untimed warm-up batch, then the best of `--repeat` timed passes counts (the CPU may be shared).
A random-init model rarely emits <|im_end|>, so generation usually runs the full `--max-new-tokens`: that is the
honest comparison for an untrained model, and the printed mean of new tokens says how far it ran.
Target: likelihood >= 5x faster. Both modes pay the same collation and prompt prefill (vision tower included);
generation adds max_new_tokens - 1 decode steps, likelihood one short cached pass over the option tokens.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vtl://tiny-qwen2.5-vl")
    parser.add_argument("--source", default="vtl://synth")
    parser.add_argument("--eval-fraction", type=float, default=0.5)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per mode; the best is reported")
    args = parser.parse_args(argv)

    import torch

    from vtl.data.loaders import load_source
    from vtl.data.split import split_samples
    from vtl.models.loading import load_model
    from vtl.models.scoring import accuracy_summary, score_multiple_choice

    if args.threads:
        torch.set_num_threads(args.threads)
    model, processor = load_model(args.model, device_map=args.device if args.device != "cpu" else None)
    by_task = load_source(args.source, split="val")
    samples = []
    for rows in by_task.values():
        samples.extend(split_samples(rows, args.eval_fraction, args.split_seed)[1])
    print(
        f"model {args.model} on {args.device} ({torch.get_num_threads()} CPU threads); "
        f"{len(samples)} eval questions over {len(by_task)} tasks; batch {args.batch_size}"
    )

    results = {}
    for mode in ("likelihood", "generate"):
        kwargs = {"mode": mode, "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens}
        score_multiple_choice(model, processor, samples[: args.batch_size], **kwargs)  # warm-up
        if args.device != "cpu":
            torch.cuda.synchronize()
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            preds = score_multiple_choice(model, processor, samples, **kwargs)
            if args.device != "cpu":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        seconds = min(times)
        summary = accuracy_summary(preds)
        results[mode] = seconds
        line = (
            f"{mode:<10} {seconds:8.2f} s  {len(samples) / seconds:7.1f} q/s  "
            f"macro acc {summary['macro_accuracy']:.3f}  micro acc {summary['micro_accuracy']:.3f}  "
            f"unparsed {summary['n_unparsed']}"
        )
        if mode == "generate":
            line += f"  mean new tokens {sum(p.generated_tokens for p in preds) / len(preds):.1f}"
        print(line)
    ratio = results["generate"] / results["likelihood"]
    print(f"ratio generate / likelihood: {ratio:.1f}x  (target >= 5x: {'met' if ratio >= 5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
