"""The Gemini image generator against a local fake server: success, image-less, blocked, 429 then OK, persistent 500."""

from __future__ import annotations

import numpy as np
import pytest
from fake_gemini import FakeGemini, blocked_body, error, image_body, reply, text_body

from vtl.components import build
from vtl.vicl.generation.base import Candidate, Failure, Generator
from vtl.vicl.generation.gemini import GeminiImageGenerator
from vtl.vicl.generation.prompts import build_prompt

FAST = {"base_delay": 0.01, "max_delay": 0.02}
QUERY = [np.full((12, 12, 3), v, np.uint8) for v in (10, 200, 60)]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")


def test_success_and_request_shape():
    out_img = np.full((12, 12, 3), 77, np.uint8)
    with FakeGemini([reply(image_body(out_img, text="done")), reply(image_body(out_img))]) as server:
        gen = build({"class_path": "vtl.vicl.generation.gemini.GeminiImageGenerator",
                     "init_args": {"model": "img-model", "base_url": server.base_url, **FAST}}, Generator, "generator")
        results = gen.generate(build_prompt("B is hazy."), QUERY, k=2)
    assert [type(r) for r in results] == [Candidate, Candidate]
    assert np.array_equal(results[0].image, out_img)
    req = server.requests[0]
    assert req.path.endswith("/models/img-model:generateContent")
    parts = req.body["contents"][0]["parts"]
    assert "B is hazy." in parts[0]["text"] and len(parts) == 4  # instruction, then A_in, A_out, B_in
    assert req.body["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]


def test_image_less_and_blocked_replies_are_failures():
    with FakeGemini([reply(text_body("I can't draw that.")), reply(blocked_body("SAFETY"))]) as server:
        gen = GeminiImageGenerator("img-model", base_url=server.base_url, **FAST)
        no_image, blocked = gen.generate(build_prompt(None), QUERY, k=2)
    assert isinstance(no_image, Failure) and no_image.kind == "no_image" and "can't draw" in no_image.detail
    assert isinstance(blocked, Failure) and blocked.kind == "blocked" and "SAFETY" in blocked.detail


def test_429_then_success_is_retried():
    with FakeGemini([error(429), reply(image_body(QUERY[0]))]) as server:
        gen = GeminiImageGenerator("img-model", base_url=server.base_url, **FAST)
        (result,) = gen.generate(build_prompt(None), QUERY, k=1)
    assert isinstance(result, Candidate) and len(server.requests) == 2


def test_persistent_500_becomes_an_error_failure_not_a_crash():
    with FakeGemini([], default=error(500)) as server:
        gen = GeminiImageGenerator("img-model", base_url=server.base_url, max_attempts=3, **FAST)
        results = gen.generate(build_prompt(None), QUERY, k=2)
    assert all(isinstance(r, Failure) and r.kind == "error" for r in results)
    assert len(server.requests) == 6  # 3 attempts per candidate, no SDK retries on top


def test_bad_request_raises():
    from google.genai import errors

    with FakeGemini([error(400, "model not found")]) as server:
        gen = GeminiImageGenerator("img-model", base_url=server.base_url, **FAST)
        with pytest.raises(errors.ClientError):
            gen.generate(build_prompt(None), QUERY, k=1)
