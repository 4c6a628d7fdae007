"""Fixtures for the tests that run real Celery workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A private Redis, a control worker, an executor worker and beat in ``tmp_path``."""
    started = Cluster(tmp_path)
    yield started
    started.stop()
