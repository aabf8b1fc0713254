"""Check vtl's family descriptions against real checkpoints, without downloading weights.

    python scripts/check_families.py Qwen/Qwen3-VL-4B-Instruct OpenGVLab/InternVL3-8B-hf \
        llava-hf/llava-onevision-qwen2-7b-ov-hf --min-pixels 4096 --max-pixels 401408

For each model (hub id or local dir) it fetches the config and processor files only, builds the model on the meta
device, and reports: the family, whether the vision tower and projector paths exist, how many linear layers the
language and vision LoRA patterns match (the language pattern must match 7 per decoder block), whether every vision
module stays out of 4-bit, the chat markers read from the template, and the image tokens one 448x448 image gets under
the pixel budget. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import re
import sys


def check(name: str, min_pixels: int | None, max_pixels: int | None) -> bool:
    import torch
    from PIL import Image
    from transformers import AutoConfig, AutoModelForImageTextToText
    from transformers.quantizers.quantizers_utils import should_convert_module

    from vtl.models.families import chat_markers, family_of_type
    from vtl.models.loading import load_processor

    config = AutoConfig.from_pretrained(name)
    family = family_of_type(config.model_type, source=name)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    blocks = config.get_text_config().num_hidden_layers
    language = [n for n in linear if re.fullmatch(family.language_lora, n)]
    vision = [n for n in linear if re.fullmatch(family.vision_lora, n)]
    skips = family.quantization_skips(quantize_vision=False)
    quantized_vision = [n for n in linear if family.is_vision(n) and should_convert_module(n, skips)]
    ok = True

    def report(label: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok &= passed
        print(f"  {'ok  ' if passed else 'FAIL'} {label}: {detail}")

    print(f"{name}: family {family.name} (model_type {config.model_type})")
    for path in family.vision_modules:
        present = any(n == path for n, _ in model.named_modules())
        report(f"module {path}", present, "present" if present else "missing")
    report("language LoRA", len(language) == 7 * blocks, f"{len(language)} linear layers, {blocks} blocks")
    report("vision LoRA", bool(vision) and all(family.is_vision(n) for n in vision), f"{len(vision)} linear layers")
    report("vision kept out of 4-bit", not quantized_vision, f"{len(quantized_vision)} vision layers would quantize")
    processor = load_processor(name, min_pixels=min_pixels, max_pixels=max_pixels)
    markers = chat_markers(processor)
    report("chat markers", True, f"header {markers.assistant_header!r}, end of turn {markers.end_of_turn!r}")
    message = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}]
    text = processor.apply_chat_template(message, add_generation_prompt=True, tokenize=False)
    ids = processor(text=[text], images=[Image.new("RGB", (448, 448))], return_tensors="pt")["input_ids"]
    report("tokens for one 448x448 image", True, f"{ids.shape[1]} prompt tokens")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="hub ids or checkpoint directories")
    parser.add_argument("--min-pixels", type=int, default=None)
    parser.add_argument("--max-pixels", type=int, default=None)
    args = parser.parse_args(argv)
    results = [check(m, args.min_pixels, args.max_pixels) for m in args.models]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
