"""Seedream 4.0 (ByteDance) through fal: an image generator behind the `generate(instruction_text, images, k)`
interface.

The three query images go inline as data URLs in `image_urls` (Seedream's edit endpoint takes several reference
images, so no fallback is needed); each candidate is one request, `max_concurrency` in flight, seeds `seed + i`
when a seed is set. Retries: fal-client itself retries 408/409/429, dropped connections and timeouts (its own
fixed policy); tenacity retries the 5xx answers fal-client passes through (both in vtl.vicl.clients.fal).
What still fails becomes a `Failure` ("blocked" for a content-policy refusal or an NSFW flag, "error" otherwise);
401/403/404 stop the run. The key comes from the environment variable `api_key_env` (FAL_KEY) only.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from vtl.vicl.clients.fal import FalClient, is_transient
from vtl.vicl.clients.openai_chat import CONFIG_ERROR_STATUS, OpenAIConfigError, data_url
from vtl.vicl.generation.base import Candidate, Failure, Generator, check_query

log = logging.getLogger("vtl.vicl")


class SeedreamGenerator(Generator):
    """Seedream 4.0 edit on fal.

    Args:
        model: the fal endpoint.
        api_key_env: environment variable holding the fal key.
        timeout_s: client-side seconds per request.
        max_attempts: tenacity's attempts per candidate on 5xx (fal-client's own retries come on top for 429 and
            timeouts).
        base_delay: first backoff in seconds; doubles per attempt, with jitter.
        max_delay: backoff ceiling in seconds.
        max_concurrency: candidate requests in flight for one query.
        image_size: a fal size preset ("square_hd", "auto_2K", …) or None for the endpoint's default.
        seed: base seed; candidate i uses seed + i. None: the server picks.
        enable_safety_checker: fal's NSFW checker (a flagged image is a "blocked" failure).
    """

    concurrent = True

    def __init__(
        self,
        model: str = "fal-ai/bytedance/seedream/v4/edit",
        *,
        api_key_env: str = "FAL_KEY",
        timeout_s: float = 300.0,
        max_attempts: int = 4,
        base_delay: float = 2.0,
        max_delay: float = 30.0,
        max_concurrency: int = 4,
        image_size: str | None = None,
        seed: int | None = None,
        enable_safety_checker: bool = True,
    ):
        self.fal = FalClient("Seedream", api_key_env=api_key_env, timeout_s=timeout_s, max_attempts=max_attempts,
                             base_delay=base_delay, max_delay=max_delay)
        self.model = model
        self.name = f"seedream:{model}"
        self.timeout_s = timeout_s
        self.max_concurrency = max(1, max_concurrency)
        self.settings = {"image_size": image_size, "seed": seed, "enable_safety_checker": enable_safety_checker}

    def generate(self, instruction_text: str, images: Sequence[np.ndarray], k: int) -> list[Candidate | Failure]:
        check_query(images, k)
        urls = [data_url(im) for im in images]
        if k == 1 or self.max_concurrency == 1:
            return [self._one(instruction_text, urls, i) for i in range(k)]
        with ThreadPoolExecutor(max_workers=min(k, self.max_concurrency)) as pool:
            return list(pool.map(lambda i: self._one(instruction_text, urls, i), range(k)))

    def arguments(self, prompt: str, urls: list[str], index: int) -> dict[str, Any]:
        args: dict[str, Any] = {"prompt": prompt, "image_urls": urls, "num_images": 1, "sync_mode": True,
                                "enable_safety_checker": self.settings["enable_safety_checker"]}
        if self.settings["image_size"] is not None:
            args["image_size"] = self.settings["image_size"]
        if self.settings["seed"] is not None:
            args["seed"] = self.settings["seed"] + index
        return args

    def _one(self, prompt: str, urls: list[str], index: int) -> Candidate | Failure:
        import fal_client

        try:
            result = self.fal.run(self.model, self.arguments(prompt, urls, index))
        except fal_client.FalClientHTTPError as exc:
            if exc.status_code in CONFIG_ERROR_STATUS:
                raise OpenAIConfigError(f"fal refused {self.model} (HTTP {exc.status_code}): {str(exc)[:200]}; "
                                        f"check the model and the key") from None
            if exc.error_type == "content_policy_violation" or "content policy" in str(exc).lower():
                return Failure("blocked", str(exc)[:300])
            return Failure("error", f"HTTP {exc.status_code}: {str(exc)[:300]}")
        except Exception as exc:  # noqa: BLE001 - timeouts and transport errors after the retries
            if not is_transient(exc):
                raise
            return Failure("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        return self._candidate(result, index)

    def _candidate(self, result: dict[str, Any], index: int) -> Candidate | Failure:
        import httpx
        from PIL import Image

        if any(result.get("has_nsfw_concepts") or []):
            return Failure("blocked", "fal's safety checker flagged the image")
        found = result.get("images") or []
        if not found or not found[0].get("url"):
            return Failure("no_image", "reply had no image")
        try:
            image = Image.open(io.BytesIO(self._fetch(found[0]["url"]))).convert("RGB")
        except (OSError, ValueError, httpx.HTTPError) as exc:
            return Failure("no_image", f"reply image could not be read: {exc}"[:300])
        info = {"generator": self.name, "model": self.model, "settings": self.settings, "attempt_index": index,
                "seed": result.get("seed")}
        return Candidate(np.asarray(image), info)

    def _fetch(self, url: str) -> bytes:
        if url.startswith("data:"):
            return base64.b64decode(url.split(",", 1)[1])
        import httpx

        response = httpx.get(url, timeout=self.timeout_s, follow_redirects=True)
        response.raise_for_status()
        return response.content
