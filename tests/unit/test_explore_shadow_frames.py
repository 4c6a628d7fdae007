"""Exploration reaches into open shadow roots and same-origin iframes, in real Chromium.

The shop (``tests/shadow_site.py``) keeps its link, image, button and forms
in shadow roots and iframes. What the explorer finds there becomes specs that
validate, fail on the broken shop naming what broke, and pass on the healthy one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.agents.explore import PageInfo, explore
from matf.agents.writer import write_specs
from matf.browser.pool import BrowserPool
from matf.spec import TestSpec, parse_spec
from tests.shadow_site import PartnerSite, ShadowSite

LIMITS = ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=5_000, retries=0)
PAYMENT = 'iframe[title="Payment"]'


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerSite]:
    with PartnerSite() as site:
        yield site


def _shop(partner: PartnerSite, broken: bool) -> ShadowSite:
    site = ShadowSite(f"http://127.0.0.1:{partner.port}", broken)
    partner.site = site.url
    return site


def _explored(site: ShadowSite, pool: BrowserPool) -> PageInfo:
    found = explore(f"{site.url}/", pool.browser("chromium"), 1, 5_000)
    assert not found.errors
    (page,) = found.pages
    return page


def _specs(site: ShadowSite, pool: BrowserPool) -> dict[str, TestSpec]:
    found = explore(f"{site.url}/", pool.browser("chromium"), 1, 5_000)
    return {spec.id: spec for spec in write_specs(found, ["functional"])}


def _outcomes(specs: dict[str, TestSpec], pool: BrowserPool, tmp_path: Path) -> dict[str, str]:
    env = Environment(pool, LIMITS, tmp_path)
    outcomes = {}
    for spec_id, spec in specs.items():
        result = run_test(spec, "chromium", "r-shadow", env)
        outcomes[spec_id] = f"{result.status}: {result.error or ''}"
    return outcomes


def test_links_and_images_in_shadow_roots_and_same_origin_frames_are_found(
    partner: PartnerSite, pool: BrowserPool
) -> None:
    with _shop(partner, broken=False) as site:
        page = _explored(site, pool)
    links = {href for href, _text in page.links}
    # shadow root, nested shadow root, iframe, iframe in a shadow root
    for path in ("/offers", "/badge-info", "/terms", "/reviews-more"):
        assert f"{site.url}{path}" in links
    assert (f"{site.url}/img/logo.png", "Shop logo") in page.images


def test_closed_shadow_roots_and_cross_origin_frames_are_not_read_or_visited(
    partner: PartnerSite, pool: BrowserPool
) -> None:
    with _shop(partner, broken=False) as site:
        found = explore(f"{site.url}/", pool.browser("chromium"), 10, 5_000)
    links = {href for page in found.pages for href, _text in page.links}
    assert f"{site.url}/closed-only" not in links
    assert f"{site.url}/partner-only" not in links
    assert all(page.url.startswith(site.url) for page in found.pages)
    assert "/partner-only" not in site.requested and "/closed-only" not in site.requested
    buttons = [name for page in found.pages for name, _loc in page.buttons]
    assert "Partner button" not in buttons and "Add to cart" in buttons


def test_controls_in_shadow_roots_and_frames_get_locators_that_find_them_once(
    partner: PartnerSite, pool: BrowserPool
) -> None:
    with _shop(partner, broken=False) as site:
        page = _explored(site, pool)
    assert ("Add to cart", {"role": "button", "name": "Add to cart"}) in page.buttons
    reviews = {"role": "button", "name": "Helpful", "frames": ['iframe[title="Reviews"]']}
    assert ("Helpful", reviews) in page.buttons  # an iframe inside a shadow root
    forms = {form.action: form for form in page.forms}
    shadow_form = forms[f"{site.url}/subscribe"]
    assert [loc for _c, loc in shadow_form.fields] == [{"label": "Email"}]
    assert shadow_form.submit == {"role": "button", "name": "Subscribe"}
    framed = forms[f"{site.url}/pay"]
    assert [loc for _c, loc in framed.fields] == [{"label": "Card name", "frames": [PAYMENT]}]
    assert framed.submit == {"role": "button", "name": "Pay", "frames": [PAYMENT]}


def test_specs_from_shadow_roots_and_frames_fail_on_the_broken_shop_naming_what_broke(
    partner: PartnerSite, pool: BrowserPool, tmp_path: Path
) -> None:
    with _shop(partner, broken=True) as site:
        specs = _specs(site, pool)
        for spec in specs.values():  # what the writer wrote validates as any hand-written spec
            assert parse_spec(spec.model_dump(mode="json", exclude_none=True)) == spec
        outcomes = _outcomes(specs, pool, tmp_path)
    failed = {spec_id: why for spec_id, why in outcomes.items() if why.startswith("failed")}
    links = ("link-offers", "link-badge-info", "link-terms", "link-reviews-more")
    for spec_id in (*links, "image-img-logo-png"):
        assert "404" in failed[spec_id]
    assert "cart exploded" in failed["button-add-to-cart"]
    assert "vote lost" in failed["button-helpful"]
    subscribe = next(why for spec_id, why in failed.items() if "subscribe" in spec_id)
    pay = next(why for spec_id, why in failed.items() if "pay" in spec_id)
    assert "500" in subscribe and "/subscribe" in subscribe
    assert "500" in pay and "/pay" in pay


def test_specs_from_shadow_roots_and_frames_pass_on_the_healthy_shop(
    partner: PartnerSite, pool: BrowserPool, tmp_path: Path
) -> None:
    with _shop(partner, broken=False) as site:
        specs = _specs(site, pool)
        outcomes = _outcomes(specs, pool, tmp_path)
    written = {spec_id.split("-")[0] for spec_id in outcomes}
    assert {"link", "image", "button", "form"} <= written
    assert sum(spec_id.startswith("form") for spec_id in outcomes) == 2
    assert {spec_id: why for spec_id, why in outcomes.items() if why != "passed: "} == {}
