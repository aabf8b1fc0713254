"""Video questions (VSI-Bench's schema) and the one frame-sampling rule that turns a video into model frames.

Decoding goes through PyAV (FFmpeg bindings with wheels for every platform, able to read an mp4 from a file or a
seekable stream such as a member of a zip archive, and to write the synthetic clips the tests and the demo use).
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vtl.data.sample import LETTERS, answer_letter
from vtl.errors import VtlError
from vtl.tasks import QUESTION_TYPE_FAMILY, get_task


class VideoError(VtlError, ValueError):
    """A video that cannot be read; the message names the file (and row) and what to change."""


@dataclass(frozen=True)
class FrameRule:
    """How a video becomes frames: `num_frames` indices (or `fps` over the clip's duration), picked by `index`.

    `uniform` is numpy's linspace over the decoded frames, rounded down (lmms-eval's and VSI-Bench's rule);
    `max_pixels` is the per-frame budget handed to the video processor, separate from the image budget. The rule's
    `key` is part of the zero-shot cache key and of the run's config.
    """

    num_frames: int = 8
    fps: float | None = None
    index: Literal["uniform", "middle"] = "uniform"
    max_pixels: int | None = None

    def __post_init__(self):
        if self.num_frames < 1:
            raise VtlError(f"--data.frames.num_frames={self.num_frames}: use 1 or more frames")
        if self.fps is not None and self.fps <= 0:
            raise VtlError(f"--data.frames.fps={self.fps}: use a positive rate or leave it unset")

    @property
    def key(self) -> str:
        rate = f"fps{self.fps:g}" if self.fps else f"n{self.num_frames}"
        return f"{rate}-{self.index}-px{self.max_pixels or 'default'}"

    def indices(self, n_decoded: int, duration_s: float | None = None) -> list[int]:
        """Frame indices into `n_decoded` frames; with `fps`, as many as the duration gives (at most num_frames)."""
        n = self.num_frames
        if self.fps and duration_s:
            n = max(1, min(n, math.floor(duration_s * self.fps)))
        n = min(n, n_decoded)
        if self.index == "middle":  # the centre of n equal segments
            return [int((i + 0.5) * n_decoded / n) for i in range(n)]
        return [int(i) for i in np.linspace(0, n_decoded - 1, n)]


@dataclass
class VideoSample:
    """One VSI-Bench question. `answer` is "(A)"… for multiple choice, the number as text for numerical questions.

    `video` is a path or `zip-path::member`; frames are decoded on demand by `frames(rule)`.
    """

    idx: str
    task: str  # the family (object_counting, …)
    question_type: str
    question: str
    options: list[str]
    answer: str
    video: str
    origin: str = ""
    prompt: str = ""  # the question as posed (with options), set by the loader's prompt preset
    rule: FrameRule = field(default_factory=FrameRule)  # how `frames()` samples the clip
    number_rule: str = "lmms-eval"  # how a numerical answer is parsed (vtl.models.numeric.NUMBER_RULES)
    images: list = field(default_factory=list, repr=False)  # no still images; keeps the sample shape of BlinkSample

    @property
    def sub_task(self) -> str:  # the name scoring reports the task under, as for BLINK rows
        return self.task

    @property
    def numerical(self) -> bool:
        return get_task(self.task).numerical

    @property
    def choices(self) -> list[str]:
        return self.options

    @property
    def letters(self) -> list[str]:
        return list(LETTERS[: len(self.options)])

    @property
    def answer_letter(self) -> str | None:
        return answer_letter(self.answer)

    @property
    def answer_value(self) -> float | None:
        try:
            return float(self.answer)
        except ValueError:
            return None

    def frames(self, rule: FrameRule | None = None) -> list[np.ndarray]:
        return decode_frames(self.video, rule or self.rule, where=self.origin or self.idx)[0]

    def frames_and_fps(self) -> tuple[list[np.ndarray], float | None]:
        """The sampled frames and their rate (frames per second of video time, for the model's temporal positions)."""
        return decode_frames(self.video, self.rule, where=self.origin or self.idx)


def family_of(question_type: str) -> str:
    try:
        return QUESTION_TYPE_FAMILY[question_type]
    except KeyError:
        valid = ", ".join(sorted(QUESTION_TYPE_FAMILY))
        raise VtlError(f"unknown VSI-Bench question_type {question_type!r}; valid: {valid}") from None


def _open(video: str):
    import av

    if "::" in video:  # a member of a zip archive, read in place
        archive, member = video.split("::", 1)
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(member)
        return av.open(io.BytesIO(data))
    return av.open(video)


def decode_frames(video: str, rule: FrameRule, *, where: str = "") -> tuple[list[np.ndarray], float | None]:
    """RGB frames `[h, w, 3]` uint8 picked from `video` by `rule`, and their sampling rate in frames per second of
    video (None when the container gives no duration); a missing or undecodable file is a VideoError."""
    import av

    label = f"{where}: " if where else ""
    path = video.split("::", 1)[0]
    if not Path(path).is_file():
        raise VideoError(f"{label}video {video!r} does not exist; check the videos root (--data.videos_root)")
    try:
        with _open(video) as container:
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            duration = float(stream.duration * stream.time_base) if stream.duration else None
    except (av.FFmpegError, IndexError, KeyError, zipfile.BadZipFile) as exc:
        raise VideoError(f"{label}video {video!r} cannot be decoded ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise VideoError(f"{label}video {video!r} has no frames")
    picked = rule.indices(len(frames), duration)
    fps = len(picked) / duration if duration else None
    return [frames[i] for i in picked], fps


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: int = 4) -> Path:
    """Write RGB frames as an mp4 (H.264 when available, else MPEG-4 part 2); used for synthetic clips and tests."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream("libx264", rate=fps)
            stream.options = {"crf": "10", "preset": "ultrafast"}
        except (av.FFmpegError, ValueError):
            stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
