"""Gemini image generation through google-genai, behind the `generate(instruction_text, images, k)` interface."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vtl.vicl.generation.base import Candidate, Failure, Generator, check_query

log = logging.getLogger("vtl.vicl")


class GeminiImageGenerator(Generator):
    """Gemini image generation (e.g. "gemini-2.5-flash-image") through google-genai.

    One request per candidate (image models return one image per call); each request is retried on 429/5xx and
    timeouts by `vtl.vicl.clients.gemini.GeminiClient`. The key comes from the environment variable `api_key_env` only.

    Args:
        model: the Gemini image model.
        api_key_env: environment variable holding the API key.
        base_url: another endpoint than Google's (a proxy, or a local stand-in in tests); None: Google's.
        timeout_s: seconds per request.
        max_attempts: calls per request in all, retries on 429/5xx and timeouts included.
        base_delay: first backoff delay in seconds; doubles per retry.
        max_delay: longest backoff delay in seconds.
        temperature: sampling temperature; None: the model's default.
        response_modalities: what the model may return (an image, with or without text).
    """

    concurrent = True

    def __init__(
        self,
        model: str = "gemini-2.5-flash-image",
        *,
        api_key_env: str = "GEMINI_API_KEY",
        base_url: str | None = None,
        timeout_s: float = 60,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        temperature: float | None = None,
        response_modalities: Sequence[str] = ("TEXT", "IMAGE"),
    ):
        from vtl.vicl.clients.gemini import GeminiClient, RetryPolicy

        self.model = model
        self.name = f"gemini:{model}"
        self.gemini = GeminiClient(model, api_key_env=api_key_env, base_url=base_url, timeout_s=timeout_s,
                                   retry=RetryPolicy(max_attempts, base_delay, max_delay))
        self.temperature = temperature
        self.response_modalities = list(response_modalities)
        self.settings = {"temperature": temperature, "response_modalities": self.response_modalities,
                         "timeout_s": timeout_s, "max_attempts": max_attempts, "base_delay": base_delay,
                         "max_delay": max_delay}

    def generate(self, instruction_text: str, images: Sequence[np.ndarray], k: int) -> list[Candidate | Failure]:
        from google.genai import types

        from vtl.vicl.clients.gemini import image_part

        check_query(images, k)
        contents = [types.Part.from_text(text=instruction_text), *(image_part(im) for im in images)]
        config = types.GenerateContentConfig(
            response_modalities=self.response_modalities, temperature=self.temperature
        )
        return [self._one(contents, config, i) for i in range(k)]

    def _one(self, contents, config, index: int) -> Candidate | Failure:
        from vtl.vicl.clients.gemini import block_reason, is_retryable, response_images, response_text

        try:
            response = self.gemini.generate(contents, config, describe=f"{self.name} candidate {index}")
        except Exception as exc:  # noqa: BLE001 - transient errors become failures, others propagate
            if not is_retryable(exc):
                raise
            log.warning("%s candidate %d failed after retries: %s", self.name, index, exc)
            return Failure("error", f"{type(exc).__name__}: {exc}"[:500])
        try:
            found = response_images(response)
        except OSError as exc:  # PIL could not decode the returned bytes
            return Failure("no_image", f"reply image could not be decoded: {exc}"[:300])
        if found:
            return Candidate(np.asarray(found[0].convert("RGB")), {"model": self.model, "attempt_index": index})
        reason = block_reason(response)
        if reason is not None:
            return Failure("blocked", reason)
        text = response_text(response)
        return Failure("no_image", f"reply had no image; text: {text[:200]!r}" if text else "reply had no image")
