"""The fal client (fal-client), shared by the backends that call fal: the key from the environment only, and one
retry policy on top of fal-client's own.

fal-client itself retries 408/409/429, dropped connections and timeouts (its own fixed policy); `FalClient.run`
adds tenacity retries, with exponential backoff and jitter, for the 5xx answers fal-client passes through. What
still fails is raised for the caller to turn into its own failure record.
"""

from __future__ import annotations

import os
from typing import Any

from vtl.vicl.clients.gemini import MissingApiKeyError

RETRY_STATUS = (500, 502, 503, 504)


def is_transient(exc: BaseException) -> bool:
    """An error worth another attempt: a 5xx or 429 answer, a timeout or a transport error."""
    import fal_client
    import httpx

    if isinstance(exc, fal_client.FalClientHTTPError):
        return exc.status_code in RETRY_STATUS or exc.status_code == 429
    return isinstance(exc, (httpx.TimeoutException, httpx.TransportError, TimeoutError))


class FalClient:
    """A fal `SyncClient` whose key comes from the environment variable `api_key_env`, with tenacity retries."""

    def __init__(self, backend: str, *, api_key_env: str = "FAL_KEY", timeout_s: float = 120,
                 max_attempts: int = 4, base_delay: float = 1.0, max_delay: float = 30.0):
        import fal_client

        key = os.environ.get(api_key_env, "").strip()
        if not key:
            raise MissingApiKeyError(f"the {backend} backend needs a fal key in the environment variable "
                                     f"{api_key_env}: `export {api_key_env}=...`")
        self.timeout_s = timeout_s
        self.retry = {"max_attempts": max_attempts, "base_delay": base_delay, "max_delay": max_delay}
        self._client = fal_client.SyncClient(key=key, default_timeout=timeout_s)

    def run(self, model: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The endpoint's result; a non-transient error, or one that outlived the retries, is raised."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        retrying = Retrying(
            stop=stop_after_attempt(self.retry["max_attempts"]),
            wait=wait_exponential_jitter(initial=self.retry["base_delay"], max=self.retry["max_delay"]),
            retry=retry_if_exception(is_transient), reraise=True,
        )
        return retrying(self._client.run, model, arguments, timeout=self.timeout_s)
