"""A small site whose pages fail the same way every time, or differently, or only at first.

- ``/ok``: a valid page, heading "Ready";
- ``/a11y``: a page with axe violations (no ``lang``, an image without ``alt``);
- ``/late?key=K&slow=N``: the first ``N`` loads for key ``K`` show the "Go" button
  only after ``LATE_MS``; later loads show it at once (a timing-shaped failure);
- ``/visit?key=K``: "Visit N" with a count per key, so each load differs;
- anything else: 404.
"""

from __future__ import annotations

import threading
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from tests.services import LoopbackHttpServer, QuietHandler

LATE_MS = 2500
_HEAD = "<!doctype html><html lang='en'><head><title>Retry site</title></head>"
_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def _page(body: str) -> bytes:
    return f"{_HEAD}<body><main>{body}</main></body></html>".encode()


def _late(shown_after_ms: int) -> bytes:
    return _page(
        "<h1>Late</h1><script>setTimeout(() => {"
        " const b = document.createElement('button'); b.id = 'go'; b.textContent = 'Go';"
        f" document.querySelector('main').append(b); }}, {shown_after_ms});</script>"
    )


class RetrySite(LoopbackHttpServer):
    """Serves the pages above on a free loopback port; counts loads per key."""

    def __init__(self) -> None:
        hits: Counter[str] = Counter()
        lock = threading.Lock()

        def hit(key: str) -> int:
            with lock:
                hits[key] += 1
                return hits[key]

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                key = query.get("key", "")
                if url.path == "/ok":
                    body = _page("<h1>Ready</h1>")
                elif url.path == "/a11y":
                    body = f"<html><body><img src='{_GIF}'></body></html>".encode()
                elif url.path == "/late":
                    slow = hit(key) <= int(query.get("slow", "0"))
                    body = _late(LATE_MS if slow else 0)
                elif url.path == "/visit":
                    body = _page(f"<h1>Visit {hit(key)}</h1>")
                else:
                    self.answer(404, "text/html", _page("<h1>Not found</h1>"))
                    return
                self.answer(200, "text/html; charset=utf-8", body)

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"
