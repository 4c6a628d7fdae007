"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from matf.browser.pool import BrowserPool


@pytest.fixture(scope="module")
def pool() -> Iterator[BrowserPool]:
    """Real browsers for one test module, closed when it ends."""
    browsers = BrowserPool()
    yield browsers
    browsers.close()
