"""A local HTTP server that speaks Mistral's chat-completions API, for tests.

The Mistral API cannot be reached from the test machines, and patching the SDK
would test nothing of how it really talks HTTP. So the tests run the real
``mistralai`` client against this server: same path, same JSON shapes, same
error bodies and headers as Mistral, scriptable answer by answer.

    with FakeMistral() as fake:
        fake.fail(429, retry_after=2).reply('{"ok": true}', prompt_tokens=12)
        ...  # point MISTRAL_SERVER_URL at fake.url
        headers, body = fake.requests[0]

Queued answers are served in order, one per request; when the queue is empty
the ``responder`` (request JSON -> assistant content) answers.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.services import LoopbackHttpServer

Responder = Callable[[dict[str, Any]], str]

# What Mistral answers for each error status (message, type, code).
_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("Invalid request", "invalid_request_error", "3000"),
    401: ("Unauthorized", "unauthorized", "1000"),
    404: ("Not Found", "not_found", "1001"),
    422: ("Unprocessable entity", "invalid_request_error", "3001"),
    429: ("Requests rate limit exceeded", "rate_limited", "1300"),
    500: ("Internal server error", "internal_server_error", "1100"),
    502: ("Bad gateway", "bad_gateway", "1101"),
    503: ("Service unavailable", "service_unavailable", "1102"),
}


@dataclass
class _Answer:
    """One canned HTTP answer; ``content`` None means 'ask the responder'."""

    status: int = 200
    content: str | None = None
    prompt_tokens: int = 10
    completion_tokens: int = 5
    raw: bytes | None = None  # a body sent as is (errors, malformed answers)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def error_body(status: int, message: str | None = None) -> bytes:
    """Mistral's error JSON for ``status``."""
    default, kind, code = _ERRORS.get(status, ("Error", "error", "1000"))
    body = {
        "object": "error",
        "message": message or default,
        "type": kind,
        "param": None,
        "code": code,
    }
    return json.dumps(body).encode()


class FakeMistral(LoopbackHttpServer):
    """Mistral's ``POST /v1/chat/completions`` on 127.0.0.1, in a daemon thread."""

    def __init__(self, responder: Responder | None = None) -> None:
        super().__init__(_Handler)
        self.responder = responder
        # (headers with lower-case names, parsed JSON body) of every request, in order.
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._queue: deque[_Answer] = deque()
        self._lock = threading.Lock()
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.port}"

    # -- scripting ------------------------------------------------------------

    def reply(
        self, content: str, *, prompt_tokens: int = 10, completion_tokens: int = 5
    ) -> FakeMistral:
        """Queue a successful completion whose assistant message is ``content``."""
        return self._push(
            _Answer(
                content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        )

    def fail(
        self, status: int, retry_after: float | None = None, *, message: str | None = None
    ) -> FakeMistral:
        """Queue an error answer as Mistral sends it, with ``Retry-After`` when given."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return self._push(_Answer(status=status, raw=error_body(status, message), headers=headers))

    def malformed(self, content_type: str = "application/json") -> FakeMistral:
        """Queue a 200 whose body is not JSON (a truncated answer, a proxy's page)."""
        return self._push(_Answer(raw=b'{"id": "cmpl-trunc', content_type=content_type))

    def slow(self, seconds: float, then: str | None = None) -> FakeMistral:
        """Queue an answer sent after ``seconds``: ``then`` as content, else the responder's."""
        return self._push(_Answer(content=then, delay_s=seconds))

    def _push(self, answer: _Answer) -> FakeMistral:
        with self._lock:
            self._queue.append(answer)
        return self

    # -- serving --------------------------------------------------------------

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> _Answer:
        with self._lock:
            self.requests.append((headers, body))
            return self._queue.popleft() if self._queue else _Answer()

    def _completion(self, answer: _Answer, request: dict[str, Any]) -> bytes:
        content = answer.content
        if content is None:
            if self.responder is None:
                raise LookupError("FakeMistral has no answer queued and no responder")
            content = self.responder(request)
        return json.dumps(
            {
                "id": uuid.uuid4().hex,
                "object": "chat.completion",
                "model": request.get("model", "mistral-large-latest"),
                "created": int(time.time()),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "tool_calls": None},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                    "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                },
            }
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/v1/chat/completions":
            self._send(404, error_body(404))
            return
        fake: FakeMistral = self.server.fake  # type: ignore[attr-defined]
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            fake._next(self._headers(), {})
            self._send(400, error_body(400, "Invalid JSON body"))
            return
        answer = fake._next(self._headers(), body)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if answer.raw is not None:
            self._send(answer.status, answer.raw, answer.content_type, answer.headers)
            return
        try:
            payload = fake._completion(answer, body)
        except LookupError as exc:
            self._send(500, error_body(500, str(exc)))
            return
        self._send(200, payload)

    def _headers(self) -> dict[str, str]:
        """Request headers with lower-case names, as HTTP treats them."""
        return {name.lower(): value for name, value in self.headers.items()}

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, error_body(404))

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test): nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        """Quiet: the tests assert on ``FakeMistral.requests``, not on a log."""
