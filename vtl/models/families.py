"""Per-architecture facts, in one place: the rest of vtl asks the family of a checkpoint instead of matching names.

A `Family` says where the vision side lives (tower and projectors), which linear layers LoRA targets on the language
and the vision side, what stays out of 4-bit, how a pixel budget maps onto the processor's own options, and how
position ids are made. The chat markers (assistant header, end of turn) are read from the checkpoint's chat template
by `chat_markers`, never written here. The family is chosen from the checkpoint's `config.model_type`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import re
from dataclasses import dataclass
from typing import Literal

from vtl.errors import VtlError

# Every decoder block's seven linear layers; the same module tree in all four families' language models (v5 layout).
LANGUAGE_LORA = (
    r".*language_model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))"
)


class UnsupportedFamilyError(VtlError, ValueError):
    """A checkpoint (or --family) of an architecture vtl has no description for."""


class ChatTemplateError(VtlError, ValueError):
    """A chat template from which the assistant header or the end-of-turn token cannot be read."""


class PixelBudgetError(VtlError, ValueError):
    """A min/max pixel budget the processor cannot honour."""


@dataclass(frozen=True)
class Family:
    """What vtl needs to know about one VLM architecture (module paths in the transformers v5 layout)."""

    name: str
    """The user-facing name (`--family`, config labels)."""
    model_types: tuple[str, ...]
    """`config.model_type` values of this architecture."""
    vision_tower: str
    """Module path of the vision encoder."""
    projectors: tuple[str, ...]
    """Module paths of the vision-to-language projectors (inside the tower for Qwen, beside it otherwise)."""
    vision_lora: str
    """peft full-match regex over the vision encoder's linear layers, for "language+vision" LoRA."""
    pixel_budget: Literal["qwen", "tiles", "anyres"]
    """How min/max pixels map onto the processor: Qwen's pixel-count `size`, InternVL's tile counts, or
    LLaVA-OneVision's anyres grid."""
    positions: Literal["mrope", "sequential"]
    """3-row multimodal rotary positions computed by the model's own index function, or one position per token."""
    language_lora: str = LANGUAGE_LORA
    """peft full-match regex over the language model's linear layers."""

    @property
    def vision_modules(self) -> tuple[str, ...]:
        """Module paths of the whole vision side (tower and projectors, without duplicates)."""
        return (self.vision_tower, *(p for p in self.projectors if not p.startswith(self.vision_tower + ".")))

    def is_vision(self, name: str) -> bool:
        """Whether a parameter or module name (optionally peft-prefixed) belongs to the vision side."""
        return any(_under(name, m) for m in self.vision_modules)

    def is_projector(self, name: str) -> bool:
        """Whether a parameter or module name belongs to a vision-to-language projector."""
        return any(_under(name, m) for m in self.projectors)

    def mentions_vision(self, target: str) -> bool:
        """Whether a user's LoRA target name or pattern names the vision side (e.g. `visual.blocks.0.attn.qkv`)."""
        return any(m.rsplit(".", 1)[-1] in target for m in (*self.vision_modules, *self.projectors))

    def quantization_skips(self, *, quantize_vision: bool) -> list[str]:
        """Module patterns kept out of 4-bit: the output head always, the vision side unless `quantize_vision`."""
        vision = [rf"(?:model\.)?{re.escape(m.removeprefix('model.'))}" for m in self.vision_modules]
        return ["lm_head"] if quantize_vision else ["lm_head", *vision]

    def lora_target(self, *, vision: bool) -> str:
        """The peft target regex: the language model's linear layers, plus the vision encoder's when asked."""
        return f"(?:{self.language_lora})|(?:{self.vision_lora})" if vision else self.language_lora

    def exclude_vision(self) -> str:
        """A peft `exclude_modules` regex that keeps explicit target names off the vision side."""
        return "|".join(rf".*(?:^|\.){re.escape(m)}\..*" for m in self.vision_modules)

    # ---- pixel budget ------------------------------------------------------------------------------------------
    def set_pixel_budget(self, processor, min_pixels: int | None, max_pixels: int | None) -> None:
        """Map a pixel budget onto the processor's own options; None keeps the checkpoint's value."""
        if min_pixels is None and max_pixels is None:
            return
        if (min_pixels is not None and min_pixels <= 0) or (
            min_pixels is not None and max_pixels is not None and max_pixels < min_pixels
        ):
            raise PixelBudgetError(
                f"pixel budget min_pixels={min_pixels}, max_pixels={max_pixels}: need 0 < min_pixels <= max_pixels"
            )
        {"qwen": _qwen_budget, "tiles": _tile_budget, "anyres": _anyres_budget}[self.pixel_budget](
            processor, min_pixels, max_pixels
        )

    def sync_model(self, model, processor) -> None:
        """Make the model agree with what its processor was set to (LLaVA-OneVision's model re-derives the anyres
        grid from its own config)."""
        if self.pixel_budget == "anyres":
            model.config.image_grid_pinpoints = [list(p) for p in processor.image_processor.image_grid_pinpoints]

    # ---- positions ---------------------------------------------------------------------------------------------
    def prompt_positions(self, model, inputs: dict):
        """Position ids of a (left-padded) prompt batch: # [3, b, s] for mrope, [b, s] otherwise."""
        if self.positions == "mrope":
            inner = _unwrap(model).model
            index = inner.get_rope_index
            names = inspect.signature(index).parameters
            keys = ("image_grid_thw", "video_grid_thw", "attention_mask", "mm_token_type_ids", "second_per_grid_ts")
            kwargs = {k: inputs[k] for k in keys if k in names and inputs.get(k) is not None}
            positions, _ = index(inputs["input_ids"], **kwargs)
            return positions
        mask = inputs["attention_mask"].long()
        return (mask.cumsum(-1) - 1).clamp(min=0)

    @staticmethod
    def continue_positions(positions, steps: int, repeat: int):
        """Positions of `steps` text tokens appended after each prompt, rows repeated `repeat` times."""
        import torch

        last = positions[..., -1]  # [3, b] or [b]
        if last.ndim == 2:
            last = last.amax(dim=0)
        start = last.repeat_interleave(repeat) + 1  # [b * repeat]
        cont = start[:, None] + torch.arange(steps, device=positions.device)[None, :]
        return cont.expand(positions.shape[0], -1, -1) if positions.ndim == 3 else cont


