"""The 12 low-level image tasks of T2T-VICL, their short labels, and the ordered task pairs the paper reports.

Task ids are snake_case words ("low_light_enhancement"); labels are the paper's short names ("LightEnh"), and a pair
is written "A→B" with labels ("Deblur→Dehaze"). Nothing here imports numpy or torch.
"""

from __future__ import annotations

LOW_LEVEL_TASKS: tuple[str, ...] = (
    "deblurring",
    "dehazing",
    "demoireing",
    "denoising",
    "deraining",
    "reflection_removal",
    "shadow_removal",
    "colorization",
    "harmonization",
    "inpainting",
    "low_light_enhancement",
    "style_transfer",
)

LABELS: dict[str, str] = {
    "deblurring": "Deblur",
    "dehazing": "Dehaze",
    "demoireing": "Demoire",
    "denoising": "Denoise",
    "deraining": "Derain",
    "reflection_removal": "Reflection",
    "shadow_removal": "Shadow",
    "colorization": "Color",
    "harmonization": "Harmon",
    "inpainting": "Inpaint",
    "low_light_enhancement": "LightEnh",
    "style_transfer": "Style",
}
_BY_LABEL = {label.lower(): task for task, label in LABELS.items()}
# Other spellings of a task id: the T2T-VICL authors' folder names where they differ from vtl's ids.
ALIASES: dict[str, str] = {
    "light_enhancement": "low_light_enhancement",
    "lowlight_enhancement": "low_light_enhancement",
}
# The authors' task folder under their `tasks/` root, per vtl task id.
AUTHORS_TASK_DIRS: dict[str, str] = {task: task for task in LABELS} | {"low_light_enhancement": "light_enhancement"}

ARROW = "→"

# The 21 ordered scenarios the paper reports, in its order: 12 top tier, then 9 second tier.
REPORTED_SCENARIOS: tuple[tuple[str, str], ...] = (
    ("deblurring", "dehazing"),
    ("deblurring", "deraining"),
    ("deblurring", "demoireing"),
    ("demoireing", "dehazing"),
    ("harmonization", "low_light_enhancement"),
    ("inpainting", "low_light_enhancement"),
    ("inpainting", "style_transfer"),
    ("style_transfer", "low_light_enhancement"),
    ("denoising", "low_light_enhancement"),
    ("low_light_enhancement", "deraining"),
    ("low_light_enhancement", "shadow_removal"),
    ("reflection_removal", "dehazing"),
    ("dehazing", "deraining"),
    ("deraining", "demoireing"),
    ("colorization", "style_transfer"),
    ("harmonization", "style_transfer"),
    ("inpainting", "colorization"),
    ("low_light_enhancement", "colorization"),
    ("shadow_removal", "reflection_removal"),
    ("deraining", "style_transfer"),
    ("shadow_removal", "deraining"),
)
# Top tier: at least 2 of PSNR/SSIM/VIEScore beat the fixed prompt. Second tier: VIEScore up, PSNR/SSIM may drop.
TOP_TIER: frozenset[tuple[str, str]] = frozenset(REPORTED_SCENARIOS[:12])
SECOND_TIER: frozenset[tuple[str, str]] = frozenset(REPORTED_SCENARIOS[12:])


def task_id(name: str) -> str:
    """A task id from an id ("low_light_enhancement"), a label ("LightEnh"), an alias ("light_enhancement", the
    authors' folder name), or any of them with other case/dashes."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in LABELS:
        return key
    if key in _BY_LABEL:
        return _BY_LABEL[key]
    if key in ALIASES:
        return ALIASES[key]
    raise ValueError(
        f"unknown low-level task {name!r}: use one of the ids {', '.join(LOW_LEVEL_TASKS)} "
        f"or labels {', '.join(LABELS.values())}"
    )


def parse_pair(text: str) -> tuple[str, str]:
    """("deblurring", "dehazing") from "Deblur→Dehaze", "deblurring->dehazing" or "Deblur>Dehaze"."""
    for sep in (ARROW, "->", ">"):
        if sep in text:
            a, _, b = text.partition(sep)
            return task_id(a), task_id(b)
    raise ValueError(f"task pair {text!r} has no arrow: write it as 'Deblur→Dehaze' or 'deblurring->dehazing'")


def pair_label(a: str, b: str) -> str:
    """"Deblur→Dehaze" for ("deblurring", "dehazing"); ids or labels accepted."""
    return f"{LABELS[task_id(a)]}{ARROW}{LABELS[task_id(b)]}"


def resolve_pairs(pairs: list[str] | None) -> list[tuple[str, str]]:
    """Ordered pairs from CLI text; None or ["reported"] gives the 21 reported scenarios, ["all"] all 132."""
    if not pairs or pairs == ["reported"]:
        return list(REPORTED_SCENARIOS)
    if pairs == ["all"]:
        return [(a, b) for a in LOW_LEVEL_TASKS for b in LOW_LEVEL_TASKS if a != b]
    out = [parse_pair(p) for p in pairs]
    for a, b in out:
        if a == b:
            raise ValueError(f"task pair {pair_label(a, b)} names the same task twice: T2T-VICL pairs two tasks")
    return out
