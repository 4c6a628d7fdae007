"""Writing a signed-in run's tests: explore as each role, write its tests, compare what each saw.

Each role explores the site from its own sign-in (the storage state the
context manager cached while preparing the run; nothing is signed in again
within ``SESSION_TIMEOUT``). Its tests start signed in as it
(``spec.signed_in``, ``spec.role``); with several roles each test's id and
name say whose it is. With two roles or more, the access matrix
(``matf.agents.access``) adds one test per page a role must be denied, and
goes into the run's exploration summary for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from matf.agents.access import (
    RoleView,
    access_matrix,
    access_specs,
    compared_pages,
    probe,
    protected_pages,
)
from matf.agents.explore import SiteMap, explore
from matf.agents.frontier import normalize
from matf.agents.specguard import Checked
from matf.agents.writer import WriterOptions, write_checked
from matf.options import RunOptions
from matf.pipeline.signin import run_state
from matf.settings import Settings
from matf.spec import TestSpec
from matf.storage.db import Sessions

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@dataclass
class SignedInWriting:
    """The first role's site and checks (for the summary and the AI writer), every role's tests."""

    site: SiteMap
    checked: Checked
    specs: list[TestSpec] = field(default_factory=list)
    access: dict[str, Any] | None = None
    state: dict[str, Any] | None = field(default=None, repr=False)  # the first role's


def as_role(spec: TestSpec, role: str | None, several: bool) -> TestSpec:
    """``spec`` starting signed in as ``role``; its id and name say so when a run has several."""
    update: dict[str, Any] = {"signed_in": True, "role": role}
    if several and role:
        update["id"] = f"{spec.id[: 127 - len(role) - 4]}-as-{role}"
        update["name"] = f"{spec.name[: 290 - len(role)]} (as {role})"
    return TestSpec.model_validate({**spec.model_dump(mode="json"), **update})


def write_signed_in(
    sessions: Sessions,
    settings: Settings,
    url: str,
    options: RunOptions,
    browser: Browser,
    writer: WriterOptions,
) -> SignedInWriting:
    """Explore and write as each role of the run; the access tests when there are several.

    The pages an anonymous visitor may open are tested once, as the first
    role: only the pages behind the sign-in are tested as every role.
    """
    roles = options.login.sign_ins()
    several = len(roles) > 1
    written: SignedInWriting | None = None
    views: list[RoleView] = []
    states: dict[str, dict[str, Any]] = {}
    by_role: list[tuple[str | None, list[TestSpec]]] = []
    for role in roles:
        state = run_state(sessions, settings, url, options, role)
        site = explore_as(url, browser, options, settings, state)
        checked = write_checked(site, list(options.types), writer)
        if written is None:
            written = SignedInWriting(site=site, checked=checked, state=state)
        by_role.append((role, [as_role(spec, role, several) for spec in checked.specs]))
        if role is not None:
            views.append(RoleView.of(role, site))
            states[role] = state
    assert written is not None  # noqa: S101 - login.sign_ins() is never empty here
    if not several:
        written.specs = by_role[0][1]
        return written
    anonymous = _anonymous(views, browser, options)
    behind = set(protected_pages(views, anonymous))
    written.specs = by_role[0][1] + [
        spec for _role, specs in by_role[1:] for spec in specs if normalize(spec.url) in behind
    ]
    if "functional" in options.types:
        written.specs += access_specs(views, anonymous)
        written.access = _matrix(views, states, anonymous, browser, options)
    return written


def explore_as(
    url: str,
    browser: Browser,
    options: RunOptions,
    settings: Settings,
    state: dict[str, Any] | None = None,
) -> SiteMap:
    """Explore the run's target within its limits: signed in from ``state``, or anonymous."""
    return explore(
        url,
        browser,
        options.limits.max_pages,
        settings.step_timeout,
        options.guard,
        discover_api="api" in options.types,
        max_interactions=options.limits.max_interactions,
        max_depth=options.limits.max_depth,
        storage_state=state,
    )


def _anonymous(
    views: list[RoleView], browser: Browser, options: RunOptions
) -> dict[str, int | None]:
    return probe(browser, compared_pages(views), None, options.guard)


def _matrix(
    views: list[RoleView],
    states: dict[str, dict[str, Any]],
    anonymous: dict[str, int | None],
    browser: Browser,
    options: RunOptions,
) -> dict[str, Any]:
    """The table of what each role got on each page behind the sign-in, and the findings."""
    pages = protected_pages(views, anonymous)
    probed: dict[tuple[str, str], int | None] = {}
    for view in views:
        unread = [u for u in pages if u not in view.visited]
        if unread:
            for u, status in probe(browser, unread, states[view.role], options.guard).items():
                probed[(view.role, u)] = status
    return access_matrix(views, anonymous, probed).as_json()
