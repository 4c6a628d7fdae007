"""A locator's ``frames``: strict validation, how it reads, and finding elements through them."""

from __future__ import annotations

import ast
import html

import pytest
from playwright.sync_api import Browser
from pydantic import ValidationError

from matf.browser.page import matching, resolve
from matf.export.writer import TestWriter
from matf.spec import Locator, parse_spec

INNER = '<button id="deep">Pay</button>'
OUTER = (
    f'<button id="middle">Pay</button><iframe title="Inner" srcdoc="{html.escape(INNER)}"></iframe>'
)
PAGE = f"""<!doctype html><html lang="en"><title>Frames</title><body>
<button id="top">Pay</button>
<iframe title="Payment" srcdoc="{html.escape(OUTER)}"></iframe>
<iframe title="Other" srcdoc="{html.escape("<p>nothing here</p>")}"></iframe>
</body></html>"""


@pytest.mark.parametrize(
    "frames",
    [[], [""], ["   "], ["iframe"] * 6, ["x" * 301], [None]],
    ids=["empty-list", "empty", "blank", "too-deep", "too-long", "null"],
)
def test_a_locator_refuses_frames_that_say_nothing_or_too_much(frames: list[object]) -> None:
    with pytest.raises(ValidationError):
        Locator.model_validate({"role": "button", "name": "Pay", "frames": frames})


def test_a_framed_locator_says_which_frames_it_searches() -> None:
    outer = 'iframe[title="Payment"]'
    one = Locator.model_validate({"role": "button", "name": "Pay", "frames": [outer]})
    two = Locator.model_validate({"label": "Card", "frames": [outer, "iframe >> nth=0"]})
    assert one.describe() == f"button 'Pay' in frame {outer}"
    assert two.describe() == f"label 'Card' in frame {outer} › iframe >> nth=0"
    assert Locator.model_validate({"text": "Pay"}).describe() == "text 'Pay'"


def test_resolve_finds_the_element_inside_the_named_frames_only(browser: Browser) -> None:
    page = browser.new_page()
    try:
        page.set_content(PAGE, wait_until="load")
        pay = {"role": "button", "name": "Pay"}
        cases = {
            None: "top",
            ('iframe[title="Payment"]',): "middle",
            ('iframe[title="Payment"]', 'iframe[title="Inner"]'): "deep",
        }
        for frames, expected in cases.items():
            locator = Locator.model_validate({**pay, "frames": list(frames) if frames else None})
            assert matching(page, locator).count() == 1
            assert resolve(page, locator).get_attribute("id", timeout=5_000) == expected
        css = Locator.model_validate({"css": "#deep", "frames": ["iframe >> nth=0", "iframe"]})
        assert resolve(page, css).inner_text(timeout=5_000) == "Pay"
        elsewhere = Locator.model_validate({**pay, "frames": ['iframe[title="Other"]']})
        assert matching(page, elsewhere).count() == 0
    finally:
        page.close()


def test_an_exported_test_searches_the_same_frames() -> None:
    spec = parse_spec(
        {
            "id": "pay",
            "name": "Pay",
            "url": "http://127.0.0.1:1/",
            "steps": [
                {"action": "goto", "url": "http://127.0.0.1:1/"},
                {
                    "action": "click",
                    "target": {"role": "button", "name": "Pay", "frames": ["#a", "#b"]},
                },
            ],
        }
    )
    code = TestWriter(spec=spec, base="http://127.0.0.1:1", name="test_pay").render()
    ast.parse(code)
    expected = (
        "page.frame_locator('#a').frame_locator('#b')"
        ".get_by_role('button', name='Pay', exact=True).first"
    )
    assert expected in code.replace('"', "'")
