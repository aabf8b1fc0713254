"""Chat collation for any supported VLM family: N images per example, answer-only labels, right or left padding.

Generic over studies: BLINK questions (`blink_example`) and T2T-VICL prompts both become `ChatExample`s. The prompt
text is exactly the chat template's generation prompt, and a training sequence is that prompt followed by the answer
and the template's end-of-turn token (both markers read from the template by `vtl.models.families.chat_markers`), so
training, likelihood scoring and generation all see the same prompt tokens.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from vtl.data.sample import BlinkSample
from vtl.models.families import chat_markers
from vtl.models.harness import PromptPreset, question_text

IMAGE_PLACEHOLDER = "<image>"
IGNORE_INDEX = -100
ROW_CACHE_BYTES = 1 << 30  # processed rows kept for reuse; a tiny model's fit needs a few MiB, a 7B's images far more


@dataclass
class ChatExample:
    """One user turn with images and an optional assistant answer.

    Images go where `<image>` placeholders stand in `prompt` (one per image), or all before the text if it has none.
    """

    images: list[Image.Image] = field(repr=False)
    prompt: str
    answer: str | None = None
    videos: list[list[np.ndarray]] = field(default_factory=list, repr=False)  # each a list of [h, w, 3] frames
    video_fps: float | None = None  # sampling rate of the frames, for the temporal positions of Qwen2.5-VL
    video_max_pixels: int | None = None  # per-frame pixel budget (FrameRule.max_pixels), apart from the image budget


def blink_example(sample: BlinkSample, preset: PromptPreset = "vtl") -> ChatExample:
    """A BLINK question as a harness poses it: the question's images in order, then its text under `preset`
    (default: BLINK's own lettered prompt). A video question (VideoSample) becomes its sampled frames, then its
    prompt."""
    answer = sample.answer if sample.answer_letter is not None else None  # "hidden" on test: nothing to learn
    if hasattr(sample, "frames_and_fps"):
        frames, fps = sample.frames_and_fps()
        return ChatExample(images=[], prompt=sample.prompt, answer=answer, videos=[frames], video_fps=fps,
                           video_max_pixels=sample.rule.max_pixels)
    return ChatExample(images=list(sample.images), prompt=question_text(sample, preset), answer=answer)


def user_message(example: ChatExample) -> dict:
    """The chat message for one example, images interleaved at `<image>` placeholders (or leading)."""
    n_marks = example.prompt.count(IMAGE_PLACEHOLDER)
    if n_marks == 0:
        content = [{"type": "video"} for _ in example.videos]
        content += [{"type": "image"} for _ in example.images]
        content.append({"type": "text", "text": example.prompt})
        return {"role": "user", "content": content}
    if n_marks != len(example.images):
        raise ValueError(
            f"prompt has {n_marks} {IMAGE_PLACEHOLDER} placeholders but the example has {len(example.images)} images; "
            f"use one placeholder per image or none: {example.prompt[:80]!r}"
        )
    content = []
    for i, piece in enumerate(example.prompt.split(IMAGE_PLACEHOLDER)):
        if i > 0:
            content.append({"type": "image"})
        if piece:
            content.append({"type": "text", "text": piece})
    return {"role": "user", "content": content}


def prompt_text(processor, example: ChatExample) -> str:
    """The templated prompt up to and including the assistant header (the generation prompt)."""
    return processor.apply_chat_template([user_message(example)], add_generation_prompt=True, tokenize=False)


class ChatCollator:
    """Batch `ChatExample`s into model inputs.

    train=True: prompt + answer + end of turn, `labels` equal to input_ids on the answer tokens (the closing
    end-of-turn token included) and -100 elsewhere. train=False: the prompt only, for scoring and generation
    (use padding_side="left" for `generate`).
    """

    def __init__(self, processor, *, train: bool = True, padding_side: str = "right"):
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side={padding_side!r}: use 'left' or 'right'")
        self.processor = processor
        self.train = train
        self.padding_side = padding_side
        self.markers = chat_markers(processor)
        self.header_ids = processor.tokenizer.encode(self.markers.assistant_header, add_special_tokens=False)
        self.end_id = self.markers.end_of_turn_id
        # templated prompt by (prompt, images, videos): a fit renders the same few hundred prompts every epoch, and
        # the chat template (jinja) costs as much as the tokenizer
        self._prompts: dict[tuple[str, int, int], str] = {}
        self._rows: dict[Hashable, dict[str, torch.Tensor]] = {}  # row key -> that row's processor output
        self._row_bytes = 0
        self._rows_exact: bool | None = None  # whether padded rows equal the processor's batch (None: not checked)
        self._padding_checked = False

    def prompt(self, ex: ChatExample) -> str:
        key = (ex.prompt, len(ex.images), len(ex.videos))
        text = self._prompts.get(key)
        if text is None:
            text = prompt_text(self.processor, ex)
            if len(self._prompts) < 100_000:  # a bound on memory for very large training sets
                self._prompts[key] = text
        return text

    def texts(self, examples: Sequence[ChatExample]) -> list[str]:
        texts = []
        for i, ex in enumerate(examples):
            text = self.prompt(ex)
            if self.train:
                if ex.answer is None:
                    raise ValueError(
                        f"example {i} in the batch has no answer; training needs one (prompt {ex.prompt[:60]!r})"
                    )
                text += ex.answer + self.markers.end_of_turn
            texts.append(text)
        return texts

    def __call__(self, examples: Sequence[ChatExample],
                 keys: Sequence[Hashable] | None = None) -> dict[str, torch.Tensor]:
        """The batch of `examples`. With `keys` (one per example, naming everything that fixes it: its images, text
        and answer), each row's processor output is made once and reused in later batches, padded together as the
        processor pads them; checked against the processor's own batch on the first batch and the first padded one,
        and not used once the two differ (processors that batch rows otherwise), nor for videos."""
        if not examples:
            raise ValueError("ChatCollator got an empty batch")
        reuse = keys is not None and self._rows_exact is not False and not any(ex.videos for ex in examples)
        batch = self._from_rows(examples, keys) if reuse else None
        if batch is None:
            return self._with_labels(self._processed(examples))
        padded = batch["attention_mask"].eq(0).any().item() if "attention_mask" in batch else True
        if self._rows_exact is None or (padded and not self._padding_checked):  # the first batch, the first padded
            direct = self._processed(examples)
            self._rows_exact = _same_batch(batch, direct)
            self._padding_checked = self._padding_checked or padded
            batch = direct
        return self._with_labels(batch)

    def _processed(self, examples: Sequence[ChatExample]) -> dict[str, torch.Tensor]:
        """The processor's batch of `examples` (no labels)."""
        per_example = [[img.convert("RGB") for img in ex.images] for ex in examples]
        # nested per example when every example has images, so processors that treat a multi-image prompt
        # differently from a single image (LLaVA-OneVision) see which images belong together
        images = per_example if all(per_example) else [img for imgs in per_example for img in imgs]
        videos = [v for ex in examples for v in ex.videos]
        video_kwargs = {}
        if videos:  # frames are sampled already (FrameRule); the processor only resizes and patches them
            options = {"do_sample_frames": False, "cap_pixels_per_frame": True}
            budget = next((ex.video_max_pixels for ex in examples if ex.video_max_pixels), None)
            if budget:
                options["max_pixels"] = budget
            video_kwargs = {"videos": videos, "videos_kwargs": options}
        tokenizer = self.processor.tokenizer
        old_side = tokenizer.padding_side
        tokenizer.padding_side = self.padding_side
        try:
            # padding_side also as a call option: some processors (InternVL) default it in their own kwargs
            batch = self.processor(
                text=self.texts(examples), images=images or None, padding=True, padding_side=self.padding_side,
                return_tensors="pt", **video_kwargs,
            )
        finally:
            tokenizer.padding_side = old_side
        batch = dict(batch)
        if videos and "second_per_grid_ts" in batch:
            # video time per temporal patch, per clip (the processor takes one fps for the whole batch)
            step = getattr(self.processor.video_processor, "temporal_patch_size", 2)
            fps = [ex.video_fps or 2.0 for ex in examples for _ in ex.videos]
            batch["second_per_grid_ts"] = torch.tensor([step / f for f in fps])
        return batch

    def _with_labels(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.train:
            batch["labels"] = self.answer_labels(batch["input_ids"])
        return batch

    def _from_rows(self, examples: Sequence[ChatExample], keys: Sequence[Hashable]) -> dict | None:
        """The batch padded together from each example's own processor output (cached under its key while the
        cache holds under ROW_CACHE_BYTES); None when the rows do not share one set of keys."""
        if len(keys) != len(examples):
            raise ValueError(f"{len(keys)} row keys for {len(examples)} examples")
        rows = []
        for ex, key in zip(examples, keys, strict=True):
            row = self._rows.get(key)
            if row is None:
                row = self._processed([ex])
                size = sum(v.numel() * v.element_size() for v in row.values())
                if self._row_bytes + size <= ROW_CACHE_BYTES:
                    self._rows[key] = row
                    self._row_bytes += size
            rows.append(row)
        if any(row.keys() != rows[0].keys() for row in rows):
            return None
        return _pad_rows(rows, self.processor.tokenizer.pad_token_id or 0, self.padding_side)

    def answer_labels(self, input_ids: torch.Tensor) -> torch.Tensor:
        """-100 everywhere except the tokens after the last assistant header, through the first end of turn."""
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        header = torch.tensor(self.header_ids)
        width = len(self.header_ids)
        for row, ids in enumerate(input_ids):
            windows = ids.unfold(0, width, 1)  # [s - width + 1, width]
            starts = (windows == header).all(dim=1).nonzero().flatten()
            if len(starts) == 0:
                header_text = self.markers.assistant_header
                raise ValueError(f"batch row {row}: no assistant header {header_text!r} in the tokens")
            begin = int(starts[-1]) + width
            ends = (ids[begin:] == self.end_id).nonzero().flatten()
            if len(ends) == 0:
                raise ValueError(f"batch row {row}: the answer has no closing {self.markers.end_of_turn}")
            end = begin + int(ends[0]) + 1
            labels[row, begin:end] = ids[begin:end]
        return labels


def _pad_rows(rows: list[dict[str, torch.Tensor]], pad_id: int, side: str) -> dict[str, torch.Tensor]:
    """One batch from single-row processor outputs: tensors as long as the row's tokens ([1, s]: input_ids, masks,
    token types) padded to the longest row (input_ids with `pad_id`, the rest with 0) on `side`; the rest (pixel
    patches, grids) concatenated in row order."""
    width = max(row["input_ids"].shape[1] for row in rows)
    batch = {}
    for name in rows[0]:
        parts = [row[name] for row in rows]
        if all(p.dim() == 2 and p.shape == row["input_ids"].shape for p, row in zip(parts, rows, strict=True)):
            value = pad_id if name == "input_ids" else 0
            pads = [(0, width - p.shape[1]) if side == "right" else (width - p.shape[1], 0) for p in parts]
            parts = [torch.nn.functional.pad(p, pad, value=value) for p, pad in zip(parts, pads, strict=True)]
        batch[name] = torch.cat(parts)
    return batch


def _same_batch(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)
