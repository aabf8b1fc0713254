"""Prompt lengths in tokens, for length-aware batching (plain Python + the processor; no model).

Image tokens come from the image processor's own patch count for the image's size and pixel budget
(`get_number_of_image_patches`, divided by the merge factor), text tokens from the tokenizer over the chat template's
text. Without that processor method the count falls back to
image area / 28² (Qwen2.5-VL's 14-px patches merged 2×2), which orders prompts the same way up to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

from vtl.data.sample import BlinkSample

_FALLBACK_PIXELS_PER_TOKEN = 28 * 28


def image_tokens(processor, width: int, height: int) -> int:
    """How many placeholder tokens the processor expands one image of this size into."""
    image_processor = getattr(processor, "image_processor", None)
    count = getattr(image_processor, "get_number_of_image_patches", None)
    if count is None:
        return max(1, (width * height) // _FALLBACK_PIXELS_PER_TOKEN)
    merge = getattr(image_processor, "merge_size", 1) or 1
    return count(height, width, {}) // (merge * merge)


def prompt_lengths(processor, samples: Sequence[BlinkSample], preset: str = "vtl") -> list[int]:
    """Tokens of each sample's templated prompt: the template's text with one placeholder per image, each
    placeholder then counted as the tokens the processor expands it into; `preset` poses the question as scoring
    does (vtl.models.harness)."""
    from vtl.models.chat import blink_example, prompt_text

    tokenizer = processor.tokenizer
    examples = [blink_example(s, preset) for s in samples]
    texts = tokenizer([prompt_text(processor, ex) for ex in examples], add_special_tokens=False)
    return [
        len(ids) + sum(image_tokens(processor, *img.size) - 1 for img in ex.images) + _video_tokens(processor, ex)
        for ex, ids in zip(examples, texts["input_ids"], strict=True)
    ]


def _video_tokens(processor, example) -> int:
    """An estimate for video clips (frames in pairs, per-frame tokens as for an image of the frame's size)."""
    total = 0
    for frames in getattr(example, "videos", None) or []:
        if len(frames):
            h, w = frames[0].shape[:2]
            total += max(1, len(frames) // 2) * image_tokens(processor, w, h)
    return total


def area_lengths(samples: Sequence[BlinkSample]) -> list[int]:
    """A processor-free stand-in for `prompt_lengths`: image area in 28-px tokens plus characters / 4."""
    pixels = [sum(w * h for w, h in (img.size for img in getattr(s, "images", []))) for s in samples]
    return [len(s.prompt) // 4 + area // _FALLBACK_PIXELS_PER_TOKEN for s, area in zip(samples, pixels, strict=True)]


def length_order(lengths: Sequence[int]) -> list[int]:
    """Indices longest first (ties in the original order): the first batch shows the peak memory at once."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def padding_fraction(lengths: Sequence[int], order: Sequence[int], batch_size: int) -> float:
    """The share of padding tokens when `order` is cut into batches of `batch_size` padded to their longest."""
    total = padded = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start : start + batch_size]]
        total += sum(batch)
        padded += max(batch) * len(batch)
    return 0.0 if padded == 0 else 1.0 - total / padded
