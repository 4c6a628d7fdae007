"""Where an exported test is: the suite's main origin, module names, test names."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

from matf import spec as s
from matf.export.literals import identifier


def main_origin(suite: s.Suite) -> str:
    """The origin most specs are on: the one ``MATF_BASE_URL`` replaces."""
    counts = Counter(origin_url(spec.url) for spec in suite.tests)
    return counts.most_common(1)[0][0]


def _origin_key(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``; never raises, whatever the URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", port or {"http": 80, "https": 443}.get(scheme, 0)


def same_origin(a: str, b: str) -> bool:
    """Whether URLs ``a`` and ``b`` have the same scheme, host and port."""
    return _origin_key(a) == _origin_key(b)


def origin_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without any user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}"


def module_slug(url: str, base: str) -> str:
    """The ``<page>`` of the ``test_<page>.py`` module a spec on ``url`` goes into."""
    parts = urlsplit(url)
    slug = identifier(parts.path) or "home"
    if not same_origin(url, base):
        slug = f"{identifier(parts.hostname or '') or 'site'}_{slug}"
    return slug[:60].rstrip("_") or "home"


def page_label(url: str, base: str) -> str:
    """The page a module tests, as its docstring names it: a path, or a URL elsewhere."""
    if same_origin(url, base):
        return urlsplit(url).path or "/"
    return origin_url(url) + (urlsplit(url).path or "/")


class TestNames:
    """``test_<id>`` names, unique across the suite even where two ids reduce alike."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, spec_id: str) -> str:
        """A new unique test function name for the spec ``spec_id``."""
        stem = f"test_{identifier(spec_id) or 'spec'}"
        name, number = stem, 2
        while name in self.used:
            name, number = f"{stem}_{number}", number + 1
        self.used.add(name)
        return name
