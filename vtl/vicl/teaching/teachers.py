"""Teacher backends behind one interface: `describe(tuples) -> list[str | TeacherFailure]`, in order.

- `AnalyticTeacher`: offline, measures the changes with numpy/scikit-image (vtl.vicl.teaching.analytic).
- `QwenTeacher`: a local Qwen2.5-VL through transformers (e.g. Qwen/Qwen2.5-VL-32B-Instruct in 4-bit, greedy);
  the tiny offline model runs the same code path in tests.
- `GeminiTeacher`: Gemini via google-genai (`GeminiClient`: key from the environment, optional base_url, retries).
- `OpenAITeacher`: any OpenAI-compatible server (vLLM, SGLang, a hosted API) through `OpenAIChat`.

A failure for one tuple (a blocked or empty reply, retries exhausted) comes back as a `TeacherFailure` so the
corpus builder can skip it and a rerun can try it again; it never aborts the run.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vtl.models.loading import QuantizationOptions
from vtl.vicl.clients.openai_chat import ChatFailure, OpenAIChat
from vtl.vicl.teaching.prompts import PROMPT_VERSION, TEACHER_PROMPT, clean_description

if TYPE_CHECKING:
    from vtl.vicl.lowlevel.pairs import VICLTuple

log = logging.getLogger("vtl.vicl")

NF4 = QuantizationOptions()  # the paper's teacher: 4-bit NF4, vision tower in full precision


@dataclass(frozen=True)
class TeacherFailure:
    reason: str


class Teacher:
    """Base of the teacher backends (a class_path in YAML); each has a typed __init__."""

    name: str = "teacher"  # backend: "analytic" | "qwen" | "gemini"
    model: str = ""  # what produced the text (model id, or "analytic-v1")
    prompt: str = TEACHER_PROMPT  # what a VLM teacher is asked: vtl's, or the user's text (`_set_prompt`)
    prompt_version: str = PROMPT_VERSION
    prompt_sha: str | None = None
    batch_size: int = 1

    def _set_prompt(self, prompt: str | None) -> None:
        """Use `prompt` (a file or inline text; None: vtl's TEACHER_PROMPT), with its version and hash."""
        from vtl.vicl.teaching.prompt_source import PromptSource

        source = PromptSource.resolve(prompt, TEACHER_PROMPT, PROMPT_VERSION, "teacher prompt")
        self.prompt, self.prompt_version, self.prompt_sha = source.text, source.version, source.sha

    def describe(self, tuples: list[VICLTuple]) -> list[str | TeacherFailure]:
        raise NotImplementedError


class AnalyticTeacher(Teacher):
    """Measures input -> output changes of A and B and writes the three sentences; wording seeded per tuple id."""

    name = "analytic"
    model = "analytic-v1"
    prompt_version = "analytic-v1"

    def __init__(self, seed: int = 0, batch_size: int = 8):
        self.seed = seed
        self.batch_size = batch_size

    def describe(self, tuples):
        from vtl.vicl.lowlevel.images import stable_seed
        from vtl.vicl.teaching.analytic import describe_tuple_images

        out: list[str | TeacherFailure] = []
        for t in tuples:
            images = t.load()
            out.append(describe_tuple_images(images["a_in"], images["a_out"], images["b_in"], images["b_out"],
                                             seed=stable_seed("analytic", self.seed, t.id)))
        return out


def generate_texts(model, processor, examples, *, max_new_tokens: int, do_sample: bool = False,
                   sampling: dict | None = None) -> list[str]:
    """Greedy (default) generation for ChatExamples, left-padded; returns the decoded new tokens per example.

    `sampling` adds generate() options, e.g. {"do_sample": True, "temperature": 0.1, "top_p": 0.001,
    "repetition_penalty": 1.05} (see `vtl.vicl.distill.describe.Decoding`).
    """
    import torch

    from vtl.models.chat import ChatCollator

    batch = ChatCollator(processor, train=False, padding_side="left")(examples)
    device = next(model.parameters()).device
    batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    tokenizer = processor.tokenizer
    with torch.no_grad():
        generated = model.generate(
            **batch, max_new_tokens=max_new_tokens, **({"do_sample": do_sample} | (sampling or {})),
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        )
    new_tokens = generated[:, batch["input_ids"].shape[1]:]  # [b, new]
    return tokenizer.batch_decode(new_tokens, skip_special_tokens=True)


class QwenTeacher(Teacher):
    """A local Qwen2.5-VL teacher: sees [A_in, A_out, B_in, B_out] and the teacher prompt, answers greedily."""

    name = "qwen"

    def __init__(
        self,
        model: str = "Qwen/Qwen2.5-VL-32B-Instruct",
        *,
        quantization: QuantizationOptions | None = NF4,
        dtype: str = "bfloat16",
        max_new_tokens: int = 200,
        batch_size: int = 4,
        min_pixels: int | None = None,
        max_pixels: int | None = 512 * 28 * 28,
        device_map: str | None = "auto",
        prompt: str | None = None,
    ):
        """`prompt`: the teacher prompt as a file or inline text (None: vtl's); its hash goes into prompt_version."""
        from vtl.models.loading import load_model

        self._set_prompt(prompt)
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self._model, self._processor = load_model(
            model, quantization=quantization, dtype=None if quantization else dtype, min_pixels=min_pixels,
            max_pixels=max_pixels, device_map=device_map,
        )

    def describe(self, tuples):
        from vtl.models.chat import ChatExample

        examples = [ChatExample(images=t.teacher_images(), prompt=self.prompt) for t in tuples]
        texts = generate_texts(self._model, self._processor, examples, max_new_tokens=self.max_new_tokens)
        return [clean_description(text) or TeacherFailure("empty generation") for text in texts]


class GeminiTeacher(Teacher):
    """Gemini (model configurable) with the four images inline; requests run `concurrency` at a time."""

    name = "gemini"

    def __init__(
        self,
        model: str = "gemini-2.5-flash",
        *,
        api_key_env: str = "GEMINI_API_KEY",
        base_url: str | None = None,
        timeout_s: float = 60,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        concurrency: int = 4,
        temperature: float = 0.0,
        sleep=None,
        prompt: str | None = None,
    ):
        """`prompt`: the teacher prompt as a file or inline text (None: vtl's); its hash goes into prompt_version."""
        from vtl.vicl.clients.gemini import GeminiClient, RetryPolicy

        self._set_prompt(prompt)
        self.model = model
        self.batch_size = max(1, concurrency)
        self.concurrency = max(1, concurrency)
        self.temperature = temperature
        self._gemini = GeminiClient(model, api_key_env=api_key_env, base_url=base_url, timeout_s=timeout_s,
                                    retry=RetryPolicy(max_attempts, base_delay, max_delay, sleep=sleep or time.sleep))

    def _contents(self, t: VICLTuple) -> list:
        from vtl.vicl.clients.gemini import image_part

        names = ("Image 1 (input of example A):", "Image 2 (output of example A):",
                 "Image 3 (input of example B):", "Image 4 (output of example B):")
        contents: list = []
        for name, image in zip(names, t.teacher_images(), strict=True):
            contents += [name, image_part(image)]
        contents.append(self.prompt)
        return contents

    def _one(self, t: VICLTuple) -> str | TeacherFailure:
        from google.genai import types

        from vtl.vicl.clients.gemini import block_reason, is_retryable, response_text, status_code

        config = types.GenerateContentConfig(temperature=self.temperature)
        try:
            response = self._gemini.generate(self._contents(t), config, describe=f"teacher call for {t.id}")
        except Exception as exc:  # noqa: BLE001 - transient: recorded per tuple, a rerun retries it
            if not is_retryable(exc) and status_code(exc) is not None:
                # a refused request (bad key, model name, request) fails the same way for every tuple: stop now
                raise ValueError(f"Gemini refused the teacher request for {t.id} (HTTP {status_code(exc)}): "
                                 f"{str(exc)[:200]}; check --model and the key in --api-key-env") from None
            return TeacherFailure(f"{type(exc).__name__}: {str(exc)[:200]}")
        text = clean_description(response_text(response))
        if not text:
            return TeacherFailure(block_reason(response) or "reply had no text")
        return text

    def describe(self, tuples):
        if self.concurrency == 1 or len(tuples) == 1:
            return [self._one(t) for t in tuples]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._one, tuples))


