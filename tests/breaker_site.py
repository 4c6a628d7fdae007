"""A site built to break the test writer: what real pages hold at their worst.

- ``/``: a link and two buttons whose names are 10,000 characters long (one
  button with an id, one without any other way to find it), an empty link and
  an empty button, a button named by script with every odd character (NUL,
  control characters, bidi overrides, zero-width space, emoji, a lone
  surrogate, newlines, quotes, markup);
- ``/odd``: a title and links of odd characters, an odd path;
- ``/same``: fifty buttons with the same text;
- ``/form``: a form whose field's label is 2,000 characters long;
- ``/wide``: a form of 250 fields (more steps than a test may have);
- ``/many``: 5,000 links (``distinct_links`` different targets among them).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.services import LoopbackHttpServer, QuietHandler

LONG = "Export the quarterly ledger " * 358  # 10,024 characters
ODD = r"A\u0000B\u0007C\u202eD\u200bE\ud83d\ude00F\ud800G\nH\"I'J<b>K</b>&amp;"  # as JS source


def _home() -> str:
    return f"""<h1>Breaker</h1>
<a href="/long">{LONG}</a>
<a href="/empty"></a>
<a href="/odd">odd</a> <a href="/same">same</a> <a href="/form">form</a>
<a href="/wide">wide</a> <a href="/many">many</a>
<button type="button">{LONG}</button>
<button type="button" id="ledger">{LONG} now</button>
<button type="button" id="nameless"></button>
<button type="button" id="odd-button">odd</button>
<script>document.getElementById("odd-button").textContent = "{ODD}";</script>"""


def _odd() -> str:
    return (
        '<h1>Odd</h1><a href="/odd/%E2%80%AE%F0%9F%98%80?q=%00%0A">\u202e\U0001f600 odd path</a>'
        f'<a href="/empty">\u200b</a><script>document.title = "{ODD}";</script>'
    )


def _form() -> str:
    label = "Describe the account in full " * 69  # 2,001 characters
    return f"""<h1>Form</h1><form action="/done" method="get">
<label for="note">{label}</label><input id="note" name="note" required>
<button>Send</button></form>"""


def _wide() -> str:
    fields = "".join(f'<label>Field {n} <input name="f{n}" required></label>' for n in range(250))
    return f'<h1>Wide</h1><form action="/done" method="get">{fields}<button>Send</button></form>'


def pages(distinct_links: int) -> dict[str, str]:
    many = "".join(f'<a href="/rows/{n % distinct_links}">Row {n}</a> ' for n in range(5000))
    return {
        "/": _home(),
        "/odd": _odd(),
        "/same": "<h1>Same</h1>" + '<button type="button">Buy</button>' * 50,
        "/form": _form(),
        "/wide": _wide(),
        "/many": f"<h1>Many</h1>{many}",
    }


class BreakerSite(LoopbackHttpServer):
    """The pages above on a free loopback port; any other path is a small plain page."""

    def __init__(self, distinct_links: int = 5000) -> None:
        served = pages(distinct_links)

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                body = served.get(urlsplit(self.path).path, "<h1>Plain</h1><p>A plain page.</p>")
                page = (
                    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
                    f"<title>Breaker</title></head><body><main>{body}</main></body></html>"
                )
                self.answer(200, "text/html; charset=utf-8", page.encode())

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
