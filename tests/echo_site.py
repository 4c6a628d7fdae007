"""A small site that echoes what it is sent, for the tests that secrets stay secret.

Its layout is fixed (absolutely placed fields), so a test can read a
screenshot's pixels where each field is:

- ``/form``: a POST form (``/echo``) with a text field "Token", a password
  field "Password", a select "Plan" whose second option's value is given, and
  a text field "Note"; typing in "Token" mirrors it into ``#mirror``, logs it
  as a console error and throws it as a page error, as careless pages do;
  ``/form2`` is the same form, its Gold plan's value "gold";
- ``/echo``: answers the SHA-256 of each field it was posted (never the value);
- ``/search``: a GET form whose ``/results?q=...`` answers 404;
- ``/api/echo``: answers 400 with the request's Authorization header and JSON
  body, and the body's ``password`` in base64 (plain, shifted by one and two
  bytes, URL-safe), as an API that reflects what it is sent;
- ``/api/login``: answers the SHA-256 of the body's ``password`` and of the
  Authorization header, so a test can tell the real values arrived.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from urllib.parse import parse_qs, urlsplit

from tests.services import LoopbackHttpServer, QuietHandler

# Where the fields are drawn (CSS pixels, viewport 1280x720, scale 1): x, y, width, height.
BOXES = {
    "token": (20, 60, 400, 32),
    "pw": (20, 120, 400, 32),
    "plan": (20, 180, 400, 32),
    "note": (20, 240, 400, 32),
    "mirror": (20, 300, 600, 32),
}


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _at(name: str) -> str:
    x, y, w, h = BOXES[name]
    return f"position:absolute;left:{x}px;top:{y}px;width:{w}px;height:{h}px;margin:0"


def form_page(plan_value: str) -> str:
    option = html.escape(plan_value, quote=True)
    return f"""<!doctype html><html lang="en"><head><title>Echo form</title>
<style>body{{margin:0;font:16px sans-serif}} label{{position:absolute;left:440px}}</style>
</head><body><main>
<form method="post" action="/echo">
  <label for="token" style="top:60px">Token</label>
  <input id="token" name="token" style="{_at("token")}">
  <label for="pw" style="top:120px">Password</label>
  <input id="pw" name="pw" type="password" style="{_at("pw")}">
  <label for="plan" style="top:180px">Plan</label>
  <select id="plan" name="plan" style="{_at("plan")}">
    <option value="basic">Basic plan</option><option value="{option}">Gold plan</option>
  </select>
  <label for="note" style="top:240px">Note</label>
  <input id="note" name="note" style="{_at("note")}">
  <button type="submit" style="position:absolute;left:20px;top:400px">Send</button>
</form>
<p id="mirror" style="{_at("mirror")}"></p>
<script>
document.getElementById("token").addEventListener("input", (event) => {{
  const value = event.target.value;
  document.getElementById("mirror").textContent = "You typed " + value;
  console.error("token is " + value);
  setTimeout(() => {{ throw new Error("leaked " + value); }}, 0);
}});
</script>
</main></body></html>"""


SEARCH_PAGE = """<!doctype html><html lang="en"><head><title>Search</title></head><body><main>
<form method="get" action="/results">
  <label for="q">Query</label><input id="q" name="q">
  <button type="submit">Search</button>
</form></main></body></html>"""


def _received(fields: dict[str, list[str]]) -> str:
    rows = "".join(
        f'<li id="got-{html.escape(name)}">{html.escape(name)} {digest(values[0])}</li>'
        for name, values in sorted(fields.items())
    )
    head = "<!doctype html><html lang='en'><head><title>Received</title></head>"
    return f"{head}<body><ul>{rows}</ul></body></html>"


def _api_echo(body: bytes, authorization: str) -> dict[str, object]:
    document = json.loads(body or b"{}")
    password = str(document.get("password", "")).encode()
    return {
        "auth": authorization,
        "body": document,
        "b64": base64.b64encode(password).decode(),
        "b64_1": base64.b64encode(b"x" + password).decode(),
        "b64_2": base64.urlsafe_b64encode(b"xy" + password).decode(),
    }


class EchoSite(LoopbackHttpServer):
    """Serves the pages above on a free loopback port; ``plan_value`` is the Gold plan's value."""

    def __init__(self, plan_value: str) -> None:
        pages = {
            "/form": form_page(plan_value),
            "/form2": form_page("gold"),
            "/search": SEARCH_PAGE,
        }

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = urlsplit(self.path).path
                if path in pages:
                    self.answer(200, "text/html; charset=utf-8", pages[path].encode())
                else:
                    self.answer(404, "text/html", b"<!doctype html><title>Not found</title>")

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path).path
                auth = self.headers.get("Authorization", "")
                if path == "/echo":
                    fields = parse_qs(body.decode(), keep_blank_values=True)
                    self.answer(200, "text/html; charset=utf-8", _received(fields).encode())
                elif path == "/api/echo":
                    answer = json.dumps(_api_echo(body, auth)).encode()
                    self.answer(400, "application/json", answer)
                elif path == "/api/login":
                    password = str(json.loads(body or b"{}").get("password", ""))
                    answer = json.dumps({"password": digest(password), "auth": digest(auth)})
                    self.answer(200, "application/json", answer.encode())
                else:
                    self.answer(404, "text/plain", b"no such page")

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"
