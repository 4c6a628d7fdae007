"""Executors on another node: no shared disk, and the report still shows every image.

The executor worker gets a ``STORAGE_PATH`` of its own, as a pod on another
node would. Baselines reach it in the job, its screenshots, captures and
diffs reach the reporter in the result's message (``ARTIFACT_TRANSPORT``
defaults to ``message`` in distributed mode), and nothing stays on its disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import Cluster, finish


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(
        tmp_path,
        executor_env={"STORAGE_PATH": str(tmp_path / "executor-node")},
        TEST_RETRIES="0",
        STEP_TIMEOUT="3000",
    )
    yield started
    started.stop()


def _suite(site: str, look_at: str) -> dict[str, Any]:
    return {
        "version": 1,
        "tests": [
            {
                "id": "look",
                "name": "the lab page looks the same",
                "kind": "visual",
                "url": f"{site}/lab/ok",
                "steps": [{"action": "goto", "url": look_at}, {"action": "check_visual"}],
            },
            {
                "id": "broken",
                "name": "a heading that is not there",
                "url": f"{site}/lab/ok",
                "steps": [
                    {"action": "goto", "url": "/lab/ok"},
                    {"action": "expect_text", "target": {"css": "h1"}, "text": "no such heading"},
                ],
            },
        ],
    }


def _run(cluster: Cluster, site: str, look_at: str) -> tuple[dict[str, Any], str]:
    code, stdout, stderr = finish(cluster.start_run(site, suite=_suite(site, look_at)))
    assert code == 1, stdout + stderr  # a test failed, as it should
    out = cluster.folder / "out"
    report = json.loads((out / "report.json").read_text())
    return {t["case_id"]: t for t in report["tests"]}, (out / "report.html").read_text()


def test_a_run_whose_executor_has_its_own_disk_reports_every_screenshot_and_visual_diff(
    two_nodes: Cluster, healthy_demo: str
) -> None:
    control = two_nodes.folder / "storage"
    # Given a first run: the page's look is recorded, the broken test leaves a screenshot
    tests, html = _run(two_nodes, healthy_demo, "/lab/ok")
    [first] = tests["look"]["visual"]
    assert first["status"] == "recorded"
    assert (control / "baselines" / f"{first['key']}.png").is_file()  # adopted on our side
    shot = tests["broken"]["artifacts"]["screenshot"]  # as the report links it
    assert (two_nodes.folder / "out" / shot).is_file()
    assert html.count("data:image/png;base64,") >= 1
    # When the page changes and the suite runs again
    tests, html = _run(two_nodes, healthy_demo, "/lab/fail")
    # Then the executor compared with the baseline it was sent, and the diff came back
    [second] = tests["look"]["visual"]
    assert tests["look"]["status"] == "failed" and second["status"] == "changed", second
    for path in (second["actual"], second["diff"], tests["broken"]["artifacts"]["screenshot"]):
        assert (two_nodes.folder / "out" / path).is_file(), path
    assert html.count("data:image/png;base64,") >= 3  # the screenshot, the capture, the diff
    # every file each run made (failure screenshots and traces too) landed on our side
    landed = sorted(p.name for p in (control / "artifacts").rglob("*") if p.is_file())
    assert landed == sorted(
        ["broken-chromium-1.png", "broken-chromium-1.zip", "look-chromium-1-page.actual.png"] * 2
        + ["look-chromium-1-page.diff.png", "look-chromium-1.png", "look-chromium-1.zip"]
    )
    # And the executor's own disk keeps nothing of either run
    left = [p for p in (two_nodes.folder / "executor-node").rglob("*") if p.is_file()]
    assert left == []
