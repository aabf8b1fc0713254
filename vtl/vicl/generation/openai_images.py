"""An image generator over the OpenAI images-edit API (`/images/edits`): gpt-image models or any compatible server.

Each candidate is one request (`n=1`), `max_concurrency` in flight. The SDK retries 429/5xx and timeouts
(`max_retries`); what still fails becomes a `Failure` for that candidate: "blocked" when the server's safety system
rejected the request (HTTP 400 naming moderation or safety), "error" otherwise (retried by a rerun of `vtl vicl
infer`). 401/403/404 stop the run (`OpenAIConfigError`). The key comes from the environment variable `api_key_env`.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from vtl.vicl.clients.openai_chat import CONFIG_ERROR_STATUS, OpenAIConfigError, _short, encode_png, read_api_key
from vtl.vicl.generation.base import Candidate, Failure, Generator, check_query, side_by_side

log = logging.getLogger("vtl.vicl")


class OpenAIImageEditGenerator(Generator):
    """Images-edit generator. The three query images go as one list (`multi_image="native"`, gpt-image models take
    up to 16), or composed into one picture (`"side_by_side"`) for servers that take a single image.

    Args:
        model: the image model, e.g. gpt-image-1.
        base_url: the server's /v1 URL; None: api.openai.com.
        api_key_env: environment variable holding the key; None for a local server without a key.
        timeout_s: seconds per request.
        max_retries: the SDK's retries on 429/5xx, timeouts and connection errors.
        max_concurrency: candidate requests in flight for one query.
        size: output size ("1024x1024", "auto", …); None: the server's default.
        quality: "low" | "medium" | "high" | "auto"; None: the server's default.
        multi_image: how the three query images are sent.
    """

    concurrent = True

    def __init__(
        self,
        model: str = "gpt-image-1",
        *,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 300.0,
        max_retries: int = 4,
        max_concurrency: int = 4,
        size: str | None = None,
        quality: str | None = None,
        multi_image: Literal["native", "side_by_side"] = "native",
    ):
        import openai

        self.model = model
        self.name = f"openai-images:{model}"
        self.base_url = base_url
        self.max_concurrency = max(1, max_concurrency)
        self.multi_image = multi_image
        self.settings = {"size": size, "quality": quality, "multi_image": multi_image}
        self._client = openai.OpenAI(api_key=read_api_key(api_key_env, "images-edit"), base_url=base_url,
                                     timeout=timeout_s, max_retries=max_retries)

    def generate(self, instruction_text: str, images: Sequence[np.ndarray], k: int) -> list[Candidate | Failure]:
        check_query(images, k)
        inputs = [side_by_side(images)] if self.multi_image == "side_by_side" else list(images)
        files = [(f"image_{i}.png", encode_png(im), "image/png") for i, im in enumerate(inputs)]
        if k == 1 or self.max_concurrency == 1:
            return [self._one(instruction_text, files, i) for i in range(k)]
        with ThreadPoolExecutor(max_workers=min(k, self.max_concurrency)) as pool:
            return list(pool.map(lambda i: self._one(instruction_text, files, i), range(k)))

    def _one(self, prompt: str, files: list, index: int) -> Candidate | Failure:
        import openai
        from PIL import Image

        options = {k: v for k, v in (("size", self.settings["size"]), ("quality", self.settings["quality"]))
                   if v is not None}
        try:
            response = self._client.images.edit(model=self.model, image=files if len(files) > 1 else files[0],
                                                prompt=prompt, n=1, **options)
        except openai.APIStatusError as exc:
            if exc.status_code in CONFIG_ERROR_STATUS:
                raise OpenAIConfigError(f"{self.base_url or 'api.openai.com'} refused images.edit for model "
                                        f"{self.model!r} (HTTP {exc.status_code}): {_short(exc)}") from None
            text = _short(exc, 300)
            if exc.status_code == 400 and any(w in text.lower() for w in ("moderation", "safety")):
                return Failure("blocked", text)
            return Failure("error", f"HTTP {exc.status_code}: {text}")
        except (openai.APIError, ValueError) as exc:
            return Failure("error", f"{type(exc).__name__}: {_short(exc, 300)}")
        data = getattr(response, "data", None) or []
        if not data or not getattr(data[0], "b64_json", None):
            return Failure("no_image", "reply had no b64_json image")
        try:
            image = Image.open(io.BytesIO(base64.b64decode(data[0].b64_json))).convert("RGB")
        except (OSError, ValueError) as exc:
            return Failure("no_image", f"reply image could not be decoded: {exc}"[:300])
        return Candidate(np.asarray(image), {"generator": self.name, "model": self.model, "settings": self.settings,
                                             "attempt_index": index})
