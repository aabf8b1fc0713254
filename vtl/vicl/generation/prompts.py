"""The fixed VICL instruction and the prompt that joins it with an implicit description.

Baseline prompts are the instruction alone; "ours" appends the student's description under a fixed header, so any
backend can split a prompt back into (instruction, description) with `split_prompt`.
The instruction can be replaced by a file or inline text like every prompt (vtl.vicl.teaching.prompt_source).
"""

from __future__ import annotations

PROMPT_VERSION = "vicl-v1"

VICL_INSTRUCTION = (
    "You are given three images. The first image is the input of an image task and the second image is the output "
    "of that same task: together they are an example. The third image is the input of another task. Perform that "
    "task on the third image and return only the resulting image, at the same size as the third image."
)

DESCRIPTION_HEADER = "How the example's task and the task to perform differ:"

def build_prompt(description: str | None = None, instruction: str | None = None) -> str:
    """The generator prompt: the fixed instruction (or `instruction`), plus the description when one is given."""
    head = VICL_INSTRUCTION if instruction is None else instruction.strip()
    if description is None or not description.strip():
        return head
    return f"{head}\n\n{DESCRIPTION_HEADER}\n{description.strip()}"


def split_prompt(text: str) -> tuple[str, str | None]:
    """Inverse of `build_prompt`: (instruction, description or None)."""
    head, sep, tail = text.partition(DESCRIPTION_HEADER)
    if not sep:
        return text.strip(), None
    return head.strip(), tail.strip() or None
