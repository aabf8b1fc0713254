"""One evaluation epoch over every target with and without each evaluation speed-up, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_eval.py [--per-target 16] [--targets 13] [--repeat 3]
        [--batch-size 8] [--threads 1] [--device cpu] [--clock wall|cpu]

The speed-ups: the vision-feature cache (vtl.models.vision_cache), length-sorted batches within each target
(`order="length"`, what the eval sampler does), and LoRA merged into the full-precision base
(vtl.models.merged_eval). Each configuration gets a fresh cache filled by a zero-shot pass (adapter disabled, as
CrossTaskPGF does before training; timed apart), then the timed epoch with the adapter on: each target's questions
scored as the validation loop batches them. The best wall time of `--repeat` epochs counts (the machine may be
shared), with the process CPU time beside it. Predictions are compared with the all-off run.

The model is a mid-size random Qwen2.5-VL whose vision/language cost ratio is close to the 7B's:
text hidden 512, 8 layers, 8 heads (2 KV heads), MLP 1376; vision depth 8, width 128, 2 heads, MLP 344, window 112,
full attention in blocks 3 and 7, merger to 512. By parameter count vision/language is 0.11 here and 0.09 at 7B;
per image token the vision tower runs 4 patches per language token in both. The tokenizer and chat template are the
tiny checkpoint's; the pixel budget is the 7B config's (3,136-401,408 px). Questions carry 1-4 images of 224-448 px
and 2-4 options, like BLINK's. LoRA r=8 on every language linear layer, B drawn at random (a trained-looking adapter).

Printed: per configuration the epoch's seconds (best wall, CPU), the padding fraction of its batches and the speed-up
over all-off; the vision tower's share of the all-off epoch; the largest option log-probability difference and the
number of changed predictions against all-off. The last line is `ratio <all-on speed-up over all-off>`.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time


def mid_config(vocab_size: int):
    from transformers import Qwen2_5_VLConfig

    from vtl.models.tiny import SPECIAL_TOKENS

    hidden, heads = 512, 8
    mrope_section = [8, 12, 12]  # Qwen's 16/24/24 at head_dim 64
    assert sum(mrope_section) == hidden // heads // 2
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size, "hidden_size": hidden, "intermediate_size": 1376, "num_hidden_layers": 8,
            "num_attention_heads": heads, "num_key_value_heads": 2, "max_position_embeddings": 8192,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope_section},
            "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 0, "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 8, "hidden_size": 128, "intermediate_size": 344, "num_heads": 2, "patch_size": 14,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112, "out_hidden_size": hidden,
            "fullatt_block_indexes": [3, 7],
        },
        image_token_id=SPECIAL_TOKENS.index("<|image_pad|>"),
        video_token_id=SPECIAL_TOKENS.index("<|video_pad|>"),
        vision_start_token_id=SPECIAL_TOKENS.index("<|vision_start|>"),
        vision_end_token_id=SPECIAL_TOKENS.index("<|vision_end|>"),
        tie_word_embeddings=False,
    )


def build(device: str, seed: int):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vtl.models.loading import load_processor
    from vtl.models.lora import LoraOptions, apply_lora
    from vtl.models.tiny import tiny_model_dir

    processor = load_processor(str(tiny_model_dir()), min_pixels=3136, max_pixels=401408)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(mid_config(len(processor.tokenizer))).to(device).eval()
    model = apply_lora(model, LoraOptions(r=8, alpha=16, dropout=0.05, target_modules="language"))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen).to(param) * 0.02)
    model.requires_grad_(False)
    return model, processor


def questions(n_targets: int, per_target: int, seed: int):
    from PIL import Image

    from vtl.data.sample import BlinkSample
    from vtl.tasks import TRANSFER_TASKS

    rng = random.Random(seed)
    by_target = {}
    for task in TRANSFER_TASKS[:n_targets]:
        rows = []
        for i in range(per_target):
            images = []
            for _ in range(rng.randint(1, 4)):
                w, h = rng.randint(224, 448), rng.randint(224, 448)
                images.append(Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3)))
            n = rng.randint(2, 4)
            choices = [f"option {c} " + "word " * rng.randint(0, 6) for c in range(n)]
            options = "\n".join(f"({'ABCD'[c]}) {text}" for c, text in enumerate(choices))
            question = "What does the image show? " + "detail " * rng.randint(0, 40)
            rows.append(BlinkSample(
                idx=f"val_{task}_{i}", sub_task=task, question=question,
                prompt=f"{question}\nSelect from the following choices.\n{options}", choices=choices,
                answer=f"({'ABCD'[rng.randrange(n)]})", images=images,
            ))
        by_target[task] = rows
    return by_target


def epoch(model, processor, by_target, *, batch_size, order, cache, merge, zero_shot=False):
    from vtl.models.merged_eval import merged_adapter
    from vtl.models.scoring import score_multiple_choice

    context = model.disable_adapter() if zero_shot else (merged_adapter(model) if merge else contextlib.nullcontext())
    preds = []
    with context:
        for rows in by_target.values():
            preds.extend(score_multiple_choice(model, processor, rows, batch_size=batch_size, order=order,
                                               vision_cache=cache))
    return preds


def padding(processor, by_target, order: str, batch_size: int) -> float:
    from vtl.models.lengths import length_order, padding_fraction, prompt_lengths

    total = padded = 0.0
    for rows in by_target.values():
        lengths = prompt_lengths(processor, rows)
        positions = length_order(lengths) if order == "length" else list(range(len(rows)))
        frac = padding_fraction(lengths, positions, batch_size)
        real = sum(lengths)
        total += real
        padded += real / (1 - frac)
    return 1 - total / padded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=13)
    parser.add_argument("--per-target", type=int, default=16, help="questions per target")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="the clock of the last line's ratio (cpu: process time, for a loaded machine)")
    args = parser.parse_args(argv)

    import torch

    from vtl.models.vision_cache import VisionFeatureCache

    torch.set_num_threads(args.threads)
    model, processor = build(args.device, args.seed)
    by_target = questions(args.targets, args.per_target, args.seed)
    n_q = sum(len(r) for r in by_target.values())
    n_img = sum(len(s.images) for r in by_target.values() for s in r)
    print(f"{n_q} questions, {n_img} images, {len(by_target)} targets, batch {args.batch_size}, device {args.device}")

    vision_seconds = [0.0]

    def vision_timer(module, inputs, output=None, *, _start=[0.0]):  # noqa: B006 (a closure cell for the hooks)
        if output is None:
            _start[0] = time.perf_counter()
        else:
            vision_seconds[0] += time.perf_counter() - _start[0]

    visual = model.get_base_model().model.visual
    visual.register_forward_pre_hook(lambda m, i: vision_timer(m, i))
    visual.register_forward_hook(lambda m, i, o: vision_timer(m, i, o))

    epoch(model, processor, {t: r[:1] for t, r in list(by_target.items())[:1]}, batch_size=args.batch_size,
          order="given", cache=None, merge=False)  # warm-up
    configs = [
        ("all off", False, "given", False),
        ("cache", True, "given", False),
        ("sort", False, "length", False),
        ("merge", False, "given", True),
        ("all on", True, "length", True),
    ]
    results = {}
    reference = None
    for name, use_cache, order, merge in configs:
        best_wall, best_cpu, fill = float("inf"), float("inf"), None
        for _ in range(args.repeat):
            cache = VisionFeatureCache.for_model(model, "bench", 8 << 30) if use_cache else None
            if cache is not None:  # the zero-shot pass fills the cache
                start = time.perf_counter()
                epoch(model, processor, by_target, batch_size=args.batch_size, order=order, cache=cache,
                      merge=merge, zero_shot=True)
                fill = time.perf_counter() - start
            vision_seconds[0] = 0.0
            wall, cpu = time.perf_counter(), time.process_time()
            preds = epoch(model, processor, by_target, batch_size=args.batch_size, order=order, cache=cache,
                          merge=merge)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if wall < best_wall:
                best_wall, best_cpu, vision = wall, cpu, vision_seconds[0]
        results[name] = (best_wall, best_cpu)
        if reference is None:
            reference = preds
            vision_share = vision / best_wall
        diff = max(abs(a - b) for p, q in zip(preds, reference, strict=True)
                   for a, b in zip(p.option_logprobs.values(), q.option_logprobs.values(), strict=True))
        changed = sum(p.pred_letter != q.pred_letter for p, q in zip(preds, reference, strict=True))
        pad = padding(processor, by_target, order, args.batch_size)
        filling = "-" if fill is None else f"{fill:.2f} s"
        print(f"{name:8s} epoch {best_wall:7.2f} s (cpu {best_cpu:7.2f} s)  cache-filling pass {filling:>7s}  "
              f"padding {pad:6.1%}  speed-up {results['all off'][0] / best_wall:5.2f}x "
              f"(cpu {results['all off'][1] / best_cpu:5.2f}x)  max |d logprob| {diff:.1e}  changed {changed}")
    print(f"vision tower share of the all-off epoch: {vision_share:.1%}")
    clock = 0 if args.clock == "wall" else 1
    print(f"ratio {results['all off'][clock] / results['all on'][clock]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
