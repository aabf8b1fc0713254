"""One loading path for every Qwen2.5-VL: the tiny offline model, a local checkpoint or a hub id.

`load_model` returns `(model, processor)` with the pixel budget set once on the processor, so training and evaluation
see images at the same resolution. Optional 4-bit quantization goes through bitsandbytes (works on CPU with
bitsandbytes >= 0.47); LoRA is applied later by the fine-tuning module on the returned model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from vtl.errors import VtlError
from vtl.home import TINY_MODEL

# Module-name patterns (regex from the start of the name, as transformers matches them) kept out of 4-bit.
LM_HEAD_PATTERN = "lm_head"
VISION_PATTERN = r"(?:model\.)?visual"


class ModelLoadError(VtlError, ValueError):
    """A model name that cannot be loaded, with what to change."""


@dataclass
class QuantizationOptions:
    """4-bit weight quantization through bitsandbytes (QLoRA)."""

    bits: Literal[4] = 4
    """Weight bits; only 4-bit (QLoRA) is supported."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type: NormalFloat4 (QLoRA's choice) or plain FP4."""
    double_quant: bool = True
    """Quantize the quantization constants too (saves ~0.4 bit per weight)."""
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    """Dtype the 4-bit matmuls run in."""
    quantize_vision: bool = False
    """Also quantize the vision tower; False keeps it in full precision."""

    def __post_init__(self):
        if self.bits != 4:
            raise ValueError(f"quantization.bits={self.bits!r}: only 4-bit is supported; set bits: 4")
        if self.quant_type not in ("nf4", "fp4"):
            raise ValueError(f"quantization.quant_type={self.quant_type!r}: use 'nf4' or 'fp4'")
        if self.compute_dtype not in ("bfloat16", "float16", "float32"):
            raise ValueError(
                f"quantization.compute_dtype={self.compute_dtype!r}: use 'bfloat16', 'float16' or 'float32'"
            )

    def skip_modules(self) -> list[str]:
        """Modules left in full precision: the output head always, the vision tower unless `quantize_vision`."""
        return [LM_HEAD_PATTERN] if self.quantize_vision else [LM_HEAD_PATTERN, VISION_PATTERN]

    def to_bnb_config(self):
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.quant_type,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, self.compute_dtype),
            llm_int8_skip_modules=self.skip_modules(),
        )


def _looks_like_path(name: str) -> bool:
    """Hub ids are `owner/name`; anything absolute, relative-dotted, home-based or deeper is a filesystem path."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or name.endswith("/")


def resolve_model_source(name_or_path: str) -> str:
    """The string `from_pretrained` gets: an existing checkpoint directory or a hub id, else a clear error."""
    name = str(name_or_path).strip()
    if name.startswith("vtl://"):
        if name != TINY_MODEL:
            raise ModelLoadError(f"unknown embedded model {name!r}; the embedded model is {TINY_MODEL!r}")
        from vtl.models.tiny import tiny_model_dir

        return str(tiny_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model path {str(path)!r} is not a checkpoint directory (no config.json); point --model.model at a "
                f"directory written by save_pretrained or `vtl model tiny --out DIR`"
            )
        return str(path)
    if _looks_like_path(name):
        raise ModelLoadError(
            f"model path {name!r} does not exist; check the path, or write the tiny model with "
            f"`vtl model tiny --out {name}`, or use {TINY_MODEL!r}"
        )
    return name  # a hub id: fetched only because the user named it


def _dtype(dtype: str | torch.dtype | None):
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ModelLoadError(f"dtype={dtype!r} is not a torch dtype; use e.g. 'bfloat16', 'float32' or 'auto'")
    return value


def set_pixel_budget(processor, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the image (and video) resize budget in pixels on the processor; None keeps the checkpoint's value."""
    if min_pixels is None and max_pixels is None:
        return
    from transformers.image_utils import SizeDict

    for sub in (getattr(processor, "image_processor", None), getattr(processor, "video_processor", None)):
        if sub is None:
            continue
        current = sub.size
        lo = min_pixels if min_pixels is not None else current.shortest_edge
        hi = max_pixels if max_pixels is not None else current.longest_edge
        if lo <= 0 or hi < lo:
            raise ModelLoadError(f"pixel budget min_pixels={lo}, max_pixels={hi}: need 0 < min_pixels <= max_pixels")
        sub.size = SizeDict(shortest_edge=int(lo), longest_edge=int(hi))


def load_processor(name_or_path: str, *, min_pixels: int | None = None, max_pixels: int | None = None):
    from transformers import AutoProcessor

    source = resolve_model_source(name_or_path)
    try:
        processor = AutoProcessor.from_pretrained(source)
    except OSError as err:
        raise ModelLoadError(_not_found_message(name_or_path, err)) from err
    set_pixel_budget(processor, min_pixels, max_pixels)
    return processor


def _not_found_message(name: str, err: Exception) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0")
    hint = " (HF_HUB_OFFLINE is set: only models already in the local hub cache load)" if offline else ""
    return f"could not load model {name!r} as a local directory or hub id{hint}: {err}"


def load_model(
    name_or_path: str,
    *,
    quantization: QuantizationOptions | None = None,
    dtype: str | torch.dtype | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    device_map=None,
    attn_implementation: str | None = None,
):
    """Load any Qwen2.5-VL and its processor by path, hub id or `vtl://tiny-qwen2.5-vl` -> (model, processor)."""
    from transformers import AutoModelForImageTextToText

    source = resolve_model_source(name_or_path)
    processor = load_processor(source, min_pixels=min_pixels, max_pixels=max_pixels)
    kwargs = {}
    if dtype is not None:
        kwargs["dtype"] = _dtype(dtype)
    if quantization is not None:
        kwargs["quantization_config"] = quantization.to_bnb_config()
        kwargs.setdefault("dtype", getattr(torch, quantization.compute_dtype))
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
    except OSError as err:
        raise ModelLoadError(_not_found_message(name_or_path, err)) from err
    model.eval()
    return model, processor
