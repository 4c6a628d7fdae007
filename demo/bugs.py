"""The machine-readable list of bugs seeded into the demo site.

Benchmarks score MATF's findings against this list, so every entry names the
exact path where the bug shows up. ``create_app(bugs=False)`` removes them all.
Each entry's ``test_type`` says which kind of MATF test finds it, so a
benchmark that runs only some test types can ask :func:`bugs_for_types` for
the bugs it should find.

The back office (``/app``, a client-side-routed section) holds bugs that a
page load and a plain click do not reveal: each names in ``needs`` the
explorer capabilities (:data:`CAPABILITIES`) it takes to find it, and
:func:`bugs_for_types` leaves them out unless asked for those capabilities.

The account area (``/account``, ``/admin``) holds bugs only a signed-in run can
reach: their ``needs`` name what the run must be given (:data:`ACCESS`), the
demo's accounts ("login") and several of them compared ("role"). They are kept
apart from :data:`CAPABILITIES` so that ``bugs_for_types(types, CAPABILITIES)``
stays what an anonymous run finds; :data:`NEEDS` asks for every bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

# Which MATF test type finds a bug of each category.
TEST_TYPE_BY_CATEGORY: Final[dict[str, str]] = {
    "link": "functional",
    "page": "functional",
    "form": "functional",
    "button": "functional",
    "image": "functional",
    "accessibility": "accessibility",
    "performance": "performance",
    "visual": "visual",
    "api": "api",
    "access": "functional",
}
CATEGORIES: Final = frozenset(TEST_TYPE_BY_CATEGORY)
TEST_TYPES: Final = frozenset(TEST_TYPE_BY_CATEGORY.values())
# What an explorer must do, beyond loading pages and clicking visible buttons:
# "interaction" opens dialogs, submits script-handled forms and follows
# buttons that navigate with pushState; "click-evidence" records failed
# requests and console errors after a click; "shadow-dom" reads open shadow
# roots; "frames" reads same-origin frames.
CAPABILITIES: Final = frozenset({"interaction", "click-evidence", "shadow-dom", "frames"})
INTERACTION: Final = frozenset({"interaction"})
# What a run must be given, beyond exploring: "login" signs in with one of the
# demo's accounts (demo.account.ACCOUNTS); "role" runs as several accounts and
# compares what each may open.
ACCESS: Final = frozenset({"login", "role"})
NEEDS: Final = CAPABILITIES | ACCESS  # every name a bug's ``needs`` may hold


@dataclass(frozen=True)
class SeededBug:
    """One deliberate defect, and where MATF should find it.

    ``path`` is the broken link's target for "link", the image's ``src`` for
    "image", the endpoint for "api", and the page holding the problem for every
    other category ("access": the page an account may open though it should not).
    """

    id: str
    category: str
    path: str
    description: str
    needs: frozenset[str] = frozenset()  # what it takes to find it (NEEDS)

    @property
    def test_type(self) -> str:
        """The MATF test type that finds this bug, e.g. "functional" or "visual"."""
        return TEST_TYPE_BY_CATEGORY[self.category]


SEEDED_BUGS: Final[tuple[SeededBug, ...]] = (
    SeededBug(
        id="broken-link",
        category="link",
        path="/careers",
        description="The footer link 'Careers' on every page points to /careers, answering 404.",
    ),
    SeededBug(
        id="error-on-load",
        category="page",
        path="/products/summit-jacket",
        description=(
            "The size-guide script looks up a missing element on load and throws an "
            "uncaught TypeError (a Playwright 'pageerror')."
        ),
    ),
    SeededBug(
        id="form-500",
        category="form",
        path="/contact",
        description="Submitting the contact form answers HTTP 500 'Something went wrong'.",
    ),
    SeededBug(
        id="button-throws",
        category="button",
        path="/products/trail-pack",
        description=(
            "The 'Check availability' button (type=button) calls an undefined "
            "'inventory' object and throws an uncaught ReferenceError."
        ),
    ),
    SeededBug(
        id="broken-image",
        category="image",
        path="/static/img/camp-stove.png",
        description="The Camp Stove card on /products shows an image whose src answers 404.",
    ),
    SeededBug(
        id="failing-request",
        category="page",
        path="/dashboard",
        description="The dashboard's background fetch of /api/stats answers HTTP 500.",
    ),
    SeededBug(
        id="console-error",
        category="page",
        path="/",
        description="The home page calls console.error('Recommendations widget failed ...').",
    ),
    SeededBug(
        id="a11y-violations",
        category="accessibility",
        path="/about",
        description=(
            "axe-core violations: the team photo has no alt text (image-alt) and the "
            "photo caption has too little contrast (color-contrast)."
        ),
    ),
    SeededBug(
        id="a11y-violations-newsletter",
        category="accessibility",
        path="/newsletter",
        description=(
            "axe-core violations: the email input has no label (label) and the "
            "icon-only submit button has no accessible name (button-name)."
        ),
    ),
    SeededBug(
        id="slow-page",
        category="performance",
        path="/stores",
        description=(
            "The store locator answers after a 1 s server-side wait (TTFB over the 800 ms "
            "budget) and runs a 350 ms synchronous loop just after load (Total Blocking "
            "Time about 300 ms, over the 200 ms budget)."
        ),
    ),
    SeededBug(
        id="layout-shift",
        category="performance",
        path="/journal",
        description=(
            "300 ms after load a script inserts a tall banner at the top of the journal's "
            "main content with no space reserved, pushing the text down "
            "(Cumulative Layout Shift well over the 0.1 budget)."
        ),
    ),
    SeededBug(
        id="visual-change",
        category="visual",
        path="/about",
        description=(
            "Site version 2 restyles the about page: a red heading and a smaller team "
            "photo floated beside the team list (a visual regression against version 1)."
        ),
    ),
    SeededBug(
        id="api-schema",
        category="api",
        path="/api/products",
        description=(
            "GET /api/products breaks its documented schema: the Camp Stove's 'price' is "
            'the string "54.00" where the OpenAPI document says number.'
        ),
    ),
    SeededBug(
        id="dialog-form-throws",
        category="form",
        path="/app/contacts",
        description=(
            "'New contact' opens a <dialog> holding a form; its Save handler reads a renamed "
            "field and throws an uncaught TypeError (reading 'value'), so nothing is saved."
        ),
        needs=INTERACTION,
    ),
    SeededBug(
        id="click-failed-request",
        category="button",
        path="/app/orders",
        description=(
            "The 'Refresh' button fetches /api/app/orders/summary, which answers HTTP 500; "
            "the page swallows the error (no page error, no console message of its own)."
        ),
        needs=frozenset({"click-evidence"}),
    ),
    SeededBug(
        id="script-form-console-error",
        category="form",
        path="/app/search",
        description=(
            "The search form is handled by script (no navigation); every search logs "
            "console.error('Search index is stale ...') while the results still show."
        ),
        needs=frozenset({"interaction", "click-evidence"}),
    ),
    SeededBug(
        id="route-only-view",
        category="page",
        path="/app/reports/monthly",
        description=(
            "Reached only by the 'Open report' button on /app (pushState, no link): its data "
            "request /api/app/reports/monthly answers HTTP 500 and rendering throws an uncaught "
            "TypeError (reading 'map'). Loading the URL directly shows the same."
        ),
        needs=INTERACTION,
    ),
    SeededBug(
        id="shadow-broken-link",
        category="link",
        path="/help/returns",
        description=(
            "The <help-card> on /app links 'returns policy' from inside its open shadow root "
            "to /help/returns, answering 404."
        ),
        needs=frozenset({"shadow-dom"}),
    ),
    SeededBug(
        id="frame-broken-image",
        category="image",
        path="/static/img/app-zones.png",
        description=(
            "/app/help frames /app/help-frame (same origin), whose shipping-zones map's src "
            "answers 404."
        ),
        needs=frozenset({"frames"}),
    ),
    SeededBug(
        id="signed-in-page-error",
        category="page",
        path="/account/orders/1003",
        description=(
            "Behind the sign-in: the page of order 1003 (not shipped yet) runs a tracking "
            "script that reads the carrier of its missing shipment and throws an uncaught "
            "TypeError on load (reading 'carrier'). An anonymous visitor only sees the form."
        ),
        needs=frozenset({"login"}),
    ),
    SeededBug(
        id="admin-open-to-user",
        category="access",
        path="/admin/",
        description=(
            "The admin page answers 200 with the list of accounts to the plain signed-in "
            "account 'user', where it should answer 403 (an authorization bug); "
            "'admin' rightly gets it."
        ),
        needs=frozenset({"login", "role"}),
    ),
)


def bugs_for_types(types: Iterable[str], capabilities: Iterable[str] = ()) -> tuple[SeededBug, ...]:
    """The seeded bugs that the given MATF test types find, in list order.

    ``bugs_for_types(["functional", "accessibility"])`` is what a default run
    should find. A bug that ``needs`` explorer capabilities or access is left
    out unless all of them are in ``capabilities`` (``CAPABILITIES`` for every
    bug an anonymous run can find, ``NEEDS`` for every bug). An
    unknown type or capability raises ``ValueError`` (a typo would otherwise
    quietly score against nothing).
    """
    wanted, able = set(types), set(capabilities)
    _check_known("test type", wanted, TEST_TYPES)
    _check_known("capability", able, NEEDS)
    return tuple(b for b in SEEDED_BUGS if b.test_type in wanted and b.needs <= able)


def _check_known(what: str, names: set[str], known: frozenset[str]) -> None:
    unknown = names - known
    if unknown:
        listed = ", ".join(sorted(known))
        raise ValueError(f"unknown {what}(s) {', '.join(sorted(unknown))}; known: {listed}")
