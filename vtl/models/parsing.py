"""BLINK's rule for reading a multiple-choice answer out of free-form model output.

As BLINK's own scorer: a bare letter "B" counts as "(B)"; an output that is exactly "(B)" is "(B)"; otherwise the
single "(X)" option token (whitespace-separated) in the last paragraph, else the single one in the whole output.
Anything else is unparseable (BLINK then asks GPT to extract an answer; vtl counts it as wrong and reports it).
"""

from __future__ import annotations

from collections.abc import Sequence


def parse_choice(output: str, letters: Sequence[str]) -> str | None:
    """The chosen letter ("B") among `letters` of this question, or None when the output names no single option."""
    text = output.strip()
    if text in letters:
        return text
    options = {f"({letter})": letter for letter in letters}
    if text in options:
        return options[text]
    last_paragraph = text.split("\n\n")[-1]
    for part in (last_paragraph, text):
        found = {options[token] for token in part.split() if token in options}
        if len(found) == 1:
            return found.pop()
    return None
