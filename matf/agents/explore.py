"""Explore a site in a real browser: same origin, breadth first, up to N pages.

What the page shows is read once per page by ``explore.js``; locators are then
chosen here and checked against the live page (a locator must match exactly
one element), preferring role+name, label and text over CSS.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from matf.agents.apidiscovery import discover_documented
from matf.agents.apidiscovery.observed import observed_operations
from matf.agents.apidiscovery.operation import ApiOperation
from matf.agents.frontier import Frontier, TemplateSample, normalize
from matf.agents.values import Field
from matf.browser.guard import context_options
from matf.browser.page import matching, wait_quiet
from matf.browser.steps import origin_of
from matf.netguard import NetworkPolicy
from matf.options import MAX_DEPTH, MAX_INTERACTIONS
from matf.spec import MAX_ALTERNATIVES, Locator

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

_COLLECT = resources.files("matf.agents").joinpath("explore.js").read_text(encoding="utf-8")
_SKIP_EXT = re.compile(
    r"\.(pdf|zip|gz|tgz|rar|7z|exe|dmg|msi|iso|png|jpe?g|gif|webp|svg|ico|mp[34]|mov|avi|woff2?|ttf|css|js|json|xml)$",
    re.I,
)
_RISKY = re.compile(
    r"log[ _-]?(out|off)|sign[ _-]?(out|off)"
    r"|delete|remove|destroy|unsubscribe|deactivate|drop|reset|erase|purge"
    r"|wipe|revoke|terminate|discard|uninstall|close (my )?account"
    r"|cancel (my )?(subscription|account|order)",
    re.I,
)


@dataclass
class FormInfo:
    action: str
    method: str
    fields: list[tuple[Field, dict[str, Any]]]  # (constraints, locator)
    submit: dict[str, Any] | None
    skipped_reason: str | None = None


@dataclass
class PageInfo:
    url: str
    status: int
    title: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (absolute url, text)
    images: list[tuple[str, str | None]] = field(default_factory=list)  # (absolute src, alt)
    forms: list[FormInfo] = field(default_factory=list)
    buttons: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, locator)
    api_docs: list[str] = field(default_factory=list)  # service-desc links
    html: bool = True
    # Other locators of the element a chosen locator finds, by ``locator_key``.
    alternatives: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # A state revealed by clicking (see ``interact``): the click steps that reach it
    # from ``url`` and what they did ("in the dialog opened by 'New contact'").
    # Its forms, buttons, links and images are only those the clicks revealed.
    via: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""

    def alternatives_of(self, locator: dict[str, Any]) -> list[dict[str, Any]]:
        return self.alternatives.get(locator_key(locator), [])


@dataclass
class SiteMap:
    start: str
    pages: list[PageInfo] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # url -> why it could not be read
    # Same-origin fetch/XHR seen while exploring: (method, url, status, content type).
    api_requests: list[tuple[str, str, int, str]] = field(default_factory=list)
    api_operations: list[ApiOperation] = field(default_factory=list)
    api_notes: list[str] = field(default_factory=list)
    templates: list[TemplateSample] = field(default_factory=list)  # URL templates sampled
    # States revealed by interaction (PageInfo with ``via``), and clicks made per page.
    states: list[PageInfo] = field(default_factory=list)
    interactions: dict[str, int] = field(default_factory=dict)


def locator_key(locator: dict[str, Any]) -> str:
    return json.dumps(locator, sort_keys=True)


def crawlable(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and origin_of(url) == origin
        and not _SKIP_EXT.search(parts.path)
        and not _RISKY.search(parts.path)
    )


def explore(
    start: str,
    browser: Browser,
    max_pages: int,
    timeout_ms: int,
    network: NetworkPolicy | None = None,
    discover_api: bool = False,
    max_interactions: int = MAX_INTERACTIONS,
    max_depth: int = MAX_DEPTH,
    storage_state: dict[str, Any] | None = None,
) -> SiteMap:
    """Visit up to ``max_pages`` same-origin pages breadth first and read each.

    Distinct parts of the site come first: a URL template (``/orders/{id}``)
    is sampled a few times before more of it is read (``Frontier``).

    A guarded ``network`` policy sends every connection through the guard proxy.
    ``discover_api``: also look for the site's OpenAPI document and note the
    same-origin fetch/XHR calls its pages make. ``max_interactions``: clicks
    per page on what reveals more (0: none), ``max_depth`` clicks deep; each
    revealed state is kept in ``site.states``, a client-side route it reaches
    is visited as a page. ``storage_state``: explore signed in (a sign-in's
    cookies and local storage); sign-out links and buttons are never followed.
    """
    from matf.agents.interact import Interactions

    origin = origin_of(start)
    site = SiteMap(start=start)
    frontier = Frontier(start, origin, admit=crawlable)
    context = browser.new_context(**context_options(network, storage_state=storage_state))
    try:
        page = context.new_page()
        context.on("page", _close_popup)  # a click that opens a window is not followed
        if discover_api:
            page.on("response", lambda response: _note_api_call(site, origin, response))
        while frontier and len(site.pages) < max_pages:
            url = frontier.pop()
            info = _read_page(page, url, timeout_ms, site)
            if info is None:
                continue
            site.pages.append(info)
            if max_interactions > 0:
                done = Interactions(page, info, timeout_ms, frontier.add).run(
                    max_interactions, max_depth
                )
                site.states += done.states
                site.interactions[info.url] = done.clicks
            for href, _text in info.links:
                frontier.add(href)
        site.templates = frontier.templates()
        if discover_api:
            _discover_api(context, site, timeout_ms)
    finally:
        context.close()
    return site


MAX_API_CALLS = 500


def _close_popup(popup: Page) -> None:
    from playwright.sync_api import Error as PlaywrightError

    with suppress(PlaywrightError):
        popup.close()


def _note_api_call(site: SiteMap, origin: str, response: Any) -> None:
    request = response.request
    if request.resource_type not in ("fetch", "xhr") or origin_of(response.url) != origin:
        return
    if len(site.api_requests) < MAX_API_CALLS:
        ctype = response.headers.get("content-type", "")
        site.api_requests.append((request.method, response.url, response.status, ctype))


def _discover_api(context: BrowserContext, site: SiteMap, timeout_ms: int) -> None:
    """The first OpenAPI document found (service-desc links first), then the calls seen."""
    found = discover_documented(
        context.request,
        site.start,
        [href for page in site.pages for href, _text in page.links],
        timeout_ms,
        described=[doc for page in site.pages for doc in page.api_docs],
    )
    site.api_operations, site.api_notes = list(found.operations), list(found.notes)
    if found.document_url is not None:
        site.api_notes.insert(0, f"OpenAPI document: {found.document_url}")
    site.api_operations += observed_operations(site.api_requests, site.start, site.api_operations)


def _read_page(page: Page, url: str, timeout_ms: int, site: SiteMap) -> PageInfo | None:
    from playwright.sync_api import Error as PlaywrightError

    try:
        response = page.goto(url, wait_until="load", timeout=timeout_ms)
    except PlaywrightError as exc:
        site.errors[url] = (exc.message or str(exc)).splitlines()[0]
        return None
    status = response.status if response is not None else 0
    ctype = response.headers.get("content-type", "") if response is not None else ""
    refused = response.headers.get("x-matf-guard") if response is not None else None
    if refused:  # the guard proxy's own answer: say why, not just "HTTP 403"
        site.errors[url] = refused
        return None
    if not 200 <= status < 300 or "html" not in ctype:
        site.errors[url] = f"HTTP {status}" if status >= 300 else f"not HTML ({ctype or 'unknown'})"
        return None
    wait_quiet(page, min(timeout_ms, 3000))
    try:
        data = page.evaluate(_COLLECT)
    except PlaywrightError as exc:
        site.errors[url] = (exc.message or str(exc)).splitlines()[0]
        return None
    return page_info(page, status, data)


def page_info(page: Page, status: int, data: dict[str, Any]) -> PageInfo:
    """What ``explore.js`` read on ``page`` (``data``), with a locator chosen for each element."""
    info = PageInfo(url=page.url, status=status, title=str(data.get("title") or ""))
    info.api_docs = [str(href) for href in data.get("apiDocs") or [] if href]
    info.links = [(normalize(x["href"]), x["text"]) for x in data["links"] if x.get("href")]
    info.images = [(x["src"], x["alt"]) for x in data["images"] if x.get("src")]
    found = _Finder(page, info.alternatives)
    info.forms = [_form(found, f) for f in data["forms"]]
    info.buttons = [
        (b["name"], loc)
        for b in data["buttons"]
        if not _RISKY.search(b["name"]) and (loc := _button_locator(found, b)) is not None
    ]
    return info


class _Finder:
    """Chooses locators on a live page, noting the other ways to find each element.

    A locator qualifies when it matches exactly one element. The first that
    qualifies is the test's; every later one that finds *that same* element is
    kept as an alternative, for the healer to offer when the page changes.
    """

    def __init__(self, page: Page, alternatives: dict[str, list[dict[str, Any]]]) -> None:
        self.page = page
        self.alternatives = alternatives

    def unique(
        self, candidates: list[dict[str, Any]], frames: list[str] | None = None
    ) -> dict[str, Any] | None:
        """The first candidate that finds one element (in ``frames``, when it is in iframes)."""
        chosen: dict[str, Any] | None = None
        first: Any = None
        others: list[dict[str, Any]] = []
        for loc in _in_frames(candidates, frames):
            found = self._locate(loc)
            if found is None or found.count() != 1:
                continue
            if chosen is None:
                chosen, first = loc, found
            elif first.and_(found).count() == 1 and loc not in others:
                others.append(loc)
        if chosen is not None and others:
            self.alternatives[locator_key(chosen)] = others[:MAX_ALTERNATIVES]
        return chosen

    def _locate(self, loc: dict[str, Any]) -> Any:
        """The elements ``loc`` finds; None when the page rejects it (a frame gone, say)."""
        from playwright.sync_api import Error as PlaywrightError

        found = matching(self.page, Locator.model_validate(loc))
        try:
            found.count()
        except PlaywrightError:
            return None
        return found


def _in_frames(candidates: list[dict[str, Any]], frames: list[str] | None) -> list[dict[str, Any]]:
    return [{**loc, "frames": list(frames)} for loc in candidates] if frames else candidates


def _css_string(value: str) -> str:
    return json.dumps(value)


def risky(name: str) -> bool:
    """Whether a control's name looks destructive (delete, log out, ...): never clicked."""
    return _RISKY.search(name) is not None


