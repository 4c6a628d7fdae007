"""What each role may open: the access matrix of a run signed in as several roles.

Each role explores the site signed in as itself. A page behind the sign-in
(one an anonymous visitor is denied) that some role's pages link to, while
another role's pages never do, is a page the other role should probably not
open. Each such (page, role) pair becomes an access test: the page must be
denied to that role (a 3xx or a 4xx; ``expect_status`` "denied"), so a page a
plain user can open though only admins' pages link to it fails as a test, and
keeps being checked in later runs of the suite.

Every page behind the sign-in is also fetched as every role and anonymously,
without following redirects, for the report's table of what each saw.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from matf.agents.frontier import normalize
from matf.browser.guard import context_options
from matf.spec import TestSpec

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from matf.agents.explore import SiteMap
    from matf.netguard import NetworkPolicy

ANONYMOUS = "anonymous"
MAX_PAGES = 100  # pages behind the sign-in put in the table and probed
PROBE_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class RoleView:
    """What one role's exploration reached: the pages it read, and every link they hold."""

    role: str
    visited: dict[str, int]  # url -> HTTP status it was read with
    linked: frozenset[str]

    @classmethod
    def of(cls, role: str, site: SiteMap) -> RoleView:
        visited = {normalize(page.url): page.status for page in site.pages}
        links = {normalize(href) for page in [*site.pages, *site.states] for href, _ in page.links}
        return cls(role, visited, frozenset(links | set(visited)))


@dataclass
class AccessMatrix:
    """Per page behind the sign-in, the status each role (and anonymous) got; the findings."""

    roles: list[str]
    pages: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"roles": self.roles, "pages": self.pages, "findings": self.findings}


def compared_pages(views: Sequence[RoleView]) -> list[str]:
    """Every page some role read, then every page some roles' pages link to and others' not."""
    read = dict.fromkeys(url for view in views for url in view.visited)
    linked = dict.fromkeys(url for view in views for url in sorted(view.linked))
    unshared = [url for url in linked if any(url not in view.linked for view in views)]
    return list(dict.fromkeys([*read, *unshared]))


def protected_pages(views: Sequence[RoleView], anonymous: Mapping[str, int | None]) -> list[str]:
    """The compared pages an anonymous visitor is denied (a 3xx or 4xx), first read first."""
    found = []
    for url in compared_pages(views):
        status = anonymous.get(url)
        if status is not None and not 200 <= status < 300:
            found.append(url)
    return found[:MAX_PAGES]


def access_matrix(
    views: Sequence[RoleView],
    anonymous: Mapping[str, int | None],
    probed: Mapping[tuple[str, str], int | None],
) -> AccessMatrix:
    """The table and its findings: a role opening (2xx) a protected page none of its pages link."""
    matrix = AccessMatrix(roles=[view.role for view in views] + [ANONYMOUS])
    for url in protected_pages(views, anonymous):
        seen: dict[str, dict[str, Any]] = {}
        for view in views:
            status = view.visited.get(url, probed.get((view.role, url)))
            linked = url in view.linked
            seen[view.role] = {"status": status, "linked": linked}
            if not linked and status is not None and 200 <= status < 300:
                finders = [v.role for v in views if url in v.linked and v.role != view.role]
                matrix.findings.append(
                    {
                        "url": url,
                        "role": view.role,
                        "status": status,
                        "message": f"{view.role} can open {url} (HTTP {status}), which only "
                        f"{', '.join(finders)}'s pages link to",
                    }
                )
        seen[ANONYMOUS] = {"status": anonymous.get(url), "linked": False}
        matrix.pages.append({"url": url, "seen": seen})
    return matrix


def access_specs(views: Sequence[RoleView], anonymous: Mapping[str, int | None]) -> list[TestSpec]:
    """One test per (protected page, role whose pages never link to it): it must be denied."""
    specs = []
    for url in protected_pages(views, anonymous):
        finders = [view.role for view in views if url in view.linked]
        for view in views:
            if url in view.linked:
                continue
            path = urlsplit(url).path or "/"
            specs.append(
                TestSpec.model_validate(
                    {
                        "id": _access_id(url, view.role),
                        "name": f"{view.role} is denied {path} (only {' and '.join(finders)}'s "
                        "pages link to it)",
                        "kind": "functional",
                        "category": "access",
                        "url": url,
                        "steps": [
                            {
                                "action": "expect_status",
                                "url": url,
                                "status": "denied",
                                "follow_redirects": False,
                            }
                        ],
                        "tags": ["access", f"role:{view.role}"],
                        "signed_in": True,
                        "role": view.role,
                    }
                )
            )
    return specs


def _access_id(url: str, role: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (urlsplit(url).path or "/").lower()).strip("-") or "root"
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return f"access-{slug[:60]}-{digest}-as-{role}"


def probe(
    browser: Browser,
    urls: Sequence[str],
    storage_state: dict[str, Any] | None,
    network: NetworkPolicy | None,
) -> dict[str, int | None]:
    """The first answer's status of each URL, redirects not followed; None when none came."""
    context = browser.new_context(**context_options(network, storage_state=storage_state))
    found: dict[str, int | None] = {}
    try:
        for url in urls:
            try:
                response = context.request.get(
                    url, max_redirects=0, fail_on_status_code=False, timeout=PROBE_TIMEOUT_MS
                )
            except Exception:  # noqa: BLE001 - a page that does not answer is not a finding
                found[url] = None
                continue
            found[url] = response.status
            response.dispose()
    finally:
        context.close()
    return found
