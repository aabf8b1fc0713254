"""Open-weight image editors through diffusers, behind the `generate(instruction_text, images, k)` interface.

Pipelines (all in diffusers 0.36+; the hub id is the default `model`, any local directory of the same layout works):

| `pipeline`             | diffusers class             | default model                        | several input images |
|------------------------|-----------------------------|--------------------------------------|----------------------|
| `qwen-image-edit`      | QwenImageEditPipeline       | Qwen/Qwen-Image-Edit                 | no                   |
| `qwen-image-edit-plus` | QwenImageEditPlusPipeline   | Qwen/Qwen-Image-Edit-2509            | yes (a list)         |
| `flux-kontext`         | FluxKontextPipeline         | black-forest-labs/FLUX.1-Kontext-dev | no                   |
| `flux2`                | Flux2Pipeline               | black-forest-labs/FLUX.2-dev         | yes (a list)         |

Multi-image conditioning (`multi_image`): "native" hands [A_in, A_out, B_in] to a pipeline that takes a list;
"side_by_side" composes the three into one row, asks for an edit of that picture at its size, and keeps the last
third (the part over B_in) as the result: the fallback for single-image pipelines; "auto" (default) picks native
where the pipeline supports it, else side_by_side. The mode used is recorded in every result's settings.

Candidate i is generated from `torch.Generator(device).manual_seed(seed + i)`, so a rerun gives the same images.
`load_in_4bit` quantizes the transformer and text encoder with bitsandbytes NF4 (diffusers' PipelineQuantization
Config; CUDA only).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from vtl.errors import VtlError
from vtl.vicl.generation.base import Candidate, Failure, Generator, check_query, side_by_side

log = logging.getLogger("vtl.vicl")

PipelineName = Literal["qwen-image-edit", "qwen-image-edit-plus", "flux-kontext", "flux2"]
# name -> (diffusers class, default model, takes a list of images, the components 4-bit applies to)
PIPELINES: dict[str, tuple[str, str, bool, tuple[str, ...]]] = {
    "qwen-image-edit": ("QwenImageEditPipeline", "Qwen/Qwen-Image-Edit", False, ("transformer", "text_encoder")),
    "qwen-image-edit-plus": ("QwenImageEditPlusPipeline", "Qwen/Qwen-Image-Edit-2509", True,
                             ("transformer", "text_encoder")),
    "flux-kontext": ("FluxKontextPipeline", "black-forest-labs/FLUX.1-Kontext-dev", False,
                     ("transformer", "text_encoder_2")),
    "flux2": ("Flux2Pipeline", "black-forest-labs/FLUX.2-dev", True, ("transformer", "text_encoder")),
}
DTYPES = ("bfloat16", "float16", "float32")


class DiffusersConfigError(VtlError, ValueError):
    pass


class DiffusersEditor(Generator):
    """A diffusers image-editing pipeline as a VICL generator. Local compute: one query at a time.

    Args:
        pipeline: which pipeline family (table in the module docstring).
        model: hub id or local directory; None: the family's default.
        device: "cuda", "cuda:1", "cpu".
        dtype: weight and compute dtype.
        steps: denoising steps per image.
        guidance_scale: the pipeline's guidance (FLUX Kontext / FLUX.2 distilled guidance); None: its default.
        true_cfg_scale: Qwen-Image-Edit's classifier-free guidance (with `negative_prompt`); None: its default.
        negative_prompt: Qwen-Image-Edit's negative prompt (" " as in its model card); ignored by FLUX pipelines.
        seed: candidate i uses seed + i.
        multi_image: how the three query images are given ("auto", "native", "side_by_side").
        output_size: "input" generates at B_in's size (the composite's for side_by_side), "pipeline" at the
            pipeline's default (about one megapixel).
        load_in_4bit: bitsandbytes NF4 for the transformer and text encoder (CUDA).
        cpu_offload: diffusers' model CPU offload (moves each component to `device` only while it runs).
    """

    concurrent = False

    def __init__(
        self,
        pipeline: PipelineName = "qwen-image-edit",
        model: str | None = None,
        *,
        device: str = "cuda",
        dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16",
        steps: int = 28,
        guidance_scale: float | None = None,
        true_cfg_scale: float | None = None,
        negative_prompt: str | None = " ",
        seed: int = 0,
        multi_image: Literal["auto", "native", "side_by_side"] = "auto",
        output_size: Literal["input", "pipeline"] = "input",
        load_in_4bit: bool = False,
        cpu_offload: bool = False,
    ):
        if pipeline not in PIPELINES:
            raise DiffusersConfigError(f"generator pipeline {pipeline!r}: use one of {sorted(PIPELINES)}")
        if dtype not in DTYPES:
            raise DiffusersConfigError(f"generator dtype {dtype!r}: use one of {DTYPES}")
        if steps < 1:
            raise DiffusersConfigError(f"generator steps must be >= 1, got {steps}")
        class_name, default_model, takes_list, quantized = PIPELINES[pipeline]
        if multi_image == "native" and not takes_list:
            raise DiffusersConfigError(f"pipeline {pipeline!r} takes one input image: use multi_image "
                                       f"side_by_side (or auto), or qwen-image-edit-plus / flux2")
        self.pipeline_name = pipeline
        self.model = model or default_model
        self.name = f"diffusers:{pipeline}:{self.model}"
        self.device = device
        self.mode = ("native" if takes_list else "side_by_side") if multi_image == "auto" else multi_image
        self.settings = {
            "pipeline": pipeline, "device": device, "dtype": dtype, "steps": steps, "guidance_scale": guidance_scale,
            "true_cfg_scale": true_cfg_scale, "negative_prompt": negative_prompt, "seed": seed,
            "multi_image": self.mode, "output_size": output_size, "load_in_4bit": load_in_4bit,
        }
        self._pipe = self._load(class_name, quantized, dtype, load_in_4bit, cpu_offload)

    def _load(self, class_name: str, quantized: tuple[str, ...], dtype: str, load_in_4bit: bool, cpu_offload: bool):
        import diffusers
        import torch

        cls = getattr(importlib.import_module("diffusers"), class_name, None)
        if cls is None:
            raise DiffusersConfigError(f"diffusers {diffusers.__version__} has no {class_name}; upgrade diffusers")
        torch_dtype = getattr(torch, dtype)
        kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if load_in_4bit:
            kwargs["quantization_config"] = diffusers.PipelineQuantizationConfig(
                quant_backend="bitsandbytes_4bit",
                quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                              "bnb_4bit_compute_dtype": torch_dtype},
                components_to_quantize=list(quantized),
            )
        try:
            pipe = cls.from_pretrained(self.model, **kwargs)
        except (OSError, ValueError) as exc:
            raise DiffusersConfigError(f"cannot load {class_name} from {self.model!r} ({str(exc)[:200]}); check "
                                       f"generator `model:` (a hub id or a local pipeline directory)") from None
        if cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        elif not load_in_4bit:  # quantized components are already placed by bitsandbytes
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def call_arguments(self, prompt: str, images: Sequence[np.ndarray]) -> tuple[dict[str, Any], int]:
        """The pipeline's keyword arguments for one candidate (without the generator), and how many panels the
        output has (1, or 3 for side_by_side)."""
        from PIL import Image

        s = self.settings
        if self.mode == "native":
            picture: Any = [Image.fromarray(im) for im in images]
            panels, size = 1, images[-1].shape[:2]
        else:
            composite = side_by_side(images)
            picture, panels, size = Image.fromarray(composite), len(images), composite.shape[:2]
        args: dict[str, Any] = {"image": picture, "prompt": prompt, "num_inference_steps": s["steps"],
                                "output_type": "np"}
        if s["output_size"] == "input":
            args.update(height=int(size[0]), width=int(size[1]))
        if s["guidance_scale"] is not None:
            args["guidance_scale"] = s["guidance_scale"]
        if self.pipeline_name.startswith("qwen"):
            if s["true_cfg_scale"] is not None:
                args["true_cfg_scale"] = s["true_cfg_scale"]
            if s["negative_prompt"] is not None:
                args["negative_prompt"] = s["negative_prompt"]
        return args, panels

    def generate(self, instruction_text: str, images: Sequence[np.ndarray], k: int) -> list[Candidate | Failure]:
        import torch

        check_query(images, k)
        args, panels = self.call_arguments(instruction_text, images)
        out: list[Candidate | Failure] = []
        for i in range(k):
            seed = self.settings["seed"] + i
            generator = torch.Generator(device="cpu" if self.device.startswith("cpu") else self.device)
            with torch.inference_mode():
                result = self._pipe(**args, generator=generator.manual_seed(seed)).images[0]
            result = np.asarray(result, dtype=np.float32)  # [h, w, 3] in 0..1
            if not np.isfinite(result).all():
                out.append(Failure("no_image", "the pipeline returned non-finite pixels"))
                continue
            picture = np.clip(np.rint(result * 255), 0, 255).astype(np.uint8)
            if panels > 1:  # keep the panel over B_in
                picture = picture[:, picture.shape[1] * (panels - 1) // panels:]
            out.append(Candidate(np.ascontiguousarray(picture), {"generator": self.name, "model": self.model,
                                                                  "settings": self.settings, "seed": seed}))
        return out
