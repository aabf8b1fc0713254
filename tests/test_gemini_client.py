"""vtl.vicl.clients.gemini against the local fake Gemini server: key handling, retries on 429/500, no SDK double
retry."""

from __future__ import annotations

import random

import numpy as np
import pytest
from fake_gemini import FakeGemini, blocked_body, error, fake_gemini_server, image_body, reply, text_body  # noqa: F401

from vtl.vicl.clients.gemini import (
    MissingApiKeyError,
    backoff_delay,
    block_reason,
    image_part,
    make_client,
    response_images,
    response_text,
    with_retries,
)

KEY = "test-key-not-a-secret"


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    return KEY


def _generate(client, text="hello"):
    return client.models.generate_content(model="gemini-test", contents=[text])


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("MY_GEMINI_KEY", raising=False)
    with pytest.raises(MissingApiKeyError, match="MY_GEMINI_KEY"):
        make_client(api_key_env="MY_GEMINI_KEY")


def test_request_and_text_reply(api_key):
    with FakeGemini([reply(text_body("three sentences."))], expected_api_key=KEY) as server:
        client = make_client(base_url=server.base_url, timeout_s=10)
        img = np.zeros((8, 8, 3), np.uint8)
        response = client.models.generate_content(model="gemini-test", contents=["describe", image_part(img)])
    assert response_text(response) == "three sentences."
    (req,) = server.requests
    assert req.path.endswith("/models/gemini-test:generateContent")
    assert req.had_api_key and req.api_key_matches
    assert "x-goog-api-key" not in req.headers and KEY not in str(req.headers)
    parts = req.body["contents"][0]["parts"]
    assert parts[0]["text"] == "describe"
    blob = parts[1].get("inlineData") or parts[1]["inline_data"]  # the SDK may send either JSON spelling
    assert (blob.get("mimeType") or blob.get("mime_type")) == "image/png" and blob["data"]


def test_image_reply_is_decoded(api_key):
    img = np.full((6, 5, 3), 200, np.uint8)
    with FakeGemini([reply(image_body(img, text="here"))]) as server:
        response = _generate(make_client(base_url=server.base_url))
    (out,) = response_images(response)
    assert out.size == (5, 6) and np.asarray(out)[0, 0, 0] == 200
    assert response_text(response) == "here"
    assert block_reason(response) is None


def test_blocked_reply_is_reported(api_key):
    with FakeGemini([reply(blocked_body())]) as server:
        response = _generate(make_client(base_url=server.base_url))
    assert "SAFETY" in block_reason(response)
    assert response_images(response) == [] and response_text(response) == ""


def test_429_and_500_are_retried_once_each_by_us_alone(api_key):
    sleeps: list[float] = []
    script = [error(429), error(500), reply(text_body("ok"))]
    with FakeGemini(script) as server:
        client = make_client(base_url=server.base_url)
        response = with_retries(lambda: _generate(client), sleep=sleeps.append, base_delay=0.5,
                                rng=random.Random(0))
    assert response_text(response) == "ok"
    # exactly three HTTP requests: the SDK's own retry is off, so nothing doubles up
    assert len(server.requests) == 3
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_retries_give_up_after_max_attempts(api_key):
    sleeps: list[float] = []
    with FakeGemini(default=error(503)) as server:
        client = make_client(base_url=server.base_url)
        with pytest.raises(Exception) as info:
            with_retries(lambda: _generate(client), max_attempts=3, sleep=sleeps.append)
    assert getattr(info.value, "code", None) == 503
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried(api_key):
    with FakeGemini([error(400, "bad image")]) as server:
        client = make_client(base_url=server.base_url)
        with pytest.raises(Exception, match="bad image"):
            with_retries(lambda: _generate(client), sleep=lambda s: None)
    assert len(server.requests) == 1


def test_timeout_is_retried(api_key):
    with FakeGemini([reply(text_body("late"), delay_s=3.0), reply(text_body("on time"))]) as server:
        client = make_client(base_url=server.base_url, timeout_s=1)
        response = with_retries(lambda: _generate(client), sleep=lambda s: None)
    assert response_text(response) == "on time"
    assert len(server.requests) == 2


def test_backoff_is_exponential_and_capped():
    rng = random.Random(1)
    delays = [backoff_delay(a, base_delay=1.0, max_delay=5.0, rng=rng) for a in range(1, 7)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0
    assert all(2.5 <= d <= 5.0 for d in delays[3:])


def test_fixture_form(fake_gemini_server):  # noqa: F811 - the imported fixture
    fake_gemini_server.push(reply(text_body("fixture")))
    response = _generate(make_client(base_url=fake_gemini_server.base_url))
    assert response_text(response) == "fixture" and fake_gemini_server.requests[0].api_key_matches
    assert fake_gemini_server.remaining == 0


def test_one_client_serves_teacher_judge_and_generator_with_the_same_retry_policy(api_key):
    from vtl.vicl.clients.gemini import GeminiClient
    from vtl.vicl.generation.gemini import GeminiImageGenerator
    from vtl.vicl.scoring.judge import GeminiJudge
    from vtl.vicl.teaching.teachers import GeminiTeacher

    retry = {"max_attempts": 4, "base_delay": 2.0, "max_delay": 3.0}
    clients = [GeminiTeacher("m", **retry)._gemini, GeminiJudge("m", **retry).gemini,
               GeminiImageGenerator("m", **retry).gemini]
    for client in clients:
        assert isinstance(client, GeminiClient)
        assert (client.retry.max_attempts, client.retry.base_delay, client.retry.max_delay) == (4, 2.0, 3.0)


def test_client_retries_capped_by_max_delay(api_key):
    from vtl.vicl.clients.gemini import GeminiClient, RetryPolicy

    sleeps: list[float] = []
    with FakeGemini([error(503), error(503), error(503), reply(text_body("ok"))]) as server:
        client = GeminiClient("gemini-test", base_url=server.base_url,
                              retry=RetryPolicy(base_delay=2.0, max_delay=3.0, sleep=sleeps.append))
        assert response_text(client.generate(["hi"])) == "ok"
    assert len(server.requests) == 4 and len(sleeps) == 3
    assert 1.0 <= sleeps[0] <= 2.0 and all(1.5 <= s <= 3.0 for s in sleeps[1:])