def _button_locator(found: _Finder, b: dict[str, Any]) -> dict[str, Any] | None:
    candidates: list[dict[str, Any]] = []
    if b["name"]:
        candidates.append({"role": "button", "name": b["name"]})
    if b["testid"]:
        candidates.append({"test_id": b["testid"]})
    if b["id"]:
        candidates.append({"css": f"[id={_css_string(b['id'])}]"})
    if b["name"]:
        candidates.append({"text": b["name"]})
    return found.unique(candidates, b.get("frames"))


def _field_locator(
    found: _Finder, raw: dict[str, Any], form_index: int, frames: list[str] | None = None
) -> dict[str, Any] | None:
    candidates: list[dict[str, Any]] = []
    if raw["label"]:
        candidates.append({"label": raw["label"]})
    if raw["placeholder"]:
        candidates.append({"placeholder": raw["placeholder"]})
    if raw["testid"]:
        candidates.append({"test_id": raw["testid"]})
    if raw["id"]:
        candidates.append({"css": f"[id={_css_string(raw['id'])}]"})
    if raw["name"]:
        css = f"[name={_css_string(raw['name'])}]"
        if raw["type"] in ("radio", "checkbox") and raw["value"]:
            css += f"[value={_css_string(raw['value'])}]"
        candidates.append({"css": f"form >> nth={form_index} >> {css}"})
    return found.unique(candidates, frames)


