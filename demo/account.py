"""The demo's account area: a sign-in form, pages behind it, and an admin page.

``/account/login`` signs one of the two fixed demo :data:`ACCOUNTS` in and
sets a server-side session: the cookie (:data:`SESSION_COOKIE`, HttpOnly,
SameSite=Lax) holds only a random id that the server maps to the account, so
signing out really ends the session (the old cookie is refused from then on)
and a server restart signs everyone out. The public site stays cookie-free:
only a successful sign-in sets a cookie.

Every other page redirects an anonymous visitor (302) to
``/account/login?next=<path>``. A wrong username or password re-renders the
form with HTTP **200** and a ``role="alert"`` error, as most sites answer: a
refused sign-in is the form working, not a failed request.

With bugs seeded (see :mod:`demo.bugs`, the entries that need "login" and
"role"), one order's page throws a script error on load, and ``/admin/``
answers its admin content to a plain signed-in user, where the healthy site
answers 403. Everything is fixed data, so every visit looks the same.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Account:
    """One demo account; ``role`` is "user" or "admin"."""

    username: str
    password: str
    role: str
    name: str


# The two demo accounts, keyed by role: tests (and `make run`, once MATF signs in) use these.
ACCOUNTS: Final[dict[str, Account]] = {
    "user": Account("user", "trail-user-pass", "user", "Ada Lovelace"),
    "admin": Account("admin", "summit-admin-pass", "admin", "Grace Hopper"),
}
SESSION_COOKIE: Final = "acme_session"
LOGIN_PATH: Final = "/account/login"
LOGOUT_PATH: Final = "/account/logout"
ACCOUNT_ROOT: Final = "/account/"
ADMIN_PATH: Final = "/admin/"
# (number, date, item, total, status), newest first; every account sees the same three.
ORDERS: Final[tuple[tuple[int, str, str, str, str], ...]] = (
    (1003, "5 May 2024", "Camp Stove Mini", "$54.00", "Processing"),
    (1002, "18 April 2024", "Summit Shell Jacket", "$149.00", "Shipped"),
    (1001, "2 March 2024", "Trail Pack 28L", "$89.00", "Delivered"),
)
ORDERS_BY_NUMBER: Final = {o[0]: o for o in ORDERS}
# Seeded bug "signed-in-page-error": this order has no shipment yet, and its
# tracking script reads the carrier of the missing shipment. It is listed first,
# so an explorer that reads only a few URLs of /account/orders/{id} reads it.
UNSHIPPED_ORDER: Final = 1003
# The section's navigation; "Admin" shows to admins only, "Sign out" on every page.
NAV: Final = (
    ("Dashboard", ACCOUNT_ROOT, "account.dashboard"),
    ("Orders", "/account/orders", "account.orders"),
    ("Settings", "/account/settings", "account.settings"),
)
_OPEN_ENDPOINTS: Final = frozenset({"account.login", "account.logout"})
# Where the app keeps its SessionStore (``app.extensions``), for tests that end every session.
SESSIONS_EXTENSION: Final = "demo_account_sessions"


class SessionStore:
    """Server-side sessions: random ids to usernames, per server, thread-safe."""

    def __init__(self) -> None:
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()

    def open(self, account: Account) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._users[sid] = account.username
        return sid

    def account(self, sid: str | None) -> Account | None:
        with self._lock:
            username = self._users.get(sid or "")
        return ACCOUNTS.get(username or "")

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._users.pop(sid or "", None)

    def clear(self) -> int:
        """End every session, as a server restart would; return how many there were."""
        with self._lock:
            count = len(self._users)
            self._users.clear()
        return count


def session_store(app: Flask) -> SessionStore:
    """The account area's sessions in ``app``: ``session_store(app).clear()`` signs all out."""
    store: SessionStore = app.extensions[SESSIONS_EXTENSION]
    return store


def check_credentials(username: str, password: str) -> Account | None:
    """The account these credentials sign in, or None (compared in constant time)."""
    account = next((a for a in ACCOUNTS.values() if a.username == username), None)
    expected = account.password if account else "not a password of anyone"
    if hmac.compare_digest(expected.encode(), password.encode()) and account is not None:
        return account
    return None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path only, else the dashboard."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return ACCOUNT_ROOT


