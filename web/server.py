"""What gunicorn decides before Flask can: MATF's worker class and the server options.

gunicorn refuses some requests itself, before the app sees them: a request
line over ``limit_request_line`` (414), too many or too large header fields
(431), a malformed request line, header or framing (400), an ``Expect`` it
cannot meet (417), a transfer coding it does not know (501 in RFC 9112; here a
400, since the client chose it: no input makes MATF answer 5xx). Its own
answers are HTML; ``ProblemWorker`` gives the same status as a problem
document, as the app answers every other error. The limits stay gunicorn's:
they bound what one request can make a worker hold. A chunked body whose
framing breaks only once a view reads it is the client's fault too: a 400,
not the app's internal error.

``server_options`` turns off what gunicorn would otherwise believe or make on
its own. It trusts forwarded headers from 127.0.0.1 by default, so any local
client could claim TLS (and get HSTS) or move ``SCRIPT_NAME``; here no peer
is trusted, and ``MATF_PROXY_COUNT`` with werkzeug's ProxyFix is the one place
proxies are (see ``web.create_app``). Its control socket would sit at one path
per user (``$XDG_RUNTIME_DIR/gunicorn.ctl``), shared by every instance: off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.config import Config
from gunicorn.http.errors import ParseException
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import BadRequest

DETAIL_CHARS = 200
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def server_options() -> dict[str, Any]:
    """gunicorn settings every ``matf serve`` runs with, whatever its mode."""
    known = Config().settings
    return {
        "worker_class": f"{__name__}.ProblemWorker",
        "forwarded_allow_ips": "",  # no peer may set the scheme or forwarder headers
        "secure_scheme_headers": {},
        "forwarder_headers": "",
        # gunicorn 25.1 and later: without this setting, there is no control socket at all
        **({"control_socket_disable": True} if "control_socket_disable" in known else {}),
    }


class ProblemWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, whose own refusals are problem documents."""

    wsgi: WsgiApp

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = checked_bodies(self.wsgi)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn picks the status and writes its log lines; only the answer changes
        html = _Captured(client)
        super().handle_error(req, html, addr, exc)
        if html.status is None:
            return
        if html.status == 501:  # a transfer coding gunicorn does not know: the client's choice
            html.status, html.reason = 400, "Bad Request"
        if html.status == 500:  # the app's fault or the server's: the trace is in the log
            detail = "internal error; the details are in the server's log"
        else:
            detail = _detail(html.status, exc, self.cfg)
        try:
            util.write_nonblock(client, problem_message(html.status, html.reason, detail))
        except Exception:  # noqa: BLE001 - the client is gone, as gunicorn itself assumes
            self.log.debug("Failed to send error message.")


def problem_message(status: int, reason: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer carrying an RFC 9457 problem document; the connection closes."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = reason
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body.encode("ascii")


def _detail(status: int, exc: BaseException, cfg: Any) -> str:
    if status == 414:
        return f"the request line is longer than {cfg.limit_request_line} bytes"
    if status == 431:
        return (
            f"the request has more than {cfg.limit_request_fields} header fields "
            f"or one longer than {cfg.limit_request_field_size} bytes"
        )
    return one_line(str(exc))


def one_line(text: str) -> str:
    """``text`` shortened, its control characters escaped: it may quote what a client sent."""
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


class _Captured:
    """Stands in for the client's socket while gunicorn writes its HTML answer: keeps the status."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.status: int | None = None
        self.reason = ""

    def gettimeout(self) -> float:
        return 0.0  # so gunicorn writes at once, without touching the real socket's mode

    def sendall(self, data: bytes) -> None:
        first = data.split(b"\r\n", 1)[0].decode("latin-1")  # HTTP/1.1 414 URI Too Long
        _version, status, self.reason = (first.split(" ", 2) + ["", ""])[:3]
        self.status = int(status) if status.isdigit() else 500

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def checked_bodies(app: WsgiApp) -> WsgiApp:
    """``app`` reading request bodies whose broken framing is a 400 (werkzeug's BadRequest)."""

    def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"] = _CheckedBody(environ["wsgi.input"])
        return app(environ, start_response)

    return checked


@contextmanager
def _framing() -> Iterator[None]:
    try:
        yield
    except ParseException as exc:  # gunicorn marks the body failed: the connection closes
        raise BadRequest(f"the request body is malformed: {one_line(str(exc))}") from exc


class _CheckedBody:
    """gunicorn's request body, whose framing errors are raised as a 400."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int | None = None) -> bytes:
        with _framing():
            return self._body.read(size)  # type: ignore[no-any-return]

    def readline(self, size: int | None = None) -> bytes:
        with _framing():
            return self._body.readline(size)  # type: ignore[no-any-return]

    def readlines(self, size: int | None = None) -> list[bytes]:
        with _framing():
            return self._body.readlines(size)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with _framing():
            return next(self._body)  # type: ignore[no-any-return]
