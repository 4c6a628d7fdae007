"""Checks for the same-origin fetch/XHR calls seen while exploring that no document covers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urldefrag, urlsplit

from matf.agents.apidiscovery.notes import clip
from matf.agents.apidiscovery.operation import MAX_OPERATIONS, TEMPLATE_VAR, ApiOperation
from matf.browser.steps import origin_of

_SECRET_PARAM = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|^key$|auth|session|^sig$|signature|credential", re.I
)


def observed_operations(
    observed: Iterable[tuple[str, str, int, str]],
    start_url: str,
    known: Iterable[ApiOperation],
) -> list[ApiOperation]:
    """Checks for same-origin GET calls that answered 2xx and no documented operation covers.

    ``observed`` holds (method, url, status, content type) of fetch/XHR requests.
    A call whose query carries something secret-looking (a token, a key) is left
    out: its URL would end up in a suite file.
    """
    target = origin_of(start_url)
    covering = [
        (origin_of(op.url), _template_pattern(op.template or urlsplit(op.url).path))
        for op in known
        if op.method == "GET"
    ]
    found: list[ApiOperation] = []
    seen: set[str] = set()
    for method, raw_url, status, ctype in observed:
        url = urldefrag(raw_url)[0]
        parts = urlsplit(url)
        if (
            method.upper() != "GET"
            or not 200 <= status < 300
            or parts.scheme not in ("http", "https")
            or origin_of(url) != target
            or url in seen
        ):
            continue
        seen.add(url)
        path = parts.path or "/"
        if _secret_query(parts.query):
            continue
        if any(
            origin == target and pattern.fullmatch(unquote(path)) for origin, pattern in covering
        ):
            continue
        media = (ctype or "").split(";", 1)[0].strip().lower() or None
        shown = clip(path + (f"?{parts.query}" if parts.query else ""))
        found.append(
            ApiOperation(
                method="GET",
                url=url,
                expect_status="2xx",
                content_type=media,
                json_schema=None,
                source="observed",
                summary=f"GET {shown} (observed)",
                template=path,
            )
        )
        if len(found) >= MAX_OPERATIONS:
            break
    return found


def _template_pattern(template: str) -> re.Pattern[str]:
    pieces = re.split(r"(\{[^{}/]+\})", unquote(template) or "/")
    return re.compile(
        "".join("[^/]+" if TEMPLATE_VAR.fullmatch(p) else re.escape(p) for p in pieces)
    )


def _secret_query(query: str) -> bool:
    names = [pair.split("=", 1)[0] for pair in query.split("&") if pair]
    return any(_SECRET_PARAM.search(unquote(name)) for name in names)
