"""One loading path for every supported VLM family: the tiny offline models, a local checkpoint or a hub id.

`load_model` returns `(model, processor)` with the pixel budget set once on the processor (mapped onto that family's
own options by `vtl.models.families`), so training and evaluation see images at the same resolution. Optional 4-bit
quantization goes through bitsandbytes (works on CPU with bitsandbytes >= 0.47); LoRA is applied later on the
returned model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from vtl.errors import VtlError
from vtl.home import TINY_MODEL, TINY_NEUTRAL_MODEL
from vtl.models.families import Family, family_of_type


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

    def skip_modules(self, family: Family) -> list[str]:
        """Modules left in full precision: the output head always, the vision side unless `quantize_vision`."""
        return family.quantization_skips(quantize_vision=self.quantize_vision)

    def to_bnb_config(self, family: Family):
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.quant_type,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, self.compute_dtype),
            llm_int8_skip_modules=self.skip_modules(family),
        )


def _looks_like_path(name: str) -> bool:
    """Hub ids are `owner/name`; anything absolute, relative-dotted, home-based or deeper is a filesystem path."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or name.endswith("/")


def resolve_model_source(name_or_path: str) -> str:
    """The string `from_pretrained` gets: an existing checkpoint directory or a hub id, else a clear error."""
    name = str(name_or_path).strip()
    if name.startswith("vtl://"):
        if name == TINY_NEUTRAL_MODEL:
            from vtl.models.tiny import neutral_tiny_model_dir

            return str(neutral_tiny_model_dir())
        from vtl.models.families import TINY_FAMILIES
        from vtl.models.tiny import tiny_model_dir

        embedded = {f"vtl://tiny-{f}": f for f in TINY_FAMILIES}
        if name not in embedded:
            raise ModelLoadError(
                f"unknown embedded model {name!r}; the embedded models are {', '.join(embedded)} "
                f"(default {TINY_MODEL!r})"
            )
        return str(tiny_model_dir(embedded[name]))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model path {str(path)!r} is not a checkpoint directory (no config.json); point --model.model at a "
                f"directory written by save_pretrained or `vtl model tiny --out DIR`"
            )
        _check_config_json(path / "config.json")
        return str(path)
    if _looks_like_path(name):
        raise ModelLoadError(
            f"model path {name!r} does not exist; check the path, or write the tiny model with "
            f"`vtl model tiny --out {name}`, or use {TINY_MODEL!r}"
        )
    return name  # a hub id: fetched only because the user named it


def _check_config_json(file: Path) -> None:
    """A checkpoint's config.json must be a JSON object naming its model_type, or transformers fails deep inside."""
    import json

    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{file}: not valid JSON ({err}); restore it from the original checkpoint") from None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise ModelLoadError(f"{file}: no 'model_type' field (e.g. \"qwen2_5_vl\"); restore it from the original "
                             "checkpoint")


def _dtype(dtype: str | torch.dtype | None):
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ModelLoadError(f"dtype={dtype!r} is not a torch dtype; use e.g. 'bfloat16', 'float32' or 'auto'")
    return value


def model_family(name_or_path: str) -> Family:
    """The family of a checkpoint, from its config's `model_type` (a hub id fetches only its config)."""
    from transformers import AutoConfig

    source = resolve_model_source(name_or_path)
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as err:
        raise ModelLoadError(_not_found_message(name_or_path, err)) from err
    except ValueError as err:  # a model_type transformers does not know
        raise ModelLoadError(f"could not read the config of model {name_or_path!r}: {err}") from err
    return family_of_type(config.model_type, source=f"model {name_or_path!r}")


def set_pixel_budget(processor, family: Family, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the image (and video) resize budget in pixels on the processor; None keeps the checkpoint's value."""
    family.set_pixel_budget(processor, min_pixels, max_pixels)


def load_processor(name_or_path: str, *, min_pixels: int | None = None, max_pixels: int | None = None):
    from transformers import AutoProcessor

    source = resolve_model_source(name_or_path)
    family = model_family(source)
    try:
        processor = AutoProcessor.from_pretrained(source)
    except OSError as err:
        raise ModelLoadError(_not_found_message(name_or_path, err)) from err
    set_pixel_budget(processor, family, min_pixels, max_pixels)
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
    """Load a VLM of a supported family and its processor by path, hub id or `vtl://tiny-…` -> (model, processor)."""
    from transformers import AutoModelForImageTextToText

    source = resolve_model_source(name_or_path)
    family = model_family(source)
    processor = load_processor(source, min_pixels=min_pixels, max_pixels=max_pixels)
    kwargs = {}
    if dtype is not None:
        kwargs["dtype"] = _dtype(dtype)
    if quantization is not None:
        kwargs["quantization_config"] = quantization.to_bnb_config(family)
        kwargs.setdefault("dtype", getattr(torch, quantization.compute_dtype))
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
    except OSError as err:
        raise ModelLoadError(_not_found_message(name_or_path, err)) from err
    family.sync_model(model, processor)
    model.eval()
    return model, processor
