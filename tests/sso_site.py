"""A site whose sign-in takes two pages, as single sign-on providers' do.

- ``/sso/login``: the username alone, and "Next" (no password field: the form
  finder sees no sign-in form here, nor at the usual paths, which answer 404);
- ``POST /sso/identify``: the second page, the password for that username;
- ``POST /sso/session``: the right password sets the session cookie and goes
  to ``/sso/home``; a wrong one shows page two again with "Wrong password.";
- ``/sso/home`` and ``/sso/orders``: only signed in (else a 302 to the sign-in).
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from tests.services import QuietHandler

USERNAME = "qa@example.com"
PASSWORD = "Sso-pa55word-Kq7v"  # distinctive: it must show up nowhere
SESSION = "sso-session-Zt51"
CREDENTIALS = {"username": USERNAME, "password": PASSWORD}

# The steps a login suite signs in to this site with.
LOGIN_STEPS = [
    {"action": "goto", "url": "/sso/login"},
    {"action": "fill", "target": {"label": "Email"}, "value": "{{secret:login.username}}"},
    {"action": "submit", "target": {"role": "button", "name": "Next"}},
    {"action": "fill", "target": {"label": "Password"}, "value": "{{secret:login.password}}"},
    {"action": "submit", "target": {"role": "button", "name": "Sign in"}},
    {"action": "expect_url", "url": "/sso/home", "contains": True},
]


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head>'
        f"<body><main><h1>{title}</h1>{body}</main></body></html>"
    ).encode()


def _password_page(username: str, error: str = "") -> bytes:
    alert = f'<p role="alert">{error}</p>' if error else ""
    return _page(
        "Enter your password",
        f"""{alert}<form method="post" action="/sso/session">
<input type="hidden" name="username" value="{username}">
<label for="pw">Password</label><input id="pw" name="password" type="password">
<button type="submit">Sign in</button></form>""",
    )


USERNAME_PAGE = _page(
    "Sign in",
    """<form method="post" action="/sso/identify">
<label for="email">Email</label><input id="email" name="username" type="email">
<button type="submit">Next</button></form>""",
)
HOME = _page(
    "Your account",
    '<p>Signed in.</p><a href="/sso/orders">Your orders</a> <a href="/sso/logout">Sign out</a>',
)
ORDERS = _page("Your orders", "<p>No orders yet.</p>")


class SsoSiteHandler(QuietHandler):
    def _signed_in(self) -> bool:
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        return "sso_sid" in cookie and cookie["sso_sid"].value == SESSION

    def _redirect(self, to: str, cookie: str | None = None) -> None:
        self.send_response(303 if cookie else 302)
        self.send_header("Location", to)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        html = "text/html; charset=utf-8"
        if path in ("/", "/sso/login"):
            self.answer(200, html, USERNAME_PAGE)
        elif path in ("/sso/home", "/sso/orders") and not self._signed_in():
            self._redirect("/sso/login")
        elif path == "/sso/home":
            self.answer(200, html, HOME)
        elif path == "/sso/orders":
            self.answer(200, html, ORDERS)
        else:
            self.answer(404, html, _page("Not found", ""))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = self.path.split("?", 1)[0]
        html = "text/html; charset=utf-8"
        username = form.get("username", "")
        if path == "/sso/identify":
            self.answer(200, html, _password_page(username))
        elif path == "/sso/session" and (username, form.get("password")) == (USERNAME, PASSWORD):
            self._redirect("/sso/home", f"sso_sid={SESSION}; Path=/; HttpOnly")
        elif path == "/sso/session":
            self.answer(200, html, _password_page(username, "Wrong password."))
        else:
            self.answer(404, html, _page("Not found", ""))
