"""Seedream through fal-client, tested at fal-client's transport layer.

fal-client builds https URLs from fixed hosts (fal.run), so it cannot be pointed at a plain-HTTP local server; the
tests swap the transport inside its own `BackupDomainTransport` for an `httpx.MockTransport`, so every layer of
fal-client above the socket (URL, headers, its retries, error mapping) runs for real.
"""

from __future__ import annotations

import base64
import io
import json
import logging

import httpx
import numpy as np
import pytest

from vtl.vicl.clients.openai_chat import OpenAIConfigError
from vtl.vicl.generation.base import Candidate, Failure
from vtl.vicl.generation.seedream import SeedreamGenerator

KEY = "fal-test-SECRET-key-42"


def png_data_url(value: int = 7) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def ok(seed: int = 1) -> httpx.Response:
    return httpx.Response(200, json={"images": [{"url": png_data_url(), "content_type": "image/png"}],
                                     "seed": seed})


class FalStub:
    def __init__(self, monkeypatch):
        import fal_client.client as fc

        self.replies: list = []
        self.requests: list[httpx.Request] = []
        real = fc.BackupDomainTransport
        monkeypatch.setattr(fc, "BackupDomainTransport", lambda: real(transport=httpx.MockTransport(self.handle)))
        monkeypatch.setattr(fc, "MAX_ATTEMPTS", 2)  # fal-client's own retry count, so a timeout test is quick

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else ok()
        if isinstance(reply, Exception):
            raise reply
        return reply


@pytest.fixture
def fal(monkeypatch):
    monkeypatch.setenv("FAL_KEY", KEY)
    return FalStub(monkeypatch)


def generator(**options):
    return SeedreamGenerator(**{"base_delay": 0.01, "max_delay": 0.02, "max_attempts": 3, **options})


IMAGES = [np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30)]


def test_request_shape_and_result(fal):
    out = generator(seed=5, image_size="square_hd").generate("do task B", IMAGES, 2)
    assert all(isinstance(c, Candidate) for c in out)
    request = fal.requests[0]
    assert str(request.url) == "https://fal.run/fal-ai/bytedance/seedream/v4/edit"
    assert request.headers["authorization"] == f"Key {KEY}"
    body = json.loads(request.content)
    assert body["prompt"] == "do task B" and len(body["image_urls"]) == 3 and body["num_images"] == 1
    assert body["image_urls"][0].startswith("data:image/png;base64,") and body["image_size"] == "square_hd"
    assert sorted(json.loads(r.content)["seed"] for r in fal.requests) == [5, 6]
    info = out[0].info
    assert info["generator"].startswith("seedream:") and info["settings"]["seed"] == 5 and info["model"]


def test_5xx_retried_by_tenacity_429_by_fal_client(fal):
    fal.replies = [httpx.Response(500, json={"detail": "boom"}), httpx.Response(429, json={"detail": "slow"})]
    out = generator(max_concurrency=1).generate("p", IMAGES, 1)
    assert isinstance(out[0], Candidate) and len(fal.requests) == 3


def test_persistent_503_and_timeouts_are_failures(fal):
    fal.replies = [httpx.Response(503, json={"detail": "down"})] * 3
    out = generator(max_concurrency=1).generate("p", IMAGES, 1)
    assert isinstance(out[0], Failure) and out[0].kind == "error" and "503" in out[0].detail
    fal.replies = [httpx.ReadTimeout("slow")] * 6
    out = generator(max_concurrency=1).generate("p", IMAGES, 1)
    assert isinstance(out[0], Failure) and out[0].kind == "error"


@pytest.mark.parametrize("reply", [
    httpx.Response(422, json={"detail": "content policy violation", "error_type": "content_policy_violation"}),
    httpx.Response(200, json={"images": [{"url": png_data_url()}], "has_nsfw_concepts": [True]}),
])
def test_refusals_are_blocked_failures(fal, reply):
    fal.replies = [reply]
    out = generator().generate("p", IMAGES, 1)
    assert isinstance(out[0], Failure) and out[0].kind == "blocked"


def test_no_image_and_bad_key(fal):
    fal.replies = [httpx.Response(200, json={"images": []})]
    assert generator().generate("p", IMAGES, 1)[0].kind == "no_image"
    fal.replies = [httpx.Response(401, json={"detail": "bad key"})]
    with pytest.raises(OpenAIConfigError, match="401"):
        generator().generate("p", IMAGES, 1)


def test_key_never_in_results_or_logs(fal, caplog):
    caplog.set_level(logging.DEBUG)
    fal.replies = [httpx.Response(503, json={"detail": "down"})] * 3
    out = generator(max_concurrency=1).generate("p", IMAGES, 2)
    dumped = repr([(c.info if isinstance(c, Candidate) else c) for c in out]) + caplog.text
    assert KEY not in dumped and KEY not in repr(generator())
