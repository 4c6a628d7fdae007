"""A site's content never breaks writing: long, empty and odd names, thousands of links."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from matf.agents.exploration import summarise
from matf.agents.explore import FormInfo, PageInfo, SiteMap, explore, locator_key
from matf.agents.specguard import MAX_NAME, guard, shorten
from matf.agents.values import Field
from matf.agents.writer import write_checked
from matf.spec import Suite, TestSpec
from tests.breaker_site import LONG, BreakerSite

START = "http://shop.test/"
ODD = "A\x00B\x07C\u202eD\u200bE\U0001f600F\ud800G\nH\"I'J<b>K</b>"
ALL_TYPES = ["functional", "accessibility", "performance", "visual"]


def _valid_and_unique(specs: list[TestSpec]) -> None:
    """Every spec validates again from its JSON, names fit, ids are unique (a suite holds them)."""
    Suite.model_validate_json(Suite(tests=specs).model_dump_json())
    assert all(0 < len(spec.name) <= MAX_NAME for spec in specs)


def _page(path: str, **parts: object) -> PageInfo:
    return PageInfo(url=f"http://shop.test{path}", status=200, **parts)  # type: ignore[arg-type]


def test_a_ten_thousand_character_link_and_button_make_valid_specs_with_short_names() -> None:
    page = _page(
        "/",
        links=[(f"{START}{'x' * 10_000}", LONG), (f"{START}empty", "")],
        buttons=[(LONG, {"role": "button", "name": "Go"}), ("", {"css": "#nameless"})],
    )
    checked = write_checked(SiteMap(start=START, pages=[page]), ALL_TYPES)
    _valid_and_unique(checked.specs)
    assert checked.dropped == []
    [button] = [s for s in checked.specs if s.category == "button" and "Export" in s.name]
    assert button.name.startswith("Button 'Export the quarterly ledger")
    assert "…" in button.name and button.name.endswith("' on / works")


def test_odd_characters_in_names_become_one_printable_line() -> None:
    page = _page("/", title=ODD, buttons=[(ODD, {"css": "#odd"})], links=[(f"{START}a", ODD)])
    checked = write_checked(SiteMap(start=START, pages=[page]), ["functional"])
    _valid_and_unique(checked.specs)
    for spec in checked.specs:
        assert spec.name.isprintable() and "\ud800" not in spec.name, spec.name
    [button] = [s for s in checked.specs if s.category == "button"]
    assert "\U0001f600" in button.name
    # A name as given (not quoted by the writer) loses what no line may hold
    [spec] = guard(
        [{"id": "odd", "name": ODD, "url": START, "steps": [{"action": "goto", "url": START}]}]
    ).specs
    assert spec.name == "A B C D\u200bE\U0001f600F\ufffdG H\"I'J<b>K</b>"


def test_a_target_too_long_to_use_gives_way_to_another_locator_of_its_element() -> None:
    long_label = {"label": "Describe the account " * 100}
    field = Field(tag="input", type="text", name="note", label="x", required=True)
    form = FormInfo(action=f"{START}done", method="get", fields=[(field, long_label)], submit=None)
    page = _page(
        "/form",
        forms=[form],
        buttons=[(LONG, {"role": "button", "name": LONG}), ("Pay", {"text": LONG})],
        alternatives={locator_key(long_label): [{"css": '[name="note"]'}]},
    )
    checked = write_checked(SiteMap(start=START, pages=[page]), ["functional"])
    _valid_and_unique(checked.specs)
    [form_spec] = [s for s in checked.specs if s.category == "form"]
    assert form_spec.steps[1].model_dump(exclude_none=True)["target"] == {
        "css": '[name="note"]',
        "exact": True,
    }
    # The buttons found only by their 10,000-character name are dropped, with why
    assert len(checked.dropped) == 2
    for dropped in checked.dropped:
        assert dropped.id.startswith("button-") and len(dropped.name) <= MAX_NAME
        assert "is 10024 characters long" in dropped.reason
        assert "no other way to find it" in dropped.reason


def test_fifty_buttons_of_one_text_and_repeated_pages_keep_ids_unique_and_merge_duplicates() -> (
    None
):
    buttons = [("Buy", {"css": f"#b{n}"}) for n in range(50)]
    same = [("Buy", {"css": "#b0"})] * 3  # three times the same test
    page = _page("/same", buttons=buttons + same)
    checked = write_checked(SiteMap(start=START, pages=[page]), ["functional"])
    _valid_and_unique(checked.specs)
    assert sum(s.category == "button" for s in checked.specs) == 50
    assert checked.merged == 3


def test_a_spec_that_cannot_validate_is_dropped_with_its_reason_and_the_rest_kept() -> None:
    steps = [{"action": "goto", "url": START}] + [{"action": "expect_content"}] * 250
    drafts: list[dict[str, object]] = [
        {"id": "page-ok", "name": "ok", "url": START, "steps": steps[:2]},
        {"id": "form-wide", "name": "W" * 5000, "url": START, "steps": steps},
        {"id": "page-relative", "name": "rel", "url": "/nowhere", "steps": steps[:2]},
    ]
    checked = guard(drafts)
    assert [s.id for s in checked.specs] == ["page-ok"]
    wide, relative = checked.dropped
    assert (wide.id, len(wide.name)) == ("form-wide", MAX_NAME)
    assert (
        wide.reason
        == "invalid spec: steps: List should have at most 200 items after validation, not 251"
    )
    assert (
        relative.reason.startswith("invalid spec: ") and "absolute http(s) URL" in relative.reason
    )


@pytest.mark.parametrize(
    "text",
    [
        "e\u0301" * 400,  # combining accents
        "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 200,  # family emoji joined by ZWJ
        "\U0001f44d\U0001f3fd" * 300,  # skin tone modifiers
    ],
)
def test_shortening_never_cuts_a_character_from_its_marks_or_joiners(text: str) -> None:
    short = shorten(text, MAX_NAME)
    assert len(short) <= MAX_NAME
    head, tail = short.split("…")
    assert text.startswith(head) and text.endswith(tail)
    for part in (head, tail):
        assert part[:1] not in ("\u0301", "\u200d", "\U0001f3fd")
        assert part[-1:] != "\u200d"


@pytest.fixture(scope="module")
def breaker() -> Iterator[str]:
    with BreakerSite() as site:
        yield site.url


def test_the_breaker_site_explored_in_chromium_writes_only_valid_specs(
    breaker: str, browser: Browser
) -> None:
    # Given a site built to break the writer, explored by the real explorer
    site = explore(f"{breaker}/", browser, 12, 10_000)
    assert {"/", "/odd", "/same", "/form", "/wide", "/many"} <= {
        p.url.removeprefix(breaker) for p in site.pages
    }
    # When tests are written for it, then writing returns, and what it returns is valid
    checked = write_checked(site, ALL_TYPES)
    _valid_and_unique(checked.specs)
    categories = {s.category for s in checked.specs}
    assert {"page", "link", "button", "form", "accessibility", "visual"} <= categories
    # The 10,000-character button with an id is kept, found by its id
    kept = [s for s in checked.specs if s.category == "button" and "ledger" in s.name.lower()]
    assert any(step.model_dump().get("target", {}).get("css") for s in kept for step in s.steps)
    # What could not be kept says why: the nameless long button, the 250-field form
    reasons = {d.reason for d in checked.dropped}
    assert any("name is 1002" in r and "no other way to find it" in r for r in reasons), reasons
    assert any("steps: List should have at most 200 items" in r for r in reasons), reasons
    # The summary a report shows is bounded and printable
    summary = summarise(site, checked)
    assert summary.pages == len(site.pages) and len(summary.dropped) == len(checked.dropped)
    assert all(d.name.isprintable() and len(d.name) <= MAX_NAME for d in summary.dropped)
