"""Shared google-genai helpers: a client whose key comes only from the environment, and one retry policy.

The SDK's own retry is switched off (`HttpRetryOptions(attempts=1)`), so `with_retries` (tenacity, with our
classification of retryable errors and equal-jitter backoff) is the only retry layer:
a 429 costs `max_attempts` requests at most, never `max_attempts` × the SDK's five. The key is never logged,
stored or put in an error message; errors name the environment variable instead.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from vtl.errors import VtlError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

log = logging.getLogger("vtl.gemini")
T = TypeVar("T")


def _transient_exceptions() -> tuple[type[BaseException], ...]:
    """Timeouts and dropped connections from whichever httpx flavour the SDK uses."""
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        for name in ("TimeoutException", "NetworkError", "RemoteProtocolError"):
            cls = getattr(module, name, None)
            if cls is not None:
                found.append(cls)
    return tuple(found)


RETRY_STATUS_CODES: tuple[int, ...] = (429, 500, 502, 503, 504)
TRANSIENT_EXCEPTIONS = _transient_exceptions()
DEFAULT_RETRY_ON: tuple[int | type[BaseException], ...] = (*RETRY_STATUS_CODES, *TRANSIENT_EXCEPTIONS)


class MissingApiKeyError(VtlError, RuntimeError):
    pass


def make_client(*, api_key_env: str = "GEMINI_API_KEY", base_url: str | None = None, timeout_s: float = 60):
    """A `google.genai.Client` for the Gemini Developer API.

    The key is read from the environment variable `api_key_env` only. `base_url` points the client at another
    endpoint (a proxy, or the local fake server in tests). `timeout_s` bounds each HTTP request.
    """
    from google import genai
    from google.genai import types

    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise MissingApiKeyError(
            f"the Gemini backend needs an API key in the environment variable {api_key_env}: "
            f"`export {api_key_env}=...` (keys are never read from configs or files)"
        )
    http_options = types.HttpOptions(
        base_url=base_url,
        timeout=int(timeout_s * 1000),  # the SDK takes milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),  # retries belong to with_retries alone
    )
    return genai.Client(api_key=key, vertexai=False, http_options=http_options)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of a google-genai APIError (or anything with an integer `code`), else None."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def is_retryable(exc: BaseException, retry_on: tuple[int | type[BaseException], ...] = DEFAULT_RETRY_ON) -> bool:
    codes = {r for r in retry_on if isinstance(r, int)}
    classes = tuple(r for r in retry_on if isinstance(r, type))
    code = status_code(exc)
    if code is not None and code in codes:
        return True
    return bool(classes) and isinstance(exc, classes)


def backoff_delay(attempt: int, *, base_delay: float, max_delay: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (1-based): exponential, capped, with "equal jitter" (half fixed)."""
    ceiling = min(max_delay, base_delay * 2 ** (attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def with_retries(
    call: Callable[[], T],
    *,
    max_attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 30,
    retry_on: tuple[int | type[BaseException], ...] = DEFAULT_RETRY_ON,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    describe: str = "Gemini request",
) -> T:
    """Run `call()`; on a retryable failure (an HTTP status in `retry_on`, or an exception class in it) wait
    `backoff_delay` and try again, up to `max_attempts` calls in all. The last error is re-raised unchanged.
    `sleep` and `rng` are injectable so tests run without waiting. The retry loop is tenacity's."""
    import tenacity

    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")

    def wait(state: tenacity.RetryCallState) -> float:
        return backoff_delay(state.attempt_number, base_delay=base_delay, max_delay=max_delay, rng=rng)

    def warn(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception()
        log.warning("%s failed (%s), attempt %d/%d; retrying in %.1fs", describe,
                    status_code(exc) or type(exc).__name__, state.attempt_number, max_attempts,
                    state.next_action.sleep if state.next_action else 0.0)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_attempts),
        retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, retry_on)),
        wait=wait, sleep=sleep, before_sleep=warn, reraise=True,
    )
    return retrying(call)


@dataclass(frozen=True)
class RetryPolicy:
    """How a Gemini request is retried: 429, 5xx and timeouts, with capped exponential backoff."""

    max_attempts: int = 5  # calls per request in all, retries included
    base_delay: float = 1.0  # first backoff delay in seconds; doubles per retry
    max_delay: float = 30.0  # cap on one backoff delay in seconds
    sleep: Callable[[float], None] = time.sleep  # the wait between attempts (tests pass a no-op)

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def run(self, call: Callable[[], T], describe: str = "Gemini request") -> T:
        return with_retries(call, max_attempts=self.max_attempts, base_delay=self.base_delay,
                            max_delay=self.max_delay, sleep=self.sleep, describe=describe)


class GeminiClient:
    """One Gemini model behind a client (key from the environment only) and one retry policy.

    The teacher, the judge and the image generator each hold one, so their clients and retries cannot drift.
    """

    def __init__(self, model: str, *, retry: RetryPolicy, api_key_env: str = "GEMINI_API_KEY",
                 base_url: str | None = None, timeout_s: float = 60):
        """The client as `make_client` makes it, for `model`, retried by `retry`."""
        self.model = model
        self.retry = retry
        self.client = make_client(api_key_env=api_key_env, base_url=base_url, timeout_s=timeout_s)

    def generate(self, contents: list[Any], config: Any = None, *, describe: str = "Gemini request") -> Any:
        """`generate_content` on this model, retried by the policy; the last error is re-raised unchanged."""
        return self.retry.run(
            lambda: self.client.models.generate_content(model=self.model, contents=contents, config=config), describe
        )


# --- request and response helpers -----------------------------------------------------------------------------


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """PNG encoding of a PIL image or an HxWx3 uint8 array."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def image_part(image: Image.Image | np.ndarray):
    """A `types.Part` carrying the image inline as PNG."""
    from google.genai import types

    return types.Part.from_bytes(data=png_bytes(image), mime_type="image/png")


def _parts(response: Any) -> list[Any]:
    parts: list[Any] = []
    for candidate in getattr(response, "candidates", None) or []:
        content = getattr(candidate, "content", None)
        parts.extend(getattr(content, "parts", None) or [])
    return parts


def response_text(response: Any) -> str:
    """All text parts of the first-listed candidates joined, stripped; "" when the reply has no text."""
    return "".join(p.text for p in _parts(response) if getattr(p, "text", None) and not getattr(p, "thought", False))


def response_images(response: Any) -> list[Image.Image]:
    """Every inline image in the reply, decoded to RGB PIL images."""
    from PIL import Image

    images = []
    for part in _parts(response):
        blob = getattr(part, "inline_data", None)
        if blob is None or not (blob.mime_type or "").startswith("image/") or not blob.data:
            continue
        data = blob.data if isinstance(blob.data, bytes) else base64.b64decode(blob.data)
        images.append(Image.open(io.BytesIO(data)).convert("RGB"))
    return images


def block_reason(response: Any) -> str | None:
    """Why the reply carries nothing usable (prompt blocked, or a candidate finished for safety etc.), or None."""
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        return f"prompt blocked: {feedback.block_reason}"
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        return "no candidates in the reply"
    reason = getattr(candidates[0], "finish_reason", None)
    name = str(getattr(reason, "value", reason)) if reason is not None else None
    if name is not None and name not in ("STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED"):
        return f"finish reason {name}"
    return None
