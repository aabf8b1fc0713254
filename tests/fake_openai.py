"""A local OpenAI-compatible server for tests and benchmarks: real HTTP on 127.0.0.1, the real `openai` client.

    with FakeOpenAI() as server:                       # answers every chat request with `default_text(body)`
        server.push(Reply(status=429, body=error_json(429)), Reply(body=chat_json("hi")))   # scripted first
        client = OpenAIChat("m", base_url=server.base_url, api_key_env=None)

Scripted replies are served in order; after them each request goes to `responder(path, body)` (default: a chat
answer derived from the request's bytes, so equal requests get equal answers on any shard, or a PNG for
/images/edits). `delay_s` holds every answer back (the benchmark's fixed server-side latency). Each request is
recorded with its Authorization header removed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


@dataclass
class Reply:
    body: dict[str, Any] | bytes = field(default_factory=dict)
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    path: str
    body: Any
    authorization: str | None


def chat_json(text: str | None, *, refusal: str | None = None, finish_reason: str = "stop") -> dict[str, Any]:
    message = {"role": "assistant", "content": text, "refusal": refusal}
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def empty_choices_json() -> dict[str, Any]:
    body = chat_json("x")
    body["choices"] = []
    return body


def error_json(status: int) -> dict[str, Any]:
    return {"error": {"message": f"scripted {status}", "type": "server_error", "code": status}}


def retry_fast(status: int) -> Reply:
    """An error the SDK retries at once (Retry-After 10 ms), so tests do not wait out its backoff."""
    return Reply(body=error_json(status), status=status, headers={"retry-after-ms": "10"})


def png_b64(seed: int, size: int = 16) -> str:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def default_text(body: Any) -> str:
    """Three sentences that depend only on the request's content (images included)."""
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return (f"The inputs look like scene {digest}. In A the picture becomes brighter while in B the streaks go. "
            f"The two objectives differ in what they change.")


def default_responder(path: str, body: Any) -> Reply:
    if path.endswith("/images/edits"):
        n = int(body.get("n", 1)) if isinstance(body, dict) else 1
        return Reply(body={"created": 0, "data": [{"b64_json": png_b64(i)} for i in range(n)]})
    return Reply(body=chat_json(default_text(body)))


class FakeOpenAI:
    def __init__(self, *, responder: Callable[[str, Any], Reply] = default_responder, delay_s: float = 0.0):
        self.responder = responder
        self.delay_s = delay_s
        self.scripted: list[Reply] = []
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.scripted.extend(replies)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _reply_for(self, path: str, body: Any, authorization: str | None) -> Reply:
        with self._lock:
            self.requests.append(Recorded(path, body, authorization))
            if self.scripted:
                return self.scripted.pop(0)
        return self.responder(path, body)

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                kind = self.headers.get("content-type", "")
                body: Any
                if kind.startswith("application/json"):
                    body = json.loads(raw or b"{}")
                else:  # multipart (images.edit): keep the form fields that are plain text
                    body = _form_fields(raw, kind)
                reply = fake._reply_for(self.path, body, self.headers.get("authorization"))
                if fake.delay_s or reply.delay_s:
                    time.sleep(fake.delay_s + reply.delay_s)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:  # stop serving; threads still answering a slow request are daemons
        server, self._server = self._server, None
        server.shutdown()
        server.server_close()


def _form_fields(raw: bytes, content_type: str) -> dict[str, Any]:
    """Text fields of a multipart/form-data body, plus how many files came under each field name."""
    boundary = content_type.split("boundary=")[-1].strip().strip('"').encode()
    fields: dict[str, Any] = {}
    for part in raw.split(b"--" + boundary):
        head, _, value = part.partition(b"\r\n\r\n")
        if b'name="' not in head:
            continue
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        if b"filename=" in head:
            fields.setdefault("_files", {}).setdefault(name, 0)
            fields["_files"][name] += 1
        else:
            fields[name] = value.rstrip(b"\r\n").decode(errors="replace")
    return fields
