"""``matf backup`` as a user runs it: create, list, verify, prune, restore, and its refusals."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from matf.options import RunOptions
from matf.storage.db import get_engine, session_scope
from matf.storage.models import ScheduledJob
from matf.storage.runs import create_run
from tests.conftest import run_matf

PG = "postgresql://matf:secret@127.0.0.1:9/matf"


def _backup(args: list[str], folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_matf(["backup", *args], folder, BACKUP_PATH=str(folder / "backups"), **env)


def _new_run(folder: Path, driver: str | None = None) -> str:
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}"), write=True) as session:
        run = create_run(session, "http://127.0.0.1/", RunOptions())
        run.driver = driver
        return run.id


def _runs(database: Path) -> list[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM runs ORDER BY id")]


def test_create_list_verify_restore_and_prune(tmp_path: Path) -> None:
    # Given a database with one run and a baseline image
    kept_run = _new_run(tmp_path)
    image = tmp_path / "storage" / "baselines" / "site" / "home.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"before")
    assert _backup(["list"], tmp_path).stdout.strip().startswith("no backups in")

    # When two backups are taken and listed
    first = _backup(["create"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "integrity ok" in first.stdout
    second = _backup(["create"], tmp_path)
    assert second.returncode == 0, second.stderr
    listed = _backup(["list", "--json"], tmp_path)
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert len(names) == 2 and names == sorted(names, reverse=True)
    newest = json.loads(listed.stdout.splitlines()[0])
    assert newest["tables"]["runs"] == 1
    # And the newest verified one is noted for the metrics (a CronJob's backups are watched too)
    with session_scope(get_engine(f"sqlite:///{tmp_path / 'matf.db'}")) as session:
        totals = session.get(ScheduledJob, "backup").totals  # type: ignore[union-attr]
    assert totals["last_verified_bytes"] == newest["bytes"]
    taken = datetime.fromisoformat(newest["created_at"]).timestamp()
    assert totals["last_verified_at"] == taken

    # Then both verify
    checked = _backup(["verify"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [f"{name}: ok" for name in names]

    # When a run is added and the image changed, then the newest backup is restored
    lost_run = _new_run(tmp_path)
    image.write_bytes(b"after")
    unconfirmed = _backup(["restore", names[0]], tmp_path)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert _runs(tmp_path / "matf.db") == sorted([kept_run, lost_run])
    restored = _backup(["restore", names[0], "--yes"], tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert _runs(tmp_path / "matf.db") == [kept_run]
    assert image.read_bytes() == b"before"
    [aside] = tmp_path.glob("matf.db.before-restore-*")
    assert f"kept at {aside}" in restored.stdout
    assert _runs(aside) == sorted([kept_run, lost_run])

    # A backup corrupted on disk fails verify (exit 1, named) and is not restored
    copy = tmp_path / "backups" / names[1] / "database.sqlite3"
    copy.write_bytes(copy.read_bytes()[:-10] + b"corrupted!")
    checked = _backup(["verify"], tmp_path)
    assert checked.returncode == 1
    assert f"{names[1]}: FAILED: database.sqlite3 does not match its checksum" in checked.stdout
    refused = _backup(["restore", names[1], "--yes"], tmp_path)
    assert refused.returncode == 2 and "is not a good backup" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1

    # Prune keeps the newest
    pruned = _backup(["prune", "--keep", "1"], tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [names[0]]


def test_restore_refuses_while_a_runs_driver_runs(tmp_path: Path) -> None:
    # Given a backup, then a run driven by a live process of this host
    get_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    assert _backup(["create"], tmp_path).returncode == 0
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run_id = _new_run(tmp_path, driver=f"{socket.gethostname()}:{driver.pid}:")
        [name] = [p.name for p in (tmp_path / "backups").iterdir()]

        # When a restore is asked for, then it is refused in one line naming the run
        refused = _backup(["restore", name, "--yes"], tmp_path)
        assert refused.returncode == 2
        assert "will not restore while work is running" in refused.stderr
        assert f"run {run_id}" in refused.stderr and len(refused.stderr.splitlines()) == 1
        assert list(tmp_path.glob("matf.db.before-restore-*")) == []
    finally:
        driver.kill()
        driver.wait()

    # Once the driver is gone, the restore goes ahead
    done = _backup(["restore", name, "--yes"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert run_id not in _runs(tmp_path / "matf.db")


def test_postgresql_says_pg_dump_and_creates_nothing(tmp_path: Path) -> None:
    for args in (["create"], ["list"], ["verify"], ["prune"], ["restore", "x", "--yes"]):
        done = _backup(args, tmp_path, DATABASE_URL=PG)
        assert done.returncode == 2, (args, done.stderr)
        assert "pg_dump" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "backups").exists()
    assert list(tmp_path.iterdir()) == []