def _under(name: str, module: str) -> bool:
    """Whether `name` is `module` or inside it, wherever the path starts (peft prefixes `base_model.model.`)."""
    return re.search(rf"(?:^|\.){re.escape(module)}(?:\.|$)", name) is not None


def _unwrap(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _sub_processors(processor):
    return [p for p in (getattr(processor, "image_processor", None), getattr(processor, "video_processor", None)) if p]


def _qwen_budget(processor, min_pixels, max_pixels) -> None:
    """Qwen's processors read `size` as a pixel count: shortest_edge = min_pixels, longest_edge = max_pixels."""
    from transformers.image_utils import SizeDict

    for sub in _sub_processors(processor):
        current = sub.size
        lo = min_pixels if min_pixels is not None else current.shortest_edge
        hi = max_pixels if max_pixels is not None else current.longest_edge
        if hi < lo:
            raise PixelBudgetError(f"pixel budget min_pixels={lo}, max_pixels={hi}: need min_pixels <= max_pixels")
        sub.size = SizeDict(shortest_edge=int(lo), longest_edge=int(hi))


def _tile_area(image_processor) -> int:
    size = image_processor.size
    return int(size.height) * int(size.width)


def _tile_budget(processor, min_pixels, max_pixels) -> None:
    """InternVL splits an image into fixed tiles: the budget becomes min/max tile counts (a thumbnail is added when
    there is more than one tile)."""
    image = processor.image_processor
    area = _tile_area(image)
    hi = image.max_patches if max_pixels is None else max_pixels // area
    lo = image.min_patches if min_pixels is None else math.ceil(min_pixels / area)
    if hi < 1:
        raise PixelBudgetError(
            f"max_pixels={max_pixels} is below one {image.size.height}x{image.size.width} tile ({area} px); "
            f"raise max_pixels to at least {area}"
        )
    image.max_patches = int(hi)
    image.min_patches = int(max(1, min(lo, hi)))


def _anyres_budget(processor, min_pixels, max_pixels) -> None:
    """LLaVA-OneVision picks an anyres grid from its pinpoints: keep the pinpoints whose area fits the budget."""
    image = processor.image_processor
    points = [list(p) for p in image.image_grid_pinpoints]
    kept = [
        p for p in points
        if (max_pixels is None or p[0] * p[1] <= max_pixels) and (min_pixels is None or p[0] * p[1] >= min_pixels)
    ]
    if not kept:
        areas = sorted(p[0] * p[1] for p in points)
        raise PixelBudgetError(
            f"pixel budget min_pixels={min_pixels}, max_pixels={max_pixels} keeps none of the processor's anyres "
            f"grids (areas {areas[0]}..{areas[-1]} px); widen min_pixels/max_pixels"
        )
    image.image_grid_pinpoints = kept


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="qwen2.5-vl",
            model_types=("qwen2_5_vl", "qwen2_vl"),
            vision_tower="model.visual",
            projectors=("model.visual.merger",),
            # Qwen2.5-VL's vision MLP is gated (gate/up/down); Qwen2-VL's is fc1/fc2
            vision_lora=r".*visual\.blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(gate_proj|up_proj|down_proj|fc1|fc2))",
            pixel_budget="qwen",
            positions="mrope",
        ),
        Family(
            name="qwen3-vl",
            model_types=("qwen3_vl",),  # not qwen3_vl_moe: its experts are no per-block linear layers
            vision_tower="model.visual",
            projectors=("model.visual.merger", "model.visual.deepstack_merger_list"),
            vision_lora=r".*visual\.blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(linear_fc1|linear_fc2))",
            pixel_budget="qwen",
            positions="mrope",
        ),
        Family(
            name="internvl",
            model_types=("internvl",),
            vision_tower="model.vision_tower",
            projectors=("model.multi_modal_projector",),
            vision_lora=(
                r".*vision_tower\.encoder\.layer\.\d+\.(attention\.(q_proj|k_proj|v_proj|projection_layer)|"
                r"mlp\.(fc1|fc2))"
            ),
            pixel_budget="tiles",
            positions="sequential",
        ),
        Family(
            name="llava-onevision",
            model_types=("llava_onevision",),
            vision_tower="model.vision_tower",
            projectors=("model.multi_modal_projector",),
            vision_lora=(
                r".*vision_tower\.(?:vision_model\.)?encoder\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|out_proj)|"
                r"mlp\.(fc1|fc2))"
            ),
            pixel_budget="anyres",
            positions="sequential",
        ),
    )
}
TINY_FAMILIES = tuple(FAMILIES)
FamilyName = Literal["qwen2.5-vl", "qwen3-vl", "internvl", "llava-onevision"]


