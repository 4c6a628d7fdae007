"""A shop whose parts live in shadow roots and iframes, broken or healthy, for exploration tests.

``/`` holds:

- ``<shop-widget>``, a custom element with an open shadow root: a link
  "Offers" (``/offers``), an image ``/img/logo.png``, a button "Add to cart"
  and a form "Email" posting to ``/subscribe``; inside it a nested custom
  element ``<shop-badge>`` (its own open shadow root) linking ``/badge-info``,
  and an iframe titled "Reviews" (``/reviews``): a link ``/reviews-more``
  and a button "Helpful";
- ``<secret-box>``, whose closed shadow root links ``/closed-only``;
- a same-origin iframe titled "Payment" (``/frame``): a link ``/terms`` and a
  form "Card name" posting to ``/pay``;
- a cross-origin iframe titled "Partner": the page ``/partner`` of a second
  server (another loopback port), which links ``/partner-only`` on this site.

Broken (``broken=True``): ``/offers``, ``/badge-info``, ``/terms``,
``/reviews-more`` and the image answer 404; "Add to cart" throws "cart
exploded" and "Helpful" throws "vote lost"; ``/subscribe`` and ``/pay``
answer 500. Healthy: all answer 200 and no button throws.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from tests.services import LoopbackHttpServer, QuietHandler

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
BROKEN_PATHS = ("/offers", "/badge-info", "/terms", "/reviews-more", "/img/logo.png")
SERVER_ERROR_PATHS = ("/subscribe", "/pay")
UNREACHED_PATHS = ("/closed-only", "/partner-only")


def _main_page(partner: str, broken: bool) -> str:
    click = "throw new Error('cart exploded');" if broken else "this.textContent = 'Added';"
    return f"""<!doctype html><html lang="en"><head><title>Shadow shop</title></head>
<body><main><h1>Shadow shop</h1>
<shop-widget></shop-widget>
<secret-box></secret-box>
<iframe title="Payment" src="/frame" width="400" height="200"></iframe>
<iframe title="Partner" src="{partner}/partner" width="400" height="200"></iframe>
</main>
<script>
customElements.define("shop-badge", class extends HTMLElement {{
  connectedCallback() {{
    this.attachShadow({{mode: "open"}}).innerHTML = '<a href="/badge-info">Badge info</a>';
  }}
}});
customElements.define("shop-widget", class extends HTMLElement {{
  connectedCallback() {{
    const root = this.attachShadow({{mode: "open"}});
    root.innerHTML = `<section>
      <a href="/offers">Offers</a>
      <img src="/img/logo.png" alt="Shop logo" width="20" height="20">
      <button type="button" id="cart">Add to cart</button>
      <form action="/subscribe" method="post">
        <label for="email">Email</label><input id="email" name="email" type="email" required>
        <button type="submit">Subscribe</button>
      </form>
      <shop-badge></shop-badge>
      <iframe title="Reviews" src="/reviews" width="300" height="60"></iframe></section>`;
    root.getElementById("cart").addEventListener("click", function () {{ {click} }});
  }}
}});
customElements.define("secret-box", class extends HTMLElement {{
  connectedCallback() {{
    this.attachShadow({{mode: "closed"}}).innerHTML = '<a href="/closed-only">Closed</a>';
  }}
}});
</script></body></html>"""


FRAME_PAGE = """<!doctype html><html lang="en"><head><title>Payment</title></head><body>
<a href="/terms">Terms</a>
<form action="/pay" method="post">
  <label>Card name <input name="card" required></label>
  <button type="submit">Pay</button>
</form></body></html>"""


def _reviews_page(broken: bool) -> bytes:
    click = "throw new Error('vote lost')" if broken else "this.textContent = 'Thanks'"
    return f"""<!doctype html><html lang="en"><title>Reviews</title>
<a href="/reviews-more">More reviews</a>
<button type="button" onclick="{click}">Helpful</button></html>""".encode()


PARTNER_PAGE = """<!doctype html><html lang="en"><head><title>Partner</title></head><body>
<a href="{site}/partner-only">Partner only</a><button type="button">Partner button</button>
</body></html>"""


def _page(title: str) -> bytes:
    return f"<!doctype html><html lang='en'><title>{title}</title><p>{title}</p></html>".encode()


class PartnerSite(LoopbackHttpServer):
    """The cross-origin frame's server: ``/partner`` links back to ``site``."""

    def __init__(self) -> None:
        self.site = ""
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                body = PARTNER_PAGE.format(site=owner.site).encode()
                self.answer(200, "text/html; charset=utf-8", body)

        super().__init__(Handler)


class ShadowSite(LoopbackHttpServer):
    """The shop above on a free loopback port; ``partner`` is the cross-origin frame's origin."""

    def __init__(self, partner: str, broken: bool) -> None:
        main = _main_page(partner, broken).encode()
        reviews = _reviews_page(broken)
        self.requested: list[str] = []
        requested = self.requested

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = urlsplit(self.path).path
                requested.append(path)
                if path == "/":
                    self.answer(200, "text/html; charset=utf-8", main)
                elif path == "/frame":
                    self.answer(200, "text/html; charset=utf-8", FRAME_PAGE.encode())
                elif path == "/reviews":
                    self.answer(200, "text/html; charset=utf-8", reviews)
                elif broken and path in BROKEN_PATHS or path not in BROKEN_PATHS:
                    self.answer(404, "text/html", _page("Not found"))
                elif path.endswith(".png"):
                    self.answer(200, "image/png", PNG)
                else:
                    self.answer(200, "text/html; charset=utf-8", _page(path))

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                path = urlsplit(self.path).path
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if path in SERVER_ERROR_PATHS and not broken:
                    self.answer(200, "text/html; charset=utf-8", _page("Thank you"))
                else:
                    self.answer(500, "text/html", _page("Server error"))

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
