"""The demo's back office: a client-side-routed section under ``/app``.

One HTML shell answers ``/app`` and every ``/app/<route>`` (the server
fallback real single-page apps have); ``static/app/router.js`` routes with the
History API and renders each view from the JSON under ``/api/app``. Those
endpoints are deliberately left out of the OpenAPI document: they are the
back office's own feed, like ``/api/stats``.

With bugs seeded, the section's bugs (see :mod:`demo.bugs`, the entries that
need more than a page load) show only after interaction: a dialog's Save
throws, "Refresh" answers 500, the search logs a console error, the report
reached only by a button fails, a link inside a shadow root and an image inside
a frame answer 404. Page loads stay clean in both modes.

The "Delete all orders" button deletes nothing; it counts its clicks
(``GET /api/app/danger-clicks``) so tests can prove an explorer never pressed
it. Created contacts are not stored, so every visit looks the same.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from demo.catalog import PRODUCTS

APP_ROOT: Final = "/app"
API_ROOT: Final = "/api/app"
ORDERS_PER_PAGE: Final = 3
# (number, customer, item, total, status), newest first: three pages of three.
ORDERS: Final[tuple[tuple[int, str, str, str, str], ...]] = (
    (4821, "Ada Lovelace", "Trail Pack 28L", "$89.00", "Open"),
    (4820, "Grace Hopper", "Camp Stove Mini", "$54.00", "Shipped"),
    (4819, "Alan Turing", "Summit Shell Jacket", "$149.00", "Shipped"),
    (4818, "Edsger Dijkstra", "Trail Pack 28L", "$89.00", "Open"),
    (4817, "Barbara Liskov", "Camp Stove Mini", "$108.00", "Shipped"),
    (4816, "Donald Knuth", "Summit Shell Jacket", "$149.00", "Shipped"),
    (4815, "Frances Allen", "Trail Pack 28L", "$178.00", "Open"),
    (4814, "John Backus", "Camp Stove Mini", "$54.00", "Shipped"),
    (4813, "Radia Perlman", "Summit Shell Jacket", "$149.00", "Shipped"),
)
PAGES: Final = len(ORDERS) // ORDERS_PER_PAGE
CONTACTS: Final[tuple[tuple[str, str], ...]] = (
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
)
REPORT_ROWS: Final[tuple[tuple[str, int, str], ...]] = (
    ("Trail Pack 28L", 3, "$356.00"),
    ("Camp Stove Mini", 3, "$216.00"),
    ("Summit Shell Jacket", 3, "$447.00"),
)
# The section's navigation (the report is reached by a button only).
NAV: Final = (
    ("Overview", "/app"),
    ("Orders", "/app/orders"),
    ("Contacts", "/app/contacts"),
    ("Search", "/app/search"),
    ("Help", "/app/help"),
)
LINKED_VIEWS: Final = tuple(href for _label, href in NAV)
REPORT_VIEW: Final = "/app/reports/monthly"
FRAME_PATH: Final = "/app/help-frame"
RETURNS_PATH: Final = "/help/returns"  # linked from a shadow root; a page only when healthy
FRAME_IMAGE: Final = "img/app-zones.svg"
BROKEN_FRAME_IMAGE: Final = "img/app-zones.png"  # seeded bug "frame-broken-image"


def order_json(order: tuple[int, str, str, str, str]) -> dict[str, Any]:
    number, customer, item, total, status = order
    return {"number": number, "customer": customer, "item": item, "total": total, "status": status}


def _page_arg() -> int:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 0
    return page if 1 <= page <= PAGES else 0


def make_backoffice_blueprint(bugs: bool) -> Blueprint:
    """The shell, its help frame, the returns page (healthy only) and the JSON feed."""
    office = Blueprint("backoffice", __name__)
    _add_pages(office, bugs)
    _add_feed(office, bugs)
    return office


def _add_pages(office: Blueprint, bugs: bool) -> None:
    @office.get(APP_ROOT)
    @office.get(APP_ROOT + "/<path:route>")
    def shell(route: str = "") -> ResponseReturnValue:
        return render_template("app.html", seeded="on" if bugs else "off", views=NAV)

    @office.get(FRAME_PATH)
    def help_frame() -> ResponseReturnValue:
        return render_template("app_frame.html", image=BROKEN_FRAME_IMAGE if bugs else FRAME_IMAGE)

    if not bugs:  # seeded bug "shadow-broken-link": the shadow root links it either way

        @office.get(RETURNS_PATH)
        def returns() -> ResponseReturnValue:
            return render_template("returns.html")


def _add_feed(office: Blueprint, bugs: bool) -> None:
    """The back office's JSON; only what a click asks for fails with bugs seeded."""
    deletions = {"clicks": 0}
    lock = threading.Lock()

    @office.get(API_ROOT + "/orders")
    def orders() -> ResponseReturnValue:
        page = _page_arg()
        if not page:
            return jsonify(error=f"page must be 1 to {PAGES}"), 400
        start = (page - 1) * ORDERS_PER_PAGE
        chunk = ORDERS[start : start + ORDERS_PER_PAGE]
        return jsonify(orders=[order_json(o) for o in chunk], page=page, pages=PAGES)

    @office.get(API_ROOT + "/orders/summary")
    def summary() -> ResponseReturnValue:
        if bugs:  # seeded bug "click-failed-request": only "Refresh" asks for it
            return jsonify(error="order summary backend unavailable"), 500
        open_count = sum(1 for o in ORDERS if o[4] == "Open")
        return jsonify(open=open_count, shipped=len(ORDERS) - open_count, total=len(ORDERS))

    @office.post(API_ROOT + "/orders/delete-all")
    def delete_all() -> ResponseReturnValue:
        with lock:
            deletions["clicks"] += 1
        return jsonify(deleted=0, note="Demo: nothing was deleted.")

    @office.get(API_ROOT + "/danger-clicks")
    def danger_clicks() -> ResponseReturnValue:
        with lock:
            return jsonify(delete_all=deletions["clicks"])

    @office.get(API_ROOT + "/contacts")
    def contacts() -> ResponseReturnValue:
        return jsonify(contacts=[{"name": n, "email": e} for n, e in CONTACTS])

    @office.post(API_ROOT + "/contacts")
    def new_contact() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        name = str(body.get("name", "")).strip()
        email = str(body.get("email", "")).strip()
        if not name or "@" not in email:
            return jsonify(error="a name and an email address are required"), 400
        return jsonify(name=name, email=email), 201  # not stored: every visit looks the same

    @office.get(API_ROOT + "/search")
    def search() -> ResponseReturnValue:
        return jsonify(results=_search(request.args.get("q", "")))

    @office.get(API_ROOT + "/reports/monthly")
    def report() -> ResponseReturnValue:
        if bugs:  # seeded bug "route-only-view"
            return jsonify(error="report service unavailable"), 500
        rows = [{"item": i, "orders": n, "revenue": r} for i, n, r in REPORT_ROWS]
        return jsonify(month="May 2024", rows=rows)


def _search(query: str) -> list[dict[str, str]]:
    """Products and orders whose text holds ``query`` (case-insensitive); none for blank."""
    needle = query.strip().lower()
    if not needle:
        return []
    hits = [
        {"kind": "Product", "title": p.name, "detail": p.price}
        for p in PRODUCTS
        if needle in p.name.lower()
    ]
    hits += [
        {"kind": "Order", "title": f"Order {n}", "detail": f"{c}: {i}"}
        for n, c, i, _total, _status in ORDERS
        if needle in f"{n} {c} {i}".lower()
    ]
    return hits