def _form(found: _Finder, raw: dict[str, Any]) -> FormInfo:
    form = FormInfo(action=raw["action"], method=raw["method"], fields=[], submit=None)
    if _RISKY.search(urlsplit(raw["action"]).path):
        form.skipped_reason = "its action looks destructive"
        return form
    radios_done: set[str] = set()
    for f in raw["fields"]:
        kind = f["type"]
        if f["disabled"] or kind in ("hidden", "submit", "button", "reset", "image", "fieldset"):
            continue
        if kind == "file":
            if f["required"]:
                form.skipped_reason = "it needs a file upload"
            continue
        if kind == "radio":
            if f["name"] in radios_done:
                continue
            radios_done.add(f["name"])
        if not f["visible"] and kind not in ("checkbox", "radio"):
            continue
        constraints = Field(
            tag=f["tag"],
            type=kind,
            name=f["name"],
            label=f["label"],
            required=f["required"],
            pattern=f["pattern"],
            min=f["min"],
            max=f["max"],
            step=f["step"],
            minlength=f["minlength"],
            maxlength=f["maxlength"],
            options=f["options"],
        )
        locator = _field_locator(found, f, raw["index"], raw.get("frames"))
        if locator is None:
            if f["required"]:
                form.skipped_reason = (
                    f"no unique locator for required field {f['name'] or f['id']!r}"
                )
            continue
        form.fields.append((constraints, locator))
    if raw["submit"] is not None:
        sub = raw["submit"]
        candidates = [{"role": "button", "name": sub["name"]}] if sub["name"] else []
        if sub["testid"]:
            candidates.append({"test_id": sub["testid"]})
        if sub["id"]:
            candidates.append({"css": f"[id={_css_string(sub['id'])}]"})
        form.submit = found.unique(candidates, raw.get("frames"))
    return form
