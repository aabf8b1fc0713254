"""Reading a multiple-choice answer out of free-form model output, by the rule of a named harness.

`parse_answer(text, letters, rule)` is the one entry point; each rule reproduces the verdict of the harness it is
named after, quirks included, so vtl's numbers line up with the numbers people report from that harness:

- `blink`: BLINK's own scorer (read at zeyofu/BLINK_Benchmark 2d6a779be4aa1ad0d38d7aa539bcb43b6dd81592,
  `eval/test_benchmark.py`, `analyze_answer`), on the raw output with no strip: an output that is exactly one of
  "A".."E" or "(A)".."(E)" is that letter, even beyond the question's options (so " B" and "B\n" are not); else the
  single "(X)" option token (whitespace-separated, X among the options) in the last paragraph, else the single one
  in the whole output. Anything else is unparseable (BLINK then asks GPT to extract an answer; vtl counts it wrong).
- `lmms-eval`: the BLINK task of lmms-eval (read at EvolvingLMMs-Lab/lmms-eval 75571cf,
  `lmms_eval/tasks/blink/utils.py`, `_extract_answer_letter`): after stripping, skip "(" and any Unicode whitespace;
  the next character, if it is a letter A-Z in either case (Python's case-insensitive match, so "ſ" reads as "S"
  and the Kelvin sign as "K"), upper-cased, is the answer. So "The answer is (B)" reads as "T" and "answer: B" as
  "A"; a letter that is no option of the question is simply wrong.
- `vlmevalkit`: VLMEvalKit's `can_infer` without the LLM judge (read at open-compass/VLMEvalKit
  e8e78f05f3080fe28154f2130321f17951c3be94, `vlmeval/utils/matching_util.py`): refusal phrases read as "Z"; with
  punctuation `.()[],:;!*#{}` turned into spaces, a single option letter among the words counts when it is one of
  the last four words; else "answer is X" (X in A-D, any case); else the single option whose text occurs in the (not
  too long) lower-cased output. An API-failure message skips the letter steps but still goes to the option texts.
  VLMEvalKit's exact-matching mode then scores an unread output as "Z"; vtl returns None, equally wrong.

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


_BLINK_BARE = tuple("ABCDE")  # BLINK accepts these exact outputs whatever the question's option count


def _blink(output: str, letters: Sequence[str]) -> str | None:
    if output in _BLINK_BARE:
        return output
    if len(output) == 3 and output[0] == "(" and output[2] == ")" and output[1] in _BLINK_BARE:
        return output[1]
    options = {f"({letter})": letter for letter in letters}
    named_anywhere = {options[token] for token in output.split() if token in options}
    named_last = {options[token] for token in output.split("\n\n")[-1].split() if token in options}
    if len(named_last) == 1:
        return named_last.pop()
    if len(named_anywhere) == 1:
        return named_anywhere.pop()
    return None


def _vsibench(output: str, letters: Sequence[str]) -> str | None:
    token = first_token(output).lower()
    return next((letter for letter in letters if letter.lower() == token), None)


_LMMS_LETTER = re.compile(r"[(\s]*([A-Z])", re.IGNORECASE)


def _lmms_eval(output: str) -> str | None:
    match = _LMMS_LETTER.match(output.strip())
    return match.group(1).upper() if match else None


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
    letter = None if _API_FAILURE in output else _vlmevalkit_letter(output, letters)
    return letter or _vlmevalkit_text(output, letters, choices)


def _vlmevalkit_letter(output: str, letters: Sequence[str]) -> str | None:
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
    return None


def _vlmevalkit_text(output: str, letters: Sequence[str], choices: Sequence[str] | None) -> str | None:
    if not choices:
        return None
    lowered = output.lower()
    if len(lowered) > 2 * sum(len(str(c)) for c in choices):
        return None
    texts = [str(c).lower() for c in choices]
    hits = [letter for letter, t in zip(letters, texts, strict=False) if t in lowered]
    return hits[0] if len(hits) == 1 else None