def _supported() -> str:
    return ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES.values())


def family_named(name: str) -> Family:
    """The family called `name` (as `--family` takes it)."""
    if name not in FAMILIES:
        raise UnsupportedFamilyError(f"family {name!r} is not supported; supported families: {_supported()}")
    return FAMILIES[name]


def family_of_type(model_type: str, *, source: str = "the checkpoint") -> Family:
    """The family of a `config.model_type`, or an error naming the supported families."""
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    raise UnsupportedFamilyError(
        f"{source} has model_type {model_type!r}, which vtl does not support; supported families: {_supported()}"
    )


def family_of(model_or_config) -> Family:
    """The family of a loaded model (peft-wrapped or not) or of its config."""
    config = getattr(_unwrap(model_or_config), "config", model_or_config)
    return family_of_type(getattr(config, "model_type", None), source=f"model {getattr(config, '_name_or_path', '')!r}")


# ---- chat markers from the template -----------------------------------------------------------------------------

_PROBE = "vtl-probe-4f1c"


@dataclass(frozen=True)
class ChatMarkers:
    """The assistant header the generation prompt ends with, and the token that closes an assistant turn."""

    assistant_header: str
    end_of_turn: str
    end_of_turn_id: int


def _render(processor, messages, generation: bool) -> str:
    return processor.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)


def chat_markers(processor) -> ChatMarkers:
    """Read the markers from the processor's chat template: the header is what the generation prompt appends to a
    user turn; the end of turn is what the template writes right after an assistant message's text."""
    tokenizer = getattr(processor, "tokenizer", processor)
    user = [{"role": "user", "content": [{"type": "text", "text": "q"}]}]
    try:
        bare = _render(processor, user, False)
        prompt = _render(processor, user, True)
        turn = None
        for content in ([{"type": "text", "text": _PROBE}], _PROBE):  # templates take parts, a string, or both
            with contextlib.suppress(Exception):
                turn = _render(processor, [*user, {"role": "assistant", "content": content}], False)
            if turn is not None and _PROBE in turn:
                break
    except Exception as err:  # jinja errors, missing template
        raise ChatTemplateError(f"the checkpoint's chat template cannot render a user turn: {err}") from err
    if not prompt.startswith(bare) or prompt == bare:
        raise ChatTemplateError("the chat template's generation prompt does not extend the user turn; vtl needs "
                                "add_generation_prompt to append the assistant header")
    header = prompt[len(bare):]
    after = turn[turn.rindex(_PROBE) + len(_PROBE):].rstrip() if turn and _PROBE in turn else ""
    end = after or (tokenizer.eos_token or "")
    ids = tokenizer.encode(end, add_special_tokens=False) if end else []
    if len(ids) != 1:
        raise ChatTemplateError(
            f"the chat template closes an assistant turn with {end!r}, which is {len(ids)} tokens; vtl needs a single "
            f"end-of-turn token"
        )
    return ChatMarkers(assistant_header=header, end_of_turn=end, end_of_turn_id=ids[0])
