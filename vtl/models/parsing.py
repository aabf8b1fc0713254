"""Reading a multiple-choice answer out of free-form model output, by the rule of a named harness.

`parse_answer(text, letters, rule)` is the one entry point; each rule reproduces the verdict of the harness it is
named after, quirks included, so vtl's numbers line up with the numbers people report from that harness:

- `blink`: BLINK's own scorer. A bare letter "B" counts as "(B)"; an output that is exactly "(B)" is "(B)"; otherwise
  the single "(X)" option token (whitespace-separated) in the last paragraph, else the single one in the whole
  output. Anything else is unparseable (BLINK then asks GPT to extract an answer; vtl counts it as wrong).
- `lmms-eval`: the BLINK task of lmms-eval (read at EvolvingLMMs-Lab/lmms-eval 75571cf,
  `lmms_eval/tasks/blink/utils.py`): after leading spaces and "(", the first character, if it is a letter (either
  case), upper-cased, is the answer. So "The answer is (B)" reads as "T" and "answer: B" as "A"; a letter that is no
  option of the question is simply wrong.
- `vlmevalkit`: VLMEvalKit's `can_infer` without the LLM judge (read at open-compass/VLMEvalKit e8e78f0,
  `vlmeval/utils/matching_util.py`): refusal phrases read as "Z"; with punctuation `.()[],:;!*#{}` turned into
  spaces, a single option letter among the words counts when it is one of the last four words; else "answer is X"
  (X in A-D, any case); else the single option whose text occurs in the (not too long) output.

- `vsibench`: VSI-Bench's video multiple-choice verdict (vision-x-nyu/thinking-in-space
  51e089c3ae69b9435e9489058610f5b3964c56a8 and EvolvingLMMs-Lab/lmms-eval 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3,
  `lmms_eval/tasks/vsibench/utils.py`, `fuzzy_matching` + `exact_match`): the text before the first space, trailing
  periods and then surrounding whitespace removed, must equal the answer letter ignoring case ("b." and "\nB" count,
  "(B)", " B" and "B\nbecause" do not).

The returned letter may lie outside `letters` ("T" under lmms-eval, "Z" under vlmevalkit): that is the harness's
verdict, scored wrong. None means the rule reads no answer at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from vtl.models.numeric import first_token

AnswerRule = Literal["blink", "lmms-eval", "vlmevalkit", "vsibench"]
ANSWER_RULES: tuple[str, ...] = ("blink", "lmms-eval", "vlmevalkit", "vsibench")


def parse_answer(
    text: str, letters: Sequence[str], rule: AnswerRule = "blink", *, choices: Sequence[str] | None = None
) -> str | None:
    """The letter `rule` reads in `text` for a question with options `letters` (e.g. ["A", "B", "C"]).

    `choices` (the option texts, in letter order) is used by the `vlmevalkit` rule, which also matches an output
    naming an option's text; the other rules ignore it.
    """
    if rule == "blink":
        return _blink(text, letters)
    if rule == "lmms-eval":
        return _lmms_eval(text)
    if rule == "vlmevalkit":
        return _vlmevalkit(text, letters, choices)
    if rule == "vsibench":
        return _vsibench(text, letters)
    raise ValueError(f"unknown answer rule {rule!r}; use one of {', '.join(ANSWER_RULES)}")


def parse_choice(output: str, letters: Sequence[str]) -> str | None:
    """BLINK's rule: the chosen letter among `letters`, or None when the output names no single option."""
    return _blink(output, letters)


def _blink(output: str, letters: Sequence[str]) -> str | None:
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


def _vsibench(output: str, letters: Sequence[str]) -> str | None:
    token = first_token(output).lower()
    return next((letter for letter in letters if letter.lower() == token), None)


def _lmms_eval(output: str) -> str | None:
    rest = output.strip().lstrip("( \t\n\r\f\v")
    if rest and rest[0].isascii() and rest[0].isalpha():
        return rest[0].upper()
    return None


_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_API_FAILURE = "Failed to obtain answer via API"
_PUNCTUATION = re.compile(r"[.()\[\],:;!*#{}]")
_ANSWER_IS = re.compile(r"(?:correct\s+)?answer\s+is\s+\**([ABCD])\**", re.IGNORECASE)
_LAST_WORDS = 4  # a lone option letter counts only among the output's last four words


def _vlmevalkit(output: str, letters: Sequence[str], choices: Sequence[str] | None) -> str | None:
    if _API_FAILURE in output:
        return None
    if any(phrase in output for phrase in _REFUSALS):
        return "Z"
    words = _PUNCTUATION.sub(" ", output).split()
    named = [letter for letter in letters if letter in words]
    if len(named) == 1:
        if words.index(named[0]) >= len(words) - _LAST_WORDS:
            return named[0]
    elif not named and "Z" in words:
        return "Z"
    match = _ANSWER_IS.search(output)
    if match and match.group(1).upper() in letters:
        return match.group(1).upper()
    if not choices:
        return None
    texts = [str(c).lower() for c in choices]
    if len(output) > 2 * sum(len(t) for t in texts):
        return None
    lowered = output.lower()
    hits = [letter for letter, t in zip(letters, texts, strict=False) if t in lowered]
    return hits[0] if len(hits) == 1 else None
