"""Test writer agent (heuristic): turn what exploration found into test specs.

One spec per page load, per unique same-origin link target, per unique image,
per form, per in-page button, and one accessibility check per page. Specs are
data (see ``matf.spec``); they are validated like any hand-written suite.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from matf.agents.explore import FormInfo, PageInfo, SiteMap
from matf.agents.values import value_for
from matf.browser.steps import origin_of
from matf.spec import TestSpec, parse_spec

MAX_LINK_TESTS = 200
MAX_IMAGE_TESTS = 200


def _slug(text: str, limit: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug or "root")[:limit].strip("-") or "root"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") or "/"


class _Ids:
    """Stable, unique test ids."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, prefix: str, text: str) -> str:
        base = f"{prefix}-{_slug(text)}"
        candidate, n = base, 2
        while candidate in self.used:
            candidate, n = f"{base}-{n}", n + 1
        self.used.add(candidate)
        return candidate


def write_specs(site: SiteMap, types: list[str]) -> list[TestSpec]:
    """All the specs for a explored site, for the asked test types."""
    ids = _Ids()
    specs: list[dict[str, object]] = []
    functional = "functional" in types
    origin = origin_of(site.start)
    if functional:
        specs += [_page_spec(ids, p) for p in site.pages]
        specs += _link_specs(ids, site, origin)
        specs += _image_specs(ids, site, origin)
        for page in site.pages:
            specs += [s for f in page.forms if (s := _form_spec(ids, page, f)) is not None]
            specs += [_button_spec(ids, page, name, loc) for name, loc in page.buttons]
    if "accessibility" in types:
        specs += [_a11y_spec(ids, p) for p in site.pages]
    return [parse_spec(s) for s in specs]


def _page_spec(ids: _Ids, page: PageInfo) -> dict[str, object]:
    path = _path(page.url)
    return {
        "id": ids.make("page", path),
        "name": f"Page {path} loads cleanly",
        "category": "page",
        "url": page.url,
        "steps": [
            {"action": "goto", "url": page.url, "wait_until": "networkidle"},
            {"action": "expect_no_page_errors"},
            {"action": "expect_no_console_errors"},
            {"action": "expect_no_failed_requests"},
        ],
    }


def _link_specs(ids: _Ids, site: SiteMap, origin: str) -> list[dict[str, object]]:
    sources: dict[str, list[str]] = {}
    for page in site.pages:
        for href, _text in page.links:
            if urlsplit(href).scheme in ("http", "https") and origin_of(href) == origin:
                sources.setdefault(href, [])
                if _path(page.url) not in sources[href]:
                    sources[href].append(_path(page.url))
    specs: list[dict[str, object]] = []
    for href, found_on in list(sources.items())[:MAX_LINK_TESTS]:
        path = _path(href)
        shown = ", ".join(found_on[:3]) + (" …" if len(found_on) > 3 else "")
        specs.append(
            {
                "id": ids.make("link", path),
                "name": f"Link to {path} resolves (on {shown})",
                "category": "link",
                "url": href,
                "steps": [{"action": "expect_status", "url": href, "status": "2xx"}],
            }
        )
    return specs


def _image_specs(ids: _Ids, site: SiteMap, origin: str) -> list[dict[str, object]]:
    found: dict[str, str] = {}
    for page in site.pages:
        for src, _alt in page.images:
            if urlsplit(src).scheme in ("http", "https") and origin_of(src) == origin:
                found.setdefault(src, _path(page.url))
    return [
        {
            "id": ids.make("image", _path(src)),
            "name": f"Image {_path(src)} loads (on {page})",
            "category": "image",
            "url": src,
            "steps": [
                {"action": "expect_status", "url": src, "status": "2xx", "content_type": "image/"}
            ],
        }
        for src, page in list(found.items())[:MAX_IMAGE_TESTS]
    ]


def _form_spec(ids: _Ids, page: PageInfo, form: FormInfo) -> dict[str, object] | None:
    if form.skipped_reason is not None or (form.submit is None and not form.fields):
        return None
    steps: list[dict[str, object]] = [{"action": "goto", "url": page.url}]
    for constraints, locator in form.fields:
        if constraints.type == "checkbox":
            if constraints.required:
                steps.append({"action": "check", "target": locator})
        elif constraints.type == "radio":
            steps.append({"action": "check", "target": locator})
        else:
            value = value_for(constraints)
            if value is None:
                if constraints.required:
                    return None  # no value satisfies it: a form we can't fill honestly
                continue
            action = "select" if constraints.tag == "select" else "fill"
            steps.append({"action": action, "target": locator, "value": value})
    if form.submit is not None:
        steps.append({"action": "submit", "target": form.submit})
    else:
        last = next(
            (loc for c, loc in reversed(form.fields) if c.type not in ("checkbox", "radio")), None
        )
        if last is None:
            return None
        steps.append({"action": "press", "target": last, "key": "Enter"})
    steps += [
        {"action": "expect_no_server_errors"},
        {"action": "expect_no_page_errors", "since_last_action": True},
        {"action": "expect_content"},
    ]
    action_path = _path(form.action) if form.action else _path(page.url)
    return {
        "id": ids.make("form", f"{_path(page.url)}-{action_path}"),
        "name": f"Form on {_path(page.url)} ({form.method.upper()} {action_path}) submits",
        "category": "form",
        "url": page.url,
        "steps": steps,
    }


def _button_spec(
    ids: _Ids, page: PageInfo, name: str, locator: dict[str, object]
) -> dict[str, object]:
    label = name or str(next(iter(locator.values())))
    return {
        "id": ids.make("button", f"{_path(page.url)}-{label}"),
        "name": f"Button {label!r} on {_path(page.url)} works",
        "category": "button",
        "url": page.url,
        "steps": [
            {"action": "goto", "url": page.url},
            {"action": "click", "target": locator},
            {"action": "expect_no_page_errors", "since_last_action": True},
        ],
    }


def _a11y_spec(ids: _Ids, page: PageInfo) -> dict[str, object]:
    path = _path(page.url)
    return {
        "id": ids.make("a11y", path),
        "name": f"Page {path} has no accessibility violations",
        "kind": "accessibility",
        "category": "accessibility",
        "url": page.url,
        "steps": [
            {"action": "goto", "url": page.url, "wait_until": "networkidle"},
            {"action": "check_accessibility"},
        ],
    }