class OpenAITeacher(OpenAIChat, Teacher):
    """The teacher for `vtl vicl corpus` (e.g. Qwen2.5-VL-32B-Instruct under `vllm serve`): sees A_in, A_out, B_in,
    B_out as the files' own bytes, greedy by default. Takes OpenAIChat's arguments, and `prompt`: the teacher prompt
    as a file or inline text (None: vtl's); its hash goes into prompt_version."""

    name = "openai"

    def __init__(self, model: str, *, prompt: str | None = None, **chat):
        super().__init__(model, **chat)
        self._set_prompt(prompt)

    @property
    def batch_size(self) -> int:
        # tuples handed over per call; several per slot so one slow answer does not idle the others for long
        return 4 * self.max_concurrency

    def describe(self, tuples: list[VICLTuple]) -> list[str | TeacherFailure]:
        answers = self.complete_many([(self.prompt, [t.path(k) for k in ("a_in", "a_out", "b_in", "b_out")])
                                      for t in tuples])
        return [chat_description(a) for a in answers]


def chat_description(answer: str | ChatFailure) -> str | TeacherFailure:
    """An OpenAI-compatible answer as a description: cleaned, or a TeacherFailure saying why not."""
    if isinstance(answer, ChatFailure):
        return TeacherFailure(str(answer))
    return clean_description(answer) or TeacherFailure("empty: reply had no sentences")
