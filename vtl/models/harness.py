"""Prompt presets for multiple-choice questions, named after the harness whose numbers they line up with.

A preset fixes three things: the user-turn text a question becomes, the answer-parsing rule of generate mode
(vtl.models.parsing) and its token budget. Images always come first, in image_1..image_4 order.

- `vtl`: the row's BLINK `prompt` as it is (question, "Select from the following choices.", "(A) …" lines).
- `lmms-eval`: lmms-eval's BLINK task (EvolvingLMMs-Lab/lmms-eval 75571cf, `lmms_eval/tasks/blink/`): a line
  "Note: You only need to respond with A, B, … without providing any additional information." before the row's
  prompt, no post-prompt; generation up to 1024 new tokens.
- `vlmevalkit`: VLMEvalKit's multiple-choice prompt (open-compass/VLMEvalKit e8e78f0, `ImageMCQDataset.build_prompt`):
  "Question: …", "Options:" with "A. …" lines, then "Please select the correct answer from the options above. ";
  2048 new tokens (its Qwen2-VL default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vtl.data.sample import BlinkSample
from vtl.models.parsing import AnswerRule

PromptPreset = Literal["vtl", "lmms-eval", "vlmevalkit"]
_IMAGE_MARK = "<image>"


@dataclass(frozen=True)
class Preset:
    name: str
    answer_rule: AnswerRule
    max_new_tokens: int


PRESETS: dict[str, Preset] = {
    "vtl": Preset("vtl", "blink", 16),
    "lmms-eval": Preset("lmms-eval", "lmms-eval", 1024),
    "vlmevalkit": Preset("vlmevalkit", "vlmevalkit", 2048),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown prompt preset {name!r}; use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def question_text(sample: BlinkSample, preset: PromptPreset = "vtl") -> str:
    """The text of the user turn for `sample` under `preset` (its images are placed before it)."""
    get_preset(preset)
    if preset == "vtl":
        return sample.prompt
    if preset == "lmms-eval":
        note = f"Note: You only need to respond with {', '.join(sample.letters)} without providing any additional " \
               "information.\n"
        return note + sample.prompt.replace(_IMAGE_MARK, "")
    options = "".join(f"{letter}. {choice}\n" for letter, choice in zip(sample.letters, sample.choices, strict=True))
    question = sample.question.replace(_IMAGE_MARK, "").strip()
    return f"Question: {question}\nOptions:\n{options}Please select the correct answer from the options above. \n"
