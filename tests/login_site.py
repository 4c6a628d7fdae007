"""A small site of sign-in forms that cannot be passed, for the sign-in's failure reasons.

- ``/``: a page without any form (and the usual sign-in paths answer 404);
- ``/captcha/login``: a form with a reCAPTCHA widget; every submit comes back
  with "Please complete the CAPTCHA";
- ``/otp/login``: a form whose submit sets a half-open session cookie and asks
  for the one-time code of an authenticator app;
- ``/elsewhere/login``: a form that posts to another origin;
- ``/spa/login``: a form handled by script, as single-page apps do: it posts
  to ``/spa/session``, keeps the token it gets in local storage (no cookie)
  and moves to ``/spa/home`` a moment later.

Everything is local: the CAPTCHA widget is a placeholder box, as a page shows
before the vendor's script has drawn it.
"""

from __future__ import annotations

from tests.services import QuietHandler

OTHER_ORIGIN = "http://127.0.0.2:9/collect"


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head>'
        f"<body><main><h1>{title}</h1>{body}</main></body></html>"
    ).encode()


def _form(action: str, extra: str = "", error: str = "") -> str:
    alert = f'<p role="alert">{error}</p>' if error else ""
    return f"""{alert}<form method="post" action="{action}">
<label for="email">Email</label><input id="email" name="email" type="email">
<label for="pw">Password</label><input id="pw" name="pw" type="password">
{extra}<button type="submit">Log in</button></form>"""


CAPTCHA = (
    '<div class="g-recaptcha" data-sitekey="test-site-key" style="width:300px;height:74px"></div>'
    '<textarea name="g-recaptcha-response" style="display:none"></textarea>'
)
OTP = """<p>Enter the 6-digit code from your authenticator app.</p>
<form method="post" action="/otp/verify"><label for="otp">Code</label>
<input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code">
<button type="submit">Verify</button></form>"""


SPA = """<form id="f"><label for="user">Username</label><input id="user" autocomplete="username">
<label for="pw">Password</label><input id="pw" type="password">
<button type="submit">Sign in</button></form>
<script>
document.getElementById("f").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await fetch("/spa/session", {method: "POST"});
  localStorage.setItem("token", (await answer.json()).token);
  setTimeout(() => { location.href = "/spa/home"; }, 300);
});
</script>"""
SPA_TOKEN = "spa-token-Hx93"


class LoginSiteHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        pages = {
            "/": _page("Welcome", "<p>Nothing to sign in to here.</p>"),
            "/captcha/login": _page("Sign in", _form("/captcha/login", CAPTCHA)),
            "/otp/login": _page("Sign in", _form("/otp/login")),
            "/elsewhere/login": _page("Sign in", _form(OTHER_ORIGIN)),
            "/spa/login": _page("Sign in", SPA),
            "/spa/home": _page("Your account", "<p>Signed in.</p>"),
        }
        if path in pages:
            self.answer(200, "text/html; charset=utf-8", pages[path])
        elif path == "/spa/session":
            self.answer(200, "application/json", f'{{"token": "{SPA_TOKEN}"}}'.encode())
        else:
            self.answer(404, "text/html; charset=utf-8", _page("Not found", ""))

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path == "/captcha/login":
            form = _form("/captcha/login", CAPTCHA, "Please complete the CAPTCHA.")
            self.answer(200, "text/html; charset=utf-8", _page("Sign in", form))
        elif path == "/otp/login":
            data = _page("Two-step verification", OTP)
            self.send_response(200)
            self.send_header("Set-Cookie", "pending_mfa=half-open; Path=/; HttpOnly")
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path == "/spa/session":
            self.answer(200, "application/json", f'{{"token": "{SPA_TOKEN}"}}'.encode())
        else:
            self.answer(404, "text/html; charset=utf-8", _page("Not found", ""))
