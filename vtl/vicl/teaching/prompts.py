"""The teacher and student prompts, and the check that a description never names a task.

Descriptions must be *implicit*: they say what the images look like and what changed, never which task it is.
`task_mentions(text)` finds task names (and, with strict=True, the degradation nouns that give a task away);
corpus lines record the hits and the diversity filter drops flagged lines by default.
"""

from __future__ import annotations

import re

PROMPT_VERSION = "t2t-teacher-v1"
STUDENT_PROMPT_VERSION = "t2t-student-v1"

TEACHER_PROMPT = (
    "You are shown four images from two image-to-image examples. "
    "Image 1 is the input of example A and Image 2 is its output; Image 3 is the input of example B and Image 4 is "
    "its output. Answer in exactly three sentences. Sentence 1: describe what the two inputs look like (content, "
    "light, colour, visible artefacts). Sentence 2: describe what changed from input to output in example A and "
    "what changed in example B. Sentence 3: explain how the two objectives differ. Describe only visible properties "
    "and changes; never name a task or a technique (do not write words such as deblurring, dehazing, denoising, "
    "deraining, inpainting, colorization, harmonization, style transfer, enhancement, or removal)."
)

STUDENT_PROMPT = (
    "Image 1 is the input of example A, Image 2 is its output, and Image 3 is the input of example B. In exactly "
    "three sentences, describe what the inputs look like, what changed in example A and what should change in "
    "example B, and how the two objectives differ, without naming any task."
)

# Task names in the forms people write them ("haze removal" names dehazing); any hit means the description names a task.
TASK_NAME_PATTERNS: dict[str, str] = {
    "deblurring": r"de-?blur\w*|blur[\s-]+remov\w*|remov\w*\s+(?:the\s+)?blur",
    "dehazing": r"de-?haz\w*|(?:haze|fog)[\s-]+remov\w*|remov\w*\s+(?:the\s+)?(?:haze|fog)",
    "demoireing": r"de-?moir\w*|moir[eé][\s-]+remov\w*|remov\w*\s+(?:the\s+)?moir[eé]",
    "denoising": r"de-?nois\w*|noise[\s-]+remov\w*|remov\w*\s+(?:the\s+)?noise",
    "deraining": r"de-?rain\w*|rain(?:[\s-]+streaks?)?[\s-]+remov\w*|remov\w*\s+(?:the\s+)?rain",
    "reflection_removal": r"reflection[\s-]+remov\w*|remov\w*\s+(?:the\s+)?reflections?",
    "shadow_removal": r"shadow[\s-]+remov\w*|remov\w*\s+(?:the\s+)?shadows?",
    "colorization": r"colou?ri[sz]\w*",
    "harmonization": r"harmoni[sz]\w*",
    "inpainting": r"in-?paint\w*",
    "low_light_enhancement": r"low[\s-]*light(?:[\s-]+image)?[\s-]+enhanc\w*|light[\s-]+enhancement",
    "style_transfer": r"style[\s-]+transfer\w*|styli[sz]ation",
}
# Nouns that name a degradation and so give the task away; flagged only in strict mode.
STRICT_PATTERNS: dict[str, str] = {
    "deblurring": r"blur\w*",
    "dehazing": r"haz[ey]\w*|fog\w*",
    "demoireing": r"moir\w*",
    "denoising": r"nois\w*",
    "deraining": r"rain(?:s|y|ing|drops?|fall|streaks?)?",
    "reflection_removal": r"reflections?",
    "shadow_removal": r"shadows?",
    "colorization": r"grayscale|greyscale",
    "inpainting": r"mask(?:ed)?\s+(?:region|hole)s?",
    "low_light_enhancement": r"low[\s-]*light",
    "style_transfer": r"\bstyle\b",
}
_COMPILED = {task: re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for task, p in TASK_NAME_PATTERNS.items()}
_COMPILED_STRICT = {task: re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for task, p in STRICT_PATTERNS.items()}


def task_mentions(text: str, *, strict: bool = False) -> list[str]:
    """Matched words naming a task (e.g. ["dehazing"]); strict=True also flags degradation nouns ("haze")."""
    hits: list[str] = []
    for table in (_COMPILED, _COMPILED_STRICT) if strict else (_COMPILED,):
        for pattern in table.values():
            hits.extend(m.group(0).lower() for m in pattern.finditer(text))
    return sorted(set(hits))


def names_a_task(text: str, *, strict: bool = False) -> bool:
    return bool(task_mentions(text, strict=strict))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def clean_description(text: str, max_sentences: int = 3) -> str:
    """A model reply as a description: whitespace collapsed, chat artefacts removed, at most three sentences."""
    text = re.sub(r"<\|[^|>]*\|>", " ", text)  # leftover special tokens
    text = re.sub(r"\s+", " ", text).strip()
    return " ".join(sentences(text)[:max_sentences])
