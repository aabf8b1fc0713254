"""The one sample type of vtl: a BLINK row with decoded images."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

LETTERS = "ABCDEFGH"


def answer_letter(answer: str) -> str | None:
    """"A" for BLINK's "(A)"; None for anything else ("hidden" on the test split, a number)."""
    a = answer.strip()
    return a[1] if len(a) == 3 and a[0] == "(" and a[2] == ")" else None


@dataclass
class BlinkSample:
    """One multiple-choice question in BLINK's schema (hub dataset `BLINK-Benchmark/BLINK`).

    `answer` is BLINK's "(A)" form ("hidden" on the test split); `images` holds image_1..image_4 without the Nones.
    `origin` names the file (or hub id) the row came from, for error messages; `image_sha256` identifies the images
    for the train/eval overlap check and the evaluation-data fingerprint (vtl.data.sources).
    """

    idx: str
    sub_task: str
    question: str
    prompt: str
    choices: list[str]
    answer: str
    images: list[Image.Image] = field(repr=False)
    explanation: str = ""
    origin: str = ""
    image_sha256: tuple[str, ...] = ()  # sha256 of each image's stored bytes, when the row held bytes or a path

    @property
    def letters(self) -> list[str]:
        return list(LETTERS[: len(self.choices)])

    @property
    def answer_letter(self) -> str | None:
        """"A" for "(A)"; None when hidden."""
        return answer_letter(self.answer)

    @property
    def answer_index(self) -> int | None:
        letter = self.answer_letter
        return None if letter is None else LETTERS.index(letter)
