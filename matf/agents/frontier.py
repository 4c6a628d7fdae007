"""Which page exploration reads next: breadth first, distinct parts of the app before more of one.

Many URLs are one page template with different data: ``/orders/1``,
``/orders/2``, ``/db/table?_sort=name``. A few of them stand for all (two by
default): the first ``per_template`` URLs of each template are read breadth
first, and further URLs of a known template wait until every distinct one has
been read, so a page budget reaches whole sections before rows of one table.

What counts as data in a URL: numbers, UUIDs, hex hashes, dates, numbers
inside slugs (``order-10045``), sorting keys and numeric paging in the query.
Slugs of words (``/products/summit-jacket``) are content pages and stay
distinct: each may have its own bugs.

The start URL's section (its folder: ``/account/`` for ``/account/`` or
``/account/orders``) is read first: a run pointed at a part of a site, such as
the account area behind a sign-in, reads that part before the site around it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urldefrag, urlsplit

DEFAULT_PER_TEMPLATE = 2

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_HEX = re.compile(r"^[0-9a-f]{8,}$", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_LONG_NUMBER = re.compile(r"\d{3,}")
_NUMBER = re.compile(r"\d+")
# Query keys that only order or page what the same page shows.
_SORT_KEY = re.compile(r"^_?(sort|order)(_?by|_?desc|_?asc|_?dir)?$|^_?(dir|direction)$", re.I)
_PAGE_KEY = re.compile(r"^_?(page|p|pg|per_?page|page_?size|size|limit|offset|start|skip)$", re.I)
_CURSOR_KEY = re.compile(r"^_?(next|cursor|after|before)$", re.I)


def normalize(url: str) -> str:
    return urldefrag(url)[0]


def part_template(part: str) -> str:
    """One path segment or query value with its data replaced by a placeholder."""
    if part.isdigit():
        return "{id}"
    if _UUID.match(part):
        return "{uuid}"
    if _DATE.match(part):
        return "{date}"
    if _HEX.match(part) and any(c.isdigit() for c in part) and not part.isdigit():
        return "{hash}"
    if _LONG_NUMBER.search(part):
        return "{slug}"  # an id-sized number in a slug: 123-hello-world, order-10045
    return _NUMBER.sub("{n}", part)


def url_template(url: str) -> str:
    """``/orders/{id}``, ``/list?q={id}``: the path and query, their data made placeholders."""
    parts = urlsplit(url)
    path = "/".join(part_template(segment) for segment in parts.path.split("/"))
    query = sorted(
        {
            f"{key}={part_template(value)}" if value else key
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if not _view_only(key, value)
        }
    )
    return (path or "/") + ("?" + "&".join(query) if query else "")


def section_of(url: str) -> str | None:
    """The folder of ``url``'s path ("/account/"); None at the site's root."""
    path = urlsplit(url).path or "/"
    folder = path[: path.rfind("/") + 1]
    return folder if folder != "/" else None


def _view_only(key: str, value: str) -> bool:
    """A sorting or paging parameter: the same page, ordered or cut differently."""
    if _SORT_KEY.match(key) or _CURSOR_KEY.match(key):
        return True
    return bool(_PAGE_KEY.match(key)) and (value == "" or value.isdigit())


@dataclass
class TemplateSample:
    """A template of several URLs: those read for it, and how many were left unread."""

    template: str
    sampled: list[str] = field(default_factory=list)
    skipped: int = 0


class Frontier:
    """The pages still to read, each URL once; ``add`` is the one way in.

    ``admit(url, origin)``: whether a URL may be read at all (same origin, not
    a download, not destructive); the start URL is always read.
    """

    def __init__(
        self,
        start: str,
        origin: str,
        per_template: int = DEFAULT_PER_TEMPLATE,
        admit: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.origin = origin
        self.per_template = per_template
        self._admit = admit
        self._seen: set[str] = set()
        self._section = section_of(start)
        self._near: deque[str] = deque()  # first samples in the start's section
        self._first: deque[str] = deque()  # the first per_template URLs of each template
        self._more: deque[str] = deque()  # further URLs of known templates
        self._template_of: dict[str, str] = {}
        self._queued: dict[str, int] = {}  # template -> URLs added
        self._sampled: dict[str, list[str]] = {}  # template -> URLs popped
        self._enqueue(normalize(start))

    def add(self, url: str) -> bool:
        """Queue ``url`` unless it was seen or may not be read; True when queued."""
        url = normalize(url)
        if url in self._seen or (self._admit is not None and not self._admit(url, self.origin)):
            return False
        self._enqueue(url)
        return True

    def _enqueue(self, url: str) -> None:
        self._seen.add(url)
        template = url_template(url)
        self._template_of[url] = template
        count = self._queued.get(template, 0)
        self._queued[template] = count + 1
        if count >= self.per_template:
            self._more.append(url)
        elif self._section and urlsplit(url).path.startswith(self._section):
            self._near.append(url)
        else:
            self._first.append(url)

    def pop(self) -> str:
        """The next URL to read: the start's section, then breadth first, new templates
        before more samples of one."""
        queue = self._near or self._first or self._more
        url = queue.popleft()
        self._sampled.setdefault(self._template_of[url], []).append(url)
        return url

    def __len__(self) -> int:
        return len(self._near) + len(self._first) + len(self._more)

    def templates(self) -> list[TemplateSample]:
        """Templates that stood for more than one URL, with what was read and left of each."""
        return [
            TemplateSample(template, list(sampled), self._queued[template] - len(sampled))
            for template, sampled in self._sampled.items()
            if self._queued[template] > 1
        ]
