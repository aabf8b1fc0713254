"""An exact cache of per-image vision features for repeated evaluation (plain PyTorch, no Lightning).

Under LoRA on the language model the vision tower is frozen and the evaluation images never change, yet the zero-shot
pass and every validation epoch recompute the same features. The cache computes them once with the model's own
`get_image_features` and feeds them back through the model's own entry point, `mm_encoder_outputs` (transformers 5.x
Qwen-VL models then skip the vision tower); nothing of the forward pass is re-implemented, so option log-probabilities
are those of the uncached model.

Key: the owner's model identity string (checkpoint, quantization, dtype, pixel budget) + a BLAKE2b hash of the image's
processed pixels and its patch grid. Hashing the processor's output rather than the source file makes the key change
with anything that changes what the vision tower sees (resize budget, normalisation), and makes equal images share
one entry. Storage: CPU RAM, capped at `max_bytes`. When full, new entries are not admitted (and existing ones are
kept): evaluation scans the same images in the same order every epoch, and for that access pattern LRU eviction would
evict every entry before its reuse; keeping the first entries gives a hit rate of cap / total instead of zero.

The cache refuses models whose vision features change during a fit: a vision tower or merger with trainable
parameters (full fine-tuning with `train_vision`) or with an adapter (LoRA targeting vision modules).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass

import torch
from torch import nn

from vtl.errors import VtlError


class VisionCacheRefused(VtlError):
    """The model's vision features are not constant (trainable or adapted vision tower), or it takes no
    precomputed features."""


def _vision_parts(model: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """(the inner multimodal model whose forward takes `mm_encoder_outputs`, its vision tower or None)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", base)
    return inner, getattr(inner, "visual", None)


CACHED_FAMILIES = ("qwen2.5-vl",)  # one pooled feature tensor per image (Qwen3-VL adds deepstack features)


def refusal_reason(model: nn.Module) -> str | None:
    """Why the vision features of `model` cannot be cached, or None when they can."""
    from vtl.models.families import family_of

    family = family_of(model)
    if family.name not in CACHED_FAMILIES:
        return f"the {family.name} family is not supported (only {', '.join(CACHED_FAMILIES)})"
    inner, visual = _vision_parts(model)
    if visual is None or not hasattr(inner, "get_image_features"):
        return f"{type(inner).__name__} has no `visual` tower with `get_image_features`"
    if "mm_encoder_outputs" not in inspect.signature(inner.forward).parameters:
        return f"{type(inner).__name__}.forward takes no `mm_encoder_outputs` (transformers >= 5.2x needed)"
    trainable = [name for name, p in model.named_parameters() if p.requires_grad and family.is_vision(name)]
    if trainable:
        return f"the vision tower trains ({len(trainable)} trainable tensors, e.g. {trainable[0]})"
    adapted = [name for name, m in model.named_modules()
               if (hasattr(m, "lora_A") or hasattr(m, "base_layer")) and family.is_vision(name)]
    if adapted:
        return f"the vision tower carries an adapter (e.g. {adapted[0]})"
    return None


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    not_admitted: int = 0
    entries: int = 0
    bytes: int = 0


