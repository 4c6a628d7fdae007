"""Backups of the SQLite database and the visual baselines: taken online, checked, pruned.

Owned by the context manager agent. A backup is a folder under ``BACKUP_PATH``
named ``matf-<UTC stamp>`` (``-2``, ``-3``... when two share a second) that
holds ``database.sqlite3``, the ``baselines/`` beside it and ``manifest.json``
(schema revision, row counts, and each file's size and sha256). Saved suites
live in the database (``suites``, ``suite_cases``): the copy carries them.

The database is copied with SQLite's backup API from a connection of its own,
in one step, so the copy is one read transaction's snapshot: every row
committed before the backup started is in it, writers go on meanwhile (WAL),
and a file copy of a live WAL database (torn between the file and its -wal)
never happens. A backup is built under a ``.partial-`` name and renamed when
whole and checked: a crash leaves only a partial folder, which no listing
shows and ``prune`` clears once stale. PostgreSQL is ``pg_dump``'s work: every
operation here refuses it in one line and touches nothing.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from matf.errors import ConfigError, EnvironmentProblem, UsageError
from matf.settings import Settings
from matf.storage.backup_files import (
    BASELINES,
    DATABASE,
    MANIFEST,
    NAME,
    backup_order,
    build_manifest,
    copy_database,
    copy_file,
    copy_tree,
    fsync_dir,
    integrity_problem,
    is_stale_partial,
    move_aside,
    not_a_database,
    read_manifest,
    sha256,
    unused_name,
    write_into,
    write_manifest,
)
from matf.storage.db import Sessions, head_revision
from matf.storage.schedule import record_verified_backup

PARTIAL = ".partial-"


@dataclass(frozen=True)
class Backup:
    """One backup folder as its manifest describes it; ``problem`` when it has none."""

    path: Path
    created_at: datetime
    revision: str | None
    bytes: int
    tables: dict[str, int]
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class Verification:
    """What checking a backup found: nothing (ok) or the problems, in words."""

    path: Path
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(self.problems) if self.problems else "ok"


@dataclass(frozen=True)
class Restored:
    """Where a restore put things, and where it kept what it replaced."""

    backup: Path
    database: Path
    database_aside: Path | None
    baselines_aside: Path | None


def database_file(settings: Settings) -> Path:
    """The SQLite file of ``DATABASE_URL``; a one-line error for any other database."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid DATABASE_URL: {settings.database_url!r}") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        raise UsageError(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump and restore it with "
            "pg_restore (matf backup copies SQLite databases only)"
        )
    if backend != "sqlite" or not url.database or url.database == ":memory:":
        raise UsageError(
            f"DATABASE_URL is not a SQLite file ({backend}): back it up with its own "
            "tools (matf backup copies SQLite databases only)"
        )
    return Path(url.database)


def baselines_root(settings: Settings) -> Path:
    return Path(settings.storage_path) / BASELINES


def utc_stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def create_backup(settings: Settings, now: datetime | None = None) -> Backup:
    """Take one backup now: the database online, the baselines, a manifest; checked.

    The database is copied before the baselines, so every baseline row of the
    copy finds its image (images are written before their rows, and replaced
    atomically). Raises when the copy fails its integrity check: it never counts.
    """
    source = database_file(settings)
    if not source.is_file():
        raise UsageError(f"no database at {source}: nothing to back up")
    created = now or datetime.now(UTC)
    root = Path(settings.backup_path)
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}matf-{utc_stamp(created)}-", dir=root))
    try:
        _copy_database(source, partial / DATABASE)
        problem = integrity_problem(partial / DATABASE)
        if problem is not None:
            raise EnvironmentProblem(f"the copy of {source} fails its integrity check: {problem}")
        copy_tree(baselines_root(settings), partial / BASELINES)
        manifest = build_manifest(partial, created, source)
        write_manifest(partial / MANIFEST, manifest)
        final = _publish(partial, root, utc_stamp(created))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _from_manifest(final, manifest)


