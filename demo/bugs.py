"""The machine-readable list of bugs seeded into the demo site.

Benchmarks score MATF's findings against this list, so every entry names the
exact path where the bug shows up. ``create_app(bugs=False)`` removes them all.
Each entry's ``test_type`` says which kind of MATF test finds it, so a
benchmark that runs only some test types can ask :func:`bugs_for_types` for
the bugs it should find.
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
}
CATEGORIES: Final = frozenset(TEST_TYPE_BY_CATEGORY)
TEST_TYPES: Final = frozenset(TEST_TYPE_BY_CATEGORY.values())


@dataclass(frozen=True)
class SeededBug:
    """One deliberate defect, and where MATF should find it.

    ``path`` is the broken link's target for "link", the image's ``src`` for
    "image", the endpoint for "api", and the page holding the problem for every
    other category.
    """

    id: str
    category: str
    path: str
    description: str

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
)


def bugs_for_types(types: Iterable[str]) -> tuple[SeededBug, ...]:
    """The seeded bugs that the given MATF test types find, in list order.

    ``bugs_for_types(["functional", "accessibility"])`` is what a default run
    should find. An unknown type name raises ``ValueError`` (a typo would
    otherwise quietly score against nothing).
    """
    wanted = set(types)
    unknown = wanted - TEST_TYPES
    if unknown:
        known = ", ".join(sorted(TEST_TYPES))
        raise ValueError(f"unknown test type(s) {', '.join(sorted(unknown))}; known: {known}")
    return tuple(b for b in SEEDED_BUGS if b.test_type in wanted)
