"""A small site whose buttons and forms misbehave only when used: checks "since the last action".

- ``/button/<kind>``: a button "Refresh" that POSTs to ``/api/<kind>`` and shows
  the answer: ``ok`` answers 200, ``500`` and ``404`` those statuses,
  ``network`` closes the connection without answering;
- ``/noisy-load``: logs a console error while it loads; its button "Quiet"
  shows a message, its button "Noisy" logs a console error when clicked;
- ``/search/<kind>``: a form handled by script (submit prevented, results
  fetched from ``/api/search`` and rendered): ``ok`` is healthy, ``noisy``
  logs a console error on every search, ``inert`` changes nothing visible;
- ``/classic``: a POST form that redirects back to itself (POST-redirect-GET),
  showing the same page as before; ``/classic-select`` the same form with a
  select last and a submit button without a name (Enter submits it, from the
  text field);
- ``/validate/<status>``: a POST form whose server answers ``<status>`` with a
  page saying why (422: the site refusing the values; 404: its action is gone).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from tests.services import LoopbackHttpServer, QuietHandler

_HEAD = '<!doctype html><html lang="en"><head><title>{title}</title></head><body><main>'
_TAIL = "</main></body></html>"

_BUTTON = """<h1>Dashboard</h1>
<button id="refresh">Refresh</button><p id="out">Not refreshed yet</p>
<script>
document.getElementById('refresh').addEventListener('click', () => {
  fetch('/api/KIND', {method: 'POST'})
    .then(r => r.text())
    .then(t => { document.getElementById('out').textContent = 'Refreshed: ' + t; })
    .catch(() => { document.getElementById('out').textContent = 'Offline'; });
});
</script>"""

_NOISY_LOAD = """<h1>Noisy on load</h1>
<button id="quiet">Quiet</button><button id="noisy">Noisy</button><p id="out"></p>
<script>
console.error('widget failed to initialise');
document.getElementById('quiet').addEventListener('click', () => {
  document.getElementById('out').textContent = 'Quiet click';
});
document.getElementById('noisy').addEventListener('click', () => {
  console.error('noisy handler broke');
});
</script>"""

_SEARCH = """<h1>Search</h1>
<form id="search" action="/nowhere"><label for="q">Query</label>
<input id="q" name="q" required><button type="submit">Search</button></form>
<ul id="results"></ul>
<script>
document.getElementById('search').addEventListener('submit', async (event) => {
  event.preventDefault();
  if ('KIND' === 'inert') return;
  const q = document.getElementById('q').value;
  const found = await (await fetch('/api/search?q=' + encodeURIComponent(q))).json();
  if ('KIND' === 'noisy') console.error('search tracking failed for ' + q);
  document.getElementById('results').replaceChildren(...found.map(item => {
    const li = document.createElement('li');
    li.textContent = item;
    return li;
  }));
});
</script>"""

_CLASSIC = """<h1>Settings</h1>
<form method="post" action="/classic"><label for="name">Name</label>
<input id="name" name="name" required><button type="submit">Save</button></form>"""


_CLASSIC_SELECT = """<h1>Settings</h1>
<form method="post" action="/classic"><label for="name">Name</label>
<input id="name" name="name" required><label for="plan">Plan</label>
<select id="plan" name="plan"><option>Basic</option><option>Pro</option></select>
<button type="submit"></button></form>"""


_VALIDATE = """<h1>Sign up</h1>
<form method="post" action="/validate/STATUS"><label for="user">User name</label>
<input id="user" name="user" required><button type="submit">Sign up</button></form>"""


def _page(title: str, body: str) -> bytes:
    return (_HEAD.format(title=title) + body + _TAIL).encode()


class InteractionSite(LoopbackHttpServer):
    """The site above on a free loopback port."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                url = urlsplit(self.path)
                html = "text/html; charset=utf-8"
                if url.path.startswith("/button/"):
                    kind = url.path.removeprefix("/button/")
                    self.answer(200, html, _page("Button", _BUTTON.replace("KIND", kind)))
                elif url.path.startswith("/search/"):
                    kind = url.path.removeprefix("/search/")
                    self.answer(200, html, _page("Search", _SEARCH.replace("KIND", kind)))
                elif url.path == "/noisy-load":
                    self.answer(200, html, _page("Noisy", _NOISY_LOAD))
                elif url.path == "/classic":
                    self.answer(200, html, _page("Settings", _CLASSIC))
                elif url.path == "/classic-select":
                    self.answer(200, html, _page("Settings", _CLASSIC_SELECT))
                elif url.path.startswith("/validate/"):
                    status = url.path.removeprefix("/validate/")
                    self.answer(200, html, _page("Sign up", _VALIDATE.replace("STATUS", status)))
                elif url.path == "/api/search":
                    q = parse_qs(url.query).get("q", [""])[0]
                    found = json.dumps([f"{q} one", f"{q} two"]).encode()
                    self.answer(200, "application/json", found)
                else:
                    self.answer(404, "text/plain", b"not found")

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/classic":
                    self.send_response(303)
                    self.send_header("Location", "/classic")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/validate/"):
                    status = int(self.path.removeprefix("/validate/"))
                    self.answer(status, "text/html", _page("Sign up", "<p>That name is taken</p>"))
                elif self.path == "/api/network":
                    self.close_connection = True  # no answer at all: a network failure
                elif self.path.startswith("/api/"):
                    status = {"/api/500": 500, "/api/404": 404}.get(self.path, 200)
                    self.answer(status, "text/plain", b"done" if status == 200 else b"broken")
                else:
                    self.answer(404, "text/plain", b"not found")

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"
