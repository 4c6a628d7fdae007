"""URL templates: a few pages of a template stand for all, the budget goes to distinct parts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from matf.agents.explore import crawlable, explore
from matf.agents.frontier import Frontier, url_template
from matf.browser.steps import origin_of
from tests.services import LoopbackHttpServer, QuietHandler

ORIGIN = "http://shop.test"


def _drain(frontier: Frontier, budget: int) -> list[str]:
    return [frontier.pop() for _ in range(min(budget, len(frontier)))]


@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("http://shop.test/orders/1", "/orders/{id}"),
        ("http://shop.test/db/table/17", "/db/table/{id}"),
        ("http://shop.test/u/0b8e7e52-3c1a-4f6e-9d2b-6a1f0c9e8d7a/edit", "/u/{uuid}/edit"),
        ("http://shop.test/commit/9f86d081884c7d65", "/commit/{hash}"),
        ("http://shop.test/blog/2024-01-31", "/blog/{date}"),
        ("http://shop.test/posts/1234-how-to-pack-a-tent", "/posts/{slug}"),
        ("http://shop.test/db/table?_sort=name", "/db/table"),
        ("http://shop.test/db/table?_sort_desc=id&_next=40", "/db/table"),
        ("http://shop.test/list?page=3&sort=price&order=asc", "/list"),
        ("http://shop.test/search?q=tent&page=2", "/search?q=tent"),
        ("http://shop.test/orders?customer=42", "/orders?customer={id}"),
        # Words are content: each product page may have its own bugs.
        ("http://shop.test/products/summit-jacket", "/products/summit-jacket"),
        ("http://shop.test/about", "/about"),
        ("http://shop.test/index.php?page=contact", "/index.php?page=contact"),
        ("http://shop.test/deadbeef", "/deadbeef"),
    ],
)
def test_a_url_is_read_as_its_template(url: str, template: str) -> None:
    assert url_template(url) == template


def test_word_slugs_stay_distinct_pages() -> None:
    frontier = Frontier(f"{ORIGIN}/", ORIGIN)
    slugs = ["summit-jacket", "trail-pack", "camp-stove", "rain-shell"]
    added = [frontier.add(f"{ORIGIN}/products/{slug}") for slug in slugs]
    assert added == [True] * 4
    assert _drain(frontier, 10)[1:] == [f"{ORIGIN}/products/{slug}" for slug in slugs]
    assert frontier.templates() == []


def test_two_samples_of_a_template_come_before_its_third_and_the_rest_are_counted() -> None:
    # Given a home page linking to 200 orders, then to three sections
    frontier = Frontier(f"{ORIGIN}/", ORIGIN)
    for n in range(1, 201):
        frontier.add(f"{ORIGIN}/orders/{n}")
    for section in ("reports", "settings", "help"):
        frontier.add(f"{ORIGIN}/{section}")
    # When six pages may be read
    read = _drain(frontier, 6)
    # Then two orders stand for all, and every section is read
    assert read == [
        f"{ORIGIN}/",
        f"{ORIGIN}/orders/1",
        f"{ORIGIN}/orders/2",
        f"{ORIGIN}/reports",
        f"{ORIGIN}/settings",
        f"{ORIGIN}/help",
    ]
    [orders] = frontier.templates()
    assert orders.template == "/orders/{id}"
    assert orders.sampled == [f"{ORIGIN}/orders/1", f"{ORIGIN}/orders/2"]
    assert orders.skipped == 198


def test_a_new_template_found_late_goes_before_more_samples_of_a_known_one() -> None:
    frontier = Frontier(f"{ORIGIN}/", ORIGIN, per_template=1)
    frontier.pop()
    frontier.add(f"{ORIGIN}/orders/1")
    frontier.add(f"{ORIGIN}/orders/2")
    assert frontier.pop() == f"{ORIGIN}/orders/1"
    frontier.add(f"{ORIGIN}/invoices")
    assert frontier.pop() == f"{ORIGIN}/invoices"
    assert frontier.pop() == f"{ORIGIN}/orders/2"  # when nothing new is left, more of the known


def test_sorting_and_paging_variants_of_one_page_are_one_template() -> None:
    frontier = Frontier(f"{ORIGIN}/db/table", ORIGIN)
    variants = ["?_sort=name", "?_sort=id", "?_sort_desc=id", "?page=2", "?page=3&_sort=id"]
    for query in variants:
        frontier.add(f"{ORIGIN}/db/table{query}")
    frontier.add(f"{ORIGIN}/db/other")
    assert _drain(frontier, 3) == [
        f"{ORIGIN}/db/table",
        f"{ORIGIN}/db/table?_sort=name",
        f"{ORIGIN}/db/other",
    ]
    [table] = frontier.templates()
    assert (table.template, table.skipped) == ("/db/table", 4)


def test_each_url_is_queued_once_fragments_aside_and_only_when_admitted() -> None:
    frontier = Frontier(f"{ORIGIN}/", origin_of(ORIGIN), admit=crawlable)
    assert frontier.add(f"{ORIGIN}/a#top") is True
    assert frontier.add(f"{ORIGIN}/a") is False
    assert frontier.add(f"{ORIGIN}/") is False
    assert frontier.add("http://elsewhere.test/b") is False
    assert frontier.add(f"{ORIGIN}/logout") is False
    assert frontier.add(f"{ORIGIN}/report.pdf") is False
    assert _drain(frontier, 10) == [f"{ORIGIN}/", f"{ORIGIN}/a"]


def test_a_ten_thousand_url_site_reaches_its_sections_within_the_budget() -> None:
    # Given a site whose every page links to 10,000 rows and, last, to ten sections
    frontier = Frontier(f"{ORIGIN}/", origin_of(ORIGIN), admit=crawlable)
    read: list[str] = []
    while frontier and len(read) < 25:
        url = frontier.pop()
        read.append(url)
        for n in range(10_000):
            frontier.add(f"{ORIGIN}/rows/{n}?sort=id")
        for s in range(10):
            frontier.add(f"{ORIGIN}/section-{chr(97 + s)}")
    # Then the budget went to the sections, two rows stood for the 10,000
    assert {f"{ORIGIN}/section-{chr(97 + s)}" for s in range(10)} <= set(read)
    [rows] = [t for t in frontier.templates() if t.template == "/rows/{id}"]
    assert len(rows.sampled) + rows.skipped == 10_000
    assert len(read) == 25


def _section_site() -> dict[str, str]:
    items = "".join(f'<a href="/items/{n}">Item {n}</a> ' for n in range(1, 201))
    sections = '<a href="/reports">Reports</a> <a href="/settings">Settings</a>'
    pages = {"/": f"<h1>Home</h1>{items}{sections} <a href='/help'>Help</a>"}
    for n in range(1, 201):
        pages[f"/items/{n}"] = f"<h1>Item {n}</h1><a href='/items/{n + 1}'>next</a>"
    pages["/reports"] = "<h1>Reports</h1><a href='/reports/monthly'>Monthly</a>"
    pages["/reports/monthly"] = "<h1>Monthly</h1>"
    pages["/settings"] = "<h1>Settings</h1>"
    pages["/help"] = "<h1>Help</h1>"
    return pages


@pytest.fixture(scope="module")
def sections() -> Iterator[str]:
    pages = _section_site()

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.answer(404, "text/html", b"<!doctype html><title>Not found</title>")
            else:
                page = f"<!doctype html><html lang=en><title>t</title><body>{body}</body></html>"
                self.answer(200, "text/html; charset=utf-8", page.encode())

    with LoopbackHttpServer(Handler) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_exploring_ten_pages_reaches_every_section_past_two_hundred_items(
    sections: str, browser: Browser
) -> None:
    site = explore(f"{sections}/", browser, 10, 5_000)
    paths = [page.url.removeprefix(sections) for page in site.pages]
    assert {"/reports", "/settings", "/help", "/reports/monthly"} <= set(paths)
    # Two items first; more only with what the budget left once every section was read
    first = ["/", "/items/1", "/items/2", "/reports", "/settings", "/help", "/reports/monthly"]
    assert paths[:7] == first
    [items] = site.templates
    assert items.template == "/items/{id}"
    assert items.sampled[:2] == [f"{sections}/items/1", f"{sections}/items/2"]
    assert items.skipped > 190