def verify_backup(path: Path) -> Verification:
    """Check a backup: its manifest, every file it names (present, size, sha256), integrity."""
    try:
        manifest = read_manifest(path)
    except ValueError as exc:
        return Verification(path, (str(exc),))
    problems: list[str] = []
    files: dict[str, Any] = manifest.get("files", {})
    if DATABASE not in files:
        problems.append(f"the manifest names no {DATABASE}")
    for name, expected in sorted(files.items()):
        file = path / name
        if not file.is_file():
            problems.append(f"{name} is missing")
        elif file.stat().st_size != expected.get("bytes") or sha256(file) != expected.get("sha256"):
            problems.append(f"{name} does not match its checksum")
    if (path / DATABASE).is_file():
        problem = integrity_problem(path / DATABASE)
        if problem is not None:
            problems.append(f"{DATABASE} fails its integrity check: {problem}")
    return Verification(path, tuple(problems))


def list_backups(settings: Settings) -> list[Backup]:
    """The backups under ``BACKUP_PATH``, newest first; partial (crashed) ones are not listed."""
    database_file(settings)
    return [_describe(path) for path in _ours(Path(settings.backup_path))]


def prune(settings: Settings, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups, and stale partial ones; the paths deleted.

    Only folders named like ours that hold our manifest are backups: anything
    else under ``BACKUP_PATH`` is left alone.
    """
    database_file(settings)
    if keep < 1:
        raise UsageError("keep at least one backup")
    root = Path(settings.backup_path)
    ours = [path for path in _ours(root) if _describe(path).problem is None]
    doomed = ours[keep:]
    if root.is_dir():
        doomed += [p for p in sorted(root.glob(f"{PARTIAL}matf-*")) if is_stale_partial(p)]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def scheduled_backup(settings: Settings, sessions: Sessions | None = None) -> dict[str, Any]:
    """What the schedule runs every ``BACKUP_INTERVAL``: create, verify, prune to ``BACKUP_KEEP``.

    A small JSON-able detail for the job's record. A PostgreSQL database, or no
    database yet, is skipped with the reason, not raised: the schedule has
    nothing to retry. A backup that does not verify prunes nothing, so a bad
    copy never pushes out a good one; one that does is noted through
    ``sessions`` for the backup metrics (``create_verified``).
    """
    started = time.monotonic()
    try:
        source = database_file(settings)
    except UsageError as exc:
        return {"skipped": True, "reason": str(exc)}
    if not source.is_file():
        return {"skipped": True, "reason": f"no database at {source} yet"}
    made, check = create_verified(settings, sessions)
    pruned = prune(settings, settings.backup_keep) if check.ok else []
    return {
        "skipped": False,
        "path": str(made.path),
        "bytes": made.bytes,
        "rows": made.rows,
        "revision": made.revision,
        "verified": check.ok,
        "problems": list(check.problems),
        "pruned": len(pruned),
        "seconds": round(time.monotonic() - started, 3),
    }


def create_verified(settings: Settings, sessions: Sessions | None) -> tuple[Backup, Verification]:
    """Take a backup and check it; one that verifies is noted through ``sessions``.

    The note (the newest verified backup's moment and size, on the backup
    job's row) is what the backup metrics and alerts read, whoever took it:
    the schedule, or ``matf backup create`` in a CronJob.
    """
    made = create_backup(settings)
    check = verify_backup(made.path)
    if check.ok and sessions is not None:
        with sessions(True) as session:
            interval_s = settings.interval_s("backup")
            record_verified_backup(session, interval_s, made.created_at, made.bytes)
    return made, check


def restore_backup(
    settings: Settings, path: Path, running: Sequence[str], now: datetime | None = None
) -> Restored:
    """Put a backup's database and baselines in place of the current ones, kept aside first.

    ``running``: what works on the database now, in words (embedded runs whose
    driver lives, distributed workers). The caller finds it, since only
    ``tasks`` may ask the workers; anything running refuses the restore. The
    current database is copied aside online (or, when it cannot be read,
    moved aside with its -wal and -shm), then the backup is written into it
    through SQLite, so a process that still holds it open reads the restored
    pages, never a file swapped under it.
    """
    target = database_file(settings)
    check = verify_backup(path)
    if not check.ok:
        raise UsageError(f"{path} is not a good backup: {check.reason}")
    if running:
        raise UsageError(
            f"will not restore while work is running on {target} ({', '.join(running)}): "
            "stop it first"
        )
    _check_revision(path)
    stamp = utc_stamp(now)
    kept = _keep_aside(target, stamp) if target.exists() else None
    try:
        if target.exists():
            write_into(path / DATABASE, target)
        else:
            _place_file(path / DATABASE, target, stamp)
    except sqlite3.Error as exc:
        raise EnvironmentProblem(f"cannot write the backup into {target}: {exc}") from exc
    problem = integrity_problem(target)
    if problem is not None:
        raise EnvironmentProblem(f"the restored {target} fails its integrity check: {problem}")
    baselines_aside = _restore_baselines(path / BASELINES, baselines_root(settings), stamp)
    return Restored(path, target, kept, baselines_aside)


def _check_revision(path: Path) -> None:
    """A backup from a newer MATF holds a schema this code cannot read: refused."""
    revision, head = read_manifest(path).get("revision"), head_revision()
    if (
        isinstance(revision, str)
        and revision.isdigit()
        and head is not None
        and head.isdigit()
        and int(revision) > int(head)
    ):
        raise UsageError(
            f"{path.name} has schema revision {revision}, newer than this MATF's {head}: "
            "restore it with the MATF version that took it"
        )


def _keep_aside(target: Path, stamp: str) -> Path:
    """Copy the current database aside online; when it cannot be read, move its files aside."""
    aside = unused_name(target.with_name(f"{target.name}.before-restore-{stamp}"))
    if not_a_database(target):
        move_aside(target, aside)
        return aside
    try:
        copy_database(target, aside)
    except sqlite3.OperationalError as exc:  # busy, locked, unopenable: not a broken file
        aside.unlink(missing_ok=True)
        raise EnvironmentProblem(f"cannot copy {target} aside: {exc}") from exc
    except sqlite3.DatabaseError:  # not a database, malformed: keep the files as they are
        aside.unlink(missing_ok=True)
        move_aside(target, aside)
    return aside


def _place_file(source: Path, target: Path, stamp: str) -> None:
    """No database file (none yet, or moved aside): the backup's file goes in place.

    A stray -wal or -shm of the old file would be read as this file's: moved aside first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    move_aside(target, unused_name(target.with_name(f"{target.name}.stale-{stamp}")))
    temporary = target.with_name(f".{target.name}.restoring-{stamp}")
    copy_file(source, temporary)
    os.replace(temporary, target)
    fsync_dir(target.parent)


def _restore_baselines(source: Path, root: Path, stamp: str) -> Path | None:
    """Swap the baselines folder for the backup's; the current one is renamed aside."""
    aside = None
    if root.exists():
        aside = unused_name(root.with_name(f"{root.name}.before-restore-{stamp}"))
        root.rename(aside)
    if source.is_dir():
        incoming = root.with_name(f".{root.name}.restoring-{stamp}")
        shutil.rmtree(incoming, ignore_errors=True)
        copy_tree(source, incoming)
        incoming.rename(root)
    return aside


# -- the backup folder -----------------------------------------------------------------


def _copy_database(source: Path, target: Path) -> None:
    try:
        copy_database(source, target)
    except sqlite3.Error as exc:
        raise EnvironmentProblem(f"cannot copy the database {source}: {exc}") from exc


def _publish(partial: Path, root: Path, stamp: str) -> Path:
    """Rename the finished folder to its final name, unique even within one second."""
    number = 1
    while True:
        final = root / (f"matf-{stamp}" if number == 1 else f"matf-{stamp}-{number}")
        number += 1
        if final.exists():
            continue
        try:
            partial.rename(final)  # onto a name another backup just took: ENOTEMPTY
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        fsync_dir(root)
        return final


def _ours(root: Path) -> list[Path]:
    """Folders under ``root`` named like our backups, newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and NAME.fullmatch(p.name)]
    return sorted(found, key=backup_order, reverse=True)


def _describe(path: Path) -> Backup:
    try:
        manifest = read_manifest(path)
        return _from_manifest(path, manifest)
    except (ValueError, KeyError, TypeError) as exc:
        stamp = backup_order(path)[0]
        created = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return Backup(path, created, None, 0, {}, problem=str(exc))


def _from_manifest(path: Path, manifest: dict[str, Any]) -> Backup:
    return Backup(
        path=path,
        created_at=datetime.fromisoformat(manifest["created_at"]),
        revision=manifest.get("revision"),
        bytes=int(manifest["bytes"]),
        tables={str(k): int(v) for k, v in manifest["tables"].items()},
    )
