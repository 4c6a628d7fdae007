"""Interaction exploration in real Chromium: what a click reveals becomes a place to test.

The site (``tests/interactive_site.py``) hides a form in a dialog, a button in
a ``<details>``, another in a tab panel, routes to a view with
``history.pushState``, and offers a "Delete account" button nobody may click.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.agents.explore import FormInfo, PageInfo, SiteMap, explore
from matf.agents.values import Field
from matf.agents.writer import write_specs
from matf.browser.pool import BrowserPool
from matf.spec import load_suite
from tests.conftest import run_matf
from tests.interactive_site import InteractiveSite

LIMITS = ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=5_000, retries=0)
DIALOG = "in the dialog opened by 'New contact'"


@pytest.fixture(scope="module")
def healthy() -> Iterator[InteractiveSite]:
    with InteractiveSite() as site:
        yield site


@pytest.fixture(scope="module")
def explored(healthy: InteractiveSite, pool: BrowserPool) -> SiteMap:
    return explore(f"{healthy.url}/app", pool.browser("chromium"), 1, 5_000)


def _state(site: SiteMap, label: str) -> PageInfo:
    found = [s for s in site.states if s.state == label]
    assert len(found) == 1, [s.state for s in site.states]
    return found[0]


def test_a_form_inside_a_dialog_is_found_with_the_click_that_opens_it(explored: SiteMap) -> None:
    page = explored.pages[0]
    assert page.forms == []  # the closed dialog's form is not on the loaded page
    state = _state(explored, DIALOG)
    assert state.url == page.url
    assert state.via == [
        {
            "action": "click",
            "target": {"role": "button", "name": "New contact"},
            "alternatives": [{"css": '[id="new"]'}],
        }
    ]
    assert [[c.name for c, _loc in f.fields] for f in state.forms] == [["name", "email"]]
    assert state.buttons == []  # only what the click revealed: the page's buttons are the page's


def test_a_disclosure_and_a_tab_reveal_their_buttons(explored: SiteMap) -> None:
    details = _state(explored, "after clicking 'Shipping policy'")
    assert details.via == [{"action": "click", "target": {"text": "Shipping policy"}}]
    assert [name for name, _loc in details.buttons] == ["Copy policy link"]
    tab = _state(explored, "after clicking 'Settings'")
    assert tab.via[0]["target"] == {"role": "tab", "name": "Settings"}
    assert [name for name, _loc in tab.buttons] == ["Export settings"]


def test_each_state_is_kept_once(explored: SiteMap) -> None:
    labels = [s.state for s in explored.states]
    assert len(labels) == len(set(labels)) == 3
    assert 0 < explored.interactions[explored.pages[0].url] <= 12


def test_a_route_reached_through_push_state_is_explored_as_a_page(
    healthy: InteractiveSite, pool: BrowserPool
) -> None:
    site = explore(f"{healthy.url}/app", pool.browser("chromium"), 5, 5_000)
    assert [p.url for p in site.pages] == [f"{healthy.url}/app", f"{healthy.url}/app/reports"]
    assert site.pages[1].title == "Contacts" and site.errors == {}


@pytest.mark.parametrize(("broken", "status"), [(False, "passed"), (True, "failed")])
def test_the_page_test_of_a_push_state_route_finds_what_breaks_there(
    pool: BrowserPool, tmp_path: Path, broken: bool, status: str
) -> None:
    with InteractiveSite(broken=broken) as site:
        # Given a view only a pushState button leads to, explored and its tests written
        found = explore(f"{site.url}/app", pool.browser("chromium"), 5, 5_000)
        specs = write_specs(found, ["functional"])
        [route] = [
            s
            for s in specs
            if s.category == "page"
            and s.url.endswith("/app/reports")
            and [step.action for step in s.steps][1:2] != ["click"]  # the route, not a state of it
        ]
        # When the route's page test runs
        result = run_test(route, "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    # Then it passes where the view renders and fails, naming the error, where it throws
    assert result.status == status, result.error
    if broken:
        assert "reportRows is not defined" in (result.error or "")


def test_a_destructive_button_is_never_clicked(explored: SiteMap, healthy: InteractiveSite) -> None:
    assert explored.interactions  # the page was explored by clicking
    assert healthy.clicks["delete"] == 0
    assert all("Delete" not in s.state for s in explored.states)


def test_a_click_never_takes_exploration_to_another_site(pool: BrowserPool) -> None:
    with InteractiveSite() as other, InteractiveSite(help=f"{other.url}/app") as site:
        found = explore(f"{site.url}/app", pool.browser("chromium"), 5, 5_000)
        assert found.interactions[f"{site.url}/app"] > 0
        assert other.requests == {}
        assert all(p.url.startswith(site.url) for p in found.pages)


@pytest.mark.parametrize(("broken", "status"), [(False, "passed"), (True, "failed")])
def test_the_written_form_test_opens_the_dialog_fills_and_saves(
    pool: BrowserPool, tmp_path: Path, broken: bool, status: str
) -> None:
    with InteractiveSite(broken=broken) as site:
        # Given the site explored and its tests written
        found = explore(f"{site.url}/app", pool.browser("chromium"), 1, 5_000)
        specs = write_specs(found, ["functional"])
        form = [s for s in specs if s.category == "form"]
        assert [s.name for s in form] == [f"Form {DIALOG} on /app (GET /app) submits"]
        steps = [step.action for step in form[0].steps]
        assert steps[:4] == ["goto", "click", "fill", "fill"] and "submit" in steps
        # When the form's test runs
        result = run_test(form[0], "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    # Then it passes on the healthy app and fails on the one whose Save throws
    assert result.status == status, result.error
    if broken:
        assert "contactStore is not defined" in (result.error or "")


def test_interaction_is_bounded_on_a_page_of_hundreds_of_buttons_and_an_endless_list(
    healthy: InteractiveSite, pool: BrowserPool
) -> None:
    url = f"{healthy.url}/many"
    site = explore(url, pool.browser("chromium"), 1, 5_000, max_interactions=6, max_depth=3)
    assert site.interactions == {url: 6}
    assert 0 < len(site.states) <= 6
    # the cue-less buttons in page order: "Load more" first
    assert site.states[0].state == "after clicking 'Load more'"
    assert all(1 <= len(s.via) <= 3 for s in site.states)


def test_no_interactions_means_no_clicks(healthy: InteractiveSite, pool: BrowserPool) -> None:
    site = explore(f"{healthy.url}/app", pool.browser("chromium"), 5, 5_000, max_interactions=0)
    assert site.interactions == {} and site.states == []
    assert [p.url for p in site.pages] == [f"{healthy.url}/app"]  # no route found by clicking


def test_every_test_written_for_a_state_replays_its_clicks_first() -> None:
    # Given a page and a state two clicks deep with a form and a button
    url = "http://127.0.0.1:9/app"
    via = [
        {"action": "click", "target": {"role": "button", "name": "Menu"}},
        {"action": "click", "target": {"role": "menuitem", "name": "New contact"}},
    ]
    field = Field(tag="input", type="text", name="name", label="Name", required=True)
    state = PageInfo(
        url=url,
        status=200,
        forms=[FormInfo(url, "post", [(field, {"label": "Name"})], {"text": "Save"})],
        buttons=[("Import", {"role": "button", "name": "Import"})],
        via=via,
        state=f"in the dialog opened by 'Menu' then {'x' * 59 + '…'!r}",
    )
    site = SiteMap(start=url, pages=[PageInfo(url=url, status=200)], states=[state])
    # When its tests are written
    specs = write_specs(site, ["functional", "accessibility"])
    # Then each test of the state opens the page, replays both clicks, then does its own part
    mine = [s for s in specs if state.state in s.name]
    assert sorted(s.category for s in mine) == ["accessibility", "button", "form", "page"]
    for spec in mine:
        opening = [step.model_dump(exclude_defaults=True) for step in spec.steps[1:3]]
        assert spec.steps[0].action == "goto" and spec.url == url
        assert opening == via
        assert len(spec.name) <= 300
    assert any(s.name == f"Form {state.state} on /app (POST /app) submits" for s in mine)
    # And the page's own tests open the page only
    page_tests = [s for s in specs if s not in mine]
    assert page_tests and all(s.steps[1].action != "click" for s in page_tests)


def test_the_command_line_limits_interaction(tmp_path: Path) -> None:
    with InteractiveSite() as site:
        # one click, one deep: the first opener (the dialog) and nothing after it
        args = ["--max-pages", "1", "--max-interactions", "1", "--max-depth", "1"]
        proc = run_matf(["write", f"{site.url}/app", "-o", "suite.json", *args], tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = [t.name for t in load_suite(tmp_path / "suite.json").tests]
    assert f"Form {DIALOG} on /app (GET /app) submits" in names
    assert not any("after clicking" in name for name in names)
