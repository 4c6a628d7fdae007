"""The demo site really has its seeded bugs, and really is clean without them.

MATF's benchmarks score findings against ``SEEDED_BUGS``, so these tests load
the site in real Chromium (and axe-core) to prove each listed bug is
observable, that nothing else is broken, and that the healthy switch removes
every one of them. The fixtures here give these modules short names for the
session's two demo servers (``demo`` and ``healthy_demo`` in tests/conftest.py).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def healthy(healthy_demo: str) -> str:
    return healthy_demo  # the session's server (conftest), not one more


@pytest.fixture(scope="module")
def buggy(demo: str) -> str:
    return demo
