"""One OpenAI-compatible chat client (vLLM, SGLang, or a hosted API), shared by its three roles (the teacher in
teaching.teachers, the describer in distill.describe, the judge in scoring.judge).

`OpenAIChat` sends a text prompt plus images (data URLs of the images' own bytes) to `/chat/completions` through the
`openai` package. The SDK retries 408/409/429/5xx, timeouts and dropped connections itself (`max_retries`, exponential
backoff with jitter, `Retry-After` honoured); that is the only retry layer. At most `max_concurrency` requests are in
flight per client, however many threads call it. What comes back is the answer text or a `ChatFailure` (refused,
empty, or an error that outlived the retries), never an exception, except for a refused configuration (401, 403,
404: a wrong key, model name or URL fails the same way for every item), which raises `OpenAIConfigError`.

The key is read from the environment variable `api_key_env` only, and never logged or stored; `api_key_env=None`
talks to a server started without `--api-key` (vLLM and SGLang accept any key then).
"""

from __future__ import annotations

import base64
import io
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vtl.errors import VtlError
from vtl.vicl.clients.gemini import MissingApiKeyError

if TYPE_CHECKING:
    from typing import TypeAlias

    from PIL import Image


    ImageInput: TypeAlias = Path | str | bytes | np.ndarray | Image.Image

log = logging.getLogger("vtl.vicl")
FailureKind = Literal["refused", "empty", "error"]
CONFIG_ERROR_STATUS = (401, 403, 404)
NO_KEY = "EMPTY"  # what vLLM's docs send when the server has no --api-key


class OpenAIConfigError(VtlError, RuntimeError):
    pass


class OpenAIUnavailable(ConnectionError):
    """The server gave no usable answer within the SDK's retries (VIEScore counts it as a judge failure)."""


@dataclass(frozen=True)
class ChatFailure:
    kind: FailureKind
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


def read_api_key(api_key_env: str | None, backend: str) -> str:
    """The key from the environment variable `api_key_env` (None: no key needed)."""
    if api_key_env is None:
        return NO_KEY
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise MissingApiKeyError(
            f"the {backend} backend needs an API key in the environment variable {api_key_env}: "
            f"`export {api_key_env}=...`, or set api_key_env to null for a local server started without --api-key"
        )
    return key


def encode_png(image: np.ndarray | Image.Image) -> bytes:
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def image_bytes(image: ImageInput) -> tuple[bytes, str]:
    """(bytes, MIME type): files and byte strings as they are, arrays and PIL images encoded as PNG."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
    elif isinstance(image, bytes):
        data = image
    else:
        return encode_png(image), "image/png"
    with Image.open(io.BytesIO(data)) as opened:
        mime = Image.MIME.get(opened.format or "", "image/png")
    return data, mime


def data_url(image: ImageInput) -> str:
    data, mime = image_bytes(image)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class OpenAIChat:
    """Chat completions against an OpenAI-compatible server; the base of the teacher, judge and describer roles.

    Args:
        model: the served model name (`vllm serve … --served-model-name`, or a LoRA module name).
        base_url: the server's `/v1` URL, e.g. http://localhost:8000/v1; None: api.openai.com.
        api_key_env: environment variable holding the key; None for a local server without a key.
        timeout_s: seconds per HTTP request.
        max_retries: the SDK's retries on 408/409/429/5xx, timeouts and connection errors.
        max_concurrency: requests in flight at once through this client.
        temperature: sampling temperature (0: greedy).
        top_p: nucleus sampling mass; None: the server's default.
        max_tokens: answer length bound; None: the server's default.
        seed: per-request sampling seed (vLLM and SGLang honour it); None: none sent.
    """

    backend = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        max_retries: int = 4,
        max_concurrency: int = 8,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int | None = 256,
        seed: int | None = None,
    ):
        import openai

        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.base_url = base_url
        self.max_concurrency = max_concurrency
        self.sampling = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "seed": seed}
        self._client = openai.OpenAI(api_key=read_api_key(api_key_env, "OpenAI-compatible"), base_url=base_url,
                                     timeout=timeout_s, max_retries=max_retries)
        self._slots = threading.BoundedSemaphore(max_concurrency)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def messages(self, prompt: str, images: Sequence[ImageInput]) -> list:
        """One user message: the images as data URLs, then the prompt (the layout vtl's chat collator trains and
        the local backends generate with, so a served model sees what it would see in-process)."""
        content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_url(im)}} for im in images]
        content.append({"type": "text", "text": prompt})
        return [{"role": "user", "content": content}]

    def complete(self, prompt: str, images: Sequence[ImageInput] = (), **sampling: Any) -> str | ChatFailure:
        """The answer text, or a ChatFailure; raises OpenAIConfigError on 401/403/404."""
        import openai

        options = {k: v for k, v in {**self.sampling, **sampling}.items() if v is not None}
        messages = self.messages(prompt, images)
        try:
            with self._slots:
                response = self._client.chat.completions.create(model=self.model, messages=messages, **options)
        except openai.APIStatusError as exc:
            if exc.status_code in CONFIG_ERROR_STATUS:
                raise OpenAIConfigError(
                    f"{self.base_url or 'api.openai.com'} refused the request for model {self.model!r} "
                    f"(HTTP {exc.status_code}): {_short(exc)}; check base_url, model and the key's variable"
                ) from None
            return ChatFailure("error", f"HTTP {exc.status_code}: {_short(exc)}")
        except openai.APIError as exc:  # timeouts, connection errors, replies of the wrong shape
            return ChatFailure("error", f"{type(exc).__name__}: {_short(exc)}")
        except ValueError as exc:  # a body that is not JSON
            return ChatFailure("error", f"malformed reply ({type(exc).__name__}: {_short(exc)})")
        return _answer(response)

    def complete_many(self, requests: Sequence[tuple[str, Sequence[ImageInput]]]) -> list[str | ChatFailure]:
        """`complete` for each (prompt, images), `max_concurrency` at a time; results in request order."""
        if len(requests) <= 1 or self.max_concurrency == 1:
            return [self.complete(p, ims) for p, ims in requests]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests))) as pool:
            return list(pool.map(lambda r: self.complete(*r), requests))


def _short(exc: BaseException, limit: int = 200) -> str:
    return str(getattr(exc, "message", None) or exc).replace("\n", " ")[:limit]


def _answer(response: Any) -> str | ChatFailure:
    choices = getattr(response, "choices", None)
    if not choices:
        return ChatFailure("empty", "reply had no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    refusal = getattr(message, "refusal", None)
    if refusal:
        return ChatFailure("refused", str(refusal)[:200])
    if getattr(choice, "finish_reason", None) == "content_filter":
        return ChatFailure("refused", "finish_reason content_filter")
    text = (getattr(message, "content", None) or "").strip()
    if not text:
        return ChatFailure("empty", f"reply had no text (finish_reason {getattr(choice, 'finish_reason', None)})")
    return text
