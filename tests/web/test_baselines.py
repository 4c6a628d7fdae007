"""Visual baselines and performance budgets: stored, reviewed, served by the API.

Real SQLite files, real PNG files, the real API on a real HTTP server. The
captures are made here with Pillow, so each test knows exactly what changed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from matf.agents.writer import WriterOptions, write_specs
from matf.browser.pool import BrowserPool
from matf.browser.visual import baseline_file, baseline_key
from matf.errors import Conflict
from matf.options import RunOptions
from matf.results import PerfMetrics, TestResult, VisualCheck
from matf.spec import CheckVisual, parse_spec
from matf.storage.baselines import adopt, approve, list_baselines, reject
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import create_run, finish_run, record_results
from tests.apiserver import ApiServer
from tests.conftest import run_matf, server_settings

SPEC = parse_spec(
    {
        "id": "visual-home",
        "name": "Home looks as approved",
        "kind": "visual",
        "url": "http://shop.test/",
        "steps": [{"action": "goto", "url": "/"}, {"action": "check_visual"}],
    }
)
KEY = baseline_key("shop.test_80", "visual-home", "page", "chromium", "1280x720")


def _png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _capture(
    artifacts: Path, run_id: str, status: str, color: tuple[int, int, int], ratio: float = 0.0
) -> TestResult:
    """A result whose visual check captured a flat image of ``color`` (and a diff if changed)."""
    actual = f"{run_id}/home.actual.png"
    (artifacts / run_id).mkdir(parents=True, exist_ok=True)
    (artifacts / actual).write_bytes(_png(color))
    diff = None
    if status == "changed":
        diff = f"{run_id}/home.diff.png"
        (artifacts / diff).write_bytes(_png((255, 0, 0)))
    check = VisualCheck(
        name="page", key=KEY, status=status, width=40, height=30,  # type: ignore[arg-type]
        ratio=ratio, actual=actual, diff=diff,
    )  # fmt: skip
    return TestResult.for_spec(
        SPEC, "chromium", run_id, "failed" if status == "changed" else "passed", visual=[check]
    )


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "artifacts", tmp_path / "baselines"


def test_a_first_capture_becomes_the_baseline_once(
    tmp_path: Path, stores: tuple[Path, Path]
) -> None:
    artifacts, root = stores
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first = _capture(artifacts, "run-1", "recorded", (10, 20, 30))
    with session_scope(engine, write=True) as session:
        [row] = adopt(session, [first], artifacts, root)
        assert row.status == "approved" and row.decided_by == "first run"
        assert adopt(session, [first], artifacts, root) == []  # the reporter ran twice
        # Another run that also saw no baseline (they ran side by side): the first stands.
        other = _capture(artifacts, "run-2", "recorded", (99, 99, 99))
        assert adopt(session, [other], artifacts, root) == []
    assert baseline_file(root, KEY).read_bytes() == _png((10, 20, 30))


def test_a_change_waits_for_review_then_is_approved_or_rejected(
    tmp_path: Path, stores: tuple[Path, Path]
) -> None:
    artifacts, root = stores
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with session_scope(engine, write=True) as session:
        [original] = adopt(
            session, [_capture(artifacts, "run-1", "recorded", (1, 1, 1))], artifacts, root
        )
        [pending] = adopt(
            session, [_capture(artifacts, "run-2", "changed", (2, 2, 2), 1.0)], artifacts, root
        )
        assert pending.status == "pending" and pending.ratio == 1.0
        assert (root / pending.image).read_bytes() == _png((2, 2, 2))
        assert (root / str(pending.diff)).is_file()
        assert baseline_file(root, KEY).read_bytes() == _png((1, 1, 1))  # not replaced yet

        approve(session, pending.id, root, "user:ann")
        assert baseline_file(root, KEY).read_bytes() == _png((2, 2, 2))
        session.refresh(original)
        assert original.status == "superseded" and original.decided_by == "user:ann"
        assert (root / original.image).read_bytes() == _png((1, 1, 1))  # history kept
        with pytest.raises(Conflict, match="it is approved, not pending"):
            approve(session, pending.id, root, "user:ann")

        [third] = adopt(
            session, [_capture(artifacts, "run-3", "changed", (3, 3, 3), 0.5)], artifacts, root
        )
        image = root / third.image
        reject(session, third.id, root, "user:bob")
        assert third.status == "rejected" and not image.exists()
        assert baseline_file(root, KEY).read_bytes() == _png((2, 2, 2))
        statuses = [row.status for row in list_baselines(session)]
    assert statuses == ["rejected", "approved", "superseded"]


def test_a_baseline_key_cannot_leave_its_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="leaves the baselines folder"):
        baseline_file(tmp_path, "../../etc/passwd")
    assert "/" not in baseline_key("a/../b", "c/d", "e", "f", "g").replace("/", "", 3)


def test_masks_and_budgets_reach_the_written_specs() -> None:
    from matf.agents.explore import PageInfo, SiteMap

    site = SiteMap(start="http://shop.test/", pages=[PageInfo(url="http://shop.test/", status=200)])
    options = WriterOptions(budgets={"lcp_ms": 4000, "cls": None}, masks=("#clock", ".ad"))
    specs = write_specs(site, ["performance", "visual"], options)
    perf, visual = specs
    assert perf.kind == "performance" and perf.steps[-1].budgets.lcp_ms == 4000  # type: ignore[union-attr]
    assert perf.steps[-1].budgets.cls is None  # type: ignore[union-attr]
    assert perf.steps[-1].budgets.tbt_ms == 200  # type: ignore[union-attr]  # the default stays
    step = visual.steps[-1]
    assert isinstance(step, CheckVisual) and [m.css for m in step.mask] == ["#clock", ".ad"]


def test_the_browser_pool_limits_each_engine() -> None:
    import threading

    pool = BrowserPool(engine_limits={"webkit": 1})
    inside = threading.Event()
    release = threading.Event()
    entered: list[str] = []

    def hold() -> None:
        with pool.slot("webkit"):
            entered.append("first")
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)

    def wait() -> None:
        with pool.slot("webkit"):
            entered.append("second")

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(0.3)  # it must still be waiting: webkit's one place is taken
    assert waiter.is_alive() and entered == ["first"]
    release.set()
    holder.join(10)
    waiter.join(10)
    assert entered == ["first", "second"]
    pool.close()


# --- the API ----------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(server_settings(tmp_path)).start()
    yield server
    server.stop()


def _seed(server: ApiServer) -> int:
    storage = Path(server.settings.storage_path)
    artifacts, root = storage / "artifacts", storage / "baselines"
    engine = get_engine(server.settings.database_url)
    with session_scope(engine, write=True) as session:
        adopt(session, [_capture(artifacts, "run-1", "recorded", (5, 5, 5))], artifacts, root)
        [pending] = adopt(
            session, [_capture(artifacts, "run-2", "changed", (6, 6, 6), 1.0)], artifacts, root
        )
        return pending.id


def test_baselines_are_reviewed_through_the_api(served: ApiServer) -> None:
    pending = _seed(served)
    with served.client("viewer") as viewer, served.client("editor") as editor:
        [listed] = viewer.get("/api/v1/baselines").json()["items"]
        assert listed["id"] == pending and listed["status"] == "pending"
        image = viewer.get(listed["links"]["image"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content == _png((6, 6, 6))
        assert viewer.get(listed["links"]["diff"]).content == _png((255, 0, 0))
        assert viewer.post(f"/api/v1/baselines/{pending}/approve").status_code == 403
        done = editor.post(f"/api/v1/baselines/{pending}/approve")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "approved"
        assert done.json()["decided_by"] == "user:editor@example.com"
        again = editor.post(f"/api/v1/baselines/{pending}/reject")
        assert again.status_code == 409 and "not pending" in again.json()["detail"]
        everything = viewer.get("/api/v1/baselines", params={"status": "all"}).json()["items"]
        assert [b["status"] for b in everything] == ["approved", "superseded"]
        assert viewer.get("/api/v1/baselines/999/image").status_code == 404


def test_budgets_are_set_per_target_through_the_api(served: ApiServer) -> None:
    with served.client("viewer") as viewer, served.client("editor") as editor:
        shown = viewer.get("/api/v1/budgets", params={"url": "http://shop.test/x"}).json()
        assert shown["origin"] == "http://shop.test" and shown["saved"] == {}
        assert shown["effective"]["lcp_ms"] == 2500
        body = {"url": "http://shop.test/", "budgets": {"lcp_ms": 3000, "tbt_ms": None}}
        assert viewer.put("/api/v1/budgets", json=body).status_code == 403
        saved = editor.put("/api/v1/budgets", json=body)
        assert saved.status_code == 200, saved.text
        assert saved.json()["effective"]["lcp_ms"] == 3000
        assert saved.json()["effective"]["tbt_ms"] is None
        bad = editor.put("/api/v1/budgets", json={"url": "http://shop.test/", "budgets": {"x": 1}})
        assert bad.status_code == 400 and "invalid budget x" in bad.json()["detail"]
        again = viewer.get("/api/v1/budgets", params={"url": "http://shop.test/"}).json()
        assert again["saved"] == {"lcp_ms": 3000, "tbt_ms": None}


def test_performance_history_is_served_per_page(served: ApiServer) -> None:
    engine = get_engine(served.settings.database_url)
    with session_scope(engine, write=True) as session:
        for number, lcp in enumerate((900.0, 1200.0)):
            run = create_run(session, "http://shop.test/", RunOptions(types=("performance",)))
            metrics = PerfMetrics(url="http://shop.test/", lcp_ms=lcp, ttfb_ms=10, requests=3)
            spec = SPEC.model_copy(update={"id": "perf-root", "kind": "performance"})
            record_results(
                session,
                [TestResult.for_spec(spec, "chromium", run.id, "passed", performance=[metrics])],
            )
            finish_run(session, run.id, "passed", datetime(2026, 1, 1 + number, tzinfo=UTC))
    with served.client("viewer") as viewer:
        items = viewer.get(
            "/api/v1/trends/performance", params={"target": "http://shop.test/"}
        ).json()["items"]
    assert [p["lcp_ms"] for p in items] == [900.0, 1200.0]
    assert all(p["url"] == "http://shop.test/" and p["requests"] == 3 for p in items)


def test_budgets_from_the_cli(tmp_path: Path) -> None:
    shown = run_matf(["budgets", "http://shop.test/", "--set", "cls=0.25"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "cls          0.25     (target)" in shown.stdout
    assert "lcp_ms       2500     (default)" in shown.stdout
    bad = run_matf(["budgets", "http://shop.test/", "--set", "cls"], tmp_path)
    assert bad.returncode == 2 and "use NAME=VALUE" in bad.stderr
