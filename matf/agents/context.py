"""Context manager agent: is the target there, and what do we know of it.

``check_target`` runs before any browser starts, so a typo'd host or a site
answering 500 on its first page fails a run in a second with a clear reason.
A guarded run (server mode) also refuses a target on an internal address, at
every hop of its redirects: the check sits where each connection is made.
"""

from __future__ import annotations

import html
import http.client
import re
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from matf.errors import TargetError, TargetUnreachable, UsageError
from matf.netguard import NetworkPolicy, open_connection
from matf.options import check_budgets
from matf.storage.models import Target

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


@dataclass(frozen=True)
class TargetInfo:
    url: str  # after redirects
    status: int
    title: str | None


def validate_url(url: str) -> str:
    """Accept an absolute http(s) URL with a host, or raise a one-line UsageError."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid URL {url!r}: {exc}") from exc
    if not parts.scheme:
        raise UsageError(f"invalid URL {url!r}: give a full URL such as https://example.com/")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"unsupported URL scheme {parts.scheme!r} in {url!r}: use http or https")
    if not parts.hostname:
        raise UsageError(f"invalid URL {url!r}: no host")
    return text if parts.path else text + "/"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def check_target(
    url: str, timeout_s: float = 15.0, network: NetworkPolicy | None = None
) -> TargetInfo:
    """GET the first page; raise TargetUnreachable or TargetError when it can't be tested.

    Under a guarded ``network`` policy, TargetForbidden when any hop resolves to
    an address the policy refuses.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "MATF/0.1 (+reachability check)"})
    fetch = (
        guarded_opener(network).open
        if network is not None and network.guarded
        else urllib.request.urlopen
    )
    try:
        with fetch(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) only, checked
            body = response.read(262_144)
            status, final = response.status, response.geturl()
    except urllib.error.HTTPError as exc:
        raise TargetError(f"target answered HTTP {exc.code} at {url}") from exc
    except urllib.error.URLError as exc:
        raise TargetUnreachable(f"target unreachable: {url} ({_reason(exc.reason)})") from exc
    except TimeoutError as exc:
        raise TargetUnreachable(
            f"target unreachable: {url} (no answer in {timeout_s:g} s)"
        ) from exc
    except (ConnectionError, OSError) as exc:
        raise TargetUnreachable(f"target unreachable: {url} ({_reason(exc)})") from exc
    match = _TITLE.search(body)
    title = html.unescape(match.group(1).decode("utf-8", "replace")).strip() if match else None
    return TargetInfo(url=final, status=status, title=title or None)


def guarded_opener(network: NetworkPolicy) -> urllib.request.OpenerDirector:
    """A urllib opener that speaks only http(s), each connection vetted by ``network``.

    Built by hand rather than with ``build_opener``: that one would add the
    environment's proxies and the ftp and file handlers, which a redirect could
    reach without passing the check.
    """
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        _GuardedHTTPHandler(network),
        _GuardedHTTPSHandler(network),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _vetted(network: NetworkPolicy, address: tuple[str, int], timeout: Any = None, *_: Any) -> Any:
    if not isinstance(timeout, int | float):  # http.client's "no timeout given" sentinel
        timeout = None
    return open_connection(address[0], address[1], network, timeout)


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, network: NetworkPolicy, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._create_connection = partial(_vetted, network)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, network: NetworkPolicy, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._create_connection = partial(_vetted, network)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, network: NetworkPolicy) -> None:
        super().__init__()
        self._network = network

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # typeshed's protocol does not know the extra keyword
        return self.do_open(_GuardedHTTPConnection, req, network=self._network)  # type: ignore[arg-type]


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, network: NetworkPolicy) -> None:
        super().__init__()
        self._network = network

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, network=self._network)  # type: ignore[arg-type]


def _reason(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    return str(getattr(reason, "strerror", None) or reason)


def record_target(session: Session, info: TargetInfo) -> None:
    key = origin(info.url)
    target = session.get(Target, key) or Target(origin=key, url=info.url)
    target.url, target.title, target.last_status = info.url, info.title, info.status
    target.checked_at = datetime.now(UTC)
    session.add(target)


def record_site_map(session: Session, url: str, pages: list[str]) -> None:
    key = origin(url)
    target = session.get(Target, key) or Target(origin=key, url=url)
    target.site_map = sorted(set(pages))
    session.add(target)


def stored_budgets(session: Session, url: str) -> dict[str, Any]:
    """The performance budgets saved for the target of ``url`` (empty: the defaults)."""
    target = session.get(Target, origin(url))
    return dict(target.budgets or {}) if target is not None else {}


def save_budgets(session: Session, url: str, budgets: dict[str, Any] | None) -> dict[str, Any]:
    """Save (or with None, forget) a target's budgets; they are checked first."""
    checked = check_budgets(budgets or {})
    key = origin(url)
    target = session.get(Target, key) or Target(origin=key, url=url)
    target.budgets = checked or None
    session.add(target)
    return checked


def parse_budgets(items: list[str]) -> dict[str, Any]:
    """``["lcp_ms=3000", "cls=off"]`` from the command line as checked budgets."""
    budgets: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"invalid budget {item!r}: use NAME=VALUE, e.g. lcp_ms=3000")
        text = value.strip().lower()
        if text in ("off", "none"):
            budgets[name.strip()] = None
            continue
        try:
            budgets[name.strip()] = float(text)
        except ValueError:
            raise UsageError(f"invalid budget {item!r}: {value!r} is not a number") from None
    return check_budgets(budgets)
