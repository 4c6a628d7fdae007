"""Test writer agent (heuristic): turn what exploration found into test specs.

One spec per page load, per unique same-origin link target, per unique image,
per form, per in-page button; per page one accessibility check, one
performance check against budgets and one visual comparison; one API check
per documented (or observed) safe API operation. Specs are data (see
``matf.spec``); they are validated like any hand-written suite, and what a
site's content makes invalid is dropped with its reason (``specguard``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from matf.agents.apidiscovery.operation import ApiOperation, operation_spec
from matf.agents.explore import FormInfo, PageInfo, SiteMap, risky
from matf.agents.specguard import Checked, guard
from matf.agents.values import value_for
from matf.browser.steps import origin_of
from matf.options import RunOptions
from matf.spec import TestSpec

MAX_LINK_TESTS = 200
# What a form's server may answer to values the writer made up: its validation
# refusing them, not a failure. A 404, 405 or 5xx after submitting still fails.
FORM_ANSWERS = (400, 401, 403, 409, 422)
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


DEFAULT_API_TIME_MS = 2000


@dataclass(frozen=True)
class WriterOptions:
    """What a run asks of the tests written for it, beyond the types.

    ``budgets``: performance budgets over the defaults (``spec.Budgets``
    fields; None turns one off); ``masks``: CSS selectors painted over in
    visual checks (clocks, ads); ``api_time_ms``: response time budget of
    generated API checks; ``viewports``: (width, height) to capture each page
    at (none: the run's device or the default 1280x720).
    """

    budgets: dict[str, Any] = field(default_factory=dict)
    masks: tuple[str, ...] = ()
    api_time_ms: int = DEFAULT_API_TIME_MS
    viewports: tuple[tuple[int, int], ...] = ()  # visual checks per page and viewport


def write_specs(
    site: SiteMap, types: list[str], options: WriterOptions | None = None
) -> list[TestSpec]:
    """All the specs that validate for an explored site; ``write_checked`` says what was dropped."""
    return write_checked(site, types, options).specs


def write_checked(site: SiteMap, types: list[str], options: WriterOptions | None = None) -> Checked:
    """The specs for an explored site, for the asked test types, and those dropped with why."""
    options = options or WriterOptions()
    ids = _Ids()
    specs: list[dict[str, object]] = []
    functional = "functional" in types
    origin = origin_of(site.start)
    if functional:
        specs += [_page_spec(ids, p) for p in [*site.pages, *site.states]]
        specs += _link_specs(ids, site, origin)
        specs += _image_specs(ids, site, origin)
        for page in [*site.pages, *site.states]:
            specs += [s for f in page.forms if (s := _form_spec(ids, page, f)) is not None]
            specs += [_button_spec(ids, page, name, loc) for name, loc in page.buttons]
    if "accessibility" in types:
        # a state is checked where it opened a dialog: elsewhere it is the page, checked once
        opened = [p for p in site.states if p.state.startswith(_DIALOG)]
        specs += [_a11y_spec(ids, p) for p in [*site.pages, *opened]]
    if "performance" in types:
        specs += [_perf_spec(ids, p, options.budgets) for p in site.pages]
    if "visual" in types:
        sizes: tuple[tuple[int, int] | None, ...] = options.viewports or (None,)
        specs += [_visual_spec(ids, p, options.masks, size) for p in site.pages for size in sizes]
    if "api" in types:
        specs += [_api_spec(ids, op, options.api_time_ms) for op in site.api_operations]
    return guard(specs)


def _perf_spec(ids: _Ids, page: PageInfo, budgets: dict[str, Any]) -> dict[str, object]:
    path = _path(page.url)
    return {
        "id": ids.make("perf", path),
        "name": f"Page {path} loads within its performance budgets",
        "kind": "performance",
        "category": "performance",
        "url": page.url,
        "steps": [
            {"action": "goto", "url": page.url, "wait_until": "load"},
            {"action": "check_performance", "budgets": budgets},
        ],
    }


def _visual_spec(
    ids: _Ids, page: PageInfo, masks: tuple[str, ...], size: tuple[int, int] | None
) -> dict[str, object]:
    path = _path(page.url)
    step: dict[str, object] = {"action": "check_visual", "name": "page"}
    if masks:
        step["mask"] = [{"css": selector} for selector in masks]
    spec: dict[str, object] = {
        "id": ids.make("visual", path if size is None else f"{path}-{size[0]}x{size[1]}"),
        "name": f"Page {path} looks as approved"
        + ("" if size is None else f" at {size[0]}x{size[1]}"),
        "kind": "visual",
        "category": "visual",
        "url": page.url,
        "steps": [{"action": "goto", "url": page.url, "wait_until": "networkidle"}, step],
    }
    if size is not None:
        spec["viewport"] = {"width": size[0], "height": size[1]}
    return spec


def _api_spec(ids: _Ids, op: ApiOperation, time_ms: int) -> dict[str, object]:
    spec = operation_spec(ids, op)
    steps: list[dict[str, object]] = spec["steps"]  # type: ignore[assignment]
    steps[0]["max_time_ms"] = time_ms
    return spec


_DIALOG = "in the dialog"


def _open(page: PageInfo, **goto: object) -> list[dict[str, object]]:
    """The steps that reach what ``page`` shows: its URL, then the clicks revealing its state."""
    return [{"action": "goto", "url": page.url, **goto}, *page.via]


def _where(page: PageInfo) -> str:
    """Where a test's subject is, for its name: "on /p", or "in the dialog opened by 'X' on /p"."""
    return f"{page.state} on {_path(page.url)}" if page.via else f"on {_path(page.url)}"


def _page_spec(ids: _Ids, page: PageInfo) -> dict[str, object]:
    path = _path(page.url)
    return {
        "id": ids.make("page", path),
        "name": f"Page {path} loads cleanly" if not page.via else f"State {_where(page)} is clean",
        "category": "page",
        "url": page.url,
        "steps": [
            *_open(page, wait_until="networkidle"),
            {"action": "expect_no_page_errors"},
            {"action": "expect_no_console_errors"},
            {"action": "expect_no_failed_requests"},
        ],
    }


def _link_specs(ids: _Ids, site: SiteMap, origin: str) -> list[dict[str, object]]:
    sources: dict[str, list[str]] = {}
    for page in site.pages:
        for href, text in page.links:
            if risky(urlsplit(href).path) or risky(text):
                continue  # fetching /logout signs the run's session out, for every test
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
    steps: list[dict[str, object]] = _open(page)
    for constraints, locator in form.fields:
        if constraints.type == "checkbox":
            if constraints.required:
                steps.append({"action": "check", **_target(page, locator)})
        elif constraints.type == "radio":
            steps.append({"action": "check", **_target(page, locator)})
        else:
            value = value_for(constraints)
            if value is None:
                if constraints.required:
                    return None  # no value satisfies it: a form we can't fill honestly
                continue
            action = "select" if constraints.tag == "select" else "fill"
            steps.append({"action": action, **_target(page, locator), "value": value})
    if form.submit is not None:
        steps.append({"action": "submit", **_target(page, form.submit)})
    else:
        # Enter submits from a text-like input only: not from a select, a textarea, a checkbox.
        typed = [
            loc
            for c, loc in form.fields
            if c.tag == "input" and c.type not in ("checkbox", "radio")
        ]
        last = typed[-1] if typed else None
        if last is None:
            return None
        steps.append({"action": "press", **_target(page, last), "key": "Enter"})
    since = {"since_last_action": True}
    steps += [
        {"action": "expect_no_server_errors"},
        {"action": "expect_no_failed_requests", **since, "answers": list(FORM_ANSWERS)},
        {"action": "expect_no_page_errors", **since},
        {"action": "expect_no_console_errors", **since},
        {"action": "expect_change"},
        {"action": "expect_content"},
    ]
    action_path = _path(form.action) if form.action else _path(page.url)
    return {
        "id": ids.make("form", f"{_path(page.url)}-{action_path}"),
        "name": f"Form {_where(page)} ({form.method.upper()} {action_path}) submits",
        "category": "form",
        "url": page.url,
        "steps": steps,
    }


def _target(page: PageInfo, locator: dict[str, Any]) -> dict[str, object]:
    """A step's target, with the other locators exploration found for the same element."""
    others = page.alternatives_of(locator)
    return {"target": locator, "alternatives": others} if others else {"target": locator}


def _button_spec(
    ids: _Ids, page: PageInfo, name: str, locator: dict[str, object]
) -> dict[str, object]:
    label = name or str(next(iter(locator.values())))
    return {
        "id": ids.make("button", f"{_path(page.url)}-{label}"),
        "name": f"Button {label!r} {_where(page)} works",
        "category": "button",
        "url": page.url,
        "steps": [
            *_open(page),
            {"action": "click", **_target(page, locator)},
            {"action": "expect_no_page_errors", "since_last_action": True},
            {"action": "expect_no_failed_requests", "since_last_action": True},
            {"action": "expect_no_console_errors", "since_last_action": True},
        ],
    }


def _a11y_spec(ids: _Ids, page: PageInfo) -> dict[str, object]:
    path = _path(page.url)
    return {
        "id": ids.make("a11y", path),
        "name": f"Page {path} has no accessibility violations"
        + (f" {page.state}" if page.via else ""),
        "kind": "accessibility",
        "category": "accessibility",
        "url": page.url,
        "steps": [
            *_open(page, wait_until="networkidle"),
            {"action": "check_accessibility"},
        ],
    }


def writer_options(target_budgets: dict[str, Any], options: RunOptions) -> WriterOptions:
    """A run's writer options: its own budgets over the target's saved ones."""
    return WriterOptions(
        budgets={**target_budgets, **options.budgets},
        masks=options.rendering.masks,
        viewports=options.rendering.viewports,
    )
