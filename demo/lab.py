"""Lab routes for MATF's own tests and benchmarks.

Nothing on the site links here, so a crawler never finds these pages; tests
reach them by URL to get slow, flaky, failing or hostile-looking pages on
demand. They behave the same whether or not bugs are seeded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue

MAX_SLOW_MS = 60_000
XSS_TITLE = "<script>alert(1)</script> Lab"


def clamp_delay_ms(raw: str | None) -> int:
    """The delay ``/lab/slow`` waits: ``ms`` clamped to 0..60000; 400 if not an integer."""
    try:
        value = int(raw or 0)
    except ValueError:
        abort(400)
    return max(0, min(value, MAX_SLOW_MS))


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        abort(400)


def make_lab_blueprint() -> Blueprint:
    """A fresh blueprint, so each app (and server) has its own flaky counters."""
    lab = Blueprint("lab", __name__, url_prefix="/lab")
    hits: Counter[str] = Counter()
    lock = threading.Lock()

    @lab.get("/ok")
    def ok() -> ResponseReturnValue:
        return render_template(
            "lab.html", title="Lab", heading="Lab", text="A tiny valid page.", ping=True
        )

    @lab.get("/slow")
    def slow() -> ResponseReturnValue:
        delay = clamp_delay_ms(request.args.get("ms"))
        time.sleep(delay / 1000)
        return render_template(
            "lab.html", title="Slow lab", heading="Slow lab", text=f"Waited {delay} ms."
        )

    @lab.get("/flaky")
    def flaky() -> ResponseReturnValue:
        """Fail the first ``fail`` hits of ``key``; the count is shared by all threads."""
        key = request.args.get("key", "default")
        fail = _int_arg("fail", 1)
        with lock:
            hits[key] += 1
            count = hits[key]
        if count <= fail:
            return render_template(
                "lab.html",
                title="Flaky lab",
                heading="Flaky failure",
                text=f"Hit {count} of key {key} failed on purpose.",
            ), 500
        return render_template(
            "lab.html", title="Flaky lab", heading="Recovered", text=f"Hit {count} of key {key}."
        )

    @lab.get("/fail")
    def fail() -> ResponseReturnValue:
        return render_template(
            "lab.html",
            title="Lab failure",
            heading="Lab failure",
            text="A normal page; tests that expect other text here fail.",
        )

    @lab.get("/xss")
    def xss() -> ResponseReturnValue:
        return render_template(
            "lab.html",
            title=XSS_TITLE,
            heading="XSS lab",
            text="The title holds a literal script tag, shown as text.",
        )

    return lab
