"""The machine-readable list of bugs seeded into the demo site.

Benchmarks score MATF's findings against this list, so every entry names the
exact path where the bug shows up. ``create_app(bugs=False)`` removes them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CATEGORIES: Final = frozenset({"link", "page", "form", "button", "image", "accessibility"})


@dataclass(frozen=True)
class SeededBug:
    """One deliberate defect, and where MATF should find it.

    ``path`` is the broken link's target for "link", the image's ``src`` for
    "image", and the page holding the problem for every other category.
    """

    id: str
    category: str
    path: str
    description: str


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
)