def make_account_blueprint(bugs: bool) -> Blueprint:
    """Sign-in, sign-out, the pages behind them and the admin page."""
    account = Blueprint("account", __name__)
    store = SessionStore()
    account.record_once(lambda state: state.app.extensions.setdefault(SESSIONS_EXTENSION, store))
    _add_gate(account, store)
    _add_sign_in(account, store)
    _add_pages(account, bugs)
    return account


def _add_gate(account: Blueprint, store: SessionStore) -> None:
    """Who is signed in, for every page of the section; anonymous visitors go to the form."""

    @account.before_request
    def gate() -> ResponseReturnValue | None:
        g.account = store.account(request.cookies.get(SESSION_COOKIE))
        if g.account is None and request.endpoint not in _OPEN_ENDPOINTS:
            wanted = request.full_path if request.query_string else request.path
            return redirect(url_for("account.login", next=wanted))
        return None

    @account.after_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response


def _add_sign_in(account: Blueprint, store: SessionStore) -> None:
    @account.route(LOGIN_PATH, methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        target = safe_next(request.values.get("next"))
        if request.method == "GET":
            if g.account is not None:
                return redirect(target)
            return _login_form("", target, error=False)
        username = request.form.get("username", "").strip()
        signed_in = check_credentials(username, request.form.get("password", ""))
        if signed_in is None:
            return _login_form(username, target, error=True)
        store.close(request.cookies.get(SESSION_COOKIE))  # a fresh id on every sign-in
        response = redirect(target)
        response.set_cookie(
            SESSION_COOKIE, store.open(signed_in), httponly=True, samesite="Lax", path="/"
        )
        return response

    @account.route(LOGOUT_PATH, methods=["GET", "POST"])
    def logout() -> ResponseReturnValue:
        store.close(request.cookies.get(SESSION_COOKIE))
        response = redirect(LOGIN_PATH)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
        return response


def _add_pages(account: Blueprint, bugs: bool) -> None:
    @account.get(ACCOUNT_ROOT)
    def dashboard() -> ResponseReturnValue:
        return _page("account_dashboard.html", orders=ORDERS)

    @account.get("/account/orders")
    def orders() -> ResponseReturnValue:
        return _page("account_orders.html", orders=ORDERS)

    @account.get("/account/orders/<int:number>")
    def order(number: int) -> ResponseReturnValue:
        found = ORDERS_BY_NUMBER.get(number)
        if found is None:
            abort(404)
        return _page(
            "account_order.html",
            order=found,
            shipped=found[4] != "Processing",
            tracking_bug=bugs and number == UNSHIPPED_ORDER,
        )

    @account.route("/account/settings", methods=["GET", "POST"])
    def settings() -> ResponseReturnValue:
        me: Account = g.account
        if request.method == "GET":
            return _page("account_settings.html", values={"name": me.name}, errors=[], saved=False)
        errors = _profile_errors(request.form.get("name", ""), request.form.get("email", ""))
        values = dict(request.form)
        page = _page("account_settings.html", values=values, errors=errors, saved=not errors)
        return page, 400 if errors else 200  # nothing is stored: every visit looks the same

    @account.get(ADMIN_PATH)
    def admin() -> ResponseReturnValue:
        # Seeded bug "admin-open-to-user": with bugs seeded, any signed-in account gets in.
        if g.account.role != "admin" and not bugs:
            return _page("account_forbidden.html"), 403
        return _page("account_admin.html", accounts=tuple(ACCOUNTS.values()))


def _page(template: str, **context: object) -> str:
    me: Account = g.account
    return render_template(template, me=me, account_nav=NAV, **context)


def _login_form(username: str, target: str, *, error: bool) -> ResponseReturnValue:
    return render_template("account_login.html", username=username, target=target, error=error)


def _profile_errors(name: str, email: str) -> list[str]:
    errors = []
    if not name.strip():
        errors.append("Name is required.")
    if email.strip() and "@" not in email:
        errors.append("Email must look like name@example.com.")
    return errors
