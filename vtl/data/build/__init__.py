"""Training sets in BLINK's schema from each task's source dataset, read in that dataset's own released format."""

from __future__ import annotations

import importlib
from types import ModuleType

# task -> module; the tasks not listed have no builder yet (see docs/data_build.md)
MODULES = {
    "Art_Style": "art_style",
    "Counting": "counting",
    "Forensic_Detection": "forensic_detection",
    "Jigsaw": "jigsaw",
    "Multi-view_Reasoning": "multi_view_reasoning",
    "Object_Localization": "object_localization",
    "Relative_Depth": "relative_depth",
    "Relative_Reflectance": "relative_reflectance",
    "Semantic_Correspondence": "semantic_correspondence",
    "Spatial_Relation": "spatial_relation",
    "Visual_Correspondence": "visual_correspondence",
    "Visual_Similarity": "visual_similarity",
}


def builder(task: str) -> ModuleType:
    from vtl.data.build.core import BuildError
    from vtl.tasks import UnknownTaskError, canonical

    try:
        name = canonical(task)
    except UnknownTaskError as exc:
        raise BuildError(str(exc)) from exc
    if name not in MODULES:
        raise BuildError(f"no builder for {name} yet; builders exist for {', '.join(MODULES)}")
    return importlib.import_module(f"vtl.data.build.{MODULES[name]}")
