"""Interaction exploration: click what reveals more on a loaded page, read each state it reveals.

After a page is read, the controls that promise more (dialog and menu
openers, ``aria-expanded``, ``<details>``, tabs, then other plain buttons) are
clicked, breadth first, up to a budget of clicks and a depth. What a click
reveals is told apart by a fingerprint of the page's visible interactive
structure (roles and names of visible controls, their expanded/selected
state, open dialogs, the URL): a state reached twice is kept once. A click
that changes the URL makes that URL a page of its own (a client-side route),
handed to ``discover``. Nothing destructive is clicked (``explore.risky``),
no form is submitted, no link followed.

A state is kept as a ``PageInfo`` holding only what the clicks revealed (new
forms and buttons; new links and images are also credited to the page, so
they are crawled and checked once), with ``via``: the click steps that reach
it from the page's URL. Siblings are reached again by restoring their parent:
Escape when a dialog was opened from a state without one, else reloading the
page and replaying the parent's clicks, the same way a written test does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, get_args

from matf.agents.explore import _COLLECT, PageInfo, _Finder, normalize, page_info, risky
from matf.browser.page import matching
from matf.browser.steps import origin_of
from matf.spec import AriaRole, Locator

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Route

_SCRIPT = resources.files("matf.agents").joinpath("interact.js").read_text(encoding="utf-8")
_ROLES = set(get_args(AriaRole))
CLICK_TIMEOUT_MS = 2000
NAME_LIMIT = 60  # characters of a control's name in a state's label


@dataclass
class _State:
    via: list[dict[str, Any]]
    names: list[str]
    snapshot: dict[str, Any]
    known: set[str] = field(default_factory=set)  # candidates its parent offered already

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.snapshot)


@dataclass
class Explored:
    """What interaction exploration of one page made: its clicks and the states kept."""

    clicks: int = 0
    states: list[PageInfo] = field(default_factory=list)


def fingerprint(snapshot: dict[str, Any]) -> str:
    """The identity of a state: its URL, visible interactive structure and open dialogs."""
    parts = {
        "url": normalize(str(snapshot.get("url", ""))),
        "structure": sorted(str(x) for x in snapshot.get("structure") or []),
        "dialogs": sorted(str(x) for x in snapshot.get("dialogs") or []),
    }
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _key(candidate: dict[str, Any]) -> str:
    return "|".join(str(candidate.get(k, "")) for k in ("role", "name", "id", "testid"))


def _short(name: str) -> str:
    return repr(name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…")


class Interactions:
    """Explores one loaded page by clicking; ``run`` leaves the page in any state."""

    def __init__(
        self, page: Page, base: PageInfo, timeout_ms: int, discover: Callable[[str], object]
    ) -> None:
        self.page = page
        self.base = base
        self.timeout_ms = timeout_ms
        self.discover = discover
        self.done = Explored()
        self.current = ""  # fingerprint of what the page shows now ("": unknown)
        self.dialog_open = False
        self.root_names: set[str] = set()

    def run(self, budget: int, depth: int) -> Explored:
        """Click up to ``budget`` controls, up to ``depth`` clicks from the loaded page."""
        from playwright.sync_api import Error as PlaywrightError

        # Matched by the browser (a pattern, not a Python callable): requests to
        # the site itself are never intercepted, and cost nothing.
        elsewhere = re.compile(rf"^(?!{re.escape(origin_of(self.base.url))}(/|$))")

        def stay(route: Route, request: Request) -> None:
            if request.is_navigation_request() and request.frame == self.page.main_frame:
                route.abort()  # a click never takes exploration to another site
            else:
                route.fallback()

        self.page.route(elsewhere, stay)
        try:
            with suppress(PlaywrightError):  # what a page does ends its exploration, never the run
                self._explore(budget, depth)
        finally:
            with suppress(PlaywrightError):
                self.page.unroute(elsewhere, stay)
        return self.done

    def _explore(self, budget: int, depth: int) -> None:
        self.page.evaluate(_SCRIPT, "mark")
        root = _State([], [], self._snapshot())
        self.current = root.fingerprint
        self.root_names = {str(s).split("|")[1] for s in root.snapshot["structure"]}
        seen = {root.fingerprint}
        frontier = deque([root])
        while frontier and self.done.clicks < budget:
            state = frontier.popleft()
            for candidate in self._candidates(state):
                if self.done.clicks >= budget:
                    break
                child = self._click(state, candidate)
                if child is None or child.fingerprint in seen:
                    continue
                seen.add(child.fingerprint)
                self._keep(state, child)
                if len(child.via) < depth:
                    frontier.append(child)

    def _candidates(self, state: _State) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for candidate in state.snapshot["candidates"]:
            key = _key(candidate)
            if key not in state.known and key not in found and not risky(candidate["name"]):
                found[key] = candidate
        return sorted(found.values(), key=lambda c: int(c["cue"]))

    def _snapshot(self) -> dict[str, Any]:
        self.page.evaluate(_SCRIPT, "settle")
        snapshot: dict[str, Any] = self.page.evaluate(_SCRIPT, "snapshot")
        self.dialog_open = bool(snapshot["dialogs"])
        return snapshot

    def _click(self, state: _State, candidate: dict[str, Any]) -> _State | None:
        """Click ``candidate`` in ``state``; the state it reveals, None if nothing to keep."""
        from playwright.sync_api import Error as PlaywrightError

        if not self._restore(state):
            return None
        alternatives: dict[str, list[dict[str, Any]]] = {}
        target = _control_locator(_Finder(self.page, alternatives), candidate)
        if target is None:
            return None
        self.done.clicks += 1
        before = normalize(self.page.url)
        try:
            matching(self.page, Locator.model_validate(target)).click(timeout=CLICK_TIMEOUT_MS)
            snapshot = self._snapshot()
        except PlaywrightError:
            self.current = ""  # unknown: restore before the next click
            if normalize(self.page.url) != before:
                self.discover(self.page.url)
            return None
        self.current = fingerprint(snapshot)
        if normalize(str(snapshot["url"])) != before or not snapshot["marked"]:
            self.discover(str(snapshot["url"]))  # a route (or a page) of its own
            return None
        step: dict[str, Any] = {"action": "click", "target": target}
        others = next(iter(alternatives.values()), None)
        if others:
            step["alternatives"] = others
        known = state.known | {_key(c) for c in state.snapshot["candidates"]}
        return _State([*state.via, step], [*state.names, candidate["name"]], snapshot, known)

    def _restore(self, state: _State) -> bool:
        """Bring the page back to ``state``: Escape out of a dialog, else reload and replay."""
        if self.current == state.fingerprint:
            return True
        if self.dialog_open and not state.snapshot["dialogs"]:
            self.page.keyboard.press("Escape")
            self.current = fingerprint(self._snapshot())
            if self.current == state.fingerprint:
                return True
        return self._replay(state)

    def _replay(self, state: _State) -> bool:
        from playwright.sync_api import Error as PlaywrightError

        try:
            # the page was read once already: its DOM going quiet is enough, and a
            # control still missing is waited for by the click
            self.page.goto(self.base.url, wait_until="load", timeout=self.timeout_ms)
            self.page.evaluate(_SCRIPT, "mark")
            for step in state.via:
                self._snapshot()
                target = Locator.model_validate(step["target"])
                matching(self.page, target).click(timeout=CLICK_TIMEOUT_MS)
            self.current = fingerprint(self._snapshot())
        except PlaywrightError:
            self.current = ""
            return False
        # A page whose content moves (a clock, a random order) still counts as restored.
        return True

    def _keep(self, parent: _State, child: _State) -> None:
        """Read what ``child`` revealed; keep it as a state when it shows something to test.

        Only what is new is read (locators are chosen for it alone): a page of
        hundreds of buttons costs one read per state, not hundreds.
        """
        data = self.page.evaluate(_COLLECT)
        known = self.root_names | {str(s).split("|")[1] for s in parent.snapshot["structure"]}
        data["buttons"] = [b for b in data["buttons"] if b["name"] not in known]
        if _renamed(child, data["buttons"]):
            data["buttons"] = []  # the clicked control only changed its own name
        known_forms = {
            _form_key(f.action, f.method, [c.name for c, _ in f.fields]) for f in self.base.forms
        }
        data["forms"] = [
            f
            for f in data["forms"]
            if _form_key(f["action"], f["method"], [x["name"] for x in f["fields"]])
            not in known_forms
        ]
        base_links = {href for href, _text in self.base.links}
        data["links"] = [
            x for x in data["links"] if normalize(x.get("href") or "") not in base_links
        ]
        base_images = {src for src, _alt in self.base.images}
        data["images"] = [x for x in data["images"] if x.get("src") not in base_images]
        info = page_info(self.page, self.base.status, data)
        info.url, info.via = self.base.url, child.via
        opened = set(child.snapshot["dialogs"]) - set(parent.snapshot["dialogs"])
        path = " then ".join(_short(name) for name in child.names)
        info.state = f"in the dialog opened by {path}" if opened else f"after clicking {path}"
        self.base.links += info.links  # crawled and checked once, as the page's
        self.base.images += info.images
        if info.forms or info.buttons or opened:
            self.done.states.append(info)


def _renamed(child: _State, new_buttons: list[dict[str, Any]]) -> bool:
    """Whether the one new button is the clicked one under a new name ("Copy" -> "Copied")."""
    clicked = child.names[-1]
    names = {str(s).split("|")[1] for s in child.snapshot["structure"]}
    return len(new_buttons) == 1 and clicked not in names


def _form_key(action: str, method: str, names: list[str]) -> tuple[str, str, tuple[str, ...]]:
    return (action, method, tuple(names))


def _control_locator(found: _Finder, c: dict[str, Any]) -> dict[str, Any] | None:
    candidates: list[dict[str, Any]] = []
    name = str(c.get("name") or "")
    if c.get("role") in _ROLES and name:
        candidates.append({"role": c["role"], "name": name})
    if c.get("testid"):
        candidates.append({"test_id": c["testid"]})
    if c.get("id"):
        candidates.append({"css": f"[id={json.dumps(c['id'])}]"})
    if name:
        candidates.append({"text": name})
    return found.unique(candidates)