class VisionFeatureCache:
    """Per-image vision features in CPU RAM, at most `max_bytes`, keyed by `model_key` + processed-pixel hash."""

    def __init__(self, model_key: str, max_bytes: int):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.model_key = model_key
        self.max_bytes = max_bytes
        self._store: dict[str, torch.Tensor] = {}
        self._batches: dict[tuple, tuple[dict, list[str]]] = {}  # batch key -> (collated text, image keys)
        self.stats = CacheStats()

    @classmethod
    def for_model(cls, model: nn.Module, model_key: str, max_bytes: int) -> VisionFeatureCache:
        """A cache for `model` (its vision dtype joins `model_key`); raises VisionCacheRefused when its vision
        features are not constant."""
        reason = refusal_reason(model)
        if reason is not None:
            raise VisionCacheRefused(f"vision-feature cache refused: {reason}")
        _, visual = _vision_parts(model)
        return cls(f"{model_key}|{next(visual.parameters()).dtype}", max_bytes)

    def check(self, model: nn.Module) -> None:
        """Fail fast if the vision tower was unfrozen since the cache was made (adapters cannot appear unnoticed:
        they are added by wrapping, which `for_model` saw or will see)."""
        _, visual = _vision_parts(model)
        if visual is None or any(p.requires_grad for p in visual.parameters()):
            reason = refusal_reason(model) or "the model has no vision tower"
            raise VisionCacheRefused(f"vision-feature cache in use but {reason}; set --model.vision_cache_gib=null")

    def key(self, pixels: torch.Tensor, grid: torch.Tensor) -> str:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(str((tuple(pixels.shape), pixels.dtype, tuple(grid.tolist()))).encode())
        digest.update(pixels.detach().cpu().contiguous().view(torch.uint8).numpy())
        return f"{self.model_key}|{digest.hexdigest()}"

    @staticmethod
    def batch_key(samples, preset: str) -> tuple | None:
        """What fixes a collated evaluation batch: its rows (task, idx, stored-image hashes, prompt) in order and the
        prompt preset; None when a row's images have no stored bytes to identify them (video rows never do)."""
        if any(not getattr(s, "image_sha256", ()) for s in samples):
            return None
        return (preset, *((s.sub_task, s.idx, s.image_sha256, s.prompt) for s in samples))

    def recall(self, model: nn.Module, batch_key: tuple | None) -> dict | None:
        """The encoder-ready inputs of a batch seen before under `batch_key` (no collation, no pixel hashing: every
        epoch batches the same questions the same way), or None."""
        entry = self._batches.get(batch_key) if batch_key is not None else None
        if entry is None or any(k not in self._store for k in entry[1]):
            return None
        text, keys = entry
        self.stats.hits += len(keys)
        return self._with_features(model, dict(text), [self._store[k] for k in keys])

    def encoder_inputs(self, model: nn.Module, inputs: dict, batch_key: tuple | None = None) -> dict:
        """`inputs` (a processor batch, pixels still on the CPU) with `pixel_values` replaced by `mm_encoder_outputs`
        holding every image's features: cached ones reused, missing ones computed in one call of the model's own
        `get_image_features` and admitted while the cap allows. With a `batch_key`, a batch whose images are all
        held is remembered for `recall`."""
        pixels = inputs.get("pixel_values")
        grid = inputs.get("image_grid_thw")
        if pixels is None or grid is None or inputs.get("pixel_values_videos") is not None:
            return inputs  # no images, or video clips (which the model takes with no precomputed images beside)
        inner, visual = _vision_parts(model)
        per_image = torch.split(pixels, grid.prod(-1).tolist())  # [patches_i, patch_dim] per image
        keys = [self.key(p, g) for p, g in zip(per_image, grid, strict=True)]
        features: list[torch.Tensor | None] = [self._store.get(k) for k in keys]
        missing = [i for i, f in enumerate(features) if f is None]
        self.stats.hits += len(keys) - len(missing)
        self.stats.misses += len(missing)
        device = next(visual.parameters()).device
        if missing:
            new = inner.get_image_features(
                torch.cat([per_image[i] for i in missing]).to(device), grid[missing].to(device), return_dict=True
            ).pooler_output  # one [tokens_i, hidden] tensor per missing image
            for i, feature in zip(missing, new, strict=True):
                features[i] = feature
                self._admit(keys[i], feature)
        text = {k: v for k, v in inputs.items() if k != "pixel_values"}
        if batch_key is not None and all(k in self._store for k in keys):
            self._batches[batch_key] = (text, keys)
        return self._with_features(model, dict(text), features)

    @staticmethod
    def _with_features(model: nn.Module, text: dict, features) -> dict:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        _, visual = _vision_parts(model)
        device = next(visual.parameters()).device
        pooled = tuple(f.to(device, non_blocking=True) for f in features)
        text["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=pooled)}
        return text

    def _admit(self, key: str, feature: torch.Tensor) -> None:
        size = feature.numel() * feature.element_size()
        if key in self._store:  # an image twice in one batch
            return
        if self.stats.bytes + size > self.max_bytes:
            self.stats.not_admitted += 1
            return
        self._store[key] = feature.detach().to("cpu", copy=True)
        self.stats.bytes += size
        self.stats.entries += 1

    def clear(self) -> None:
        self._store.clear()
        self.stats = CacheStats()
