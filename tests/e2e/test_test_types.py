"""Performance, visual and API tests end to end, in every browser asked for.

Whole campaigns through the command line (embedded mode) against the demo
site's seeded problems: a slow page, a layout shift, an API body that breaks
its documented schema, and a page that changes look between two versions of
the site. The healthy demo is the control: three runs, no false failure, no
pixel of difference, the same performance verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from demo.server import DemoServer
from tests.conftest import run_matf

NEW_TYPES = "performance,visual,api"


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


def _run(folder: Path, url: str, name: str, *args: str) -> dict[str, Any]:
    out = folder / name
    proc = run_matf(["run", url, "--out", str(out), "--workers", "2", *args], folder)
    assert proc.returncode in (0, 1), proc.stderr
    return {"proc": proc, "out": out, "report": _report(out)}


@pytest.fixture(scope="module")
def site() -> Iterator[DemoServer]:
    """The demo with its seeded problems, on a server whose version tests may change."""
    with DemoServer(bugs=True, version=1) as server:
        yield server


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("types")  # one database and baselines folder for the runs


@pytest.fixture(scope="module")
def first(site: DemoServer, folder: Path) -> dict[str, Any]:
    return _run(
        folder, site.url, "first", "--types", NEW_TYPES, "--browsers", "chromium,firefox,webkit"
    )


@pytest.fixture(scope="module")
def changed(site: DemoServer, folder: Path, first: dict[str, Any]) -> dict[str, Any]:
    site.set_version(2)
    try:
        return _run(folder, site.url, "second", "--types", "visual")
    finally:
        site.set_version(1)


def _failed(report: dict[str, Any], kind: str, path: str) -> list[dict[str, Any]]:
    return [
        t
        for t in report["tests"]
        if t["kind"] == kind
        and t["browser"] == "chromium"
        and _path(t["url"]) == path
        and t["status"] == "failed"
    ]


def test_the_slow_page_fails_its_time_budgets(first: dict[str, Any]) -> None:
    [test] = _failed(first["report"], "performance", "/stores")
    [metrics] = test["performance"]
    assert metrics["ttfb_ms"] > 800 and metrics["tbt_ms"] > 200
    assert metrics["samples"] == 3 and test["attempts"] == 1  # judged on a median: no retry
    assert "TTFB" in test["error"] and "budget 800 ms" in test["error"]
    assert any(line.startswith("TBT") for line in metrics["over_budget"])


def test_the_layout_shift_fails_its_cls_budget(first: dict[str, Any]) -> None:
    [test] = _failed(first["report"], "performance", "/journal")
    assert test["performance"][0]["cls"] > 0.1
    assert "CLS" in test["error"] and "over budget 0.1" in test["error"]


def test_other_pages_are_within_budgets_and_measured(first: dict[str, Any]) -> None:
    perf = [
        t
        for t in first["report"]["tests"]
        if t["kind"] == "performance" and t["browser"] == "chromium"
    ]
    assert len(perf) >= 5
    for test in perf:
        if _path(test["url"]) not in ("/stores", "/journal"):
            assert test["status"] == "passed", (test["url"], test["error"])
        [metrics] = test["performance"]
        assert metrics["lcp_ms"] is not None and metrics["fcp_ms"] is not None
        assert metrics["requests"] >= 1 and metrics["load_ms"] >= metrics["ttfb_ms"] > 0
    html = (first["out"] / "report.html").read_text()
    assert "Performance by page" in html and "TTFB" in html


def test_the_api_body_that_breaks_its_schema_is_found(first: dict[str, Any]) -> None:
    api = [t for t in first["report"]["tests"] if t["kind"] == "api" and t["browser"] == "chromium"]
    assert any(_path(t["url"]) == "/api/stores" for t in api)  # documented, and fetched by a page
    [broken] = _failed(first["report"], "api", "/api/products")
    assert broken["api"][0]["schema_errors"], broken["error"]
    assert "$" in broken["error"] and "price" in broken["error"] or "required" in broken["error"]
    others = [t for t in api if _path(t["url"]) != "/api/products"]
    assert others and all(t["status"] == "passed" for t in others), [
        (t["url"], t["error"]) for t in others if t["status"] != "passed"
    ]


def test_the_first_run_records_baselines(first: dict[str, Any], folder: Path) -> None:
    visual = [
        t for t in first["report"]["tests"] if t["kind"] == "visual" and t["browser"] == "chromium"
    ]
    assert len(visual) >= 5
    for test in visual:
        assert test["status"] == "passed", test["error"]
        [check] = test["visual"]
        assert check["status"] == "recorded" and check["width"] == 1280
    stored = list((folder / "storage" / "baselines").rglob("*.png"))
    assert len(stored) == len(visual)


def test_missing_browsers_are_skipped_with_the_reason(first: dict[str, Any]) -> None:
    tests = first["report"]["tests"]
    by_browser = {b: [t for t in tests if t["browser"] == b] for b in ("chromium", "firefox")}
    assert len(by_browser["firefox"]) == len(by_browser["chromium"])  # every test, every browser
    for browser in ("firefox", "webkit"):
        for test in (t for t in tests if t["browser"] == browser):
            assert test["status"] == "skipped"
            assert f"{browser} is not installed" in test["error"]
    assert "SKIPPED firefox: firefox is not installed" in first["proc"].stdout
    assert "SKIPPED webkit" in first["proc"].stdout


def test_a_changed_page_fails_with_its_diff(changed: dict[str, Any]) -> None:
    report, out = changed["report"], changed["out"]
    [test] = _failed(report, "visual", "/about")
    [check] = test["visual"]
    assert check["status"] == "changed" and check["ratio"] > check["tolerance"]
    assert "visual change" in test["error"] and "of pixels changed" in test["error"]
    assert (out / check["diff"]).is_file() and (out / check["actual"]).is_file()
    assert "Differences from the baseline" in (out / "report.html").read_text()
    others = [t for t in report["tests"] if _path(t["url"]) != "/about"]
    assert others and all(t["status"] == "passed" for t in others)
    assert all(t["visual"][0]["changed_pixels"] == 0 for t in others)  # a second run: no diff


def test_a_change_is_approved_from_the_cli(
    site: DemoServer, folder: Path, changed: dict[str, Any]
) -> None:
    run_id = changed["report"]["run"]["id"]
    listed = run_matf(["baselines", "list", "--json"], folder)
    [pending] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert pending["run_id"] == run_id and "/visual-about/" in pending["key"]
    assert pending["status"] == "pending" and Path(pending["diff"]).is_file()
    approved = run_matf(["baselines", "approve", "--run", run_id], folder)
    assert approved.returncode == 0 and f"approved {pending['id']}" in approved.stdout
    again = run_matf(["baselines", "approve", str(pending["id"])], folder)
    assert again.returncode == 2 and "it is approved, not pending" in again.stderr
    site.set_version(2)
    try:
        third = _run(folder, site.url, "third", "--types", "visual")
    finally:
        site.set_version(1)
    assert third["report"]["run"]["status"] == "passed"
    assert all(t["visual"][0]["status"] == "matched" for t in third["report"]["tests"])


def test_the_healthy_demo_is_stable_over_three_runs(tmp_path: Path) -> None:
    # Given the healthy demo, when it is run three times with the new types,
    # then nothing fails, no pixel differs, and every performance verdict repeats.
    with DemoServer(bugs=False) as server:
        runs = [_run(tmp_path, server.url, f"run{i}", "--types", NEW_TYPES) for i in range(3)]
    verdicts = []
    for number, run in enumerate(runs):
        tests = run["report"]["tests"]
        bad = [(t["name"], t["error"]) for t in tests if t["status"] != "passed"]
        assert not bad and run["proc"].returncode == 0
        assert {t["kind"] for t in tests} == {"performance", "visual", "api"}
        for test in (t for t in tests if t["kind"] == "visual"):
            check = test["visual"][0]
            assert check["status"] == ("recorded" if number == 0 else "matched")
            assert check["changed_pixels"] == 0
        verdicts.append(
            sorted(
                (t["case_id"], t["status"], tuple(t["performance"][0]["over_budget"]))
                for t in tests
                if t["kind"] == "performance"
            )
        )
    assert verdicts[0] == verdicts[1] == verdicts[2]


def test_a_device_is_emulated(site: DemoServer, tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "tests": [
                    {
                        "id": "home-look",
                        "name": "Home on a phone",
                        "kind": "visual",
                        "url": site.url + "/",
                        "steps": [
                            {"action": "goto", "url": "/"},
                            {"action": "check_visual", "mask": [{"css": "footer"}]},
                        ],
                    }
                ]
            }
        )
    )
    run = _run(tmp_path, site.url, "out", "--suite", str(suite), "--device", "Pixel 7")
    [test] = run["report"]["tests"]
    assert test["status"] == "passed" and test["device"] == "Pixel 7"
    assert test["visual"][0]["width"] == 412  # Pixel 7's viewport, not the desktop's 1280
    assert "pixel-7" in test["visual"][0]["key"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--types", "visual"],
            {"ENABLE_VISUAL_REGRESSION": "false"},
            "visual testing is turned off (ENABLE_VISUAL_REGRESSION=false)",
        ),
        (["--types", "speed"], {}, "unknown type 'speed'"),
        (["--budget", "lcp_ms=fast"], {}, "invalid budget 'lcp_ms=fast'"),
        (["--budget", "lcp=3000"], {}, "invalid budget lcp"),
        (["--device", "Pixel 99"], {}, "unknown device 'Pixel 99'"),
    ],
)  # fmt: skip
def test_bad_options_fail_in_one_line(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    proc = run_matf(["run", "http://127.0.0.1:9/", *args], tmp_path, **env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_pages_are_captured_per_viewport_from_a_written_suite(
    site: DemoServer, tmp_path: Path
) -> None:
    suite = tmp_path / "suite.json"
    written = run_matf(
        ["write", site.url, "-o", str(suite), "--types", "visual,performance", "--max-pages", "2",
         "--viewport", "390x844", "--viewport", "1280x720", "--mask", "footer",
         "--budget", "lcp_ms=4000"],
        tmp_path,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    tests = json.loads(suite.read_text())["tests"]
    visual = [t for t in tests if t["kind"] == "visual"]
    assert sorted(t["viewport"]["width"] for t in visual) == [390, 390, 1280, 1280]
    assert all(t["steps"][-1]["mask"] == [{"css": "footer", "exact": True}] for t in visual)
    perf = [t for t in tests if t["kind"] == "performance"]
    assert len(perf) == 2 and all(t["steps"][-1]["budgets"]["lcp_ms"] == 4000 for t in perf)
    run = _run(tmp_path, site.url, "out", "--suite", str(suite), "--types", "visual")
    checks = [t["visual"][0] for t in run["report"]["tests"]]
    assert sorted(c["width"] for c in checks) == [390, 390, 1280, 1280]
    assert {c["key"].rsplit("-", 1)[1] for c in checks} == {"390x844", "1280x720"}
    bad = run_matf(["write", site.url, "-o", str(suite), "--viewport", "wide"], tmp_path)
    assert bad.returncode == 2 and "invalid viewport 'wide'" in bad.stderr
