"""A local stand-in for the Gemini REST API, for tests: no network, real HTTP, real google-genai client.

    with FakeGemini([reply(text_body("hi")), reply(error_body(429), status=429)]) as server:
        client = make_client(base_url=server.base_url)   # GEMINI_API_KEY set to anything in the test
        ...
        server.requests   # what the client sent: path, headers (API key removed), JSON body

Or as a fixture: `from fake_gemini import fake_gemini_server` in a test module, then take `fake_gemini_server` as a
test argument and `push(...)` replies onto it.

Scripted replies are served in order to POST requests (generateContent and friends); once they run out, each
further request gets `default` (a 500 naming the problem unless given). The server binds 127.0.0.1 on a free port
and serves each request in its own thread.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET_HEADERS = ("x-goog-api-key", "authorization")


@dataclass
class Reply:
    """One scripted answer: HTTP status, JSON body, and an optional delay before answering (to force timeouts)."""

    body: dict[str, Any]
    status: int = 200
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; the API key and Authorization are removed
    body: Any
    had_api_key: bool
    api_key_matches: bool | None = field(default=None)


def reply(body: dict[str, Any], status: int = 200, delay_s: float = 0.0) -> Reply:
    return Reply(body=body, status=status, delay_s=delay_s)


def text_body(text: str, *, finish_reason: str = "STOP") -> dict[str, Any]:
    """A generateContent reply with one candidate holding `text`."""
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish_reason,
                        "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20},
        "modelVersion": "fake-gemini",
    }


def _png(image: Any) -> bytes:
    if isinstance(image, bytes):
        return image
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def image_body(image: Any, *, text: str | None = None, mime_type: str = "image/png") -> dict[str, Any]:
    """A generateContent reply with an inline image (PIL image, HxWx3 uint8 array, or PNG bytes) and optional text."""
    parts: list[dict[str, Any]] = []
    if text is not None:
        parts.append({"text": text})
    parts.append({"inlineData": {"mimeType": mime_type, "data": base64.b64encode(_png(image)).decode("ascii")}})
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "modelVersion": "fake-gemini",
    }


def blocked_body(reason: str = "SAFETY") -> dict[str, Any]:
    """A reply whose prompt was blocked: no candidates."""
    return {"promptFeedback": {"blockReason": reason}, "modelVersion": "fake-gemini"}


_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_body(code: int, message: str | None = None) -> dict[str, Any]:
    """The Google API error envelope for `code`."""
    status = _STATUS_NAMES.get(code, "UNKNOWN")
    return {"error": {"code": code, "message": message or f"fake {status}", "status": status}}


def error(code: int, message: str | None = None) -> Reply:
    return Reply(body=error_body(code, message), status=code)


class FakeGemini:
    """Threaded HTTP server on 127.0.0.1 serving scripted replies in order and recording every request."""

    def __init__(self, replies: list[Reply] | None = None, *, default: Reply | None = None,
                 expected_api_key: str | None = None):
        self._replies: list[Reply] = list(replies or [])
        self.default = default or error(500, "fake_gemini: no scripted reply left for this request")
        self.expected_api_key = expected_api_key
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._replies)

    def _next(self, recorded: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            return self._replies.pop(0) if self._replies else self.default

    # -- lifecycle ---------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGemini is not running: use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                key = headers.get("x-goog-api-key")
                recorded = RecordedRequest(
                    method=self.command, path=self.path,
                    headers={k: v for k, v in headers.items() if k not in SECRET_HEADERS},
                    body=body, had_api_key=bool(key),
                    api_key_matches=None if fake.expected_api_key is None else key == fake.expected_api_key,
                )
                answer = fake._next(recorded)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            do_POST = _handle
            do_GET = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gemini", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def fake_gemini_server(monkeypatch):
    """A running FakeGemini with no scripted replies yet, and GEMINI_API_KEY set to a dummy for the test."""
    monkeypatch.setenv("GEMINI_API_KEY", "fake-gemini-key")
    with FakeGemini(expected_api_key="fake-gemini-key") as server:
        yield server
