"""The PostgreSQL option is real: a whole distributed campaign on a real PostgreSQL server.

SQLite stays the default (one writer pod); a deployment that outgrows it sets
``DATABASE_URL=postgresql+psycopg://...`` (the k8s PostgreSQL overlay). Here
every part uses one private PostgreSQL: the control and executor workers,
beat, ``matf run`` and the API, which reads the run back and serves its
metrics from it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tests.apiserver import ApiServer
from tests.cluster import Cluster, finish
from tests.conftest import make_settings
from tests.services import PostgresServer


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    pytest.importorskip("psycopg", reason="no PostgreSQL driver (pip install 'psycopg[binary]')")
    folder = Path(tempfile.mkdtemp(prefix="matf-pg-"))  # short: a Unix socket path has a limit
    try:
        server = PostgresServer(folder)
    except FileNotFoundError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(str(exc))
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_campaign_explores_writes_runs_and_reports_on_postgresql(
    tmp_path: Path, postgres: PostgresServer, demo: str
) -> None:
    cluster = Cluster(tmp_path, DATABASE_URL=postgres.url, TEST_RETRIES="0")
    try:
        # When a campaign explores the demo shop, writes its tests, runs and reports them
        cli = cluster.start_run(demo, "--types", "functional,api", "--max-pages", "4")
        code, stdout, stderr = finish(cli, timeout_s=420)
    finally:
        cluster.stop()
    # Then it ends as on SQLite: the seeded bugs it met fail, and it says so
    assert code == 1, stdout + stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    run_id = report["run"]["id"]
    assert report["run"]["status"] == "failed" and report["run"]["error"] is None
    assert len(report["tests"]) >= 10 and report["run"]["counts"]["failed"] >= 1
    # And everything it stored is in PostgreSQL: the run, every test, every result
    engine = get_engine(postgres.url)
    with session_scope(engine) as session:
        run = session.get(models.Run, run_id)
        assert run is not None and run.status.value == "failed"
        stored = session.scalar(
            select(func.count())
            .select_from(models.TestResultRow)
            .where(models.TestResultRow.run_id == run_id)
        )
    assert stored == len(report["tests"])
    assert not (tmp_path / "matf.db").exists()  # nothing fell back to SQLite
    # And the API reads it back from there, and its /metrics counts it
    settings = make_settings(tmp_path, database_url=postgres.url)
    api = ApiServer(settings).start()
    try:
        client = api.client("viewer")
        shown = client.get(f"/api/v1/runs/{run_id}").json()
        assert shown["status"] == "failed" and shown["counts"] == report["run"]["counts"]
        metrics = client.get("/metrics").text
        failed = float(report["run"]["counts"]["failed"])
        executed = [line for line in metrics.splitlines() if line.startswith("tests_executed")]
        assert f'tests_executed_total{{browser="chromium",status="failed"}} {failed}' in executed
    finally:
        api.stop()
